// The leader's periodic cross-member corruption check, as etcd 3.4's
// --experimental-corrupt-check-time (etcdserver/corrupt.go checkHashKV): the
// leader takes its HashKV at its current revision, asks every other member for
// its HashKV at that revision, takes its own again (once it has applied all
// it had committed), and raises a CORRUPT alarm
//   - for itself when its two hashes differ at the same revisions;
//   - for a member whose current revision or compacted revision is above the
//     leader's;
//   - for a member with the leader's compacted revision but another hash.
// Members that cannot answer (unreachable, behind: "future revision") are
// skipped. One alarm per check at most, as etcd.
import type { Logger } from 'pino';

export interface PeerHash {
  memberId: number;
  /** The member's current revision. */
  revision: number;
  compactRevision: number;
  hash: number;
}

export interface CorruptionCheckHost {
  isLeader(): boolean;
  memberId(): number;
  /** This member's HashKV at `revision` (0 = current). */
  localHash(revision: number): Promise<{ hash: number; revision: number; compactRevision: number }>;
  /** The other members' ids. */
  peers(): number[];
  peerHash(id: number, revision: number): Promise<PeerHash>;
  /**
   * Resolves once this member has applied everything committed so far (a ReadIndex). Entries are
   * applied asynchronously here, so without it a follower that applied faster than the leader
   * would look "ahead of the leader" and be reported corrupt.
   */
  caughtUp(): Promise<void>;
  /** Proposes a CORRUPT alarm for `memberId`. */
  raiseCorrupt(memberId: number): Promise<void>;
  logger: Logger;
}

/** One check; resolves with the member the alarm was raised for (or undefined). */
export async function checkHashKV(host: CorruptionCheckHost): Promise<number | undefined> {
  const mine = await host.localHash(0);
  const peers = await Promise.all(
    host.peers().map(async (id) => {
      try {
        return await host.peerHash(id, mine.revision);
      } catch (err) {
        host.logger.debug({ member: id.toString(16), err }, 'corruption check: member did not answer HashKV');
        return undefined;
      }
    }),
  );
  await host.caughtUp();
  const again = await host.localHash(0);
  let alarmed: number | undefined;
  const mismatch = (id: number, reason: string, details: object) => {
    if (alarmed !== undefined) return;
    alarmed = id;
    host.logger.warn({ member: id.toString(16), ...details }, reason);
  };
  if (again.hash !== mine.hash && again.revision === mine.revision && again.compactRevision === mine.compactRevision) {
    mismatch(host.memberId(), 'found hash mismatch', { hash1: mine.hash, hash2: again.hash, revision: mine.revision });
  }
  for (const p of peers) {
    if (!p) continue;
    if (p.revision > again.revision) mismatch(p.memberId, 'revision from follower must be less than or equal to leader\'s', { leaderRevision: again.revision, followerRevision: p.revision });
    if (p.compactRevision > again.compactRevision) mismatch(p.memberId, 'compact revision from follower must be less than or equal to leader\'s', { leaderCompactRevision: again.compactRevision, followerCompactRevision: p.compactRevision });
    if (p.compactRevision === mine.compactRevision && p.hash !== mine.hash) {
      mismatch(p.memberId, 'same compact revision then hashes must match', { leaderHash: mine.hash, followerHash: p.hash, revision: mine.revision, compactRevision: mine.compactRevision });
    }
  }
  if (alarmed !== undefined) await host.raiseCorrupt(alarmed);
  return alarmed;
}

/** Runs checkHashKV every `intervalMs` while this member leads. */
export class CorruptionChecker {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = false;

  constructor(
    private readonly host: CorruptionCheckHost,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.running || !this.host.isLeader()) return;
    this.running = true;
    try {
      await checkHashKV(this.host);
    } catch (err) {
      this.host.logger.warn({ err }, 'corruption check failed');
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

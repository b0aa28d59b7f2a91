// A member's etcd maintenance beyond Status and Snapshot: alarms (alarms.ts,
// replicated), Hash/HashKV (mvcc/hash.ts), the leader's corruption check
// (corruption_check.ts), MoveLeader, Defragment and auto compaction
// (compactor.ts). member.ts creates one MemberMaintenance with a narrow view of
// itself (MaintenanceHost) and calls its hooks: applyAlarm / refusal /
// onApplyError from the apply path, onLeadership from soft-state changes,
// snapshotData / restoreSnapshotData with the Raft snapshot, stop().
import type { Logger } from 'pino';
import type { AlarmRequest__Output } from '../gen/etcdserverpb/AlarmRequest.js';
import { AlarmSet, type AlarmEntry, type AlarmName } from './alarms.js';
import { EtcdError } from './backend.js';
import { newCompactor, type AutoCompactionMode, type Compactor } from './compactor.js';
import { CorruptionChecker, type PeerHash } from './corruption_check.js';
import type { InternalRequestBody } from './internal_request.js';
import type { KeySpace } from './key_space.js';

export interface MaintenanceConfig {
  autoCompactionMode: AutoCompactionMode;
  /** periodic: milliseconds; revision: revisions to keep. 0 = off. */
  autoCompactionRetention: number;
  /** revision mode: how often the compactor looks (etcd: 5 minutes). */
  autoCompactionIntervalMs?: number;
  /** --experimental-corrupt-check-time in ms; 0 = off. */
  corruptCheckTimeMs: number;
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
}

export interface MaintenanceHost {
  logger: Logger;
  kv(): KeySpace;
  memberId(): number;
  leader(): number;
  isLeader(): boolean;
  /** Voting members (ids) and learners. */
  voters(): number[];
  isLearner(id: number): boolean;
  isMember(id: number): boolean;
  /** Proposes a replicated request and waits for its apply result. */
  propose<T>(body: InternalRequestBody): Promise<T>;
  /** Waits for a linearizable read point (ReadIndex). */
  linearizable(): Promise<void>;
  /** Asks the Raft core to hand leadership to `id`. */
  transferLeader(id: number): void;
  peerHash(id: number, revision: number): Promise<PeerHash>;
  /** The auto compactor's compaction was applied (a metric). */
  onAutoCompaction?(): void;
}

/** etcd's gRPC errors for MoveLeader. */
export function badLeaderTransferee(): EtcdError {
  return new EtcdError('BadLeaderTransferee', 'etcdserver: bad leader transferee');
}

export class MemberMaintenance {
  readonly alarms = new AlarmSet();
  private readonly compactor: Compactor | undefined;
  private readonly checker: CorruptionChecker | undefined;

  constructor(
    private readonly host: MaintenanceHost,
    private readonly cfg: MaintenanceConfig,
  ) {
    this.compactor = newCompactor(
      cfg.autoCompactionMode,
      cfg.autoCompactionRetention,
      {
        logger: host.logger,
        revision: () => host.kv().currentRevision(),
        compact: async (revision) => {
          await host.propose({ compaction: { revision, physical: false } });
          host.onAutoCompaction?.();
        },
      },
      cfg.autoCompactionIntervalMs,
    );
    if (cfg.corruptCheckTimeMs > 0) {
      this.checker = new CorruptionChecker(
        {
          logger: host.logger,
          isLeader: () => host.isLeader(),
          memberId: () => host.memberId(),
          localHash: async (rev) => {
            const r = await host.kv().hashKV(rev);
            return { hash: r.hash, revision: r.currentRevision, compactRevision: r.compactRevision };
          },
          peers: () => host.voters().filter((id) => id !== host.memberId()),
          peerHash: (id, rev) => host.peerHash(id, rev),
          caughtUp: () => host.linearizable(),
          raiseCorrupt: async (id) => {
            await host.propose({ alarm: { action: 'ACTIVATE', memberID: id, alarm: 'CORRUPT' } });
          },
        },
        cfg.corruptCheckTimeMs,
      );
    }
  }

  // ---- hooks from the member

  /** Leadership changed: only the leader's compactor runs (etcd pauses the others). */
  onLeadership(isLeader: boolean): void {
    if (isLeader) this.compactor?.resume();
    else this.compactor?.pause();
  }

  /** Applies a replicated alarm request. */
  applyAlarm(req: AlarmRequest__Output): { alarms: AlarmEntry[] } {
    const r = this.alarms.apply(req);
    if (r.raised) this.host.logger.warn({ alarm: r.raised, member: req.memberID.toString(16) }, 'alarm raised');
    if (r.cleared) this.host.logger.info({ alarm: r.cleared }, 'alarm disarmed');
    return { alarms: r.alarms };
  }

  /** The error an active alarm gives a replicated request (applied on every member alike). */
  refusal(req: InternalRequestBody): EtcdError | undefined {
    return this.alarms.refusal(req);
  }

  /**
   * An applied request failed. A NOSPACE failure raises this member's NOSPACE alarm (as etcd's
   * applyEntryNormal) unless one is active; the returned promise settles when the alarm is
   * committed, so the client hears "database space exceeded" after the alarm is in place.
   */
  onApplyError(err: Error): Promise<void> | undefined {
    if ((err as { etcdName?: string }).etcdName !== 'NoSpace' || this.alarms.has('NOSPACE')) return undefined;
    this.host.logger.warn({ quotaExceeded: true }, 'message exceeded backend quota; raising alarm');
    return this.host
      .propose({ alarm: { action: 'ACTIVATE', memberID: this.host.memberId(), alarm: 'NOSPACE' } })
      .then(
        () => undefined,
        (e: unknown) => this.host.logger.warn({ err: e }, 'raising the NOSPACE alarm failed'),
      );
  }

  snapshotData(): AlarmEntry[] {
    return this.alarms.toJSON();
  }

  restoreSnapshotData(entries: AlarmEntry[] | undefined): void {
    this.alarms.restore(entries);
  }

  /** etcd's Status errors: "no leader" when there is none, then one line per active alarm as gogo-protobuf prints an AlarmMember. */
  statusErrors(): string[] {
    const errors = this.host.leader() === 0 ? ['etcdserver: no leader'] : [];
    return errors.concat(this.alarms.list().map((a) => `memberID:${a.memberID} alarm:${a.alarm} `));
  }

  stop(): void {
    this.compactor?.stop();
    this.checker?.stop();
  }

  // ---- the Maintenance RPCs

  /** Alarm: GET lists (at a linearizable point); ACTIVATE / DEACTIVATE go through Raft. */
  async alarm(req: AlarmRequest__Output): Promise<AlarmEntry[]> {
    if (req.action === 'GET') {
      await this.host.linearizable();
      return this.alarms.list(req.alarm as AlarmName | 'NONE');
    }
    const res = await this.host.propose<{ alarms: AlarmEntry[] }>({ alarm: req });
    return res.alarms;
  }

  async hashKV(revision: number): Promise<{ hash: number; compactRevision: number; revision: number; hashRevision: number }> {
    const r = await this.host.kv().hashKV(revision);
    return { hash: r.hash, compactRevision: r.compactRevision, revision: r.currentRevision, hashRevision: r.hashRevision };
  }

  hash(): Promise<{ hash: number; revision: number }> {
    return this.host.kv().hash();
  }

  /** Defragment: compacts this member's LevelDB; returns the size on disk before and after. */
  async defragment(): Promise<{ before: number; after: number }> {
    const kv = this.host.kv();
    const before = kv.diskSize();
    const t0 = Date.now();
    await kv.defragment();
    const after = kv.diskSize();
    this.host.logger.info({ before, after, tookMs: Date.now() - t0 }, 'defragmented the key space');
    return { before, after };
  }

  /**
   * MoveLeader, as etcd: only the leader takes it (NotLeader), the target must be a voting
   * member (BadLeaderTransferee); then waits until the target leads, until the call's deadline
   * (etcd waits on the request's context: etcdctl then reports "context deadline exceeded") or,
   * for a call without one, the request timeout (TimeoutLeaderTransfer).
   */
  async moveLeader(target: number, deadline?: number): Promise<void> {
    if (!this.host.isLeader()) throw new EtcdError('NotLeader', 'etcdserver: not leader');
    if (!this.host.isMember(target) || this.host.isLearner(target)) throw badLeaderTransferee();
    this.host.logger.info({ from: this.host.memberId().toString(16), to: target.toString(16) }, 'leadership transfer starting');
    this.host.transferLeader(target);
    const until = deadline ?? Date.now() + this.cfg.requestTimeoutMs;
    while (this.host.leader() !== target) {
      if (Date.now() >= until) throw new EtcdError('TimeoutLeaderTransfer', 'etcdserver: request timed out, leader transfer took too long');
      await new Promise((r) => setTimeout(r, this.cfg.heartbeatIntervalMs));
    }
    this.host.logger.info({ to: target.toString(16) }, 'leadership transfer finished');
  }
}

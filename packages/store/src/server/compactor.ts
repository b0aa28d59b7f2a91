// Automatic compaction, as etcd 3.4's v3compactor (--auto-compaction-mode,
// --auto-compaction-retention). Every member runs one; only the leader's is
// resumed (the member pauses it when it loses leadership), so only the leader
// proposes compactions.
//
// periodic (retention = a duration, e.g. 1h, 30m; a plain number is hours):
//   every retention/10 (at most 6 minutes) the compactor samples the current
//   revision, keeping the last retention/interval + 1 samples; once a first
//   retention has passed since the last successful compaction (afterwards
//   every min(retention, 1h)) it compacts at the oldest sample, i.e. the
//   revision of about one retention ago.
// revision (retention = N): every 5 minutes (mkube-store's
//   --auto-compaction-interval for tests) it compacts at current - N when that
//   is above 0 and changed since the last compaction.
// A compaction that answers "already compacted" counts as done.
import type { Logger } from 'pino';

export interface CompactorHost {
  /** The member's current revision. */
  revision(): number;
  /** Proposes a compaction at `revision` (through Raft); rejects with the store's error. */
  compact(revision: number): Promise<void>;
  logger: Logger;
}

export interface Compactor {
  pause(): void;
  resume(): void;
  stop(): void;
}

const HOUR_MS = 3_600_000;
/** etcd's revInterval. */
export const REVISION_COMPACTOR_INTERVAL_MS = 5 * 60_000;

function isCompacted(err: unknown): boolean {
  return (err as { etcdName?: string }).etcdName === 'Compacted';
}

class TimerLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  paused = true;

  constructor(
    private readonly intervalMs: number,
    private readonly step: () => Promise<void>,
    private readonly beforeWait: () => void = () => undefined,
  ) {}

  start(): void {
    this.beforeWait();
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.step().finally(() => {
        this.beforeWait();
        this.arm();
      });
    }, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** etcd's Periodic compactor. */
export class PeriodicCompactor implements Compactor {
  private readonly loop: TimerLoop;
  private readonly revs: number[] = [];
  private lastSuccess = Date.now();
  private baseInterval: number;

  constructor(
    private readonly periodMs: number,
    private readonly host: CompactorHost,
    private readonly now: () => number = Date.now,
  ) {
    this.baseInterval = periodMs;
    const retryInterval = Math.min(periodMs, HOUR_MS) / 10;
    const retentions = Math.floor(periodMs / retryInterval) + 1;
    this.lastSuccess = now();
    this.loop = new TimerLoop(
      retryInterval,
      () => this.step(),
      () => {
        this.revs.push(this.host.revision());
        if (this.revs.length > retentions) this.revs.shift();
      },
    );
    this.loop.start();
  }

  private async step(): Promise<void> {
    if (this.loop.paused) return;
    if (this.now() - this.lastSuccess < this.baseInterval) return;
    if (this.baseInterval === this.periodMs) this.baseInterval = Math.min(this.periodMs, HOUR_MS);
    const rev = this.revs[0]!;
    this.host.logger.info({ revision: rev, retention: `${this.periodMs}ms` }, 'starting auto periodic compaction');
    try {
      await this.host.compact(rev);
      this.lastSuccess = this.now();
      this.host.logger.info({ revision: rev }, 'completed auto periodic compaction');
    } catch (err) {
      if (isCompacted(err)) {
        this.lastSuccess = this.now();
        this.host.logger.info({ revision: rev }, 'completed auto periodic compaction (already compacted)');
      } else {
        this.host.logger.warn({ revision: rev, err }, 'failed auto periodic compaction');
      }
    }
  }

  pause(): void {
    this.loop.paused = true;
  }

  resume(): void {
    this.loop.paused = false;
  }

  stop(): void {
    this.loop.stop();
  }
}

/** etcd's Revision compactor. */
export class RevisionCompactor implements Compactor {
  private readonly loop: TimerLoop;
  private prev = 0;

  constructor(
    private readonly retention: number,
    private readonly host: CompactorHost,
    intervalMs = REVISION_COMPACTOR_INTERVAL_MS,
  ) {
    this.loop = new TimerLoop(intervalMs, () => this.step());
    this.loop.start();
  }

  private async step(): Promise<void> {
    if (this.loop.paused) return;
    const rev = this.host.revision() - this.retention;
    if (rev <= 0 || rev === this.prev) return;
    this.host.logger.info({ revision: rev, retention: this.retention }, 'starting auto revision compaction');
    try {
      await this.host.compact(rev);
      this.prev = rev;
      this.host.logger.info({ revision: rev }, 'completed auto revision compaction');
    } catch (err) {
      if (isCompacted(err)) this.prev = rev;
      else this.host.logger.warn({ revision: rev, err }, 'failed auto revision compaction');
    }
  }

  pause(): void {
    this.loop.paused = true;
  }

  resume(): void {
    this.loop.paused = false;
  }

  stop(): void {
    this.loop.stop();
  }
}

export type AutoCompactionMode = 'periodic' | 'revision';

/** The compactor for the flags, or undefined when auto compaction is off (retention 0). */
export function newCompactor(mode: AutoCompactionMode, retention: number, host: CompactorHost, revisionIntervalMs?: number): Compactor | undefined {
  if (retention <= 0) return undefined;
  return mode === 'periodic' ? new PeriodicCompactor(retention, host) : new RevisionCompactor(retention, host, revisionIntervalMs);
}

/**
 * Periodic compaction as kube-apiserver does it: every interval, compact up to
 * the revision seen one interval earlier (so recent history stays available),
 * coordinated between API servers through a compare-and-swap on a shared key.
 */
import { Compare, Op, type EtcdClient } from '@mkube/store/client';
import type { Logger } from 'pino';

export const COMPACT_REV_KEY = 'compact_rev_key';

export class Compactor {
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;
  private lastRev = 0;

  constructor(
    private readonly client: EtcdClient,
    private readonly log: Logger,
    private readonly onCompacted: (rev: number) => void,
    readonly intervalMs = 5 * 60_000,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => this.log.warn({ err }, 'compaction failed')), this.intervalMs);
    this.timer.unref();
  }

  /** One round: claim the compaction slot by CAS on the key's version, then compact to the previous round's revision. */
  async tick(): Promise<void> {
    const r = await this.client
      .txn()
      .if(Compare.version(COMPACT_REV_KEY, '=', this.lastVersion))
      .then(Op.put(COMPACT_REV_KEY, String(this.lastRev)))
      .else(Op.get(COMPACT_REV_KEY))
      .commit();
    const current = r.header.revision;
    if (r.succeeded) {
      const target = this.lastRev;
      this.lastVersion++;
      this.lastRev = current;
      if (target > 0) await this.compact(target);
    } else {
      const got = r.responses[0];
      if (got && got.type === 'range' && got.kvs[0]) this.lastVersion = got.kvs[0].version;
      this.lastRev = current;
    }
  }

  /** Compacts etcd at `rev` now and tells the watch caches. */
  async compact(rev: number): Promise<void> {
    try {
      await this.client.compact(rev);
      this.log.info({ revision: rev }, 'compacted');
    } catch (err) {
      if (!/compacted/.test((err as Error).message)) throw err;
    }
    this.onCompacted(rev);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

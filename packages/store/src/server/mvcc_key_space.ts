// The member's KeySpace over the mvcc package's MvccStore (key prefix "kv/" in the member's LevelDB).
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import type { RangeRequest__Output } from '../gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../gen/etcdserverpb/RangeResponse.js';
import { MvccStore, type LevelDb, type MvccStoreOptions } from '../mvcc/kv_store.js';
import { evalReadOnlyTxn } from '../mvcc/read_txn.js';
import type { TxnRequest__Output } from '../gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../gen/etcdserverpb/TxnResponse.js';
import type { WatchCreateOptions, WatchEventFields, WatchHandle, WatchSink } from './backend.js';
import type { InternalRequestBody } from './internal_request.js';
import type { KeySpace } from './key_space.js';
import { hashAll, hashKV, type HashKVResult } from '../mvcc/hash.js';
import { compactWholeDb, directorySize } from './key_space_disk.js';

export const PREFIX = Buffer.from('kv/');
/** Written with sync to flush the key space's LevelDB log to disk. */
const SYNC_KEY = Buffer.from('meta/sync');

/** A watch that survives the store being replaced by a snapshot: it resumes after the last revision it delivered. */
interface TrackedWatch {
  opts: WatchCreateOptions;
  sink: WatchSink;
  inner: WatchHandle;
  nextRevision: number;
  cancelled: boolean;
}

class MvccKeySpace implements KeySpace {
  private readonly watches = new Set<TrackedWatch>();

  constructor(
    private readonly db: LevelDb,
    private store: MvccStore,
    private readonly opts: MvccStoreOptions,
    private readonly log: Logger,
    /** The LevelDB directory (for its size on disk). */
    private readonly dir = '',
  ) {}

  consistentIndex(): number {
    return this.store.consistentIndex;
  }

  currentRevision(): number {
    return this.store.currentRevision();
  }

  async range(req: RangeRequest__Output): Promise<Omit<RangeResponse, 'header'>> {
    const r = await this.store.range(req);
    return { kvs: r.kvs, more: r.more, count: r.count };
  }

  readTxn(req: TxnRequest__Output): Promise<Omit<TxnResponse, 'header'> & { header: { revision: number } }> {
    return evalReadOnlyTxn(this.store, req as never, this.store.currentRevision()) as never;
  }

  async apply(index: number, req: InternalRequestBody): Promise<unknown> {
    if ('put' in req) return this.store.put(index, req.put);
    if ('deleteRange' in req) return this.store.deleteRange(index, req.deleteRange);
    if ('txn' in req) return this.store.txn(index, req.txn as never);
    if ('compaction' in req) return this.store.compact(index, req.compaction.revision);
    if ('leaseGrant' in req) return this.store.leaseGrant(index, req.leaseGrant.id, req.leaseGrant.ttl);
    if ('leaseRevoke' in req) return this.store.leaseRevoke(index, req.leaseRevoke.ID);
    throw new Error(`key space cannot apply ${Object.keys(req).join(',')}`);
  }

  watch(opts: WatchCreateOptions, sink: WatchSink): WatchHandle {
    const tracked: TrackedWatch = { opts, sink, inner: undefined as unknown as WatchHandle, nextRevision: opts.startRevision, cancelled: false };
    tracked.inner = this.store.watch(opts, this.trackingSink(tracked));
    this.watches.add(tracked);
    return {
      cancel: () => {
        tracked.cancelled = true;
        tracked.inner.cancel();
        this.watches.delete(tracked);
      },
      requestProgress: () => tracked.inner.requestProgress(),
    };
  }

  private trackingSink(w: TrackedWatch): WatchSink {
    return {
      events: (events: WatchEventFields[], revision: number) => {
        if (events.length > 0) w.nextRevision = events[events.length - 1]!.kv.modRevision + 1;
        w.sink.events(events, revision);
      },
      compacted: (compactRevision: number, revision: number) => {
        this.watches.delete(w);
        w.sink.compacted(compactRevision, revision);
      },
      progress: (revision: number) => {
        if (w.nextRevision <= revision) w.nextRevision = revision + 1;
        w.sink.progress(revision);
      },
    };
  }

  tickProgress(): void {
    const s = this.store as unknown as { tickProgress?: () => void };
    s.tickProgress?.();
  }

  leasePromote(nowMs: number): void {
    this.store.promote(nowMs);
  }

  leaseDemote(): void {
    this.store.demote();
  }

  leaseRenew(id: number, nowMs: number): number {
    return this.store.renew(id, nowMs);
  }

  leaseTimeToLive(id: number, nowMs: number): { ttl: number; grantedTTL: number; keys: Buffer[] } | undefined {
    try {
      const r = this.store.timeToLive(id, nowMs);
      return { ttl: r.ttl, grantedTTL: r.grantedTTL, keys: r.keys };
    } catch (err) {
      if ((err as { etcdName?: string }).etcdName === 'LeaseNotFound') return undefined;
      throw err;
    }
  }

  leaseExpired(nowMs: number): number[] {
    return this.store.expired(nowMs);
  }

  leaseIds(): number[] {
    return this.store.leases();
  }

  leaseExists(id: number): boolean {
    return this.leaseTimeToLive(id, Date.now()) !== undefined;
  }

  snapshotChunks(): AsyncIterable<Buffer> {
    return this.store.snapshot();
  }

  async restore(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    await this.store.close();
    this.store = await MvccStore.restore(this.db, PREFIX, chunks, this.opts);
    // Watchers resume on the new store right after what they have seen.
    for (const w of [...this.watches]) {
      if (w.cancelled) continue;
      w.inner = this.store.watch({ ...w.opts, startRevision: w.nextRevision }, this.trackingSink(w));
    }
    this.log.info({ revision: this.store.currentRevision(), consistentIndex: this.store.consistentIndex, watchers: this.watches.size }, 'key space replaced by a snapshot');
  }

  async flush(): Promise<void> {
    const s = this.store as unknown as { flush?: () => Promise<void> };
    if (s.flush) await s.flush();
  }

  async sync(): Promise<void> {
    await this.flush();
    await this.db.put(SYNC_KEY, Buffer.from(String(Date.now())), { sync: true });
  }

  dbSize(): number {
    return this.store.dbSize();
  }

  // ---- maintenance: hashes, size on disk, defragmentation (mvcc/hash.ts, key_space_disk.ts)

  hashKV(revision: number): Promise<HashKVResult> {
    return hashKV(this.store, revision);
  }

  hash(): Promise<{ hash: number; revision: number }> {
    return hashAll(this.store);
  }

  diskSize(): number {
    return directorySize(this.dir);
  }

  async defragment(): Promise<void> {
    await this.flush();
    await this.store.waitCompaction();
    await compactWholeDb(this.db);
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.inner.cancel();
    this.watches.clear();
    await this.store.close();
    await this.db.close();
  }
}

/** Opens (creating it if needed) the key space's own LevelDB in `dir`. */
export async function openMvccKeySpace(dir: string, quotaBytes: number, log: Logger): Promise<KeySpace> {
  const db: LevelDb = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const opts: MvccStoreOptions = { quotaBytes, minLeaseTtl: 1 };
    const store = await MvccStore.open(db, PREFIX, opts);
    return new MvccKeySpace(db, store, opts, log, dir);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

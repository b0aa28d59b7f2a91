// MvccStore: etcd v3.4 mvcc semantics (revisions, key index, compaction,
// leases, txns) over LevelDB. Mutations are applied by a single Raft applier in
// log order; each takes the Raft index it applies and is a no-op for an index
// <= consistentIndex (idempotent replay after a crash).
//
// Group commit (write-behind): an apply changes the in-memory state (key index,
// revision, consistent index, leases) and notifies watchers at once, and queues
// its LevelDB ops in a pending batch. flush() writes everything pending as ONE
// LevelDB batch that ends with the consistent index it covers, so after a crash
// LevelDB holds a prefix of the applied entries with a matching consistent
// index (the member replays the rest from its Raft log). A batch is also
// started when the pending ops exceed a size bound, and before anything that
// needs LevelDB to be current (physical compaction, close()). Until its batch
// is written, a record is served from an in-memory overlay (range values,
// prevKv, txn compares, watch history, snapshots).
//
// Reads are served at the committed revision: a mutation first updates the
// in-memory key index with revision current+1 (invisible to readers, which look
// at <= current) and publishes the new revision when the whole apply is done.
// An apply that needs no LevelDB read (e.g. a put without prevKv/ignoreValue/
// ignoreLease) runs synchronously inside the call.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ClassicLevel } from 'classic-level';
import { EtcdError } from '../api/etcd_error.js';
import type { KeyValueFields, WatchCreateOptions, WatchEventFields, WatchSink } from '../api/kv.js';
import { DataCorruptError, decodeLease, decodeNumbers, decodeRecord, encodeLease, encodeNumbers, encodeRecord, type StoredRecord } from './codec.js';
import { type IndexGetResult, revisionId, TreeIndex } from './key_index.js';
import { COMPACT_CONTEXT, Keyspace, META_CONTEXT } from './keyspace.js';
import { Lessor, type LeaseTimeToLive } from './lessor.js';
import { decodeRevision, encodeRevision, formatRevision, readUint64 } from './revision.js';
import { readSnapshotInto, writeSnapshot } from './snapshot.js';
import {
  type Compare,
  type CompactResult,
  type DeleteRangeRequest,
  type DeleteRangeResult,
  type LeaseGrantResult,
  type LeaseRevokeResult,
  MvccRequestError,
  type PutRequest,
  type PutResult,
  type RangeRequest,
  type RangeResult,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResult,
} from './types.js';
import { type MvccWatchHandle, WatchHub, type WatchHubOptions, type WatchSource } from './watch_hub.js';

export type LevelDb = ClassicLevel<Buffer, Buffer>;

type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

type MaybePromise<T> = T | Promise<T>;

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return v instanceof Promise;
}

/** Continues with `f` synchronously when `v` is a value, after it resolves when it is a promise. */
function then<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}

/** Runs `f` on each item in order, synchronously while `f` returns values; stops after the first `false`. */
function eachInOrder<T>(items: readonly T[], f: (item: T) => MaybePromise<boolean>): MaybePromise<void> {
  let i = 0;
  const step = (): MaybePromise<void> => {
    while (i < items.length) {
      const r = f(items[i++]!);
      if (isPromise(r)) return r.then((cont) => (cont ? step() : undefined));
      if (!r) return;
    }
  };
  return step();
}

/** A record applied but not yet written to LevelDB. */
interface PendingRecord {
  id: string;
  main: number;
  storageKey: Buffer;
  value: Buffer;
  rec: StoredRecord;
}

/** The LevelDB ops of applied entries not yet written: one group commit. */
class PendingBatch {
  readonly ops: BatchOp[] = [];
  /** Records in revision order. */
  readonly records: PendingRecord[] = [];
  bytes = 0;
  entries = 0;
}

/** Index of the first record with main revision >= `main` (records are in revision order). */
function firstAtOrAfter(records: PendingRecord[], main: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid]!.main < main) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface MvccStoreOptions {
  /** Leases granted with a smaller TTL get this TTL (seconds). Default 2 (etcd's with default election/heartbeat settings). */
  minLeaseTtl?: number;
  /** fsync each group-commit batch (flush). Default false (the Raft log's synced writes flush the shared LevelDB log). */
  sync?: boolean;
  /** Puts fail with NoSpace once dbSize() plus their size would exceed this. 0 = no quota. */
  quotaBytes?: number;
  /** Leader-local clock for lease deadlines. Default Date.now. */
  clock?: () => number;
  /** Records deleted per LevelDB batch by a compaction (yielding to the event loop in between). Default 1000. */
  compactionBatch?: number;
  /** Group commit: a LevelDB batch is started without waiting for flush() once this many bytes of ops are pending. Default 4 MiB. */
  maxPendingBytes?: number;
  /** Group commit: ... or once this many applied entries are pending. Default 10000. */
  maxPendingEntries?: number;
  /**
   * Group commit: also start a flush once the applies of the current event-loop
   * turn are done (setImmediate), so applied entries reach LevelDB even if the
   * caller never calls flush(). Default true; false = only flush(), the size
   * bounds, compaction and close() write.
   */
  flushOnIdle?: boolean;
  watch?: WatchHubOptions;
}

const COMPACTED_MESSAGE = 'mvcc: required revision has been compacted';
const FUTURE_REV_MESSAGE = 'mvcc: required revision is a future revision';
const PUT_OVERHEAD = 64;
const EMPTY = Buffer.alloc(0);

function compacted(): EtcdError {
  return new EtcdError('Compacted', COMPACTED_MESSAGE);
}
function futureRev(): EtcdError {
  return new EtcdError('FutureRev', FUTURE_REV_MESSAGE);
}

/** etcd's mkGteRange + mvcc convention: undefined = single key, empty = unbounded, else [key, end). */
function rangeEndOf(rangeEnd: Buffer | null | undefined): Buffer | undefined {
  if (!rangeEnd || rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.alloc(0);
  return rangeEnd;
}

function copyKv(kv: KeyValueFields): KeyValueFields {
  return { ...kv };
}

function opKind(op: RequestOp): 'requestRange' | 'requestPut' | 'requestDeleteRange' | 'requestTxn' | undefined {
  if (op.request) return op.request;
  if (op.requestRange) return 'requestRange';
  if (op.requestPut) return 'requestPut';
  if (op.requestDeleteRange) return 'requestDeleteRange';
  if (op.requestTxn) return 'requestTxn';
  return undefined;
}

interface Decision {
  ok: boolean;
  /** Decisions of the nested txns of the chosen branch, in order. */
  nested: Decision[];
}

interface Change {
  event: WatchEventFields;
}

/** One write transaction (one revision). */
class WriteTxn {
  readonly changes: Change[] = [];
  readonly ops: BatchOp[] = [];
  readonly records: PendingRecord[] = [];
  readonly overlay = new Map<string, StoredRecord>();
  addedBytes = 0;
  /** Lease bookkeeping applied only when the batch is written. */
  readonly leaseActions: Array<() => void> = [];
  private readonly attachments = new Map<string, number>();

  constructor(
    private readonly s: MvccStore,
    readonly beginRev: number,
  ) {}

  /** The revision reads inside this txn see. */
  rev(): number {
    return this.beginRev + (this.changes.length > 0 ? 1 : 0);
  }

  leaseOf(key: Buffer): number {
    const k = key.toString('latin1');
    return this.attachments.has(k) ? this.attachments.get(k)! : this.s.lessor.leaseOf(key);
  }

  /** Synchronous unless a prevKv watcher needs a record that is only in LevelDB. */
  put(key: Buffer, value: Buffer, lease: number): MaybePromise<number> {
    const prior = this.s.index.get(key)?.get(this.beginRev + 1);
    if (prior && this.s.hub.needsPrevKv(key)) return then(this.s.readKvMaybe(prior.modified, this), (prevKv) => this.putWith(key, value, lease, prior, prevKv));
    return this.putWith(key, value, lease, prior, undefined);
  }

  private putWith(key: Buffer, value: Buffer, lease: number, prior: IndexGetResult | undefined, prevKv: KeyValueFields | undefined): number {
    const rev = this.beginRev + 1;
    const sub = this.changes.length;
    const kv: KeyValueFields = {
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: prior ? prior.created : rev,
      modRevision: rev,
      version: (prior?.version ?? 0) + 1,
      lease,
    };
    const oldLease = prior ? this.leaseOf(key) : 0;
    this.write(rev, sub, { tombstone: false, kv });
    this.changes.push({ event: prevKv ? { type: 'PUT', kv, prevKv } : { type: 'PUT', kv } });
    const k = key.toString('latin1');
    if (oldLease !== 0 || lease !== 0) {
      this.attachments.set(k, lease);
      const keyCopy = Buffer.from(key);
      this.leaseActions.push(() => {
        if (oldLease !== 0) this.s.lessor.detach(keyCopy);
        if (lease !== 0) this.s.lessor.attach(lease, keyCopy);
      });
    }
    return rev;
  }

  /** Deletes the keys in range visible to this txn; returns how many. Synchronous unless a prevKv must be read from LevelDB. */
  deleteRange(key: Buffer, end: Buffer | undefined): MaybePromise<number> {
    const found = this.s.index.revisions(key, end, this.rev());
    let i = 0;
    const step = (): MaybePromise<number> => {
      while (i < found.length) {
        const r = found[i++]!;
        if (this.s.hub.needsPrevKv(r.ki.key)) {
          const key = r.ki.key;
          const prevKv = this.s.readKvMaybe(r.modified, this);
          if (isPromise(prevKv)) return prevKv.then((p) => (this.delete(key, p), step()));
          this.delete(key, prevKv);
        } else {
          this.delete(r.ki.key, undefined);
        }
      }
      return found.length;
    };
    return step();
  }

  private delete(key: Buffer, prevKv: KeyValueFields | undefined): void {
    const rev = this.beginRev + 1;
    const sub = this.changes.length;
    const oldLease = this.leaseOf(key);
    const kv: KeyValueFields = { key: Buffer.from(key), value: Buffer.alloc(0), createRevision: 0, modRevision: rev, version: 0, lease: 0 };
    this.write(rev, sub, { tombstone: true, kv });
    this.changes.push({ event: prevKv ? { type: 'DELETE', kv, prevKv } : { type: 'DELETE', kv } });
    if (oldLease !== 0) {
      this.attachments.set(key.toString('latin1'), 0);
      const keyCopy = Buffer.from(key);
      this.leaseActions.push(() => this.s.lessor.detach(keyCopy));
    }
  }

  private write(main: number, sub: number, rec: StoredRecord): void {
    const revBytes = encodeRevision(main, sub);
    const value = encodeRecord(revBytes, rec);
    const storageKey = this.s.keys.recordKeyFromRevisionBytes(revBytes);
    const size = storageKey.length + value.length;
    const ki = this.s.index.getOrCreate(rec.kv.key);
    if (rec.tombstone) ki.tombstone(main, sub, size);
    else ki.put(main, sub, size);
    this.ops.push({ type: 'put', key: storageKey, value });
    const id = revisionId({ main, sub });
    this.overlay.set(id, rec);
    this.records.push({ id, main, storageKey, value, rec });
    this.addedBytes += size;
  }
}

export class MvccStore implements WatchSource {
  readonly index = new TreeIndex();
  readonly lessor: Lessor;
  readonly hub: WatchHub;
  private current = 0;
  private compactMain = 0;
  private consistent = 0;
  private bytes = 0;
  /** The last apply still waiting for a LevelDB read (later applies queue behind it); undefined when none. */
  private asyncApply: Promise<unknown> | undefined;
  private compaction: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private readonly syncWrites: boolean;
  private readonly quotaBytes: number;
  private readonly compactionBatch: number;
  private readonly maxPendingBytes: number;
  private readonly maxPendingEntries: number;
  // ---- group commit ----
  /** Ops of applies not yet handed to LevelDB. */
  private pending = new PendingBatch();
  /** Whether `pending` holds applied entries (also ones that only advance the consistent index). */
  private pendingDirty = false;
  /** The batch being written. */
  private inflight: PendingBatch | undefined;
  /** Records of `inflight` and `pending` by revision id: what reads must take from memory. */
  private readonly unflushed = new Map<string, PendingRecord>();
  private flushChain: Promise<void> = Promise.resolve();
  private autoFlushQueued = false;
  private idleFlushQueued = false;
  private readonly flushOnIdle: boolean;
  private flushedIndex = 0;

  private constructor(
    readonly db: LevelDb,
    readonly keys: Keyspace,
    private readonly opts: MvccStoreOptions,
  ) {
    this.lessor = new Lessor({ minTtl: opts.minLeaseTtl ?? 2, clock: opts.clock });
    this.syncWrites = opts.sync ?? false;
    this.quotaBytes = opts.quotaBytes ?? 0;
    this.compactionBatch = opts.compactionBatch ?? 1000;
    this.maxPendingBytes = opts.maxPendingBytes ?? 4 << 20;
    this.maxPendingEntries = opts.maxPendingEntries ?? 10_000;
    this.flushOnIdle = opts.flushOnIdle ?? true;
    this.hub = new WatchHub(this, opts.watch);
  }

  // ---- opening -----------------------------------------------------------

  /** Opens the key space under `prefix`, rebuilding the key index, revisions and leases from LevelDB. */
  static async open(db: LevelDb, prefix: Buffer, opts: MvccStoreOptions = {}): Promise<MvccStore> {
    const marker = await db.get(Buffer.concat([prefix, Buffer.from([0])]));
    const generation = marker && marker.length === 1 ? marker[0]! : 0;
    const keys = new Keyspace(Buffer.from(prefix), generation);
    // A restore that crashed before switching generations leaves data in the other one.
    const other = new Keyspace(keys.prefix, 1 - generation);
    await db.clear({ gte: other.generationStart, lt: other.generationEnd });
    const store = new MvccStore(db, keys, opts);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const metaRaw = await this.db.get(this.keys.metaKey);
    let scheduled = 0;
    if (metaRaw) {
      const [ci, cur, sched] = decodeNumbers(META_CONTEXT, metaRaw, 3, 'meta');
      this.consistent = ci!;
      this.current = cur!;
      scheduled = sched!;
    }
    const doneRaw = await this.db.get(this.keys.compactKey);
    const finished = doneRaw ? decodeNumbers(COMPACT_CONTEXT, doneRaw, 1, 'compaction')[0]! : 0;

    const leaseOfKey = new Map<string, number>();
    const it = this.db.iterator({ gte: this.keys.recordPrefix, lt: this.keys.recordEnd });
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          const revBytes = this.keys.revisionBytesOf(k);
          const rev = decodeRevision(revBytes);
          const rec = decodeRecord(revBytes, v, rev.main, formatRevision(rev));
          const size = k.length + v.length;
          const ks = rec.kv.key.toString('latin1');
          const existing = this.index.get(rec.kv.key);
          if (rec.tombstone) {
            if (existing && existing.isLive()) {
              existing.tombstone(rev.main, rev.sub, size);
              this.bytes += size;
            }
            leaseOfKey.delete(ks);
          } else {
            const ki = this.index.getOrCreate(rec.kv.key);
            if (ki.isLive()) ki.put(rev.main, rev.sub, size);
            else if (ki.isEmpty() || rec.kv.version !== 1) ki.restore(rec.kv.createRevision, { main: rev.main, sub: rev.sub, size }, rec.kv.version);
            else ki.put(rev.main, rev.sub, size);
            this.bytes += size;
            if (rec.kv.lease !== 0) leaseOfKey.set(ks, rec.kv.lease);
            else leaseOfKey.delete(ks);
          }
          if (rev.main > this.current) this.current = rev.main;
        }
      }
    } finally {
      await it.close();
    }

    const lit = this.db.iterator({ gte: this.keys.leasePrefix, lt: this.keys.leaseEnd });
    try {
      for await (const [k, v] of lit) {
        const l = decodeLease(this.keys.leaseIdBytesOf(k), v);
        this.lessor.add(l.id, l.ttl);
        this.bytes += k.length + v.length;
      }
    } finally {
      await lit.close();
    }
    for (const [ks, id] of leaseOfKey) {
      if (this.lessor.has(id)) this.lessor.attach(id, Buffer.from(ks, 'latin1'));
    }

    this.compactMain = finished;
    if (scheduled > finished) {
      const { keep, removedBytes } = this.index.compact(scheduled);
      this.bytes -= removedBytes;
      this.compactMain = scheduled;
      this.schedulePhysicalCompaction(scheduled, keep);
    }
    if (this.current < this.compactMain) this.current = this.compactMain;
    this.flushedIndex = this.consistent;
  }

  // ---- state -------------------------------------------------------------

  /** Raft index of the last applied entry (in LevelDB once flushed: see flush()). */
  get consistentIndex(): number {
    return this.consistent;
  }

  /** Raft index of the last applied entry whose changes LevelDB holds (<= consistentIndex; equal after flush()). */
  get persistedIndex(): number {
    return this.flushedIndex;
  }

  /** Current (committed) store revision. */
  get revision(): number {
    return this.current;
  }

  /** Revision of the last compaction (0 = none). */
  get compactRevision(): number {
    return this.compactMain;
  }

  currentRevision(): number {
    return this.current;
  }

  /** Bytes of the records and leases the key space holds (deterministic across members; what the quota is checked against). */
  dbSize(): number {
    return this.bytes;
  }

  /** LevelDB's on-disk estimate of the key space (excludes data still in the memtable). */
  async dbSizeOnDisk(): Promise<number> {
    return this.db.approximateSize(this.keys.generationStart, this.keys.generationEnd);
  }

  /** Resolves when compactions applied so far are physically done. */
  waitCompaction(): Promise<void> {
    return this.compaction;
  }

  /**
   * Stops watchers, waits for in-flight applies, writes what is pending
   * (flush) and waits for compactions; the caller owns and closes the LevelDB.
   * Rejects when that last flush fails (unless the store had already failed).
   */
  async close(): Promise<void> {
    const failedBefore = this.failure !== undefined;
    this.closed = true;
    this.hub.close();
    await this.asyncApply?.catch(() => undefined);
    let flushError: unknown;
    await this.flush().catch((err: unknown) => {
      flushError = err;
    });
    await this.compaction.catch(() => undefined);
    if (flushError !== undefined && !failedBefore) throw flushError;
  }

  // ---- group commit ----------------------------------------------------------

  /**
   * Writes every apply made so far (whose ops are not yet in LevelDB) as one
   * LevelDB batch ending with the consistent index it covers; resolves when
   * LevelDB has it (persistedIndex = consistentIndex as of the call). Batches
   * are written one at a time, in apply order. A failed write puts the store
   * in the failure state (every later call throws it) and rejects.
   */
  flush(): Promise<void> {
    const step = this.flushChain.then(() => this.writePending());
    this.flushChain = step.catch(() => undefined);
    return step;
  }

  private async writePending(): Promise<void> {
    this.autoFlushQueued = false;
    if (this.failure) throw this.failure;
    if (!this.pendingDirty) return;
    const batch = this.pending;
    const index = this.consistent;
    batch.ops.push(this.metaOp(index, this.current));
    this.pending = new PendingBatch();
    this.pendingDirty = false;
    this.inflight = batch;
    try {
      await this.writeOps(batch.ops);
    } catch (err) {
      this.failure ??= Object.assign(new Error(`mvcc: apply batch failed: ${(err as Error).message}`, { cause: err }), { code: 'APPLY_FAILED' });
      throw this.failure;
    }
    this.inflight = undefined;
    for (const r of batch.records) this.unflushed.delete(r.id);
    this.flushedIndex = index;
  }

  /** Writes `ops` as one atomic LevelDB batch (a chained batch: much cheaper per op than an array batch). */
  private async writeOps(ops: BatchOp[]): Promise<void> {
    const b = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value);
        else b.del(op.key);
      }
    } catch (err) {
      await b.close().catch(() => undefined);
      throw err;
    }
    await b.write({ sync: this.syncWrites });
  }

  /**
   * After an apply: starts a flush in the background once the pending batch is
   * past its size bound, or (flushOnIdle) schedules one for the end of this
   * event-loop turn. A failure is kept as the store's failure.
   */
  private maybeAutoFlush(): void {
    if (this.autoFlushQueued) return;
    if (this.pending.bytes >= this.maxPendingBytes || this.pending.entries >= this.maxPendingEntries) {
      this.autoFlushQueued = true;
      this.flush().catch(() => undefined);
      return;
    }
    if (this.flushOnIdle && !this.idleFlushQueued) {
      this.idleFlushQueued = true;
      setImmediate(() => {
        this.idleFlushQueued = false;
        if (this.pendingDirty && !this.autoFlushQueued && !this.failure) {
          this.autoFlushQueued = true;
          this.flush().catch(() => undefined);
        }
      });
    }
  }

  /** Records not yet in LevelDB (being written or pending), in revision order. */
  private unflushedRecords(): PendingRecord[] {
    if (!this.inflight) return this.pending.records;
    return this.inflight.records.concat(this.pending.records);
  }

  // ---- reads -------------------------------------------------------------

  /** Reads a record (from a txn's own writes, the unflushed records or LevelDB). */
  async readKv(rev: { main: number; sub: number }, w?: WriteTxn): Promise<KeyValueFields | undefined> {
    const [rec] = await this.readRecords([rev], w);
    return rec && !rec.tombstone ? rec.kv : undefined;
  }

  /** readKv, synchronous when the record is still in memory. */
  readKvMaybe(rev: { main: number; sub: number }, w?: WriteTxn): MaybePromise<KeyValueFields | undefined> {
    const o = this.memoryRecord(revisionId(rev), w);
    if (o) return o.tombstone ? undefined : copyKv(o.kv);
    return this.readKv(rev, w);
  }

  private memoryRecord(id: string, w: WriteTxn | undefined): StoredRecord | undefined {
    return w?.overlay.get(id) ?? this.unflushed.get(id)?.rec;
  }

  private async readRecords(revs: Array<{ main: number; sub: number }>, w?: WriteTxn): Promise<Array<StoredRecord | undefined>> {
    const out: Array<StoredRecord | undefined> = new Array(revs.length);
    const missing: number[] = [];
    revs.forEach((r, i) => {
      const o = this.memoryRecord(revisionId(r), w);
      if (o) out[i] = { tombstone: o.tombstone, kv: copyKv(o.kv) };
      else missing.push(i);
    });
    if (missing.length === 0) return out;
    const revBytes = missing.map((i) => encodeRevision(revs[i]!.main, revs[i]!.sub));
    const values = await this.db.getMany(revBytes.map((b) => this.keys.recordKeyFromRevisionBytes(b)));
    missing.forEach((i, j) => {
      const v = values[j];
      if (v === undefined) return;
      out[i] = decodeRecord(revBytes[j]!, v, revs[i]!.main, formatRevision(revs[i]!));
    });
    return out;
  }

  /** etcd mvcc rangeKeys: the keys in range at a revision (curRev = the reader's current revision). */
  private async rangeKeys(
    key: Buffer,
    end: Buffer | undefined,
    curRev: number,
    ro: { revision: number; limit: number; countOnly: boolean },
    w?: WriteTxn,
  ): Promise<{ kvs: KeyValueFields[]; count: number; rev: number }> {
    let rev = ro.revision;
    if (rev > curRev) throw futureRev();
    if (rev <= 0) rev = curRev;
    if (rev < this.compactMain) throw compacted();
    const found = this.index.revisions(key, end, rev);
    if (found.length === 0 || ro.countOnly) return { kvs: [], count: found.length, rev: curRev };
    const limit = ro.limit <= 0 || ro.limit > found.length ? found.length : ro.limit;
    const recs = await this.readRecords(found.slice(0, limit).map((f) => f.modified), w);
    const kvs: KeyValueFields[] = [];
    for (let i = 0; i < limit; i++) {
      const rec = recs[i];
      if (!rec || rec.tombstone) {
        // A compaction applied while this read was in flight removed the revision.
        if (rev < this.compactMain) throw compacted();
        const f = found[i]!;
        throw new DataCorruptError(`mvcc: record for key ${JSON.stringify(f.ki.key.toString('latin1'))} at revision ${formatRevision(f.modified)} is missing`);
      }
      kvs.push(rec.kv);
    }
    return { kvs, count: found.length, rev: curRev };
  }

  /** etcd applier Range: limits, min/max filters, sorting. */
  private async applyRange(r: RangeRequest, curRev: number, w?: WriteTxn): Promise<RangeResult> {
    const sortOrder = r.sortOrder ?? 'NONE';
    const sortTarget = r.sortTarget ?? 'KEY';
    const reqLimit = r.limit ?? 0;
    const minMod = r.minModRevision ?? 0;
    const maxMod = r.maxModRevision ?? 0;
    const minCreate = r.minCreateRevision ?? 0;
    const maxCreate = r.maxCreateRevision ?? 0;
    let limit = reqLimit;
    if (sortOrder !== 'NONE' || minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0) limit = 0;
    if (limit > 0) limit++;
    const rr = await this.rangeKeys(r.key, rangeEndOf(r.rangeEnd), curRev, { revision: r.revision ?? 0, limit, countOnly: r.countOnly ?? false }, w);
    let kvs = rr.kvs;
    if (maxMod !== 0) kvs = kvs.filter((kv) => kv.modRevision <= maxMod);
    if (minMod !== 0) kvs = kvs.filter((kv) => kv.modRevision >= minMod);
    if (minCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision >= minCreate);
    if (maxCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision <= maxCreate);
    let order = sortOrder;
    if (sortTarget !== 'KEY' && order === 'NONE') order = 'ASCEND';
    if (order !== 'NONE') {
      const cmp = sortComparator(sortTarget);
      const sign = order === 'DESCEND' ? -1 : 1;
      kvs = [...kvs].sort((a, b) => sign * cmp(a, b));
    }
    let more = false;
    if (reqLimit > 0 && kvs.length > reqLimit) {
      kvs = kvs.slice(0, reqLimit);
      more = true;
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
    return { header: { revision: rr.rev }, kvs, more, count: rr.count, revision: rr.rev };
  }

  /** Range (serializable read at the committed revision, or at `revision`). */
  async range(req: RangeRequest): Promise<RangeResult> {
    this.ensureUsable();
    return this.applyRange(req, this.current);
  }

  // ---- mutations -----------------------------------------------------------

  private ensureUsable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new EtcdError('Stopped', 'mvcc: store closed');
  }

  private metaOp(index: number, rev: number): BatchOp {
    return { type: 'put', key: this.keys.metaKey, value: encodeNumbers(META_CONTEXT, [index, rev, this.compactMain]) };
  }

  /**
   * Runs one apply: `fn` validates (throwing before it changes anything) and
   * then writes into the txn. Errors thrown by validation still advance the
   * consistent index (the entry was applied, with an error result). The apply
   * runs inside this call when no earlier apply is still reading LevelDB and
   * `fn` needs no LevelDB read; its ops go to the pending batch (flush()).
   */
  private apply<T>(index: number, noop: () => T, fn: (w: WriteTxn) => MaybePromise<T>, extraOps?: () => BatchOp[], after?: () => void): Promise<T> {
    let run: MaybePromise<T>;
    if (this.asyncApply) {
      run = this.asyncApply.then(() => this.runApply(index, noop, fn, extraOps, after));
    } else if (this.pending.bytes >= 4 * this.maxPendingBytes && !this.failure) {
      // Applies outpace LevelDB: wait for the pending batch to be written.
      run = this.flush().then(() => this.runApply(index, noop, fn, extraOps, after));
    } else {
      try {
        run = this.runApply(index, noop, fn, extraOps, after);
      } catch (err) {
        return Promise.reject(err);
      }
      if (!isPromise(run)) return Promise.resolve(run);
    }
    const tail: Promise<unknown> = run.catch(() => undefined);
    this.asyncApply = tail;
    void tail.then(() => {
      if (this.asyncApply === tail) this.asyncApply = undefined;
    });
    return run;
  }

  private runApply<T>(index: number, noop: () => T, fn: (w: WriteTxn) => MaybePromise<T>, extraOps?: () => BatchOp[], after?: () => void): MaybePromise<T> {
    this.ensureUsable();
    if (index <= this.consistent) return noop();
    const w = new WriteTxn(this, this.current);
    let result: MaybePromise<T>;
    try {
      result = fn(w);
    } catch (err) {
      return this.applyFailed(index, w, err);
    }
    if (isPromise(result)) {
      return result.then(
        (r) => this.commit(index, w, r, extraOps, after),
        (err: unknown) => this.applyFailed(index, w, err),
      );
    }
    return this.commit(index, w, result, extraOps, after);
  }

  /** An apply threw: a request error before any change is the entry's result; anything else breaks the store. */
  private applyFailed(index: number, w: WriteTxn, err: unknown): never {
    if (this.failure) throw this.failure;
    if (w.changes.length > 0 || !(err instanceof EtcdError || err instanceof MvccRequestError)) {
      this.failure = Object.assign(new Error(`mvcc: apply of index ${index} failed midway: ${(err as Error).message}`, { cause: err }), {
        code: 'APPLY_FAILED',
      });
      throw this.failure;
    }
    this.consistent = index;
    this.pendingDirty = true;
    this.pending.entries++;
    this.maybeAutoFlush();
    throw err;
  }

  /** Publishes an apply: queues its ops, updates leases and counters, advances the revision, notifies watchers. */
  private commit<T>(index: number, w: WriteTxn, result: T, extraOps?: () => BatchOp[], after?: () => void): T {
    if (this.failure) throw this.failure;
    const newRev = w.changes.length > 0 ? w.beginRev + 1 : w.beginRev;
    const batch = this.pending;
    for (const op of w.ops) batch.ops.push(op);
    for (const r of w.records) {
      batch.records.push(r);
      this.unflushed.set(r.id, r);
      batch.bytes += r.storageKey.length + r.value.length;
    }
    if (extraOps) {
      for (const op of extraOps()) {
        batch.ops.push(op);
        batch.bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
      }
    }
    batch.entries++;
    this.pendingDirty = true;
    for (const a of w.leaseActions) a();
    after?.();
    this.bytes += w.addedBytes;
    this.consistent = index;
    this.current = newRev;
    if (w.changes.length > 0 && this.hub.size > 0) this.hub.notify(newRev, w.changes.map((c) => c.event));
    this.maybeAutoFlush();
    return result;
  }

  private header(): { revision: number } {
    return { revision: this.current };
  }

  private checkQuota(cost: number): void {
    if (this.quotaBytes > 0 && cost > 0 && this.bytes + cost > this.quotaBytes) {
      throw new EtcdError('NoSpace', 'etcdserver: mvcc: database space exceeded');
    }
  }

  private putCost(p: PutRequest): number {
    return PUT_OVERHEAD + this.keys.recordKeyLength + p.key.length + (p.value?.length ?? 0);
  }

  private txnCost(t: TxnRequest): number {
    const branch = (ops: RequestOp[] | undefined): number => {
      let c = 0;
      for (const op of ops ?? []) {
        if (op.requestPut && opKind(op) === 'requestPut') c += this.putCost(op.requestPut);
        else if (op.requestTxn && opKind(op) === 'requestTxn') c += this.txnCost(op.requestTxn);
      }
      return c;
    };
    return Math.max(branch(t.success), branch(t.failure));
  }

  /** Checks a put that is about to run in `w` (etcd checkRequestPut); reads at the txn's begin revision. */
  private checkPut(p: PutRequest, atRev: number): void {
    if (p.ignoreValue || p.ignoreLease) {
      const ki = this.index.get(p.key);
      if (!ki || !ki.get(atRev)) throw new EtcdError('KeyNotFound', 'etcdserver: key not found');
    }
    const lease = p.lease ?? 0;
    if (lease !== 0 && !this.lessor.has(lease)) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
  }

  private checkRangeRevision(r: RangeRequest, curRev: number): void {
    const rev = r.revision ?? 0;
    if (rev > curRev) throw futureRev();
    if (rev > 0 && rev < this.compactMain) throw compacted();
  }

  /** Synchronous when it needs no read (no prevKv/ignoreValue/ignoreLease, no prevKv watcher on a key only in LevelDB). */
  private doPut(w: WriteTxn, p: PutRequest): MaybePromise<PutResult> {
    if (p.ignoreValue || p.ignoreLease || p.prevKv) {
      return this.rangeKeys(p.key, undefined, w.rev(), { revision: 0, limit: 0, countOnly: false }, w).then((rr) => this.putAfterRead(w, p, rr.kvs[0]));
    }
    return this.putAfterRead(w, p, undefined);
  }

  private putAfterRead(w: WriteTxn, p: PutRequest, prev: KeyValueFields | undefined): MaybePromise<PutResult> {
    let value = p.value ?? Buffer.alloc(0);
    let lease = p.lease ?? 0;
    if (p.ignoreValue || p.ignoreLease) {
      if (!prev) throw new EtcdError('KeyNotFound', 'etcdserver: key not found');
      if (p.ignoreValue) value = prev.value;
      if (p.ignoreLease) lease = prev.lease;
    }
    return then(w.put(p.key, value, lease), (rev) => {
      const res: PutResult = { header: { revision: rev } };
      if (p.prevKv && prev) res.prevKv = prev;
      return res;
    });
  }

  /** Synchronous when it needs no read (no prevKv, no prevKv watcher on a deleted key only in LevelDB). */
  private doDeleteRange(w: WriteTxn, d: DeleteRangeRequest): MaybePromise<DeleteRangeResult> {
    const end = rangeEndOf(d.rangeEnd);
    const finish = (prevKvs: KeyValueFields[]): MaybePromise<DeleteRangeResult> =>
      then(w.deleteRange(d.key, end), (deleted) => ({
        header: { revision: deleted !== 0 || w.changes.length > 0 ? w.beginRev + 1 : w.beginRev },
        deleted,
        prevKvs,
      }));
    if (d.prevKv) return this.rangeKeys(d.key, end, w.rev(), { revision: 0, limit: 0, countOnly: false }, w).then((rr) => finish(rr.kvs));
    return finish([]);
  }

  /** Put (etcd PutRequest). Throws LeaseNotFound, KeyNotFound (ignoreValue/ignoreLease), NoSpace. */
  put(index: number, req: PutRequest): Promise<PutResult> {
    return this.apply(
      index,
      () => ({ header: this.header() }),
      (w) => {
        this.checkPut(req, w.beginRev);
        this.checkQuota(this.putCost(req));
        return this.doPut(w, req);
      },
    );
  }

  /** DeleteRange (etcd DeleteRangeRequest); a delete of nothing does not change the revision. */
  deleteRange(index: number, req: DeleteRangeRequest): Promise<DeleteRangeResult> {
    return this.apply(
      index,
      () => ({ header: this.header(), deleted: 0, prevKvs: [] }),
      (w) => this.doDeleteRange(w, req),
    );
  }

  /** Txn (etcd TxnRequest): one revision for all its writes; nested txns allowed. */
  txn(index: number, req: TxnRequest): Promise<TxnResult> {
    return this.apply(
      index,
      () => ({ header: this.header(), succeeded: false, responses: [] }),
      (w) => {
        validateTxn(req);
        return then(this.decide(req, w.beginRev), (decision) => {
          this.checkTxnRequests(req, decision, w.beginRev);
          this.checkQuota(this.txnCost(req));
          return then(this.execTxn(w, req, decision), (res) => {
            res.header.revision = w.changes.length > 0 ? w.beginRev + 1 : w.beginRev;
            return res;
          });
        });
      },
    );
  }

  /** Synchronous unless a compare (VALUE, LEASE) reads a record that is only in LevelDB. */
  private decide(t: TxnRequest, atRev: number): MaybePromise<Decision> {
    let ok = true;
    const compared = eachInOrder(t.compare ?? [], (c) =>
      then(this.applyCompare(c, atRev), (r) => {
        if (!r) ok = false;
        return r;
      }),
    );
    return then(compared, () => {
      const nested: Decision[] = [];
      const subs = ((ok ? t.success : t.failure) ?? []).filter((op) => opKind(op) === 'requestTxn' && op.requestTxn);
      const decided = eachInOrder(subs, (op) =>
        then(this.decide(op.requestTxn!, atRev), (d) => {
          nested.push(d);
          return true;
        }),
      );
      return then(decided, () => ({ ok, nested }));
    });
  }

  private checkTxnRequests(t: TxnRequest, d: Decision, atRev: number): void {
    let n = 0;
    for (const op of (d.ok ? t.success : t.failure) ?? []) {
      const kind = opKind(op);
      if (kind === 'requestTxn' && op.requestTxn) this.checkTxnRequests(op.requestTxn, d.nested[n++]!, atRev);
      else if (kind === 'requestPut' && op.requestPut) this.checkPut(op.requestPut, atRev);
      else if (kind === 'requestRange' && op.requestRange) this.checkRangeRevision(op.requestRange, atRev);
    }
  }

  private applyCompare(c: Compare, atRev: number): MaybePromise<boolean> {
    const target = c.target ?? 'VERSION';
    if (target !== 'VERSION' && target !== 'CREATE' && target !== 'MOD') return this.compareRecords(c, atRev);
    // Versions and revisions are in the key index: no record read.
    if (atRev < this.compactMain) return false;
    const found = this.index.revisions(c.key, rangeEndOf(c.rangeEnd), atRev);
    if (found.length === 0) return compareKv(c, undefined);
    return found.every((f) =>
      compareKv(c, { key: f.ki.key, value: EMPTY, createRevision: f.created, modRevision: f.modified.main, version: f.version, lease: 0 }),
    );
  }

  private async compareRecords(c: Compare, atRev: number): Promise<boolean> {
    let kvs: KeyValueFields[];
    try {
      kvs = (await this.rangeKeys(c.key, rangeEndOf(c.rangeEnd), atRev, { revision: 0, limit: 0, countOnly: false })).kvs;
    } catch (err) {
      if (err instanceof EtcdError) return false;
      throw err;
    }
    const target = c.target ?? 'VERSION';
    if (kvs.length === 0) {
      if (target === 'VALUE') return false;
      return compareKv(c, undefined);
    }
    return kvs.every((kv) => compareKv(c, kv));
  }

  /** Synchronous unless an op reads records (a range, prevKv) or a prevKv watcher needs a record only in LevelDB. */
  private execTxn(w: WriteTxn, t: TxnRequest, d: Decision): MaybePromise<TxnResult> {
    const responses: ResponseOp[] = [];
    let n = 0;
    const done = eachInOrder((d.ok ? t.success : t.failure) ?? [], (op): MaybePromise<boolean> => {
      const kind = opKind(op);
      if (kind === 'requestRange' && op.requestRange) {
        return this.applyRange(op.requestRange, w.rev(), w).then((r) => responses.push({ response: 'responseRange', responseRange: r }) > 0);
      } else if (kind === 'requestPut' && op.requestPut) {
        return then(this.doPut(w, op.requestPut), (r) => responses.push({ response: 'responsePut', responsePut: r }) > 0);
      } else if (kind === 'requestDeleteRange' && op.requestDeleteRange) {
        return then(this.doDeleteRange(w, op.requestDeleteRange), (r) => responses.push({ response: 'responseDeleteRange', responseDeleteRange: r }) > 0);
      } else if (kind === 'requestTxn' && op.requestTxn) {
        // etcd leaves the header of nested txn responses empty (revision 0).
        return then(this.execTxn(w, op.requestTxn, d.nested[n++]!), (r) => responses.push({ response: 'responseTxn', responseTxn: r }) > 0);
      }
      return true;
    });
    return then(done, () => ({ header: { revision: 0 }, succeeded: d.ok, responses }));
  }

  // ---- compaction ------------------------------------------------------------

  /**
   * Compacts: drops every revision <= `revision` except the latest of each key
   * still alive at it. The index and the compacted revision change at once; the
   * records are deleted from LevelDB in the background in chunks (waitCompaction()).
   */
  compact(index: number, revision: number): Promise<CompactResult> {
    let keep: Set<string> | undefined;
    return this.apply(
      index,
      () => ({ header: this.header() }),
      () => {
        if (revision <= this.compactMain) throw compacted();
        if (revision > this.current) throw futureRev();
        const res = this.index.compact(revision);
        keep = res.keep;
        this.bytes -= res.removedBytes;
        this.compactMain = revision;
        return { header: { revision: this.current } };
      },
      undefined,
      () => this.schedulePhysicalCompaction(revision, keep!),
    );
  }

  private schedulePhysicalCompaction(revision: number, keep: Set<string>): void {
    this.compaction = this.compaction.then(async () => {
      // The records to delete (and the scheduled compaction in the meta record) must be in LevelDB first.
      if (this.flushedIndex < this.consistent) await this.flush();
      const it = this.db.iterator({ gte: this.keys.recordPrefix, lt: this.keys.recordKey(revision + 1, 0), values: false });
      try {
        for (;;) {
          const entries = await it.nextv(this.compactionBatch);
          if (entries.length === 0) break;
          const dels: BatchOp[] = [];
          for (const [k] of entries) {
            const rev = decodeRevision(this.keys.revisionBytesOf(k));
            if (!keep.has(revisionId(rev))) dels.push({ type: 'del', key: k });
          }
          if (dels.length > 0) await this.writeOps(dels);
          await yieldToLoop();
        }
      } finally {
        await it.close();
      }
      await this.db.put(this.keys.compactKey, encodeNumbers(COMPACT_CONTEXT, [revision]));
    });
    this.compaction.catch((err: unknown) => {
      this.failure ??= Object.assign(new Error(`mvcc: compaction failed: ${(err as Error).message}`, { cause: err }), { code: 'COMPACTION_FAILED' });
    });
  }

  // ---- leases --------------------------------------------------------------

  /** Grants lease `id` (chosen by the proposer) with `ttl` seconds (raised to minLeaseTtl). */
  leaseGrant(index: number, id: number, ttl: number): Promise<LeaseGrantResult> {
    let effective = 0;
    return this.apply(
      index,
      () => ({ header: this.header(), id, ttl: this.lessor.ttlOf(id) ?? ttl }),
      () => {
        effective = this.lessor.checkGrant(id, ttl);
        return { header: { revision: this.current }, id, ttl: effective };
      },
      () => {
        const value = encodeLease(this.keys.leaseIdBytesOf(this.keys.leaseKey(id)), { id, ttl: effective });
        this.bytes += this.keys.leaseKey(id).length + value.length;
        return [{ type: 'put', key: this.keys.leaseKey(id), value }];
      },
      () => this.lessor.add(id, effective),
    );
  }

  /** Revokes a lease, deleting its keys (in key order) in one revision. */
  leaseRevoke(index: number, id: number): Promise<LeaseRevokeResult> {
    return this.apply(
      index,
      () => ({ header: this.header() }),
      async (w) => {
        if (!this.lessor.has(id)) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
        for (const key of this.lessor.keysOf(id)) await w.deleteRange(key, undefined);
        return { header: { revision: w.changes.length > 0 ? w.beginRev + 1 : w.beginRev } };
      },
      () => {
        const key = this.keys.leaseKey(id);
        this.bytes -= key.length + encodeLease(this.keys.leaseIdBytesOf(key), { id, ttl: this.lessor.ttlOf(id) ?? 0 }).length;
        return [{ type: 'del', key }];
      },
      () => {
        this.lessor.remove(id);
      },
    );
  }

  /** Leader-local lease deadlines: see Lessor. */
  promote(nowMs: number, extendMs = 0): void {
    this.lessor.promote(nowMs, extendMs);
  }
  demote(): void {
    this.lessor.demote();
  }
  renew(id: number, nowMs: number): number {
    return this.lessor.renew(id, nowMs);
  }
  expired(nowMs: number): number[] {
    return this.lessor.expired(nowMs);
  }
  timeToLive(id: number, nowMs: number): LeaseTimeToLive {
    return this.lessor.timeToLive(id, nowMs);
  }
  leases(): number[] {
    return this.lessor.leases();
  }

  // ---- watch ---------------------------------------------------------------

  watch(opts: WatchCreateOptions, sink: WatchSink): MvccWatchHandle {
    this.ensureUsable();
    return this.hub.watch(opts, sink);
  }

  /** For the watch hub: the events of revisions [fromRev, toRev] whose key passes `match`, whole revisions, about `limit` records. */
  async readEvents(
    fromRev: number,
    toRev: number,
    limit: number,
    match: (key: Buffer) => boolean,
    withPrevKv: boolean,
  ): Promise<{ events: WatchEventFields[]; lastRev: number }> {
    const compactAtStart = this.compactMain;
    // Records not yet in LevelDB come from memory; they follow every flushed record, so
    // LevelDB is read only below the first of them (taken now, before any await).
    const mem = this.unflushedRecords();
    const memFrom = firstAtOrAfter(mem, fromRev);
    const memTo = firstAtOrAfter(mem, toRev + 1);
    const dbEnd = mem.length > 0 ? Math.min(toRev + 1, mem[0]!.main) : toRev + 1;
    const events: WatchEventFields[] = [];
    let lastRev = toRev;
    let records = 0;
    let prevMain = -1;
    /** True (and lastRev set) once `limit` records are read and `main` starts another revision. */
    const full = (main: number): boolean => {
      if (records < limit || main === prevMain) return false;
      lastRev = prevMain;
      return true;
    };
    const add = async (main: number, rec: StoredRecord): Promise<void> => {
      prevMain = main;
      records++;
      if (!match(rec.kv.key)) return;
      // A compaction removes the tombstones at its revision; never replay them (the result must not depend on timing).
      if (rec.tombstone && main <= this.compactMain) return;
      const ev: WatchEventFields = rec.tombstone
        ? { type: 'DELETE', kv: { key: rec.kv.key, value: Buffer.alloc(0), createRevision: 0, modRevision: main, version: 0, lease: 0 } }
        : { type: 'PUT', kv: rec.kv };
      if (withPrevKv && !(ev.type === 'PUT' && ev.kv.version === 1) && main - 1 >= this.compactMain) {
        const prior = this.index.get(rec.kv.key)?.get(main - 1);
        if (prior) {
          const pkv = await this.readKvMaybe(prior.modified);
          if (pkv) ev.prevKv = pkv;
        }
      }
      events.push(ev);
    };
    let more = true;
    if (fromRev < dbEnd) {
      const it = this.db.iterator({ gte: this.keys.recordKey(fromRev, 0), lt: this.keys.recordKey(dbEnd, 0) });
      try {
        outer: for (;;) {
          const entries = await it.nextv(Math.min(limit, 1000));
          if (entries.length === 0) break;
          for (const [k, v] of entries) {
            const revBytes = this.keys.revisionBytesOf(k);
            const main = readUint64(revBytes, 0);
            if (full(main)) {
              more = false;
              break outer;
            }
            await add(main, decodeRecord(revBytes, v, main, formatRevision(decodeRevision(revBytes))));
          }
        }
      } finally {
        await it.close();
      }
    }
    for (let i = memFrom; more && i < memTo; i++) {
      const r = mem[i]!;
      if (full(r.main)) break;
      await add(r.main, { tombstone: r.rec.tombstone, kv: copyKv(r.rec.kv) });
    }
    if (this.compactMain !== compactAtStart) throw Object.assign(new Error('mvcc: compaction during history read'), { code: 'RETRY' });
    return { events, lastRev };
  }

  // ---- snapshots -------------------------------------------------------------

  /**
   * The whole key space (all stored revisions, leases, compaction state,
   * consistent index) as a stream of chunks ending with a checksum. Captured
   * at the call: later applies are not included. Applies not yet flushed are
   * included (their records are taken from memory).
   */
  snapshot(chunkBytes = 1 << 20): AsyncIterable<Buffer> {
    this.ensureUsable();
    const snap = this.db.snapshot();
    return writeSnapshot(
      this.db,
      snap,
      this.keys,
      {
        consistentIndex: this.consistent,
        revision: this.current,
        compactRevision: this.compactMain,
        leases: this.lessor.records(),
      },
      chunkBytes,
      this.unflushedRecords().slice(),
    );
  }

  /**
   * Replaces the key space under `prefix` with a snapshot (the store there must
   * be closed), verifying its checksum (SNAPSHOT_CORRUPT), and opens it. The
   * data goes to the inactive generation; one write switches over.
   */
  static async restore(db: LevelDb, prefix: Buffer, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, opts: MvccStoreOptions = {}): Promise<MvccStore> {
    const marker = await db.get(Buffer.concat([prefix, Buffer.from([0])]));
    const active = marker && marker.length === 1 ? marker[0]! : 0;
    const target = new Keyspace(Buffer.from(prefix), 1 - active);
    const old = new Keyspace(Buffer.from(prefix), active);
    await db.clear({ gte: target.generationStart, lt: target.generationEnd });
    try {
      await readSnapshotInto(db, target, chunks);
    } catch (err) {
      await db.clear({ gte: target.generationStart, lt: target.generationEnd });
      throw err;
    }
    await db.batch([{ type: 'put', key: target.markerKey, value: Buffer.from([target.generation]) }], { sync: true });
    await db.clear({ gte: old.generationStart, lt: old.generationEnd });
    return MvccStore.open(db, prefix, opts);
  }
}

function sortComparator(target: string): (a: KeyValueFields, b: KeyValueFields) => number {
  switch (target) {
    case 'VERSION':
      return (a, b) => a.version - b.version;
    case 'CREATE':
      return (a, b) => a.createRevision - b.createRevision;
    case 'MOD':
      return (a, b) => a.modRevision - b.modRevision;
    case 'VALUE':
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

function compareKv(c: Compare, kv: KeyValueFields | undefined): boolean {
  let result: number;
  switch (c.target ?? 'VERSION') {
    case 'VALUE':
      result = Buffer.compare(kv?.value ?? Buffer.alloc(0), c.value ?? Buffer.alloc(0));
      break;
    case 'CREATE':
      result = Math.sign((kv?.createRevision ?? 0) - (c.createRevision ?? 0));
      break;
    case 'MOD':
      result = Math.sign((kv?.modRevision ?? 0) - (c.modRevision ?? 0));
      break;
    case 'LEASE':
      result = Math.sign((kv?.lease ?? 0) - (c.lease ?? 0));
      break;
    default:
      result = Math.sign((kv?.version ?? 0) - (c.version ?? 0));
  }
  switch (c.result ?? 'EQUAL') {
    case 'EQUAL':
      return result === 0;
    case 'NOT_EQUAL':
      return result !== 0;
    case 'GREATER':
      return result > 0;
    case 'LESS':
      return result < 0;
  }
  return true;
}

// ---- txn validation (etcd v3rpc checkIntervals) --------------------------------

interface Interval {
  start: Buffer;
  /** undefined = the point `start`; empty = unbounded. */
  end: Buffer | undefined;
}

function intersectsPoint(dels: Interval[], key: Buffer): boolean {
  return dels.some((d) => {
    if (d.end === undefined) return d.start.equals(key);
    if (Buffer.compare(key, d.start) < 0) return false;
    return d.end.length === 0 || Buffer.compare(key, d.end) < 0;
  });
}

function duplicate(): MvccRequestError {
  return new MvccRequestError('DUPLICATE_KEY', 'DuplicateKey', 'etcdserver: duplicate key given in txn request');
}

function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (opKind(op) !== 'requestDeleteRange' || !op.requestDeleteRange) continue;
    const d = op.requestDeleteRange;
    dels.push({ start: d.key, end: d.rangeEnd && d.rangeEnd.length > 0 ? rangeEndOf(d.rangeEnd) : undefined });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (opKind(op) !== 'requestTxn' || !op.requestTxn) continue;
    const a = checkIntervals(op.requestTxn.success ?? []);
    const b = checkIntervals(op.requestTxn.failure ?? []);
    for (const k of a.puts) {
      if (puts.has(k) || intersectsPoint(dels, Buffer.from(k, 'latin1'))) throw duplicate();
      puts.add(k);
    }
    for (const k of b.puts) {
      if (puts.has(k) && !a.puts.has(k)) throw duplicate();
      if (intersectsPoint(dels, Buffer.from(k, 'latin1'))) throw duplicate();
      puts.add(k);
    }
    dels.push(...a.dels, ...b.dels);
  }
  for (const op of reqs) {
    if (opKind(op) !== 'requestPut' || !op.requestPut) continue;
    const k = op.requestPut.key.toString('latin1');
    if (puts.has(k) || intersectsPoint(dels, op.requestPut.key)) throw duplicate();
    puts.add(k);
  }
  return { puts, dels };
}

/** etcd's txn request check: a key may be put at most once per branch path and not in a range the txn deletes. */
export function validateTxn(req: TxnRequest): void {
  checkIntervals(req.success ?? []);
  checkIntervals(req.failure ?? []);
}

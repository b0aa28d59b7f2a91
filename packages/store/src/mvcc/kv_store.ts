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
//
// This file owns the revisioned key space (etcd's kvstore.go): opening and
// rebuilding it from LevelDB, the apply pipeline (apply, commit, failure),
// the public put/deleteRange/txn/compact/lease entry points, snapshots. The
// parts it is built from: kvstore_txn.ts (read/write views of one txn),
// txn_apply.ts (range/put/delete/txn semantics, compares), txn_check.ts
// (duplicate-key check), group_commit.ts (write-behind batches),
// kvstore_compaction.ts (physical compaction), watchable_store.ts (history
// reads for watchers; watch_hub.ts fans events out), key_index.ts, lessor.ts.

import { EtcdError } from '../api/etcd_error.js';
import type { KeyValueFields, WatchCreateOptions, WatchEventFields, WatchSink } from '../api/kv.js';
import { decodeLease, decodeNumbers, decodeRecord, encodeLease, encodeNumbers, type StoredRecord } from './codec.js';
import { compacted, futureRev } from './errors.js';
import { GroupCommit, type BatchOp, type LevelDb } from './group_commit.js';
import { revisionId, TreeIndex } from './key_index.js';
import { COMPACT_CONTEXT, Keyspace, META_CONTEXT } from './keyspace.js';
import { compactRecords } from './kvstore_compaction.js';
import { copyKv, opKind, WriteTxn } from './kvstore_txn.js';
import { Lessor, type LeaseTimeToLive } from './lessor.js';
import { isPromise, then, type MaybePromise } from './maybe_promise.js';
import { decodeRevision, encodeRevision, formatRevision } from './revision.js';
import { readSnapshotInto, writeSnapshot } from './snapshot.js';
import { applyRange, checkPut, checkTxnRequests, decide, doDeleteRange, doPut, execTxn } from './txn_apply.js';
import { validateTxn } from './txn_check.js';
import {
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
  type TxnRequest,
  type TxnResult,
} from './types.js';
import { readEvents } from './watchable_store.js';
import { type MvccWatchHandle, WatchHub, type WatchHubOptions, type WatchSource } from './watch_hub.js';

export type { LevelDb } from './group_commit.js';
export { validateTxn } from './txn_check.js';

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

const PUT_OVERHEAD = 64;

/** The revision of an empty key space (etcd's: the first write is revision 2). */
export const FIRST_REVISION = 1;

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
  private readonly quotaBytes: number;
  private readonly compactionBatch: number;
  /** Write-behind of applied entries to LevelDB. */
  private readonly commits: GroupCommit;

  private constructor(
    readonly db: LevelDb,
    readonly keys: Keyspace,
    opts: MvccStoreOptions,
  ) {
    this.lessor = new Lessor({ minTtl: opts.minLeaseTtl ?? 2, clock: opts.clock });
    this.quotaBytes = opts.quotaBytes ?? 0;
    this.compactionBatch = opts.compactionBatch ?? 1000;
    this.commits = new GroupCommit(
      db,
      {
        failure: () => this.failure,
        fail: (err) => (this.failure ??= err),
        commitPoint: () => ({ index: this.consistent, meta: this.metaOp(this.consistent, this.current) }),
      },
      {
        sync: opts.sync ?? false,
        maxPendingBytes: opts.maxPendingBytes ?? 4 << 20,
        maxPendingEntries: opts.maxPendingEntries ?? 10_000,
        flushOnIdle: opts.flushOnIdle ?? true,
      },
    );
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
    // Revisions as etcd's: an empty key space is at revision 1, its first write is revision 2. A
    // store created before this rule (it has a meta record or records: every flush writes the meta
    // record) keeps its numbering, whatever its revision is.
    if (!metaRaw && this.current === 0 && this.index.size === 0) this.current = FIRST_REVISION;
    this.commits.flushedIndex = this.consistent;
  }

  // ---- state -------------------------------------------------------------

  /** Raft index of the last applied entry (in LevelDB once flushed: see flush()). */
  get consistentIndex(): number {
    return this.consistent;
  }

  /** Raft index of the last applied entry whose changes LevelDB holds (<= consistentIndex; equal after flush()). */
  get persistedIndex(): number {
    return this.commits.flushedIndex;
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
    return this.commits.flush();
  }

  /** Records not yet in LevelDB (being written or pending), in revision order (for history reads). */
  unflushedRecords(): ReturnType<GroupCommit['unflushedRecords']> {
    return this.commits.unflushedRecords();
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
    return w?.overlay.get(id) ?? this.commits.record(id);
  }

  /** Records by revision (from a txn's own writes, the unflushed records or LevelDB); undefined where none. */
  async readRecords(revs: Array<{ main: number; sub: number }>, w?: WriteTxn): Promise<Array<StoredRecord | undefined>> {
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

  /** Range (serializable read at the committed revision, or at `revision`). */
  async range(req: RangeRequest): Promise<RangeResult> {
    this.ensureUsable();
    return applyRange(this, req, this.current);
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
    } else if (this.commits.backlogged && !this.failure) {
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
    this.commits.addEntry();
    this.commits.maybeAutoFlush();
    throw err;
  }

  /** Publishes an apply: queues its ops, updates leases and counters, advances the revision, notifies watchers. */
  private commit<T>(index: number, w: WriteTxn, result: T, extraOps?: () => BatchOp[], after?: () => void): T {
    if (this.failure) throw this.failure;
    const newRev = w.changes.length > 0 ? w.beginRev + 1 : w.beginRev;
    this.commits.add(w.ops, w.records, extraOps?.());
    for (const a of w.leaseActions) a();
    after?.();
    this.bytes += w.addedBytes;
    this.consistent = index;
    this.current = newRev;
    if (w.changes.length > 0 && this.hub.size > 0) this.hub.notify(newRev, w.changes.map((c) => c.event));
    this.commits.maybeAutoFlush();
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

  /** Put (etcd PutRequest). Throws LeaseNotFound, KeyNotFound (ignoreValue/ignoreLease), NoSpace. */
  put(index: number, req: PutRequest): Promise<PutResult> {
    return this.apply(
      index,
      () => ({ header: this.header() }),
      (w) => {
        checkPut(this, req, w.beginRev);
        this.checkQuota(this.putCost(req));
        return doPut(this, w, req);
      },
    );
  }

  /** DeleteRange (etcd DeleteRangeRequest); a delete of nothing does not change the revision. */
  deleteRange(index: number, req: DeleteRangeRequest): Promise<DeleteRangeResult> {
    return this.apply(
      index,
      () => ({ header: this.header(), deleted: 0, prevKvs: [] }),
      (w) => doDeleteRange(this, w, req),
    );
  }

  /** Txn (etcd TxnRequest): one revision for all its writes; nested txns allowed. */
  txn(index: number, req: TxnRequest): Promise<TxnResult> {
    return this.apply(
      index,
      () => ({ header: this.header(), succeeded: false, responses: [] }),
      (w) => {
        validateTxn(req);
        return then(decide(this, req, w.beginRev), (decision) => {
          checkTxnRequests(this, req, decision, w.beginRev);
          this.checkQuota(this.txnCost(req));
          return then(execTxn(this, w, req, decision), (res) => {
            res.header.revision = w.changes.length > 0 ? w.beginRev + 1 : w.beginRev;
            return res;
          });
        });
      },
    );
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
      if (this.commits.flushedIndex < this.consistent) await this.flush();
      await compactRecords(this.db, this.keys, revision, keep, this.compactionBatch, (ops) => this.commits.writeOps(ops));
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
  readEvents(
    fromRev: number,
    toRev: number,
    limit: number,
    match: (key: Buffer) => boolean,
    withPrevKv: boolean,
  ): Promise<{ events: WatchEventFields[]; lastRev: number }> {
    return readEvents(this, fromRev, toRev, limit, match, withPrevKv);
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

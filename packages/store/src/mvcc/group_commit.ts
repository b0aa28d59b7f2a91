// Group commit (write-behind) of the MVCC key space, as etcd's backend batch
// tx: applies queue their LevelDB ops in a pending batch; flush() writes all
// that is pending as ONE LevelDB batch ending with the meta record (consistent
// index, revision) it covers, so LevelDB always holds a prefix of the applied
// entries. A batch is also started once the pending ops pass a size bound, or
// (flushOnIdle) at the end of the event-loop turn. Records applied but not yet
// written are served from memory (unflushedRecords(), record()).
import type { ClassicLevel } from 'classic-level';
import type { StoredRecord } from './codec.js';

export type LevelDb = ClassicLevel<Buffer, Buffer>;

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** A record applied but not yet written to LevelDB. */
export interface PendingRecord {
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
export function firstAtOrAfter(records: PendingRecord[], main: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid]!.main < main) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface GroupCommitOptions {
  /** fsync each batch. */
  sync: boolean;
  /** A batch is started without waiting for flush() once this many bytes of ops are pending. */
  maxPendingBytes: number;
  /** ... or once this many applied entries are pending. */
  maxPendingEntries: number;
  /** Also start a flush once the applies of the current event-loop turn are done. */
  flushOnIdle: boolean;
}

/** What the group commit needs from the store it writes for. */
export interface GroupCommitHost {
  /** The store's failure (a failed store writes nothing more). */
  failure(): Error | undefined;
  /** Keeps `err` as the store's failure unless it already has one; returns the store's failure. */
  fail(err: Error): Error;
  /** The consistent index applied so far and the meta record that ends a batch covering it. */
  commitPoint(): { index: number; meta: BatchOp };
}

export class GroupCommit {
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
  /** Raft index of the last applied entry whose changes LevelDB holds. */
  flushedIndex = 0;

  constructor(
    private readonly db: LevelDb,
    private readonly host: GroupCommitHost,
    private readonly opts: GroupCommitOptions,
  ) {}

  /** Applies outpace LevelDB: the pending batch is four times past its size bound. */
  get backlogged(): boolean {
    return this.pending.bytes >= 4 * this.opts.maxPendingBytes;
  }

  /** An applied entry with no ops (a request error is its result): only the consistent index advances. */
  addEntry(): void {
    this.pendingDirty = true;
    this.pending.entries++;
  }

  /** Queues the ops and records of one applied entry. */
  add(ops: readonly BatchOp[], records: readonly PendingRecord[], extraOps: readonly BatchOp[] | undefined): void {
    const batch = this.pending;
    for (const op of ops) batch.ops.push(op);
    for (const r of records) {
      batch.records.push(r);
      this.unflushed.set(r.id, r);
      batch.bytes += r.storageKey.length + r.value.length;
    }
    if (extraOps) {
      for (const op of extraOps) {
        batch.ops.push(op);
        batch.bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
      }
    }
    batch.entries++;
    this.pendingDirty = true;
  }

  /** A record by revision id if it is not yet in LevelDB. */
  record(id: string): StoredRecord | undefined {
    return this.unflushed.get(id)?.rec;
  }

  /** Records not yet in LevelDB (being written or pending), in revision order. */
  unflushedRecords(): PendingRecord[] {
    if (!this.inflight) return this.pending.records;
    return this.inflight.records.concat(this.pending.records);
  }

  /**
   * Writes every apply made so far (whose ops are not yet in LevelDB) as one
   * LevelDB batch ending with the consistent index it covers; resolves when
   * LevelDB has it (flushedIndex = the consistent index as of the call).
   * Batches are written one at a time, in apply order. A failed write becomes
   * the store's failure (every later call throws it) and rejects.
   */
  flush(): Promise<void> {
    const step = this.flushChain.then(() => this.writePending());
    this.flushChain = step.catch(() => undefined);
    return step;
  }

  private async writePending(): Promise<void> {
    this.autoFlushQueued = false;
    const failure = this.host.failure();
    if (failure) throw failure;
    if (!this.pendingDirty) return;
    const batch = this.pending;
    const { index, meta } = this.host.commitPoint();
    batch.ops.push(meta);
    this.pending = new PendingBatch();
    this.pendingDirty = false;
    this.inflight = batch;
    try {
      await this.writeOps(batch.ops);
    } catch (err) {
      throw this.host.fail(Object.assign(new Error(`mvcc: apply batch failed: ${(err as Error).message}`, { cause: err }), { code: 'APPLY_FAILED' }));
    }
    this.inflight = undefined;
    for (const r of batch.records) this.unflushed.delete(r.id);
    this.flushedIndex = index;
  }

  /** Writes `ops` as one atomic LevelDB batch (a chained batch: much cheaper per op than an array batch). */
  async writeOps(ops: BatchOp[]): Promise<void> {
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
    await b.write({ sync: this.opts.sync });
  }

  /**
   * After an apply: starts a flush in the background once the pending batch is
   * past its size bound, or (flushOnIdle) schedules one for the end of this
   * event-loop turn. A failure is kept as the store's failure.
   */
  maybeAutoFlush(): void {
    if (this.autoFlushQueued) return;
    if (this.pending.bytes >= this.opts.maxPendingBytes || this.pending.entries >= this.opts.maxPendingEntries) {
      this.autoFlushQueued = true;
      this.flush().catch(() => undefined);
      return;
    }
    if (this.opts.flushOnIdle && !this.idleFlushQueued) {
      this.idleFlushQueued = true;
      setImmediate(() => {
        this.idleFlushQueued = false;
        if (this.pendingDirty && !this.autoFlushQueued && !this.host.failure()) {
          this.autoFlushQueued = true;
          this.flush().catch(() => undefined);
        }
      });
    }
  }
}

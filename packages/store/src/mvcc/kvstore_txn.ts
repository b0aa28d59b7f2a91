// The store's transactions (etcd's kvstore_txn.go): the read view (rangeKeys:
// the keys in range at a revision, records from the txn's own writes, memory
// or LevelDB) and the write view (WriteTxn: the puts and deletes of one
// revision, with their LevelDB ops, overlay records, watch events and lease
// bookkeeping, published by the store when the apply commits).
import type { KeyValueFields, WatchEventFields } from '../api/kv.js';
import { DataCorruptError, encodeRecord, type StoredRecord } from './codec.js';
import { compacted, futureRev } from './errors.js';
import type { BatchOp, PendingRecord } from './group_commit.js';
import { type IndexGetResult, revisionId, type TreeIndex } from './key_index.js';
import type { Keyspace } from './keyspace.js';
import type { Lessor } from './lessor.js';
import { isPromise, then, type MaybePromise } from './maybe_promise.js';
import { encodeRevision, formatRevision } from './revision.js';
import type { RequestOp } from './types.js';
import type { WatchHub } from './watch_hub.js';

/** What a txn reads and writes through: the store's key index, lessor, watchers and records. */
export interface TxnStore {
  readonly index: TreeIndex;
  readonly lessor: Lessor;
  readonly hub: Pick<WatchHub, 'needsPrevKv'>;
  readonly keys: Keyspace;
  /** The revision of the last compaction (reads below it fail with ErrCompacted). */
  readonly compactRevision: number;
  /** Records by revision, from `w`'s own writes, the unflushed records or LevelDB. */
  readRecords(revs: Array<{ main: number; sub: number }>, w?: WriteTxn): Promise<Array<StoredRecord | undefined>>;
  /** One record's kv (undefined for a tombstone or none), synchronous when it is in memory. */
  readKvMaybe(rev: { main: number; sub: number }, w?: WriteTxn): MaybePromise<KeyValueFields | undefined>;
}

/** etcd's mkGteRange + mvcc convention: undefined = single key, empty = unbounded, else [key, end). */
export function rangeEndOf(rangeEnd: Buffer | null | undefined): Buffer | undefined {
  if (!rangeEnd || rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.alloc(0);
  return rangeEnd;
}

/** A copy of a record's kv the caller may keep. */
export function copyKv(kv: KeyValueFields): KeyValueFields {
  return { ...kv };
}

export function opKind(op: RequestOp): 'requestRange' | 'requestPut' | 'requestDeleteRange' | 'requestTxn' | undefined {
  if (op.request) return op.request;
  if (op.requestRange) return 'requestRange';
  if (op.requestPut) return 'requestPut';
  if (op.requestDeleteRange) return 'requestDeleteRange';
  if (op.requestTxn) return 'requestTxn';
  return undefined;
}

interface Change {
  event: WatchEventFields;
}

/** One write transaction (one revision). */
export class WriteTxn {
  readonly changes: Change[] = [];
  readonly ops: BatchOp[] = [];
  readonly records: PendingRecord[] = [];
  readonly overlay = new Map<string, StoredRecord>();
  addedBytes = 0;
  /** Lease bookkeeping applied only when the batch is written. */
  readonly leaseActions: Array<() => void> = [];
  private readonly attachments = new Map<string, number>();

  constructor(
    private readonly s: TxnStore,
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

/** etcd mvcc rangeKeys: the keys in range at a revision (curRev = the reader's current revision). */
export async function rangeKeys(
  s: TxnStore,
  key: Buffer,
  end: Buffer | undefined,
  curRev: number,
  ro: { revision: number; limit: number; countOnly: boolean },
  w?: WriteTxn,
): Promise<{ kvs: KeyValueFields[]; count: number; rev: number }> {
  let rev = ro.revision;
  if (rev > curRev) throw futureRev();
  if (rev <= 0) rev = curRev;
  if (rev < s.compactRevision) throw compacted();
  const found = s.index.revisions(key, end, rev);
  if (found.length === 0 || ro.countOnly) return { kvs: [], count: found.length, rev: curRev };
  const limit = ro.limit <= 0 || ro.limit > found.length ? found.length : ro.limit;
  const recs = await s.readRecords(found.slice(0, limit).map((f) => f.modified), w);
  const kvs: KeyValueFields[] = [];
  for (let i = 0; i < limit; i++) {
    const rec = recs[i];
    if (!rec || rec.tombstone) {
      // A compaction applied while this read was in flight removed the revision.
      if (rev < s.compactRevision) throw compacted();
      const f = found[i]!;
      throw new DataCorruptError(`mvcc: record for key ${JSON.stringify(f.ki.key.toString('latin1'))} at revision ${formatRevision(f.modified)} is missing`);
    }
    kvs.push(rec.kv);
  }
  return { kvs, count: found.length, rev: curRev };
}

// The applier of KV requests over a store's txns (etcd's apply.go for Range,
// Put, DeleteRange and Txn): range limits, filters and sorting; put checks
// (ignoreValue/ignoreLease, leases); txn compares, the branch decision of each
// (nested) txn and the execution of its ops in one write txn.
import { EtcdError } from '../api/etcd_error.js';
import type { KeyValueFields } from '../api/kv.js';
import { compacted, futureRev } from './errors.js';
import { opKind, rangeEndOf, rangeKeys, type TxnStore, type WriteTxn } from './kvstore_txn.js';
import { eachInOrder, then, type MaybePromise } from './maybe_promise.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResult,
  PutRequest,
  PutResult,
  RangeRequest,
  RangeResult,
  ResponseOp,
  TxnRequest,
  TxnResult,
} from './types.js';

const EMPTY = Buffer.alloc(0);

/** The branch a txn takes. */
export interface Decision {
  ok: boolean;
  /** Decisions of the nested txns of the chosen branch, in order. */
  nested: Decision[];
}

/** etcd applier Range: limits, min/max filters, sorting. */
export async function applyRange(s: TxnStore, r: RangeRequest, curRev: number, w?: WriteTxn): Promise<RangeResult> {
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
  const rr = await rangeKeys(s, r.key, rangeEndOf(r.rangeEnd), curRev, { revision: r.revision ?? 0, limit, countOnly: r.countOnly ?? false }, w);
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

/** Checks a put that is about to run in `w` (etcd checkRequestPut); reads at the txn's begin revision. */
export function checkPut(s: TxnStore, p: PutRequest, atRev: number): void {
  if (p.ignoreValue || p.ignoreLease) {
    const ki = s.index.get(p.key);
    if (!ki || !ki.get(atRev)) throw new EtcdError('KeyNotFound', 'etcdserver: key not found');
  }
  const lease = p.lease ?? 0;
  if (lease !== 0 && !s.lessor.has(lease)) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
}

function checkRangeRevision(s: TxnStore, r: RangeRequest, curRev: number): void {
  const rev = r.revision ?? 0;
  if (rev > curRev) throw futureRev();
  if (rev > 0 && rev < s.compactRevision) throw compacted();
}

/** Synchronous when it needs no read (no prevKv/ignoreValue/ignoreLease, no prevKv watcher on a key only in LevelDB). */
export function doPut(s: TxnStore, w: WriteTxn, p: PutRequest): MaybePromise<PutResult> {
  if (p.ignoreValue || p.ignoreLease || p.prevKv) {
    return rangeKeys(s, p.key, undefined, w.rev(), { revision: 0, limit: 0, countOnly: false }, w).then((rr) => putAfterRead(w, p, rr.kvs[0]));
  }
  return putAfterRead(w, p, undefined);
}

function putAfterRead(w: WriteTxn, p: PutRequest, prev: KeyValueFields | undefined): MaybePromise<PutResult> {
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
export function doDeleteRange(s: TxnStore, w: WriteTxn, d: DeleteRangeRequest): MaybePromise<DeleteRangeResult> {
  const end = rangeEndOf(d.rangeEnd);
  const finish = (prevKvs: KeyValueFields[]): MaybePromise<DeleteRangeResult> =>
    then(w.deleteRange(d.key, end), (deleted) => ({
      header: { revision: deleted !== 0 || w.changes.length > 0 ? w.beginRev + 1 : w.beginRev },
      deleted,
      prevKvs,
    }));
  if (d.prevKv) return rangeKeys(s, d.key, end, w.rev(), { revision: 0, limit: 0, countOnly: false }, w).then((rr) => finish(rr.kvs));
  return finish([]);
}

/** Synchronous unless a compare (VALUE, LEASE) reads a record that is only in LevelDB. */
export function decide(s: TxnStore, t: TxnRequest, atRev: number): MaybePromise<Decision> {
  let ok = true;
  const compared = eachInOrder(t.compare ?? [], (c) =>
    then(applyCompare(s, c, atRev), (r) => {
      if (!r) ok = false;
      return r;
    }),
  );
  return then(compared, () => {
    const nested: Decision[] = [];
    const subs = ((ok ? t.success : t.failure) ?? []).filter((op) => opKind(op) === 'requestTxn' && op.requestTxn);
    const decided = eachInOrder(subs, (op) =>
      then(decide(s, op.requestTxn!, atRev), (d) => {
        nested.push(d);
        return true;
      }),
    );
    return then(decided, () => ({ ok, nested }));
  });
}

export function checkTxnRequests(s: TxnStore, t: TxnRequest, d: Decision, atRev: number): void {
  let n = 0;
  for (const op of (d.ok ? t.success : t.failure) ?? []) {
    const kind = opKind(op);
    if (kind === 'requestTxn' && op.requestTxn) checkTxnRequests(s, op.requestTxn, d.nested[n++]!, atRev);
    else if (kind === 'requestPut' && op.requestPut) checkPut(s, op.requestPut, atRev);
    else if (kind === 'requestRange' && op.requestRange) checkRangeRevision(s, op.requestRange, atRev);
  }
}

function applyCompare(s: TxnStore, c: Compare, atRev: number): MaybePromise<boolean> {
  const target = c.target ?? 'VERSION';
  if (target !== 'VERSION' && target !== 'CREATE' && target !== 'MOD') return compareRecords(s, c, atRev);
  // Versions and revisions are in the key index: no record read.
  if (atRev < s.compactRevision) return false;
  const found = s.index.revisions(c.key, rangeEndOf(c.rangeEnd), atRev);
  if (found.length === 0) return compareKv(c, undefined);
  return found.every((f) =>
    compareKv(c, { key: f.ki.key, value: EMPTY, createRevision: f.created, modRevision: f.modified.main, version: f.version, lease: 0 }),
  );
}

async function compareRecords(s: TxnStore, c: Compare, atRev: number): Promise<boolean> {
  let kvs: KeyValueFields[];
  try {
    kvs = (await rangeKeys(s, c.key, rangeEndOf(c.rangeEnd), atRev, { revision: 0, limit: 0, countOnly: false })).kvs;
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
export function execTxn(s: TxnStore, w: WriteTxn, t: TxnRequest, d: Decision): MaybePromise<TxnResult> {
  const responses: ResponseOp[] = [];
  let n = 0;
  const done = eachInOrder((d.ok ? t.success : t.failure) ?? [], (op): MaybePromise<boolean> => {
    const kind = opKind(op);
    if (kind === 'requestRange' && op.requestRange) {
      return applyRange(s, op.requestRange, w.rev(), w).then((r) => responses.push({ response: 'responseRange', responseRange: r }) > 0);
    } else if (kind === 'requestPut' && op.requestPut) {
      return then(doPut(s, w, op.requestPut), (r) => responses.push({ response: 'responsePut', responsePut: r }) > 0);
    } else if (kind === 'requestDeleteRange' && op.requestDeleteRange) {
      return then(doDeleteRange(s, w, op.requestDeleteRange), (r) => responses.push({ response: 'responseDeleteRange', responseDeleteRange: r }) > 0);
    } else if (kind === 'requestTxn' && op.requestTxn) {
      // etcd leaves the header of nested txn responses empty (revision 0).
      return then(execTxn(s, w, op.requestTxn, d.nested[n++]!), (r) => responses.push({ response: 'responseTxn', responseTxn: r }) > 0);
    }
    return true;
  });
  return then(done, () => ({ header: { revision: 0 }, succeeded: d.ok, responses }));
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

// Read-only txns served without a Raft entry (etcd v3_server.go Txn: a txn whose
// success and failure branches hold only Range ops is evaluated against the local
// key space, after a ReadIndex barrier unless every range is serializable). This
// file owns the two predicates and the evaluation: compares and ranges at one
// revision (the member's current one when the call starts), the same decision and
// response shapes the applier (txn_apply.ts) produces for the txn through Raft.
import type { TxnStore } from './kvstore_txn.js';
import { opKind, WriteTxn } from './kvstore_txn.js';
import { then } from './maybe_promise.js';
import { checkTxnRequests, decide, execTxn } from './txn_apply.js';
import type { RequestOp, TxnRequest, TxnResult } from './types.js';

function ops(t: TxnRequest): RequestOp[] {
  return [...(t.success ?? []), ...(t.failure ?? [])];
}

/** etcd isTxnReadonly: every op of both branches is a Range (a nested txn or any write is not). */
export function isTxnReadonly(t: TxnRequest): boolean {
  return ops(t).every((op) => opKind(op) === 'requestRange' && op.requestRange);
}

/** etcd isTxnSerializable: every op is a serializable Range (then no ReadIndex is needed). */
export function isTxnSerializable(t: TxnRequest): boolean {
  return ops(t).every((op) => opKind(op) === 'requestRange' && op.requestRange && (op.requestRange as { serializable?: boolean }).serializable === true);
}

/**
 * Evaluates a read-only txn at revision `atRev` (the store's current one): the compares decide the
 * branch, its ranges read at `atRev` (or their own revision). Nothing is written: the txn view is
 * never committed. The header's revision is `atRev`, as etcd's for a txn that changed nothing.
 */
export async function evalReadOnlyTxn(s: TxnStore, req: TxnRequest, atRev: number): Promise<TxnResult> {
  if (!isTxnReadonly(req)) throw Object.assign(new Error('evalReadOnlyTxn: the txn has an op that is not a Range'), { code: 'TXN_NOT_READONLY' });
  const res = await then(decide(s, req, atRev), (decision) => {
    checkTxnRequests(s, req, decision, atRev);
    return execTxn(s, new WriteTxn(s, atRev), req, decision);
  });
  res.header.revision = atRev;
  return res;
}

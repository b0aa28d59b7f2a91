// mvcc/read_txn.ts: which txns are read-only / serializable (etcd's isTxnReadonly,
// isTxnSerializable), and that evaluating one locally answers what the applier
// answers for the same txn through Raft, without a new revision or index.
import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import type { RequestOp, TxnRequest } from '../../src/mvcc/index.js';
import { evalReadOnlyTxn, isTxnReadonly, isTxnSerializable } from '../../src/mvcc/read_txn.js';
import { b, setup } from './helpers.js';

const get = (key: string, extra: object = {}): RequestOp => ({ requestRange: { key: b(key), ...extra } });

test('read-only and serializable txns as etcd decides them', (t) => {
  t.true(isTxnReadonly({ compare: [], success: [], failure: [] }), 'no ops at all');
  t.true(isTxnReadonly({ success: [get('a')], failure: [get('b')] }));
  t.false(isTxnReadonly({ success: [get('a')], failure: [{ requestPut: { key: b('a'), value: b('1') } }] }), 'a put in the branch not taken');
  t.false(isTxnReadonly({ success: [{ requestDeleteRange: { key: b('a') } }] }));
  t.false(isTxnReadonly({ success: [{ requestTxn: { success: [get('a')] } }] }), 'a nested txn (etcd 3.4 counts only ranges)');
  t.true(isTxnSerializable({ success: [get('a', { serializable: true })], failure: [get('b', { serializable: true })] }));
  t.false(isTxnSerializable({ success: [get('a', { serializable: true })], failure: [get('b')] }));
});

test('a read-only txn evaluated locally answers as the applier does, at the current revision, with no new revision', async (t) => {
  const s = await setup(t);
  await s.put('k', 'v1');
  await s.put('k', 'v2');
  await s.put('other', 'x');
  const cases: TxnRequest[] = [
    { compare: [{ key: b('k'), target: 'VALUE', result: 'EQUAL', value: b('v2') }], success: [get('k'), get('k', { revision: 1 })], failure: [get('other')] },
    { compare: [{ key: b('k'), target: 'VERSION', result: 'GREATER', version: 5 }], success: [get('k')], failure: [get('a', { rangeEnd: b('z'), sortOrder: 'DESCEND', limit: 1 })] },
    { compare: [{ key: b('missing'), target: 'CREATE', result: 'EQUAL', createRevision: 0 }], success: [get('missing')], failure: [] },
  ];
  for (const req of cases) {
    const rev = s.store.currentRevision();
    const local = await evalReadOnlyTxn(s.store, req, rev);
    t.is(s.store.currentRevision(), rev, 'no new revision');
    const applied = await s.store.txn(s.index(), req);
    t.deepEqual(local, applied);
  }
  t.is(s.store.currentRevision(), 3);
});

test('ranges at a future or compacted revision fail as through Raft; a txn with a write is refused', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('a', '2');
  let err = await t.throwsAsync(evalReadOnlyTxn(s.store, { success: [get('a', { revision: 9 })] }, s.store.currentRevision()));
  t.is((err as EtcdError).etcdName, 'FutureRev');
  await s.store.compact(s.index(), 2);
  err = await t.throwsAsync(evalReadOnlyTxn(s.store, { success: [get('a', { revision: 1 })] }, s.store.currentRevision()));
  t.is((err as EtcdError).etcdName, 'Compacted');
  err = await t.throwsAsync(evalReadOnlyTxn(s.store, { success: [{ requestPut: { key: b('a'), value: b('3') } }] }, s.store.currentRevision()));
  t.is((err as { code?: string }).code, 'TXN_NOT_READONLY');
  t.is((await s.store.range({ key: b('a') })).kvs[0]!.value.toString(), '2');
});

import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import { type Compare, MvccRequestError, type RequestOp } from '../../src/mvcc/index.js';
import { b, keys, setup } from './helpers.js';

const put = (key: string, value: string): RequestOp => ({ requestPut: { key: b(key), value: b(value) } });
const get = (key: string, rangeEnd?: string): RequestOp => ({ requestRange: { key: b(key), rangeEnd: rangeEnd ? b(rangeEnd) : undefined } });
const del = (key: string, rangeEnd?: string): RequestOp => ({ requestDeleteRange: { key: b(key), rangeEnd: rangeEnd ? b(rangeEnd) : undefined } });

test('compares: every target with every result', async (t) => {
  const s = await setup(t);
  await s.store.leaseGrant(s.index(), 5, 60);
  await s.put('k', 'm'); // rev 1: create 1
  await s.store.put(s.index(), { key: b('k'), value: b('m'), lease: 5 }); // rev 2: mod 2, version 2, lease 5
  const cases: Array<[Compare, boolean]> = [];
  const targets: Array<[Compare['target'], Partial<Compare>, Partial<Compare>, Partial<Compare>]> = [
    // target, equal operand, smaller operand, greater operand
    ['VALUE', { value: b('m') }, { value: b('a') }, { value: b('z') }],
    ['VERSION', { version: 2 }, { version: 1 }, { version: 3 }],
    ['CREATE', { createRevision: 1 }, { createRevision: 0 }, { createRevision: 2 }],
    ['MOD', { modRevision: 2 }, { modRevision: 1 }, { modRevision: 3 }],
    ['LEASE', { lease: 5 }, { lease: 4 }, { lease: 6 }],
  ];
  for (const [target, eq, lo, hi] of targets) {
    const c = (result: Compare['result'], operand: Partial<Compare>): Compare => ({ key: b('k'), target, result, ...operand });
    cases.push([c('EQUAL', eq), true], [c('EQUAL', lo), false], [c('NOT_EQUAL', eq), false], [c('NOT_EQUAL', hi), true]);
    cases.push([c('GREATER', lo), true], [c('GREATER', eq), false], [c('LESS', hi), true], [c('LESS', eq), false]);
  }
  for (const [compare, expected] of cases) {
    const r = await s.store.txn(s.index(), { compare: [compare], success: [get('k')], failure: [] });
    t.is(r.succeeded, expected, `${compare.target} ${compare.result}`);
    t.is(r.responses.length, expected ? 1 : 0);
  }
  t.is(s.store.revision, 2, 'read-only txns do not bump the revision');
});

test('compares on missing keys and with range_end', async (t) => {
  const s = await setup(t);
  await s.put('a1', 'x');
  await s.put('a2', 'x');
  await s.put('a3', 'y');
  const ok = async (compare: Compare) => (await s.store.txn(s.index(), { compare: [compare] })).succeeded;
  t.true(await ok({ key: b('missing'), target: 'VERSION', result: 'EQUAL', version: 0 }), 'missing key has version 0');
  t.true(await ok({ key: b('missing'), target: 'CREATE', result: 'EQUAL', createRevision: 0 }));
  t.false(await ok({ key: b('missing'), target: 'VALUE', result: 'EQUAL', value: Buffer.alloc(0) }), 'value compare on missing key fails');
  t.false(await ok({ key: b('missing'), target: 'VALUE', result: 'NOT_EQUAL', value: b('q') }));
  t.true(await ok({ key: b('a1'), rangeEnd: b('a3'), target: 'VALUE', result: 'EQUAL', value: b('x') }), 'all keys in range must match');
  t.false(await ok({ key: b('a1'), rangeEnd: b('a4'), target: 'VALUE', result: 'EQUAL', value: b('x') }));
  t.true(await ok({ key: b('a'), rangeEnd: Buffer.from([0]), target: 'MOD', result: 'GREATER', modRevision: 0 }));
  t.false(await ok({ key: b('a'), rangeEnd: Buffer.from([0]), target: 'MOD', result: 'LESS', modRevision: 3 }));
});

test('a multi-op txn is one revision with sub revisions; reads inside see earlier writes', async (t) => {
  const s = await setup(t);
  await s.put('x', '0'); // rev 1
  const r = await s.store.txn(s.index(), {
    compare: [{ key: b('x'), target: 'VALUE', result: 'EQUAL', value: b('0') }],
    success: [put('a', '1'), get('a'), put('b', '2'), del('x'), get('a', 'z')],
    failure: [put('never', '1')],
  });
  t.true(r.succeeded);
  t.is(r.header.revision, 2);
  t.is(s.store.revision, 2);
  const [p1, g1, p2, d1, g2] = r.responses;
  t.is(p1!.response, 'responsePut');
  t.is(g1!.response === 'responseRange' && g1.responseRange.kvs[0]!.value.toString(), '1');
  t.is(g1!.response === 'responseRange' && g1.responseRange.header.revision, 2);
  t.is(p2!.response === 'responsePut' && p2.responsePut.header.revision, 2);
  t.is(d1!.response === 'responseDeleteRange' && d1.responseDeleteRange.deleted, 1);
  t.deepEqual(g2!.response === 'responseRange' && keys(g2.responseRange.kvs), ['a', 'b']);
  const all = await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) });
  t.deepEqual(
    all.kvs.map((kv) => [kv.key.toString(), kv.modRevision, kv.createRevision, kv.version]),
    [
      ['a', 2, 2, 1],
      ['b', 2, 2, 1],
    ],
  );
  t.deepEqual(keys((await s.store.range({ key: b('x'), revision: 1 })).kvs), ['x']);
  // sub revisions: the watch history shows them in order within revision 2
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    s.store.watch(
      { key: Buffer.alloc(0), rangeEnd: Buffer.from([0]), startRevision: 2, prevKv: false, progressNotify: false, filters: [] },
      {
        events: (evs) => {
          events.push(...evs.map((e) => `${e.type}:${e.kv.key}@${e.kv.modRevision}`));
          resolve();
        },
        compacted: () => t.fail(),
        progress: () => undefined,
      },
    );
  });
  t.deepEqual(events, ['PUT:a@2', 'PUT:b@2', 'DELETE:x@2']);
});

test('failure branch, nested txns (compares see the state before the txn)', async (t) => {
  const s = await setup(t);
  await s.put('flag', 'off');
  const r = await s.store.txn(s.index(), {
    compare: [{ key: b('flag'), target: 'VALUE', result: 'EQUAL', value: b('on') }],
    success: [put('s', '1')],
    failure: [
      put('flag', 'on'),
      {
        requestTxn: {
          compare: [{ key: b('flag'), target: 'VALUE', result: 'EQUAL', value: b('on') }],
          success: [put('inner-success', '1')],
          failure: [put('inner-failure', '1')],
        },
      },
    ],
  });
  t.false(r.succeeded);
  t.is(r.header.revision, 2);
  const nested = r.responses[1]!;
  t.is(nested.response, 'responseTxn');
  t.false(nested.response === 'responseTxn' && nested.responseTxn.succeeded, 'nested compare evaluated before the outer writes (etcd compareToPath)');
  t.deepEqual(keys((await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), ['flag', 'inner-failure']);
});

test('duplicate keys in a txn are rejected like etcd', async (t) => {
  const s = await setup(t);
  const dup = async (success: RequestOp[], failure: RequestOp[] = []) => {
    const err = await t.throwsAsync(s.store.txn(s.index(), { success, failure }));
    t.true(err instanceof MvccRequestError);
    t.is(err!.message, 'etcdserver: duplicate key given in txn request');
    t.is((err as MvccRequestError).code, 'DUPLICATE_KEY');
  };
  await dup([put('a', '1'), put('a', '2')]);
  await dup([del('a'), put('a', '1')]);
  await dup([put('b', '1'), del('a', 'c')]);
  await dup([put('a', '1'), { requestTxn: { success: [put('a', '2')] } }]);
  await dup([del('a', 'z'), { requestTxn: { failure: [put('b', '2')] } }]);
  // allowed: then/else of one nested txn, the same key in success and failure, deletes of the same key
  const ok = await s.store.txn(s.index(), {
    success: [{ requestTxn: { success: [put('a', '1')], failure: [put('a', '2')] } }, del('q'), del('q')],
    failure: [put('a', '3')],
  });
  t.true(ok.succeeded);
  t.is(s.store.revision, 1);
});

test('txn errors: lease not found, ignore_value on missing key, future/compacted range revision; nothing applied', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('a', '2');
  const before = s.store.revision;
  let err = await t.throwsAsync(s.store.txn(s.index(), { success: [put('x', '1'), { requestPut: { key: b('y'), value: b('1'), lease: 99 } }] }));
  t.is((err as EtcdError).etcdName, 'LeaseNotFound');
  t.is(err!.message, 'etcdserver: requested lease not found');
  err = await t.throwsAsync(s.store.txn(s.index(), { success: [put('x', '1'), { requestPut: { key: b('nope'), ignoreValue: true } }] }));
  t.is((err as EtcdError).etcdName, 'KeyNotFound');
  err = await t.throwsAsync(s.store.txn(s.index(), { success: [put('x', '1'), { requestRange: { key: b('a'), revision: 3 } }] }));
  t.is((err as EtcdError).etcdName, 'FutureRev');
  await s.store.compact(s.index(), 2);
  err = await t.throwsAsync(s.store.txn(s.index(), { success: [put('x', '1'), { requestRange: { key: b('a'), revision: 1 } }] }));
  t.is((err as EtcdError).etcdName, 'Compacted');
  t.is(s.store.revision, before);
  t.deepEqual((await s.store.range({ key: b('x') })).kvs, []);
  // errors only in the branch not taken do not matter
  const r = await s.store.txn(s.index(), {
    compare: [{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 2 }],
    success: [put('x', '1')],
    failure: [{ requestPut: { key: b('y'), value: b('1'), lease: 99 } }],
  });
  t.true(r.succeeded);
  t.is(r.header.revision, before + 1);
});

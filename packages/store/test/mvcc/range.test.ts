import test from 'ava';
import { EtcdError } from '../../src/api/etcd_error.js';
import { b, keys, setup, values } from './helpers.js';

test('put and single-key range return etcd KeyValue fields', async (t) => {
  const s = await setup(t);
  const r1 = await s.put('a', '1');
  t.is(r1.header.revision, 1);
  const r2 = await s.put('a', '2');
  t.is(r2.header.revision, 2);
  const r = await s.store.range({ key: b('a') });
  t.is(r.count, 1);
  t.is(r.revision, 2);
  t.is(r.header.revision, 2);
  t.false(r.more);
  t.deepEqual(r.kvs[0], { key: b('a'), value: b('2'), createRevision: 1, modRevision: 2, version: 2, lease: 0 });
  t.deepEqual((await s.store.range({ key: b('missing') })).kvs, []);
});

test('rangeEnd: empty = one key, [0] = from key on, else [key, end)', async (t) => {
  const s = await setup(t);
  for (const k of ['a', 'ab', 'b', 'ba', 'c', '\xff']) await s.put(k, k);
  t.deepEqual(keys((await s.store.range({ key: b('a'), rangeEnd: Buffer.alloc(0) })).kvs), ['a']);
  t.deepEqual(keys((await s.store.range({ key: b('b'), rangeEnd: Buffer.from([0]) })).kvs), ['b', 'ba', 'c', '\xff']);
  t.deepEqual(keys((await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), ['a', 'ab', 'b', 'ba', 'c', '\xff']);
  t.deepEqual(keys((await s.store.range({ key: b('a'), rangeEnd: b('b') })).kvs), ['a', 'ab']);
  t.deepEqual(keys((await s.store.range({ key: b('ab'), rangeEnd: b('c') })).kvs), ['ab', 'b', 'ba']);
  t.deepEqual(keys((await s.store.range({ key: b('c'), rangeEnd: b('a') })).kvs), [], 'end before key is empty');
});

test('limit, count and more; countOnly; keysOnly', async (t) => {
  const s = await setup(t);
  for (const k of ['a', 'b', 'c', 'd', 'e']) await s.put(k, `v${k}`);
  const all = { key: b('a'), rangeEnd: b('z') };
  let r = await s.store.range({ ...all, limit: 2 });
  t.deepEqual(keys(r.kvs), ['a', 'b']);
  t.is(r.count, 5);
  t.true(r.more);
  r = await s.store.range({ ...all, limit: 5 });
  t.is(r.kvs.length, 5);
  t.false(r.more);
  r = await s.store.range({ ...all, countOnly: true });
  t.deepEqual(r.kvs, []);
  t.is(r.count, 5);
  t.false(r.more);
  r = await s.store.range({ ...all, keysOnly: true, limit: 1 });
  t.deepEqual(keys(r.kvs), ['a']);
  t.is(r.kvs[0]!.value.length, 0);
  t.is(r.kvs[0]!.version, 1);
});

test('sort by every target and order; limit applies after sorting', async (t) => {
  const s = await setup(t);
  await s.put('c', '1'); // rev 1
  await s.put('a', '3'); // rev 2
  await s.put('b', '2'); // rev 3
  await s.put('c', '0'); // rev 4, c version 2
  const all = { key: b('a'), rangeEnd: b('z') };
  const sorted = async (sortTarget: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE', sortOrder: 'NONE' | 'ASCEND' | 'DESCEND', limit = 0) =>
    keys((await s.store.range({ ...all, sortTarget, sortOrder, limit })).kvs);
  t.deepEqual(await sorted('KEY', 'NONE'), ['a', 'b', 'c']);
  t.deepEqual(await sorted('KEY', 'ASCEND'), ['a', 'b', 'c']);
  t.deepEqual(await sorted('KEY', 'DESCEND'), ['c', 'b', 'a']);
  t.deepEqual(await sorted('KEY', 'DESCEND', 2), ['c', 'b']);
  t.deepEqual(await sorted('CREATE', 'ASCEND'), ['c', 'a', 'b']);
  t.deepEqual(await sorted('CREATE', 'NONE'), ['c', 'a', 'b'], 'non-key target with NONE sorts ascending (etcd)');
  t.deepEqual(await sorted('CREATE', 'DESCEND'), ['b', 'a', 'c']);
  t.deepEqual(await sorted('MOD', 'ASCEND'), ['a', 'b', 'c']);
  t.deepEqual(await sorted('MOD', 'DESCEND', 1), ['c']);
  t.deepEqual(await sorted('VALUE', 'ASCEND'), ['c', 'b', 'a']);
  t.deepEqual(await sorted('VALUE', 'DESCEND'), ['a', 'b', 'c']);
  t.deepEqual(await sorted('VERSION', 'DESCEND'), ['c', 'a', 'b'], 'ties keep key order');
  t.deepEqual(await sorted('VERSION', 'ASCEND'), ['a', 'b', 'c']);
  const r = await s.store.range({ ...all, sortTarget: 'MOD', sortOrder: 'DESCEND', limit: 2 });
  t.is(r.count, 3);
  t.true(r.more);
});

test('min/max mod and create revision filters (count is before filtering, as etcd)', async (t) => {
  const s = await setup(t);
  await s.put('a', '1'); // 1
  await s.put('b', '1'); // 2
  await s.put('c', '1'); // 3
  await s.put('a', '2'); // 4
  const all = { key: b('a'), rangeEnd: b('z') };
  let r = await s.store.range({ ...all, minModRevision: 3 });
  t.deepEqual(keys(r.kvs), ['a', 'c']);
  t.is(r.count, 3);
  r = await s.store.range({ ...all, maxModRevision: 2 });
  t.deepEqual(keys(r.kvs), ['b']);
  r = await s.store.range({ ...all, minCreateRevision: 2 });
  t.deepEqual(keys(r.kvs), ['b', 'c']);
  r = await s.store.range({ ...all, maxCreateRevision: 2 });
  t.deepEqual(keys(r.kvs), ['a', 'b']);
  r = await s.store.range({ ...all, minCreateRevision: 2, maxCreateRevision: 2, minModRevision: 2, maxModRevision: 2 });
  t.deepEqual(keys(r.kvs), ['b']);
  r = await s.store.range({ ...all, minModRevision: 1, limit: 1 });
  t.deepEqual(keys(r.kvs), ['a']);
  t.true(r.more);
});

test('historical reads see each revision; FutureRev beyond the current one', async (t) => {
  const s = await setup(t);
  await s.put('a', '1'); // 1
  await s.put('b', '1'); // 2
  await s.put('a', '2'); // 3
  await s.del('b'); // 4
  await s.put('b', '2'); // 5
  const at = async (revision: number) => {
    const r = await s.store.range({ key: b('a'), rangeEnd: b('z'), revision });
    return r.kvs.map((kv) => `${kv.key}=${kv.value}@${kv.createRevision}/${kv.modRevision}/v${kv.version}`);
  };
  t.deepEqual(await at(1), ['a=1@1/1/v1']);
  t.deepEqual(await at(2), ['a=1@1/1/v1', 'b=1@2/2/v1']);
  t.deepEqual(await at(3), ['a=2@1/3/v2', 'b=1@2/2/v1']);
  t.deepEqual(await at(4), ['a=2@1/3/v2']);
  t.deepEqual(await at(5), ['a=2@1/3/v2', 'b=2@5/5/v1']);
  t.deepEqual(await at(0), await at(5));
  t.is((await s.store.range({ key: b('a'), revision: 2 })).revision, 5, 'header revision is the current one');
  const err = await t.throwsAsync(s.store.range({ key: b('a'), revision: 6 }));
  t.true(err instanceof EtcdError);
  t.is((err as EtcdError).etcdName, 'FutureRev');
  t.is(err!.message, 'mvcc: required revision is a future revision');
});

test('delete: range deletes, missing keys do not bump the revision, prevKvs', async (t) => {
  const s = await setup(t);
  for (const k of ['a', 'b', 'c']) await s.put(k, k);
  let d = await s.store.deleteRange(s.index(), { key: b('x') });
  t.is(d.deleted, 0);
  t.is(d.header.revision, 3);
  t.is(s.store.revision, 3);
  d = await s.store.deleteRange(s.index(), { key: b('a'), rangeEnd: b('c'), prevKv: true });
  t.is(d.deleted, 2);
  t.is(d.header.revision, 4);
  t.deepEqual(keys(d.prevKvs), ['a', 'b']);
  t.deepEqual(values(d.prevKvs), ['a', 'b']);
  t.deepEqual(keys((await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), ['c']);
  await s.put('a', 'again');
  const r = await s.store.range({ key: b('a') });
  t.is(r.kvs[0]!.version, 1, 'version restarts after delete');
  t.is(r.kvs[0]!.createRevision, 5);
});

test('put options: prevKv, ignoreValue, ignoreLease and their key-not-found error', async (t) => {
  const s = await setup(t);
  await s.store.leaseGrant(s.index(), 7, 100);
  await s.store.put(s.index(), { key: b('a'), value: b('1'), lease: 7 });
  let p = await s.store.put(s.index(), { key: b('a'), value: b('2'), prevKv: true, ignoreLease: true });
  t.is(p.prevKv!.value.toString(), '1');
  let r = await s.store.range({ key: b('a') });
  t.is(r.kvs[0]!.lease, 7);
  t.is(r.kvs[0]!.value.toString(), '2');
  p = await s.store.put(s.index(), { key: b('a'), ignoreValue: true });
  r = await s.store.range({ key: b('a') });
  t.is(r.kvs[0]!.value.toString(), '2');
  t.is(r.kvs[0]!.lease, 0, 'lease dropped when put without lease');
  t.is(p.prevKv, undefined);
  const rev = s.store.revision;
  const err = await t.throwsAsync(s.store.put(s.index(), { key: b('nope'), ignoreValue: true }));
  t.is((err as EtcdError).etcdName, 'KeyNotFound');
  t.is(err!.message, 'etcdserver: key not found');
  await t.throwsAsync(s.store.put(s.index(), { key: b('nope'), ignoreLease: true }), { message: 'etcdserver: key not found' });
  t.is(s.store.revision, rev);
});

test('many keys stay ordered (index tree splits)', async (t) => {
  const s = await setup(t);
  const ks: string[] = [];
  for (let i = 0; i < 3000; i++) ks.push(`k${((i * 7919) % 3000).toString().padStart(5, '0')}`);
  const ops = [];
  for (const k of ks) ops.push({ requestPut: { key: b(k), value: b('x') } });
  for (let i = 0; i < ops.length; i += 100) await s.store.txn(s.index(), { success: ops.slice(i, i + 100) });
  const r = await s.store.range({ key: b('k'), rangeEnd: b('l') });
  t.is(r.count, 3000);
  t.deepEqual(keys(r.kvs), [...ks].sort());
  const mid = await s.store.range({ key: b('k01000'), rangeEnd: b('k01010') });
  t.deepEqual(keys(mid.kvs), Array.from({ length: 10 }, (_, i) => `k${(1000 + i).toString().padStart(5, '0')}`));
});

test('reads during an in-flight apply see the previous revision, never a half-applied txn', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('b', '1');
  await s.store.flush();
  // The range of b (a LevelDB read) keeps the txn in flight after its first put.
  const pending = s.store.txn(s.index(), {
    success: [
      { requestPut: { key: b('a'), value: b('2') } },
      { requestRange: { key: b('b') } },
      { requestPut: { key: b('new'), value: b('2') } },
      { requestDeleteRange: { key: b('b') } },
    ],
  });
  t.is(s.store.revision, 2, 'the txn is in flight');
  const during = await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) });
  await pending;
  const after = await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) });
  t.deepEqual(
    during.kvs.map((kv) => `${kv.key}=${kv.value}`),
    ['a=1', 'b=1'],
  );
  t.is(during.revision, 2);
  t.deepEqual(
    after.kvs.map((kv) => `${kv.key}=${kv.value}`),
    ['a=2', 'new=2'],
  );
  t.is(after.revision, 3);
});

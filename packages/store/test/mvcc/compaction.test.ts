import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import { b, keys, PREFIX, setup } from './helpers.js';

async function recordCount(db: import('./helpers.js').Db): Promise<number> {
  let n = 0;
  for await (const k of db.keys({ gte: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x72])]), lt: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x73])]) })) {
    void k;
    n++;
  }
  return n;
}

test('compaction keeps the latest revision of live keys and drops tombstoned keys', async (t) => {
  const s = await setup(t, { compactionBatch: 2 });
  await s.put('a', '1'); // 1
  await s.put('a', '2'); // 2
  await s.put('b', '1'); // 3
  await s.del('b'); // 4
  await s.put('c', '1'); // 5
  await s.del('c'); // 6
  await s.put('c', '2'); // 7
  await s.put('a', '3'); // 8
  await s.store.flush();
  t.is(await recordCount(s.db), 8);
  const sizeBefore = s.store.dbSize();
  const r = await s.store.compact(s.index(), 6);
  t.is(r.header.revision, 8);
  t.is(s.store.compactRevision, 6);
  await s.store.waitCompaction();
  // kept: a@2 (latest <= 6 of live a), a@8, c@7; b (tombstone 4) and c's first generation are gone
  t.is(await recordCount(s.db), 3);
  t.true(s.store.dbSize() < sizeBefore);
  const at6 = await s.store.range({ key: b('a'), rangeEnd: b('z'), revision: 6 });
  t.deepEqual(at6.kvs.map((kv) => `${kv.key}=${kv.value}/v${kv.version}`), ['a=2/v2']);
  const at7 = await s.store.range({ key: b('a'), rangeEnd: b('z'), revision: 7 });
  t.deepEqual(at7.kvs.map((kv) => `${kv.key}=${kv.value}/v${kv.version}/c${kv.createRevision}`), ['a=2/v2/c1', 'c=2/v1/c7']);
  const now = await s.store.range({ key: b('a'), rangeEnd: b('z') });
  t.deepEqual(now.kvs.map((kv) => `${kv.key}=${kv.value}/v${kv.version}/c${kv.createRevision}`), ['a=3/v3/c1', 'c=2/v1/c7']);
  const err = await t.throwsAsync(s.store.range({ key: b('a'), revision: 5 }));
  t.is((err as EtcdError).etcdName, 'Compacted');
  t.is(err!.message, 'mvcc: required revision has been compacted');
  // reopen gives the same state
  await s.reopen();
  t.is(s.store.compactRevision, 6);
  t.is(s.store.revision, 8);
  t.deepEqual((await s.store.range({ key: b('a'), rangeEnd: b('z'), revision: 7 })).kvs, at7.kvs);
  t.deepEqual((await s.store.range({ key: b('a'), rangeEnd: b('z') })).kvs, now.kvs);
  t.is((await s.store.range({ key: b('a'), rangeEnd: b('z'), revision: 6 })).kvs.length, 1);
  await t.throwsAsync(s.store.range({ key: b('a'), revision: 5 }), { message: 'mvcc: required revision has been compacted' });
  // the version keeps counting after compaction and reopen
  await s.put('a', '4');
  t.is((await s.store.range({ key: b('a') })).kvs[0]!.version, 4);
});

test('compaction errors: at or below the compacted revision, beyond the current one', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('a', '2');
  await s.put('a', '3');
  let err = await t.throwsAsync(s.store.compact(s.index(), 4));
  t.is((err as EtcdError).etcdName, 'FutureRev');
  await s.store.compact(s.index(), 2);
  err = await t.throwsAsync(s.store.compact(s.index(), 2));
  t.is((err as EtcdError).etcdName, 'Compacted');
  err = await t.throwsAsync(s.store.compact(s.index(), 1));
  t.is((err as EtcdError).etcdName, 'Compacted');
  await s.store.compact(s.index(), 3);
  t.is(s.store.compactRevision, 3);
  t.is((await s.store.range({ key: b('a'), revision: 3 })).kvs[0]!.value.toString(), '3');
});

test('compaction of a fully deleted key space; current revision survives reopen', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('b', '1');
  await s.del('a', 'z'); // rev 3 deletes both
  await s.store.compact(s.index(), 3);
  await s.store.waitCompaction();
  t.is(await recordCount(s.db), 0);
  await s.reopen();
  t.is(s.store.revision, 3);
  t.is(s.store.compactRevision, 3);
  t.deepEqual(keys((await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), []);
  const p = await s.put('a', 'new');
  t.is(p.header.revision, 4);
});

test('a big compaction runs in chunks and resumes after a crash before it finished', async (t) => {
  const s = await setup(t, { compactionBatch: 100 });
  for (let i = 0; i < 20; i++) {
    const success = [];
    for (let k = 0; k < 50; k++) success.push({ requestPut: { key: b(`k${k}`), value: b(`${i}`) } });
    await s.store.txn(s.index(), { success });
  }
  await s.store.flush();
  t.is(await recordCount(s.db), 1000);
  await s.store.compact(s.index(), 19);
  // simulate a crash before the physical part: reopen while the "finished" marker is missing
  await s.store.waitCompaction();
  await s.db.del(Buffer.concat([PREFIX, Buffer.from([1, 0]), Buffer.from('c')]));
  await s.reopen();
  await s.store.waitCompaction();
  t.is(await recordCount(s.db), 100);
  t.is(s.store.compactRevision, 19);
  const r = await s.store.range({ key: b('k'), rangeEnd: b('l'), revision: 19 });
  t.is(r.count, 50);
  t.true(r.kvs.every((kv) => kv.value.toString() === '18' && kv.version === 19));
});

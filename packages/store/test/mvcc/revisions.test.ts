// Revision numbering as etcd's: an empty key space is at revision 1 and its
// first write is revision 2; a key space created before (with legacy numbering:
// first write 1) keeps its numbering across reopen.
import test from 'ava';
import { MvccStore } from '../../src/mvcc/index.js';
import { b, markLegacyNumbering, openDb, PREFIX, setup } from './helpers.js';

test('a new key space is at revision 1; the first write is revision 2, as etcd', async (t) => {
  const s = await setup(t, {}, true);
  t.is(s.store.revision, 1);
  const empty = await s.store.range({ key: b('a') });
  t.is(empty.header.revision, 1);
  t.is(empty.kvs.length, 0);
  const p = await s.put('a', '1');
  t.is(p.header.revision, 2);
  const got = await s.store.range({ key: b('a') });
  t.is(got.kvs[0]!.createRevision, 2);
  t.is(got.kvs[0]!.modRevision, 2);
  t.is(got.kvs[0]!.version, 1);
  t.is((await s.put('a', '2')).header.revision, 3);
  // Revision 1 is the empty key space: readable, and compactable (as etcd).
  t.is((await s.store.range({ key: b('a'), revision: 1 })).kvs.length, 0);
  t.is((await s.store.range({ key: b('a'), revision: 2 })).kvs[0]!.value.toString(), '1');
  await s.store.compact(s.index(), 1);
  t.is(s.store.compactRevision, 1);
  t.is((await s.store.range({ key: b('a'), revision: 1 })).kvs.length, 0, 'a read at the compacted revision itself is served (etcd: rev < compactMainRev fails)');
  await s.store.compact(s.index(), 2);
  await t.throwsAsync(s.store.range({ key: b('a'), revision: 1 }), { message: /compacted/ });
});

test('the numbering survives reopen, before and after the first write', async (t) => {
  const s = await setup(t, {}, true);
  await s.reopen();
  t.is(s.store.revision, 1, 'still empty: revision 1');
  await s.put('k', 'v');
  await s.store.flush();
  await s.reopen();
  t.is(s.store.revision, 2);
  t.is((await s.put('k', 'w')).header.revision, 3);
});

test('operations that change nothing leave a new key space at revision 1 (lease grant, delete of nothing)', async (t) => {
  const s = await setup(t, {}, true);
  await s.store.leaseGrant(s.index(), 7, 60);
  t.is((await s.del('missing')).header.revision, 1);
  await s.store.flush();
  await s.reopen();
  t.is(s.store.revision, 1);
  t.is((await s.put('a', 'x', 7)).header.revision, 2);
});

test('a key space created before (legacy numbering) keeps it: its next write follows its own revision', async (t) => {
  const { db } = await openDb(t);
  await markLegacyNumbering(db);
  let store = await MvccStore.open(db, PREFIX);
  t.is(store.revision, 0);
  t.is((await store.put(1, { key: b('a'), value: b('1') })).header.revision, 1);
  await store.close();
  store = await MvccStore.open(db, PREFIX);
  t.teardown(() => store.close());
  t.is(store.revision, 1);
  t.is((await store.put(2, { key: b('a'), value: b('2') })).header.revision, 2);
});

test('a snapshot of a new key space restores with its numbering', async (t) => {
  const s = await setup(t, {}, true);
  await s.put('a', '1');
  const chunks: Buffer[] = [];
  for await (const c of s.store.snapshot()) chunks.push(c);
  const { db } = await openDb(t);
  const restored = await MvccStore.restore(db, PREFIX, chunks);
  t.teardown(() => restored.close());
  t.is(restored.revision, 2);
  t.is((await restored.put(10, { key: b('b'), value: b('2') })).header.revision, 3);
});

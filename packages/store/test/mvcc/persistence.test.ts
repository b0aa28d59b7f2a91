import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import { MvccStore } from '../../src/mvcc/index.js';
import { b, openDb, PREFIX, rng, setup } from './helpers.js';

type Ctx = Awaited<ReturnType<typeof setup>>;

/** Everything observable: every revision's full range, leases with keys, counters. */
async function dump(store: MvccStore): Promise<unknown> {
  const revs: unknown[] = [];
  for (let rev = Math.max(1, store.compactRevision); rev <= store.revision; rev++) {
    const r = await store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]), revision: rev });
    revs.push(r.kvs.map((kv) => ({ ...kv, key: kv.key.toString('latin1'), value: kv.value.toString('latin1') })));
  }
  return {
    revision: store.revision,
    compactRevision: store.compactRevision,
    consistentIndex: store.consistentIndex,
    dbSize: store.dbSize(),
    leases: store.leases().map((id) => ({ ...store.timeToLive(id, 0), keys: store.timeToLive(id, 0).keys.map(String) })),
    revs,
  };
}

/** A deterministic random workload of puts, deletes, txns, leases and compactions. */
async function workload(s: Ctx, seed: number, steps: number): Promise<void> {
  const r = rng(seed);
  const key = () => `k${Math.floor(r() * 12)}`;
  let lease = 1;
  for (let i = 0; i < steps; i++) {
    const x = r();
    try {
      if (x < 0.4) await s.store.put(s.index(), { key: b(key()), value: b(`v${i}`), lease: r() < 0.2 ? Math.ceil(r() * lease) : 0 });
      else if (x < 0.55) await s.store.deleteRange(s.index(), { key: b(key()), rangeEnd: r() < 0.3 ? b(key()) : undefined });
      else if (x < 0.7) {
        const k = key();
        await s.store.txn(s.index(), {
          compare: [{ key: b(k), target: 'VERSION', result: 'GREATER', version: 1 }],
          success: [{ requestPut: { key: b(k), value: b(`t${i}`) } }, { requestDeleteRange: { key: b(`${k}x`) } }],
          failure: [{ requestPut: { key: b(`${k}x`), value: b(`f${i}`) } }],
        });
      } else if (x < 0.8) await s.store.leaseGrant(s.index(), ++lease, 60);
      else if (x < 0.85) await s.store.leaseRevoke(s.index(), Math.ceil(r() * lease));
      else if (x < 0.9) await s.store.compact(s.index(), s.store.compactRevision + Math.ceil(r() * (s.store.revision - s.store.compactRevision)));
      else await s.store.put(s.index(), { key: b(key()), ignoreValue: true, prevKv: true });
    } catch (err) {
      if (!(err as EtcdError).etcdName) throw err;
    }
  }
}

test('reopen rebuilds an identical state (random workload with compactions and leases)', async (t) => {
  const s = await setup(t);
  await workload(s, 7, 400);
  await s.store.waitCompaction();
  const before = await dump(s.store);
  await s.reopen();
  t.deepEqual(await dump(s.store), before);
  t.true(s.store.revision > 50);
});

test('replaying applied indexes is a no-op (idempotent), also across reopen', async (t) => {
  const s = await setup(t);
  await s.store.leaseGrant(1, 5, 60);
  await s.store.put(2, { key: b('a'), value: b('1'), lease: 5 });
  await s.store.put(3, { key: b('a'), value: b('2') });
  await s.store.deleteRange(4, { key: b('b') });
  const state = await dump(s.store);
  t.is(s.store.consistentIndex, 4);
  const again = await s.store.put(3, { key: b('a'), value: b('2') });
  t.deepEqual(again, { header: { revision: 2 } });
  await s.store.put(2, { key: b('a'), value: b('1'), lease: 5 });
  await s.store.leaseGrant(1, 5, 60);
  await s.store.txn(4, { success: [{ requestPut: { key: b('z'), value: b('1') } }] });
  await s.store.compact(4, 2);
  await s.store.leaseRevoke(3, 5);
  t.deepEqual(await dump(s.store), state);
  await s.reopen();
  t.is(s.store.consistentIndex, 4);
  await s.store.put(4, { key: b('a'), value: b('x') });
  t.deepEqual(await dump(s.store), state);
  // an entry that failed still counts as applied
  await t.throwsAsync(s.store.put(5, { key: b('q'), value: b('1'), lease: 99 }));
  t.is(s.store.consistentIndex, 5);
  await s.reopen();
  t.is(s.store.consistentIndex, 5);
  await s.store.put(6, { key: b('q'), value: b('1') });
  t.is(s.store.revision, 3);
});

test('a corrupt record makes open fail with DATA_CORRUPT naming the key', async (t) => {
  const s = await setup(t);
  await s.put('alpha', 'one');
  await s.put('beta', 'two');
  await s.store.close();
  const recordKeys: Buffer[] = [];
  for await (const k of s.db.keys({ gte: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x72])]), lt: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x73])]) })) recordKeys.push(k);
  t.is(recordKeys.length, 2);
  const v = (await s.db.get(recordKeys[1]!))!;
  const bad = Buffer.from(v);
  bad[bad.length - 1] ^= 0x01; // flip a bit of the value "two"
  await s.db.put(recordKeys[1]!, bad);
  const err = await t.throwsAsync(MvccStore.open(s.db, PREFIX));
  t.is((err as Error & { code: string }).code, 'DATA_CORRUPT');
  t.regex(err!.message, /"beta"/);
  t.regex(err!.message, /revision 2_0/);
  // a record copied under another revision is detected as well
  await s.db.put(recordKeys[1]!, (await s.db.get(recordKeys[0]!))!);
  const err2 = await t.throwsAsync(MvccStore.open(s.db, PREFIX));
  t.is((err2 as Error & { code: string }).code, 'DATA_CORRUPT');
  s.store = await MvccStore.open(s.db, Buffer.from('other/')); // for teardown
});

test('snapshot and restore round-trip into another database (and over existing data)', async (t) => {
  const s = await setup(t);
  await workload(s, 11, 300);
  await s.store.waitCompaction();
  const expected = await dump(s.store);
  const chunks: Buffer[] = [];
  for await (const c of s.store.snapshot(512)) chunks.push(c);
  t.true(chunks.length > 1);
  const { db } = await openDb(t);
  const restored = await MvccStore.restore(db, PREFIX, chunks);
  t.deepEqual(await dump(restored), expected);
  // a second restore into the same prefix replaces the data (generations switch), and reopen sees it
  await restored.put(restored.consistentIndex + 1, { key: b('local'), value: b('x') });
  await restored.close();
  const again = await MvccStore.restore(db, PREFIX, chunks);
  t.deepEqual(await dump(again), expected);
  await again.close();
  const reopened = await MvccStore.open(db, PREFIX);
  t.deepEqual(await dump(reopened), expected);
  await reopened.put(reopened.consistentIndex + 1, { key: b('after'), value: b('1') });
  t.is(reopened.revision, (expected as { revision: number }).revision + 1);
  await reopened.close();
});

test('a snapshot taken before later applies does not include them', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  const snap = s.store.snapshot();
  await s.put('a', '2');
  await s.store.compact(s.index(), 2);
  await s.store.waitCompaction();
  const chunks: Buffer[] = [];
  for await (const c of snap) chunks.push(c);
  const { db } = await openDb(t);
  const restored = await MvccStore.restore(db, PREFIX, chunks);
  t.is(restored.revision, 1);
  t.is(restored.consistentIndex, 1);
  t.is((await restored.range({ key: b('a') })).kvs[0]!.value.toString(), '1');
  await restored.close();
});

test('corrupt or truncated snapshots are rejected with SNAPSHOT_CORRUPT and leave the old data', async (t) => {
  const s = await setup(t);
  await workload(s, 3, 100);
  const chunks: Buffer[] = [];
  for await (const c of s.store.snapshot()) chunks.push(c);
  const whole = Buffer.concat(chunks);
  const { db } = await openDb(t);
  const target = await MvccStore.open(db, PREFIX);
  await target.put(1, { key: b('mine'), value: b('keep') });
  await target.close();
  const variants: Buffer[][] = [];
  for (const pos of [3, 40, Math.floor(whole.length / 2), whole.length - 20, whole.length - 2]) {
    const bad = Buffer.from(whole);
    bad[pos] ^= 0x40;
    variants.push([bad.subarray(0, 100), bad.subarray(100)]);
  }
  variants.push([whole.subarray(0, whole.length - 30)]);
  variants.push([whole, Buffer.from('extra')]);
  for (const v of variants) {
    const err = await t.throwsAsync(MvccStore.restore(db, PREFIX, v));
    t.is((err as Error & { code: string }).code, 'SNAPSHOT_CORRUPT', err!.message);
  }
  const still = await MvccStore.open(db, PREFIX);
  t.is((await still.range({ key: b('mine') })).kvs[0]!.value.toString(), 'keep');
  await still.close();
  // re-chunked arbitrarily it still restores
  const pieces: Buffer[] = [];
  for (let i = 0; i < whole.length; i += 7) pieces.push(whole.subarray(i, i + 7));
  const ok = await MvccStore.restore(db, PREFIX, pieces);
  t.is(ok.revision, s.store.revision);
  await ok.close();
});

test('quota: puts and txns with puts fail with NoSpace; deletes and compactions still work', async (t) => {
  const s = await setup(t, { quotaBytes: 4096 });
  let i = 0;
  let err: unknown;
  for (;;) {
    try {
      await s.put(`key${i++}`, 'x'.repeat(200));
    } catch (e) {
      err = e;
      break;
    }
  }
  t.is((err as EtcdError).etcdName, 'NoSpace');
  t.is((err as Error).message, 'etcdserver: mvcc: database space exceeded');
  t.true(s.store.dbSize() <= 4096);
  const rev = s.store.revision;
  await t.throwsAsync(s.store.txn(s.index(), { success: [{ requestPut: { key: b('t'), value: b('x'.repeat(200)) } }] }), { message: 'etcdserver: mvcc: database space exceeded' });
  // a read-only txn and deletes are fine
  await s.store.txn(s.index(), { success: [{ requestRange: { key: b('key0') } }] });
  await s.del('key', 'kez');
  t.is(s.store.revision, rev + 1);
  await t.throwsAsync(s.put('again', 'x'.repeat(200)), { message: 'etcdserver: mvcc: database space exceeded' }, 'history still holds the space');
  await s.store.compact(s.index(), s.store.revision);
  await s.store.waitCompaction();
  t.true(s.store.dbSize() < 200);
  await s.put('again', 'x'.repeat(200));
  // dbSize is deterministic: the same after reopen
  const size = s.store.dbSize();
  await s.reopen();
  t.is(s.store.dbSize(), size);
});

// Group commit (write-behind): applies are visible at once, reach LevelDB with
// flush(), and a crash keeps a prefix of them with a matching consistent index.
import { setImmediate as turn } from 'node:timers/promises';
import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import type { WatchEventFields, WatchSink } from '../../src/api/kv.js';
import { MvccStore, type RangeResult } from '../../src/mvcc/index.js';
import { b, crashCopy, keys, markLegacyNumbering, openDb, PREFIX, recordCount, rng, setup, values } from './helpers.js';

/** Everything observable: counters, leases with their keys, the full range at every revision. */
async function state(store: MvccStore): Promise<unknown> {
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

function eventSink() {
  const events: WatchEventFields[] = [];
  const sink: WatchSink = {
    events: (evs) => {
      events.push(...evs);
      return true;
    },
    compacted: () => undefined,
    progress: () => undefined,
  };
  const text = () => events.map((e) => `${e.type}:${e.kv.key}=${e.kv.value}@${e.kv.modRevision}${e.prevKv ? `(prev=${e.prevKv.value}@${e.prevKv.modRevision})` : ''}`);
  return { events, sink, text };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('reads see applies that are not flushed yet: range, history, prevKv, txn value compares, deleteRange prevKvs', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1'); // index 1, rev 1
  await s.store.flush();
  t.is(s.store.persistedIndex, 1);
  await s.put('a', '2'); // 2, rev 2
  await s.put('b', '1'); // 3, rev 3
  t.is(s.store.consistentIndex, 3);
  t.is(s.store.persistedIndex, 1);
  t.is(await recordCount(s.db), 1, 'nothing written before flush');
  t.deepEqual(values((await s.store.range({ key: b('a') })).kvs), ['2']);
  t.deepEqual(values((await s.store.range({ key: b('a'), revision: 1 })).kvs), ['1']);
  t.deepEqual(keys((await s.store.range({ key: b('a'), rangeEnd: b('c') })).kvs), ['a', 'b']);
  const p = await s.store.put(s.index(), { key: b('a'), value: b('3'), prevKv: true }); // 4, rev 4
  t.is(p.prevKv?.value.toString(), '2');
  t.is(p.prevKv?.modRevision, 2);
  const yes = await s.store.txn(s.index(), {
    compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: b('3') }],
    success: [{ requestRange: { key: b('b') } }],
    failure: [],
  }); // 5, read-only
  t.true(yes.succeeded);
  t.deepEqual(values((yes.responses[0] as { responseRange: RangeResult }).responseRange.kvs), ['1']);
  const no = await s.store.txn(s.index(), { compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: b('2') }], success: [], failure: [] });
  t.false(no.succeeded);
  const d = await s.store.deleteRange(s.index(), { key: b('b'), prevKv: true }); // 7, rev 5
  t.deepEqual(values(d.prevKvs), ['1']);
  t.is(d.header.revision, 5);
  t.is((await s.store.range({ key: b('b') })).count, 0);
  t.deepEqual(values((await s.store.range({ key: b('b'), revision: 4 })).kvs), ['1']);
  t.is(await recordCount(s.db), 1);
  t.is(s.store.persistedIndex, 1);

  const before = await state(s.store);
  await s.store.flush();
  t.is(s.store.persistedIndex, 7);
  t.is(await recordCount(s.db), 5);
  await s.store.flush(); // nothing pending: resolves at once
  t.deepEqual(await state(s.store), before);
  await s.reopen();
  t.deepEqual(await state(s.store), before);
});

test('a watcher from a past revision replays history from LevelDB and from unflushed applies (also while a flush lands)', async (t) => {
  const s = await setup(t, { flushOnIdle: false, watch: { catchUpBatch: 2 } });
  await s.put('a', '1'); // rev 1
  await s.put('b', '1'); // rev 2
  await s.store.flush();
  await s.put('a', '2'); // rev 3
  await s.del('b'); // rev 4
  await s.put('a', '3'); // rev 5
  t.is(s.store.persistedIndex, 2);
  const expected = ['PUT:a=1@1', 'PUT:b=1@2', 'PUT:a=2@3(prev=1@1)', 'DELETE:b=@4(prev=1@2)', 'PUT:a=3@5(prev=2@3)'];
  const all = { key: Buffer.alloc(0), rangeEnd: Buffer.from([0]), startRevision: 1, prevKv: true, progressNotify: false, filters: [] };
  const w1 = eventSink();
  s.store.watch(all, w1.sink);
  await until(() => w1.events.length === expected.length);
  t.deepEqual(w1.text(), expected);
  t.is(s.store.persistedIndex, 2, 'replayed while unflushed');
  // from revision 2, while the pending batch is being written
  const w2 = eventSink();
  s.store.watch({ ...all, startRevision: 2 }, w2.sink);
  const flushed = s.store.flush();
  await until(() => w2.events.length === expected.length - 1);
  await flushed;
  t.deepEqual(w2.text(), expected.slice(1));
  // both continue live without gap or duplicate
  await s.put('a', '4');
  await until(() => w1.events.length === expected.length + 1 && w2.events.length === expected.length);
  t.deepEqual(w1.text(), [...expected, 'PUT:a=4@6(prev=3@5)']);
  t.deepEqual(w2.text(), [...expected.slice(1), 'PUT:a=4@6(prev=3@5)']);
});

/** A fixed log of entries: leases, puts, txns, deletes, a compaction. */
const LOG: Array<(store: MvccStore, index: number) => Promise<unknown>> = [
  (st, i) => st.leaseGrant(i, 7, 60),
  (st, i) => st.put(i, { key: b('a'), value: b('1'), lease: 7 }),
  (st, i) => st.put(i, { key: b('b'), value: b('1') }),
  (st, i) => st.txn(i, { compare: [{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 1 }], success: [{ requestPut: { key: b('c'), value: b('1') } }, { requestDeleteRange: { key: b('b') } }], failure: [] }),
  (st, i) => st.compact(i, 2),
  (st, i) => st.put(i, { key: b('a'), value: b('2'), lease: 99 }), // fails: LeaseNotFound (still applied)
  // ---- flushed up to here in the crash test ----
  (st, i) => st.put(i, { key: b('a'), value: b('3'), prevKv: true }),
  (st, i) => st.leaseGrant(i, 8, 60),
  (st, i) => st.put(i, { key: b('d'), value: b('1'), lease: 8 }),
  (st, i) => st.deleteRange(i, { key: b('c') }),
  (st, i) => st.leaseRevoke(i, 7),
  (st, i) => st.txn(i, { compare: [], success: [{ requestPut: { key: b('e'), value: b('1') } }, { requestPut: { key: b('f'), value: b('1') } }], failure: [] }),
];

async function applyLog(store: MvccStore, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    try {
      await LOG[i - 1]!(store, i);
    } catch (err) {
      if (!(err as EtcdError).etcdName) throw err;
    }
  }
}

test('a crash before flush loses exactly the unflushed suffix; the consistent index matches and replay resumes after it', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await applyLog(s.store, 1, 6);
  await s.store.flush();
  await s.store.waitCompaction();
  const atFlush = await state(s.store);
  await applyLog(s.store, 7, LOG.length);
  const full = await state(s.store);
  t.is(s.store.consistentIndex, LOG.length);
  t.is(s.store.persistedIndex, 6);

  const crashed = await MvccStore.open(await crashCopy(t, s.dir), PREFIX);
  t.teardown(() => crashed.close());
  t.is(crashed.consistentIndex, 6);
  t.is(crashed.persistedIndex, 6);
  t.deepEqual(await state(crashed), atFlush);
  // The member replays its whole Raft log: indexes <= 6 are no-ops, the rest is applied again.
  await applyLog(crashed, 1, LOG.length);
  t.deepEqual(await state(crashed), full);
  // ... and the original, once flushed, is the same after a crash
  await s.store.flush();
  const flushed = await MvccStore.open(await crashCopy(t, s.dir), PREFIX);
  t.teardown(() => flushed.close());
  t.deepEqual(await state(flushed), full);
});

test('a crash while size-bounded group commits are written leaves a prefix with a matching consistent index', async (t) => {
  const s = await setup(t, { flushOnIdle: false, maxPendingEntries: 7 });
  for (let i = 1; i <= 60; i++) {
    await s.put(`k${i % 5}`, `v${i}`); // index i, revision i
    if (i % 10 === 0) await turn(); // let some batches land
    if (i === 30) await until(() => s.store.persistedIndex > 0);
  }
  const persisted = s.store.persistedIndex;
  const db = await crashCopy(t, s.dir);
  t.true(persisted >= 7, `some batches were written (persisted index ${persisted})`);
  const crashed = await MvccStore.open(db, PREFIX);
  t.teardown(() => crashed.close());
  const ci = crashed.consistentIndex;
  t.true(ci >= persisted && ci <= 60, `consistent index ${ci}`);
  t.is(crashed.revision, ci);
  const all = { key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) };
  t.deepEqual((await crashed.range(all)).kvs, (await s.store.range({ ...all, revision: ci })).kvs);
  t.is(await recordCount(db), ci);
});

test('a failed flush puts the store in the failure state: flush rejects, applies, reads and watches throw', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1');
  await s.store.flush();
  await s.put('a', '2');
  await s.db.close();
  const err = await t.throwsAsync(s.store.flush());
  t.is((err as Error & { code: string }).code, 'APPLY_FAILED');
  t.regex(err!.message, /apply batch failed/);
  await t.throwsAsync(s.put('b', '1'), { is: err });
  await t.throwsAsync(s.store.range({ key: b('a') }), { is: err });
  await t.throwsAsync(s.store.flush(), { is: err });
  t.throws(() => s.store.watch({ key: b('a'), rangeEnd: Buffer.alloc(0), startRevision: 0, prevKv: false, progressNotify: false, filters: [] }, eventSink().sink), { is: err });
  t.throws(() => s.store.snapshot(), { is: err });
  await s.store.close(); // the failure was already reported
});

test('a failed size-bounded flush also fails the store, and close() reports a failed final flush', async (t) => {
  const s = await setup(t, { flushOnIdle: false, maxPendingEntries: 2 });
  await s.put('a', '1');
  await s.db.close();
  await s.put('b', '1'); // starts a background flush, which fails
  const err = await t.throwsAsync(s.store.flush());
  t.is((err as Error & { code: string }).code, 'APPLY_FAILED');
  await t.throwsAsync(s.put('c', '1'), { is: err });

  const other = await openDb(t);
  const store = await MvccStore.open(other.db, PREFIX, { flushOnIdle: false });
  await store.put(1, { key: b('x'), value: b('1') });
  await other.db.close();
  const closeErr = await t.throwsAsync(store.close());
  t.is((closeErr as Error & { code: string }).code, 'APPLY_FAILED');
});

test('a snapshot includes applies not flushed yet (also one being written) and excludes later ones', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1'); // rev 1
  await s.store.flush();
  await s.put('a', '2'); // rev 2
  const writing = s.store.flush();
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await s.put('b', '1'); // rev 3
  const snap = s.store.snapshot(64);
  await s.put('c', '1'); // rev 4, not in the snapshot
  await writing;
  await s.store.flush();
  const chunks: Buffer[] = [];
  for await (const c of snap) chunks.push(c);
  const { db } = await openDb(t);
  const restored = await MvccStore.restore(db, PREFIX, chunks);
  t.teardown(() => restored.close());
  t.is(restored.revision, 3);
  t.is(restored.consistentIndex, 3);
  t.deepEqual(keys((await restored.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), ['a', 'b']);
  t.deepEqual(values((await restored.range({ key: b('a') })).kvs), ['2']);
  t.deepEqual(values((await restored.range({ key: b('a'), revision: 1 })).kvs), ['1']);
});

test('close() writes what is pending; replayed indexes stay no-ops before a flush', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1');
  await s.put('a', '2');
  await s.put('b', '1');
  t.deepEqual(await s.store.put(2, { key: b('a'), value: b('other') }), { header: { revision: 3 } });
  t.deepEqual(values((await s.store.range({ key: b('a') })).kvs), ['2']);
  t.is(s.store.persistedIndex, 0);
  await s.reopen();
  t.is(s.store.consistentIndex, 3);
  t.is(s.store.persistedIndex, 3);
  t.deepEqual(values((await s.store.range({ key: b('a'), rangeEnd: b('c') })).kvs), ['2', '1']);
});

test('by default (flushOnIdle) applied entries reach LevelDB once the event-loop turn is over', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('a', '2');
  t.is(s.store.persistedIndex, 0, 'not within the same turn');
  await until(() => s.store.persistedIndex === 2);
  t.is(await recordCount(s.db), 2);
});

test('applies stay in order when an earlier apply waits for a LevelDB read', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1'); // rev 1
  await s.store.flush();
  const slow = s.store.put(s.index(), { key: b('a'), value: b('2'), prevKv: true }); // reads a@1 from LevelDB
  const fast = s.store.put(s.index(), { key: b('a'), value: b('3') });
  const del = s.store.deleteRange(s.index(), { key: b('a') });
  t.is(s.store.revision, 1, 'the first apply is still reading');
  const [r1, r2, r3] = await Promise.all([slow, fast, del]);
  t.is(r1.header.revision, 2);
  t.is(r1.prevKv?.value.toString(), '1');
  t.is(r2.header.revision, 3);
  t.is(r3.header.revision, 4);
  t.is(r3.deleted, 1);
  t.deepEqual(values((await s.store.range({ key: b('a'), revision: 3 })).kvs), ['3']);
});

test('a put that needs no LevelDB read is applied within the call', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1');
  await s.store.flush();
  const p = s.put('a', '2');
  t.is(s.store.revision, 2);
  t.is(s.store.consistentIndex, 2);
  t.is((await p).header.revision, 2);
});

test('a txn with version/create/mod compares and writes (create, update, delete by revision) is applied within the call', async (t) => {
  const s = await setup(t, { flushOnIdle: false });
  await s.put('a', '1'); // rev 1
  await s.put('a', '2'); // rev 2
  await s.store.flush();
  const create = s.store.txn(s.index(), {
    compare: [{ key: b('n'), target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
    success: [{ requestPut: { key: b('n'), value: b('1') } }],
    failure: [{ requestRange: { key: b('n') } }],
  });
  t.is(s.store.revision, 3, 'applied within the call');
  t.true((await create).succeeded);
  const update = s.store.txn(s.index(), {
    compare: [{ key: b('a'), target: 'MOD', result: 'EQUAL', modRevision: 2 }, { key: b('a'), target: 'VERSION', result: 'EQUAL', version: 2 }],
    success: [{ requestPut: { key: b('a'), value: b('3') } }],
    failure: [],
  });
  t.is(s.store.revision, 4);
  t.true((await update).succeeded);
  const stale = await s.store.txn(s.index(), {
    compare: [{ key: b('a'), target: 'MOD', result: 'EQUAL', modRevision: 2 }],
    success: [{ requestDeleteRange: { key: b('a') } }],
    failure: [],
  });
  t.false(stale.succeeded);
  const remove = s.store.txn(s.index(), {
    compare: [{ key: b('a'), target: 'MOD', result: 'EQUAL', modRevision: 4 }],
    success: [{ requestDeleteRange: { key: b('a') } }],
    failure: [],
  });
  t.is(s.store.revision, 5);
  t.true((await remove).succeeded);
  // compares use the key index; after a compaction and a reopen it still has the create revision and version
  await s.put('c', '1'); // rev 6
  await s.put('c', '2'); // rev 7
  await s.store.compact(s.index(), 7);
  await s.reopen();
  const r = await s.store.txn(s.index(), {
    compare: [
      { key: b('c'), target: 'CREATE', result: 'EQUAL', createRevision: 6 },
      { key: b('c'), target: 'VERSION', result: 'EQUAL', version: 2 },
      { key: b('c'), target: 'MOD', result: 'EQUAL', modRevision: 7 },
      { key: b('a'), target: 'VERSION', result: 'EQUAL', version: 0 },
    ],
    success: [],
    failure: [],
  });
  t.true(r.succeeded);
});

/** A deterministic random log of puts, deletes, txns, leases and compactions (entry i is log[i - 1]). */
function randomLog(seed: number, steps: number): Array<(store: MvccStore, index: number) => Promise<unknown>> {
  const r = rng(seed);
  const key = () => `k${Math.floor(r() * 12)}`;
  const log: Array<(store: MvccStore, index: number) => Promise<unknown>> = [];
  let lease = 1;
  for (let i = 0; i < steps; i++) {
    const x = r();
    if (x < 0.4) {
      const [k, l] = [key(), r() < 0.2 ? Math.ceil(r() * lease) : 0];
      log.push((st, idx) => st.put(idx, { key: b(k), value: b(`v${i}`), lease: l }));
    } else if (x < 0.55) {
      const [k, end] = [key(), r() < 0.3 ? key() : undefined];
      log.push((st, idx) => st.deleteRange(idx, { key: b(k), rangeEnd: end === undefined ? undefined : b(end), prevKv: true }));
    } else if (x < 0.7) {
      const [k, target] = [key(), r() < 0.5 ? ('VERSION' as const) : ('VALUE' as const)];
      log.push((st, idx) =>
        st.txn(idx, {
          compare: [{ key: b(k), target, result: 'GREATER', version: 1, value: b('v') }],
          success: [{ requestPut: { key: b(k), value: b(`t${i}`), prevKv: true } }, { requestDeleteRange: { key: b(`${k}x`) } }],
          failure: [{ requestPut: { key: b(`${k}x`), value: b(`f${i}`) } }, { requestRange: { key: b(k) } }],
        }),
      );
    } else if (x < 0.8) {
      const id = ++lease;
      log.push((st, idx) => st.leaseGrant(idx, id, 60));
    } else if (x < 0.85) {
      const id = Math.ceil(r() * lease);
      log.push((st, idx) => st.leaseRevoke(idx, id));
    } else if (x < 0.9) {
      const f = r();
      log.push((st, idx) => st.compact(idx, st.compactRevision + Math.ceil(f * (st.revision - st.compactRevision))));
    } else {
      const k = key();
      log.push((st, idx) => st.put(idx, { key: b(k), ignoreValue: true, prevKv: true }));
    }
  }
  return log;
}

async function replay(store: MvccStore, log: Array<(store: MvccStore, index: number) => Promise<unknown>>, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    try {
      await log[i - 1]!(store, i);
    } catch (err) {
      if (!(err as EtcdError).etcdName) throw err;
    }
  }
}

test('random workload: a crash at any point leaves a prefix equal to a replay of the log up to its consistent index; replaying the rest converges', async (t) => {
  const log = randomLog(23, 240);
  const r = rng(5);
  const s = await setup(t, { flushOnIdle: false, maxPendingEntries: 16 });
  // watchers with prevKv make applies read records (from memory or LevelDB)
  s.store.watch({ key: b('k'), rangeEnd: b('l'), startRevision: 0, prevKv: true, progressNotify: false, filters: [] }, eventSink().sink);
  const crashes: Array<{ db: import('./helpers.js').Db; atLeast: number }> = [];
  for (let i = 1; i <= log.length; i++) {
    await replay(s.store, log, i, i);
    const x = r();
    if (x < 0.05) await s.store.flush();
    else if (x < 0.1) await turn();
    if (i % 60 === 30) {
      const atLeast = s.store.persistedIndex; // before the copy: a batch may land while it is made
      crashes.push({ db: await crashCopy(t, s.dir), atLeast });
    }
  }
  await s.store.waitCompaction();
  const final = await state(s.store);
  t.true(s.store.revision > 50);
  let lost = 0;
  for (const c of crashes) {
    const crashed = await MvccStore.open(c.db, PREFIX);
    t.teardown(() => crashed.close());
    const ci = crashed.consistentIndex;
    t.true(ci >= c.atLeast, `crash copy has index ${ci}, persisted was ${c.atLeast}`);
    lost += ci < log.length ? 1 : 0;
    const { db } = await openDb(t);
    await markLegacyNumbering(db); // as setup()'s store
    const reference = await MvccStore.open(db, PREFIX);
    t.teardown(() => reference.close());
    await replay(reference, log, 1, ci);
    await reference.waitCompaction();
    await crashed.waitCompaction();
    t.deepEqual(await state(crashed), await state(reference), `state at index ${ci}`);
    await replay(crashed, log, 1, log.length);
    await crashed.waitCompaction();
    t.deepEqual(await state(crashed), final);
  }
  t.is(lost, crashes.length, 'every crash copy missed some applied entries');
});

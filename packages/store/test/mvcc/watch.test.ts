import test from 'ava';
import type { WatchCreateOptions, WatchEventFields } from '../../src/api/kv.js';
import type { MvccWatchHandle } from '../../src/mvcc/index.js';
import { b, rng, setup } from './helpers.js';

function opts(o: Partial<WatchCreateOptions> & { key: Buffer }): WatchCreateOptions {
  return { rangeEnd: Buffer.alloc(0), startRevision: 0, prevKv: false, progressNotify: false, filters: [], ...o };
}

/** A sink recording everything; `saturateAfter` makes events() return false after n batches until resumed. */
function recorder() {
  const rec = {
    batches: [] as Array<{ events: WatchEventFields[]; revision: number }>,
    compacted: [] as Array<[number, number]>,
    progress: [] as number[],
    saturated: false,
    saturateEvery: 0,
    get events(): WatchEventFields[] {
      return rec.batches.flatMap((x) => x.events);
    },
    text(): string[] {
      return rec.events.map((e) => `${e.type}:${e.kv.key}=${e.kv.value}@${e.kv.modRevision}${e.prevKv ? `(prev=${e.prevKv.value}@${e.prevKv.modRevision})` : ''}`);
    },
    sink: {
      events: (events: WatchEventFields[], revision: number): boolean => {
        rec.batches.push({ events, revision });
        if (rec.saturateEvery > 0 && rec.batches.length % rec.saturateEvery === 0) {
          rec.saturated = true;
          return false;
        }
        return true;
      },
      compacted: (c: number, r: number) => {
        rec.compacted.push([c, r]);
      },
      progress: (r: number) => {
        rec.progress.push(r);
      },
    },
  };
  return rec;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('live watch of a key and of a prefix; events of a revision come together', async (t) => {
  const s = await setup(t);
  await s.put('a', '0');
  const one = recorder();
  const pre = recorder();
  s.store.watch(opts({ key: b('a') }), one.sink);
  s.store.watch(opts({ key: b('a'), rangeEnd: b('b') }), pre.sink);
  await s.put('a', '1');
  await s.put('ab', '1');
  await s.put('b', '1');
  await s.store.txn(s.index(), { success: [{ requestPut: { key: b('a'), value: b('2') } }, { requestPut: { key: b('aa'), value: b('2') } }] });
  await s.del('a', 'b');
  t.deepEqual(one.text(), ['PUT:a=1@2', 'PUT:a=2@5', 'DELETE:a=@6']);
  t.deepEqual(pre.text(), ['PUT:a=1@2', 'PUT:ab=1@3', 'PUT:a=2@5', 'PUT:aa=2@5', 'DELETE:a=@6', 'DELETE:aa=@6', 'DELETE:ab=@6']);
  t.is(pre.batches.length, 4, 'one batch per revision');
  t.deepEqual(
    pre.batches.map((x) => x.revision),
    [2, 3, 5, 6],
  );
  t.deepEqual(one.compacted, []);
});

test('watch from a past revision replays history, then continues live without gaps or duplicates', async (t) => {
  const s = await setup(t, { watch: { catchUpBatch: 3 } });
  for (let i = 1; i <= 10; i++) await s.put(`k${i % 3}`, `${i}`);
  const r = recorder();
  s.store.watch(opts({ key: b('k'), rangeEnd: b('l'), startRevision: 4 }), r.sink);
  // writes racing with the catch-up
  for (let i = 11; i <= 20; i++) await s.put(`k${i % 3}`, `${i}`);
  await until(() => r.events.length === 17);
  await s.put('k0', 'last');
  t.deepEqual(
    r.events.map((e) => e.kv.modRevision),
    [...Array.from({ length: 17 }, (_, i) => i + 4), 21],
  );
  t.deepEqual(r.events.map((e) => e.kv.value.toString()).slice(0, 2), ['4', '5']);
});

test('start revision below the compacted one gets compacted(); at the compacted one replays (etcd)', async (t) => {
  const s = await setup(t);
  for (let i = 1; i <= 5; i++) await s.put('a', `${i}`);
  await s.del('a'); // 6
  await s.put('b', '1'); // 7
  await s.store.compact(s.index(), 4);
  const old = recorder();
  const h = s.store.watch(opts({ key: b('a'), rangeEnd: b('z'), startRevision: 3 }), old.sink);
  t.deepEqual(old.compacted, [], 'never called before watch() returns');
  await until(() => old.compacted.length === 1);
  t.deepEqual(old.compacted, [[4, 7]]);
  await s.put('a', 'x');
  t.deepEqual(old.batches, [], 'a compacted watcher is cancelled');
  h.cancel();
  const at = recorder();
  s.store.watch(opts({ key: b('a'), rangeEnd: b('z'), startRevision: 4 }), at.sink);
  await until(() => at.events.length === 5);
  t.deepEqual(at.text(), ['PUT:a=4@4', 'PUT:a=5@5', 'DELETE:a=@6', 'PUT:b=1@7', 'PUT:a=x@8']);
});

test('filters NOPUT / NODELETE', async (t) => {
  const s = await setup(t);
  const noPut = recorder();
  const noDel = recorder();
  s.store.watch(opts({ key: b('a'), rangeEnd: Buffer.from([0]), filters: ['NOPUT'] }), noPut.sink);
  s.store.watch(opts({ key: b('a'), rangeEnd: Buffer.from([0]), filters: ['NODELETE'] }), noDel.sink);
  await s.put('a', '1');
  await s.del('a');
  await s.put('b', '1');
  t.deepEqual(noPut.text(), ['DELETE:a=@2']);
  t.deepEqual(noDel.text(), ['PUT:a=1@1', 'PUT:b=1@3']);
  const hist = recorder();
  s.store.watch(opts({ key: b('a'), rangeEnd: Buffer.from([0]), filters: ['NOPUT'], startRevision: 1 }), hist.sink);
  await until(() => hist.events.length === 1);
  t.deepEqual(hist.text(), ['DELETE:a=@2']);
});

test('prevKv on live and historical events (none for creations)', async (t) => {
  const s = await setup(t);
  const live = recorder();
  const plain = recorder();
  s.store.watch(opts({ key: b('a'), prevKv: true }), live.sink);
  s.store.watch(opts({ key: b('a') }), plain.sink);
  await s.put('a', '1');
  await s.put('a', '2');
  await s.store.txn(s.index(), { success: [{ requestDeleteRange: { key: b('a') } }] });
  await s.put('a', '3');
  const expected = ['PUT:a=1@1', 'PUT:a=2@2(prev=1@1)', 'DELETE:a=@3(prev=2@2)', 'PUT:a=3@4'];
  t.deepEqual(live.text(), expected);
  t.deepEqual(plain.text(), ['PUT:a=1@1', 'PUT:a=2@2', 'DELETE:a=@3', 'PUT:a=3@4']);
  const hist = recorder();
  s.store.watch(opts({ key: b('a'), prevKv: true, startRevision: 1 }), hist.sink);
  await until(() => hist.events.length === 4);
  t.deepEqual(hist.text(), expected);
});

test('progress: tickProgress for idle synced watchers with progressNotify; requestProgress', async (t) => {
  const s = await setup(t);
  const p = recorder();
  const q = recorder();
  const hp = s.store.watch(opts({ key: b('a'), progressNotify: true }), p.sink);
  const hq = s.store.watch(opts({ key: b('a') }), q.sink);
  s.store.hub.tickProgress();
  t.deepEqual(p.progress, [0]);
  await s.put('a', '1');
  s.store.hub.tickProgress();
  t.deepEqual(p.progress, [0], 'no progress in an interval with events');
  await s.put('zzz', '1');
  s.store.hub.tickProgress();
  t.deepEqual(p.progress, [0, 2]);
  t.deepEqual(q.progress, [], 'not without progressNotify');
  hq.requestProgress();
  t.deepEqual(q.progress, [2]);
  hp.cancel();
  s.store.hub.tickProgress();
  hp.requestProgress();
  t.deepEqual(p.progress, [0, 2], 'nothing after cancel');
});

test('a saturated sink is held, then resumed; beyond the bound it catches up from LevelDB', async (t) => {
  const s = await setup(t, { watch: { maxPendingEvents: 5, catchUpBatch: 4 } });
  const r = recorder();
  r.saturateEvery = 2;
  const h = s.store.watch(opts({ key: b('k'), rangeEnd: b('l') }), r.sink) as MvccWatchHandle;
  await s.put('k1', '1'); // delivered
  await s.put('k1', '2'); // delivered, sink says saturated
  await s.put('k1', '3'); // held
  t.is(r.batches.length, 2);
  h.resume();
  t.is(r.batches.length, 3);
  h.resume();
  for (let i = 4; i <= 30; i++) await s.put(`k${i % 4}`, `${i}`); // overflows while saturated
  t.true(r.batches.length < 10);
  // keep resuming whenever it saturates, as a stream's 'drain' would
  await until(() => {
    if (r.saturated) {
      r.saturated = false;
      h.resume();
    }
    return r.events.length === 30;
  });
  t.deepEqual(
    r.events.map((e) => e.kv.modRevision),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  await s.put('k1', 'live');
  if (r.saturated) h.resume();
  await until(() => r.events.length === 31);
});

test('cancel stops all sink calls, also during a catch-up', async (t) => {
  const s = await setup(t);
  for (let i = 0; i < 50; i++) await s.put('a', `${i}`);
  const r = recorder();
  const h = s.store.watch(opts({ key: b('a'), startRevision: 1 }), r.sink);
  h.cancel();
  await s.put('a', 'x');
  await new Promise((res) => setTimeout(res, 50));
  t.deepEqual(r.batches, []);
  t.is(s.store.hub.size, 0);
});

/** Reference model: the events each watcher must see, computed from a plain map. */
test('randomized: watchers from random revisions with slow sinks see exactly the reference events once, in order', async (t) => {
  const s = await setup(t, { watch: { maxPendingEvents: 8, catchUpBatch: 5 } });
  const r = rng(42);
  const model = new Map<string, { value: string; version: number; create: number; mod: number }>();
  const history: Array<{ rev: number; type: 'PUT' | 'DELETE'; key: string; value: string; prev?: string }> = [];
  const keyOf = () => `k${Math.floor(r() * 8)}`;
  const watchers: Array<{ start: number; lo: string; hi: string; prevKv: boolean; rec: ReturnType<typeof recorder>; h: MvccWatchHandle }> = [];
  const step = async () => {
    const x = r();
    const rev = s.store.revision + 1;
    if (x < 0.6) {
      const k = keyOf();
      const v = `v${rev}`;
      const prev = model.get(k);
      await s.put(k, v);
      history.push({ rev, type: 'PUT', key: k, value: v, prev: prev?.value });
      model.set(k, { value: v, version: (prev?.version ?? 0) + 1, create: prev?.create ?? rev, mod: rev });
    } else if (x < 0.8) {
      const a = keyOf();
      const z = keyOf();
      const [lo, hi] = a < z ? [a, z] : [z, a];
      const hit = [...model.keys()].filter((k) => k >= lo && k < hi).sort();
      await s.del(lo, hi);
      for (const k of hit) {
        history.push({ rev, type: 'DELETE', key: k, value: '', prev: model.get(k)!.value });
        model.delete(k);
      }
    } else {
      const k1 = keyOf();
      const k2 = `${keyOf()}x`;
      await s.store.txn(s.index(), { success: [{ requestPut: { key: b(k1), value: b(`t${rev}`) } }, { requestPut: { key: b(k2), value: b(`t${rev}`) } }] });
      for (const k of [k1, k2]) {
        const prev = model.get(k);
        history.push({ rev, type: 'PUT', key: k, value: `t${rev}`, prev: prev?.value });
        model.set(k, { value: `t${rev}`, version: (prev?.version ?? 0) + 1, create: prev?.create ?? rev, mod: rev });
      }
    }
  };
  for (let i = 0; i < 60; i++) await step();
  for (let round = 0; round < 40; round++) {
    if (r() < 0.5) {
      const a = keyOf();
      const z = keyOf();
      const [lo, hi] = a < z ? [a, z] : [z, `${z}~`];
      const start = r() < 0.3 ? 0 : 1 + Math.floor(r() * s.store.revision);
      const rec = recorder();
      rec.saturateEvery = Math.floor(r() * 4);
      const prevKv = r() < 0.5;
      const h = s.store.watch(opts({ key: b(lo), rangeEnd: b(hi), startRevision: start, prevKv }), rec.sink) as MvccWatchHandle;
      watchers.push({ start: start === 0 ? s.store.revision + 1 : start, lo, hi, prevKv, rec, h });
    }
    const n = Math.floor(r() * 10);
    for (let i = 0; i < n; i++) await step();
    for (const w of watchers) if (w.rec.saturated && r() < 0.5) {
      w.rec.saturated = false;
      w.h.resume();
    }
    if (r() < 0.3) await new Promise((res) => setTimeout(res, 1));
  }
  const final = s.store.revision;
  for (const w of watchers) {
    const expected = history
      .filter((e) => e.rev >= w.start && e.key >= w.lo && e.key < w.hi)
      .map((e) => `${e.type}:${e.key}=${e.value}@${e.rev}${w.prevKv && e.prev !== undefined ? `(prev=${e.prev})` : ''}`);
    await until(() => {
      if (w.rec.saturated) {
        w.rec.saturated = false;
        w.h.resume();
      }
      return w.rec.events.length >= expected.length;
    });
    const got = w.rec.events.map((e) => `${e.type}:${e.kv.key}=${e.kv.value}@${e.kv.modRevision}${e.prevKv ? `(prev=${e.prevKv.value})` : ''}`);
    t.deepEqual(got, expected, `watcher [${w.lo}, ${w.hi}) from ${w.start}`);
    // a revision is never split across batches
    const seen = new Set<number>();
    for (const batch of w.rec.batches) {
      const revs = new Set(batch.events.map((e) => e.kv.modRevision));
      for (const rv of revs) {
        t.false(seen.has(rv), `revision ${rv} split across batches`);
        seen.add(rv);
      }
      t.true(batch.revision <= final);
    }
  }
  t.true(watchers.length > 10);
});

test('a start revision in the future skips the revisions before it', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  const r = recorder();
  s.store.watch(opts({ key: b('a'), startRevision: 4 }), r.sink);
  await s.put('a', '2'); // 2
  await s.put('a', '3'); // 3
  await s.put('a', '4'); // 4
  await s.put('a', '5'); // 5
  t.deepEqual(r.text(), ['PUT:a=4@4', 'PUT:a=5@5']);
});

test('a prevKv watcher created while an apply is in flight still gets prevKv (read back from the store)', async (t) => {
  const s = await setup(t);
  await s.put('a', '1');
  await s.put('z', '1');
  await s.store.flush();
  // The txn puts a=2 (deciding about prevKv before the watcher exists), then reads z from LevelDB.
  const pending = s.store.txn(s.index(), { success: [{ requestPut: { key: b('a'), value: b('2') } }, { requestRange: { key: b('z') } }] });
  for (let i = 0; i < 20; i++) await Promise.resolve(); // microtasks only: the LevelDB read cannot complete meanwhile
  t.is(s.store.revision, 2, 'the apply is still in flight');
  const r = recorder();
  s.store.watch(opts({ key: b('a'), prevKv: true }), r.sink);
  await pending;
  await until(() => r.events.length === 1);
  await s.put('a', '3');
  t.deepEqual(r.text(), ['PUT:a=2@3(prev=1@1)', 'PUT:a=3@4(prev=2@3)']);
});

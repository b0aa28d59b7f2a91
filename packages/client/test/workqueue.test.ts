import test from 'ava';
import { WorkQueue } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('FIFO order and duplicate adds collapse', async (t) => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  t.is(q.length, 2);
  t.is(await q.get(), 'a');
  t.is(await q.get(), 'b');
  t.is(q.length, 0);
  q.done('a');
  q.done('b');
  t.is(q.length, 0);
});

test('a key re-added while processing is not handed out again until done(), then exactly once', async (t) => {
  const q = new WorkQueue();
  q.add('k');
  const k = await q.get();
  t.is(k, 'k');
  q.add('k');
  q.add('k');
  t.is(q.length, 0, 'dirty while processing: not queued');
  let second: string | undefined;
  void q.get().then((v) => (second = v));
  await sleep(20);
  t.is(second, undefined, 'no second worker gets the key while the first holds it');
  q.done('k');
  await sleep(0);
  t.is(second, 'k');
  q.done('k');
  t.is(q.length, 0, 'collapsed into a single re-delivery');
});

test('concurrent workers never process the same key at once; every add after the last get is processed', async (t) => {
  const q = new WorkQueue();
  const active = new Set<string>();
  let overlap = 0;
  const processed = new Map<string, number>();
  const lastAdd = new Map<string, number>();
  const lastStart = new Map<string, number>();
  let clock = 0;
  const worker = async () => {
    for (;;) {
      const k = await q.get();
      if (k === undefined) return;
      if (active.has(k)) overlap++;
      active.add(k);
      lastStart.set(k, ++clock);
      await sleep(Math.random() * 3);
      processed.set(k, (processed.get(k) ?? 0) + 1);
      active.delete(k);
      q.done(k);
    }
  };
  const workers = Array.from({ length: 8 }, () => worker());
  for (let i = 0; i < 400; i++) {
    const k = `k${i % 10}`;
    q.add(k);
    lastAdd.set(k, ++clock);
    if (i % 20 === 0) await sleep(1);
  }
  // Wait until every key's last add has been followed by a processing start.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && [...lastAdd].some(([k, a]) => (lastStart.get(k) ?? 0) < a || active.size > 0)) await sleep(5);
  q.shutDown();
  await Promise.all(workers);
  t.is(overlap, 0);
  for (const [k, a] of lastAdd) t.true((lastStart.get(k) ?? 0) > a, `${k} processed after its last add`);
  t.true([...processed.values()].reduce((x, y) => x + y, 0) < 400, 'adds collapsed');
});

test('addRateLimited backs off exponentially per key from 5 ms, capped; forget resets', (t) => {
  const q = new WorkQueue<string>();
  const delays: number[] = [];
  for (let i = 0; i < 30; i++) {
    delays.push(q.when('x'));
    q.addRateLimited('x');
  }
  t.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
  t.is(delays[29], 1_000_000);
  t.is(q.numRequeues('x'), 30);
  t.is(q.when('y'), 5, 'per key');
  q.forget('x');
  t.is(q.numRequeues('x'), 0);
  t.is(q.when('x'), 5);
  q.shutDown();

  const custom = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 300 });
  const d: number[] = [];
  for (let i = 0; i < 4; i++) {
    d.push(custom.when('k'));
    custom.addRateLimited('k');
  }
  t.deepEqual(d, [100, 200, 300, 300]);
  custom.shutDown();
});

test('addRateLimited and addAfter deliver after the delay; the earliest addAfter wins', async (t) => {
  const q = new WorkQueue({ baseDelayMs: 40 });
  const t0 = Date.now();
  q.addRateLimited('r');
  t.is(q.length, 0);
  t.is(await q.get(), 'r');
  t.true(Date.now() - t0 >= 35, `took ${Date.now() - t0} ms`);
  q.done('r');

  const t1 = Date.now();
  q.addAfter('a', 500);
  q.addAfter('a', 50);
  q.addAfter('a', 300);
  t.is(await q.get(), 'a');
  const took = Date.now() - t1;
  t.true(took >= 45 && took < 300, `took ${took} ms`);
  q.done('a');
  await sleep(550);
  t.is(q.length, 0, 'the superseded later timers did not add it again');
  q.shutDown();
});

test('shutDown wakes waiting getters with undefined, drops pending and delayed keys and refuses new ones', async (t) => {
  const q = new WorkQueue();
  const waiting = [q.get(), q.get()];
  q.shutDown();
  t.deepEqual(await Promise.all(waiting), [undefined, undefined]);
  q.add('late');
  q.addAfter('later', 5);
  t.is(q.length, 0);
  t.is(await q.get(), undefined);

  const q2 = new WorkQueue();
  q2.add('x');
  q2.addAfter('y', 10);
  q2.shutDown();
  t.is(await q2.get(), undefined);
  await sleep(30);
  t.is(q2.length, 0);
});

// The start gate (PrioritySemaphore) and the status-only update filter of the engine.
import test from 'ava';
import type { AgentPod } from '../src/api_types.js';
import { PrioritySemaphore } from '../src/runtime/priority_semaphore.js';
import { needsSync } from '../src/sync.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('at most `limit` calls run at once; waiters go by priority, FIFO within one', async (t) => {
  const sem = new PrioritySemaphore(2, 3);
  const order: string[] = [];
  const gates = new Map<string, ReturnType<typeof deferred>>();
  const call = (name: string, prio: number) =>
    sem.run(prio, async () => {
      order.push(name);
      const d = deferred();
      gates.set(name, d);
      await d.promise;
      return name;
    });
  const a = call('a', 2);
  const b = call('b', 2);
  const c = call('c', 2);
  const d = call('d', 0);
  const e = call('e', 1);
  const f = call('f', 0);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(order, ['a', 'b']);
  t.is(sem.inFlight, 2);
  t.is(sem.waiting, 4);
  for (const name of ['a', 'b', 'd', 'f', 'e', 'c']) {
    gates.get(name)!.resolve();
    await new Promise((r) => setImmediate(r));
  }
  t.deepEqual(await Promise.all([a, b, c, d, e, f]), ['a', 'b', 'c', 'd', 'e', 'f']);
  t.deepEqual(order, ['a', 'b', 'd', 'f', 'e', 'c']);
  t.is(sem.inFlight, 0);
  t.is(sem.waiting, 0);
});

test('a failing call frees its slot; limit 0 is unbounded', async (t) => {
  const sem = new PrioritySemaphore(1);
  await t.throwsAsync(sem.run(0, () => Promise.reject(new Error('boom'))), { message: 'boom' });
  t.is(await sem.run(0, async () => 7), 7);
  t.is(sem.inFlight, 0);
  const open = new PrioritySemaphore(0);
  const ds = [deferred(), deferred(), deferred()];
  const runs = ds.map((d) => open.run(1, () => d.promise));
  t.is(open.inFlight, 3);
  for (const d of ds) d.resolve();
  await Promise.all(runs);
  t.is(open.inFlight, 0);
});

test('status-only updates (and resourceVersion bumps) need no sync; spec, labels and deletion do', (t) => {
  const pod: AgentPod = {
    metadata: { name: 'p', namespace: 'default', uid: 'u1', resourceVersion: '5', labels: { a: '1' } },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  };
  const statusOnly: AgentPod = { ...pod, metadata: { ...pod.metadata, resourceVersion: '6' }, status: { phase: 'Running' } };
  t.false(needsSync(pod, statusOnly));
  t.true(needsSync(pod, { ...pod, metadata: { ...pod.metadata, labels: { a: '2' } } }));
  t.true(needsSync(pod, { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2024-01-01T00:00:00Z', deletionGracePeriodSeconds: 0 } }));
  t.true(needsSync(pod, { ...pod, spec: { ...pod.spec, activeDeadlineSeconds: 5 } }));
});

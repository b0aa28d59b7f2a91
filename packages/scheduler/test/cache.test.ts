// The assumed-pod cache: no double-booking before binds return; confirm, forget and expire.
import test from 'ava';
import { SchedulerCache, Snapshot } from '../src/cache.js';
import { FakeClock, harness, node, pod } from './helpers.js';

test('two pods scheduled before either bind returns do not double-book a node', async (t) => {
  const h = harness([node('a', { cpu: '2' }), node('b', { cpu: '2' })], { autoBind: false });
  h.core.onPodAdd(pod('p1', { cpu: '1500m' }));
  h.core.onPodAdd(pod('p2', { cpu: '1500m' }));
  h.core.onPodAdd(pod('p3', { cpu: '1500m' }));
  await h.core.scheduleAllPending();
  await h.bindsRequested(2);
  // Both binds are still outstanding, yet they went to different nodes; the third fits nowhere.
  t.is(h.pendingBinds.length, 2);
  t.not(h.pendingBinds[0]!.node, h.pendingBinds[1]!.node);
  t.is(h.core.queue.pending().unschedulable, 1);
  t.is(h.rec.events.find((e) => e.pod === 'p3')?.message, '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.');
  for (const b of h.pendingBinds) b.resolve();
  await h.core.waitForBindings();
  t.is(h.rec.events.filter((e) => e.reason === 'Scheduled').length, 2);
});

test('a failed bind forgets the assumed pod, frees the node and retries the pod with backoff', async (t) => {
  const h = harness([node('a', { cpu: '2' })], { autoBind: false });
  h.core.onPodAdd(pod('p1', { cpu: '1500m' }));
  await h.core.scheduleAllPending();
  t.is(h.core.cache.getNodeInfo('a')!.requested.milliCPU, 1500);
  await h.bindsRequested(1);
  h.pendingBinds[0]!.reject(new Error('conflict'));
  await h.core.waitForBindings();
  t.is(h.core.cache.getNodeInfo('a')!.requested.milliCPU, 0);
  t.deepEqual(h.core.queue.pending(), { active: 0, backoff: 1, unschedulable: 0 });
  t.regex(h.rec.events.at(-1)!.message, /binding rejected: conflict/);
  h.clock.advance(1000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.bindsRequested(2);
  t.is(h.pendingBinds.length, 2);
  t.is(h.pendingBinds[1]!.node, 'a');
});

test('the bound pod arriving through the watch confirms the assumed pod without counting it twice', (t) => {
  const clock = new FakeClock();
  const cache = new SchedulerCache({ now: clock.now, assumedPodTtlMs: 30_000 });
  cache.addNode(node('a', { cpu: '4' }));
  const p = pod('p', { cpu: '1' });
  const assumed = { ...p, spec: { ...p.spec, nodeName: 'a' } };
  cache.assumePod(assumed);
  t.true(cache.isAssumed(assumed));
  cache.finishBinding(assumed);
  cache.addPod({ ...assumed, metadata: { ...assumed.metadata, resourceVersion: '7' } });
  t.false(cache.isAssumed(assumed));
  t.is(cache.getNodeInfo('a')!.requested.milliCPU, 1000);
  t.is(cache.getNodeInfo('a')!.pods.length, 1);
  clock.advance(60_000);
  t.deepEqual(cache.cleanupExpiredAssumedPods(), []);
  t.throws(() => cache.forgetPod(assumed), { message: /bound, not assumed/ });
});

test('an assumed pod whose binding finished but never showed up expires after the TTL', (t) => {
  const clock = new FakeClock();
  const cache = new SchedulerCache({ now: clock.now, assumedPodTtlMs: 30_000 });
  cache.addNode(node('a'));
  const p = pod('p', { cpu: '1', nodeName: 'a' });
  cache.assumePod(p);
  clock.advance(100_000);
  t.deepEqual(cache.cleanupExpiredAssumedPods(), [], 'no expiry while the bind is in flight');
  cache.finishBinding(p);
  clock.advance(29_999);
  t.is(cache.cleanupExpiredAssumedPods().length, 0);
  clock.advance(1);
  t.is(cache.cleanupExpiredAssumedPods().length, 1);
  t.is(cache.getNodeInfo('a')!.requested.milliCPU, 0);
});

test('snapshots update incrementally and stay isolated from later cache changes', (t) => {
  const cache = new SchedulerCache();
  cache.addNode(node('a'));
  cache.addNode(node('b'));
  const snap = new Snapshot();
  cache.updateSnapshot(snap);
  const before = snap.get('a')!;
  const bInfo = snap.get('b')!;
  cache.addPod(pod('p', { cpu: '1', nodeName: 'a' }));
  t.is(before.requested.milliCPU, 0, 'old snapshot untouched');
  cache.updateSnapshot(snap);
  t.is(snap.get('a')!.requested.milliCPU, 1000);
  t.is(snap.get('b'), bInfo, 'unchanged node not re-cloned');
  t.deepEqual(snap.list().map((n) => n.name), ['a', 'b']);
  cache.removeNode('b');
  cache.updateSnapshot(snap);
  t.deepEqual(snap.list().map((n) => n.name), ['a']);
  // A pod on a deleted node keeps a ghost entry out of the snapshot until it goes.
  cache.addPod(pod('q', { nodeName: 'gone' }));
  cache.updateSnapshot(snap);
  t.deepEqual(snap.list().map((n) => n.name), ['a']);
});

test('assume rejects a pod twice and a pod without a node', (t) => {
  const cache = new SchedulerCache();
  const p = pod('p', { nodeName: 'a' });
  cache.assumePod(p);
  t.throws(() => cache.assumePod(p), { message: /already in the cache/ });
  t.throws(() => cache.assumePod(pod('x')), { message: /no nodeName/ });
});

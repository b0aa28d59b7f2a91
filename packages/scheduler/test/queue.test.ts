// The scheduling queue: priority order, backoff 1 s doubling to 10 s, parking and moves on cluster events.
import test from 'ava';
import type { ClusterEvent } from '../src/framework/interface.js';
import { SchedulingQueue } from '../src/queue.js';
import { FakeClock, harness, node, pod, scheduleAll } from './helpers.js';

test('activeQ pops by priority, then by arrival', (t) => {
  const clock = new FakeClock();
  const q = new SchedulingQueue({ now: clock.now });
  q.add(pod('low1', { priority: 1 }));
  clock.advance(1);
  q.add(pod('high', { priority: 100 }));
  clock.advance(1);
  q.add(pod('low2', { priority: 1 }));
  q.add(pod('mid', { priority: 50 }));
  const order = [];
  for (let p = q.tryPop(); p; p = q.tryPop()) order.push(p.pod.metadata.name);
  t.deepEqual(order, ['high', 'mid', 'low1', 'low2']);
});

test('backoff doubles from 1 s and caps at 10 s', (t) => {
  const q = new SchedulingQueue({});
  t.deepEqual([1, 2, 3, 4, 5, 6, 10].map((a) => q.backoffDuration(a)), [1000, 2000, 4000, 8000, 10000, 10000, 10000]);
});

test('a failed pod waits out its backoff before it is retried', (t) => {
  const clock = new FakeClock();
  const q = new SchedulingQueue({ now: clock.now });
  q.add(pod('p'));
  for (let attempt = 1; attempt <= 3; attempt++) {
    const item = q.tryPop()!;
    t.is(item.attempts, attempt);
    q.addUnschedulable(item, q.schedulingCycle, true); // an error: straight to backoff
    t.is(q.where(item.pod), 'backoff');
    clock.advance(q.backoffDuration(attempt) - 1);
    q.flush();
    t.is(q.tryPop(), undefined, `still backing off after attempt ${attempt}`);
    clock.advance(1);
    q.flush();
    t.is(q.where(item.pod), 'active');
  }
});

test('unschedulable pods are parked until a relevant event; a node add moves them', (t) => {
  const clock = new FakeClock();
  const q = new SchedulingQueue({ now: clock.now, pluginEvents: new Map<string, ReadonlySet<ClusterEvent>>([['NodeResourcesFit', new Set<ClusterEvent>(['NodeAdd', 'AssignedPodDelete'])], ['TaintToleration', new Set<ClusterEvent>(['NodeAdd', 'NodeUpdate'])]]) });
  q.add(pod('fit'));
  q.add(pod('taint'));
  const a = q.tryPop()!;
  const b = q.tryPop()!;
  a.unschedulablePlugins = new Set(['NodeResourcesFit']);
  b.unschedulablePlugins = new Set(['TaintToleration']);
  q.addUnschedulable(a, q.schedulingCycle);
  q.addUnschedulable(b, q.schedulingCycle);
  t.is(q.where(a.pod), 'unschedulable');
  // A pod deletion helps only the resource-starved pod; it is still backing off, so it goes to backoffQ.
  t.is(q.moveAllToActiveOrBackoff('AssignedPodDelete'), 1);
  t.is(q.where(a.pod), 'backoff');
  t.is(q.where(b.pod), 'unschedulable');
  clock.advance(1000);
  t.is(q.moveAllToActiveOrBackoff('NodeAdd'), 1);
  t.is(q.where(b.pod), 'active');
  // Parked pods are flushed after 5 minutes anyway.
  const c = q.tryPop()!;
  c.unschedulablePlugins = new Set(['TaintToleration']);
  q.addUnschedulable(c, q.schedulingCycle);
  clock.advance(5 * 60_000 + 1);
  q.flush();
  t.not(q.where(c.pod), 'unschedulable');
});

test('an event during the attempt sends the pod to backoff instead of parking it', (t) => {
  const clock = new FakeClock();
  const q = new SchedulingQueue({ now: clock.now });
  q.add(pod('p'));
  const item = q.tryPop()!;
  const cycle = q.schedulingCycle;
  q.moveAllToActiveOrBackoff('NodeAdd'); // arrives while the pod is in flight
  q.addUnschedulable(item, cycle);
  t.is(q.where(item.pod), 'backoff');
});

test('a pod deleted while in flight is not requeued; an updated parked pod is retried', (t) => {
  const clock = new FakeClock();
  const q = new SchedulingQueue({ now: clock.now });
  const p = pod('p');
  q.add(p);
  const item = q.tryPop()!;
  q.delete(p);
  q.addUnschedulable(item, q.schedulingCycle);
  t.is(q.where(p), undefined);
  const p2 = pod('p2');
  q.add(p2);
  const it2 = q.tryPop()!;
  it2.unschedulablePlugins = new Set(['X']);
  q.addUnschedulable(it2, q.schedulingCycle);
  clock.advance(1000);
  q.update({ ...p2, metadata: { ...p2.metadata, labels: { changed: 'yes' } } });
  t.is(q.where(p2), 'active');
});

test('end to end: an unschedulable pod is scheduled after a fitting node is added', async (t) => {
  const h = harness([node('small', { cpu: '1' })]);
  const r = await scheduleAll(h, [pod('p', { cpu: '2' })]);
  t.is(r.get('p'), undefined);
  t.deepEqual(h.core.queue.pending(), { active: 0, backoff: 0, unschedulable: 1 });
  h.core.onNodeAdd(node('big', { cpu: '4' }));
  t.deepEqual(h.core.queue.pending(), { active: 0, backoff: 1, unschedulable: 0 });
  h.clock.advance(1000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.deepEqual(h.rec.binds, [{ pod: 'p', node: 'big' }]);
});

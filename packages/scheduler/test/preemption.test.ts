// DefaultPreemption: minimal, lowest-priority victims; nomination; victims deleted.
import test from 'ava';
import { harness, lastFailure, node, pod, running, scheduleAll } from './helpers.js';

test('evicts the fewest lower-priority pods and nominates the node', async (t) => {
  const h = harness([node('a', { cpu: '4' }), node('b', { cpu: '4' })]);
  // a: four 1-cpu pods at priority 10; b: two 2-cpu pods at priority 10.
  for (let i = 0; i < 4; i++) running(h, pod(`a${i}`, { cpu: '1', priority: 10 }), 'a');
  running(h, pod('b0', { cpu: '2', priority: 10 }), 'b');
  running(h, pod('b1', { cpu: '2', priority: 10 }), 'b');
  // Needs 2 cpu: on a that is two victims, on b one.
  const r = await scheduleAll(h, [pod('vip', { cpu: '2', priority: 100 })]);
  t.is(r.get('vip'), undefined, 'not bound in the preempting cycle');
  t.is(h.rec.deleted.length, 1);
  t.true(['b0', 'b1'].includes(h.rec.deleted[0]!));
  const st = h.rec.statuses.find((s) => s.pod === 'vip')!;
  t.is(st.nominated, 'b');
  t.is(st.condition?.message, '0/2 nodes are available: 2 Insufficient cpu.');
  t.true(h.rec.events.some((e) => e.pod === h.rec.deleted[0] && e.reason === 'Preempted'));
  // The victim's deletion moves the pod back; the next cycle binds it to the nominated node.
  h.clock.advance(2000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.deepEqual(h.rec.binds, [{ pod: 'vip', node: 'b' }]);
});

test('prefers victims of the lowest priority, and reprieves pods that need not go', async (t) => {
  const h = harness([node('a', { cpu: '4' }), node('b', { cpu: '4' })]);
  running(h, pod('a-mid', { cpu: '3', priority: 50 }), 'a');
  running(h, pod('b-low1', { cpu: '1', priority: 1 }), 'b');
  running(h, pod('b-low2', { cpu: '1', priority: 2 }), 'b');
  running(h, pod('b-low3', { cpu: '1', priority: 3 }), 'b');
  running(h, pod('b-high', { cpu: '1', priority: 500 }), 'b');
  // 2 cpu needed. a: one victim at priority 50. b: two victims with highest priority 2 (b-low3 reprieved first).
  await scheduleAll(h, [pod('p', { cpu: '2', priority: 100 })]);
  t.deepEqual(h.rec.deleted.sort(), ['b-low1', 'b-low2']);
  t.is(h.rec.statuses.find((s) => s.pod === 'p')!.nominated, 'b');
});

test('never evicts pods of equal or higher priority; reports why per node', async (t) => {
  const h = harness([node('a', { cpu: '2' }), node('t', { cpu: '8', taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] })]);
  running(h, pod('same', { cpu: '2', priority: 100 }), 'a');
  await scheduleAll(h, [pod('p', { cpu: '1', priority: 100 })]);
  t.deepEqual(h.rec.deleted, []);
  t.is(lastFailure(h, 'p'), '0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {k: v}. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.');
});

test('preemption respects anti-affinity: evicting the conflicting lower-priority pod helps', async (t) => {
  const h = harness([node('a', { labels: { zone: 'z' } })]);
  running(h, pod('old', { labels: { app: 'x' }, priority: 0 }), 'a');
  running(h, pod('keep', { labels: { app: 'y' }, priority: 0 }), 'a');
  const p = pod('new', { priority: 10, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'x' } }, topologyKey: 'zone' }] } } } });
  await scheduleAll(h, [p]);
  t.deepEqual(h.rec.deleted, ['old']);
});

test('nominated pods hold their place: a lower-priority pod does not take the freed room', async (t) => {
  const h = harness([node('a', { cpu: '2' })]);
  running(h, pod('victim', { cpu: '2', priority: 0 }), 'a');
  // Deletion is slow: the victim stays until we let it go.
  const vip = pod('vip', { cpu: '2', priority: 100 });
  await scheduleAll(h, [vip]);
  t.deepEqual(h.rec.deleted, ['victim']);
  // Now a low-priority pod arrives; the room is promised to vip.
  const r = await scheduleAll(h, [pod('sneaky', { cpu: '1', priority: 0 })]);
  t.is(r.get('sneaky'), undefined);
  h.clock.advance(2000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.true(h.rec.binds.some((b) => b.pod === 'vip' && b.node === 'a'));
});

test('a nomination is cleared when preemption can no longer help', async (t) => {
  const h = harness([node('a', { cpu: '2' })]);
  running(h, pod('victim', { cpu: '2', priority: 0 }), 'a');
  await scheduleAll(h, [pod('vip', { cpu: '2', priority: 100 })]);
  t.is(h.rec.statuses.at(-1)!.nominated, 'a');
  // Before vip is retried, an even more important pod lands on the freed node.
  running(h, pod('boss', { cpu: '2', priority: 1000 }), 'a');
  h.clock.advance(2000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  const last = h.rec.statuses.at(-1)!;
  t.is(last.pod, 'vip');
  t.is(last.nominated, null);
  t.is(last.condition?.message, '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
  t.deepEqual(h.core.queue.nominatedPodsForNode('a'), []);
});

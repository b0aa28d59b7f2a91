// The scheduling cycle itself: how many nodes it evaluates, rotation, gates, and which cluster events requeue parked pods.
import test from 'ava';
import { numFeasibleNodesToFind } from '../src/core.js';
import { CycleState } from '../src/framework/interface.js';
import { podInfoOf } from '../src/node_info.js';
import { harness, node, pod, running, scheduleAll } from './helpers.js';

test('numFeasibleNodesToFind is adaptive: all below 100 nodes, 50% - n/125 above, at least 5% and 100 nodes', (t) => {
  t.is(numFeasibleNodesToFind(50), 50);
  t.is(numFeasibleNodesToFind(100), 100);
  t.is(numFeasibleNodesToFind(250), 120); // 48%
  t.is(numFeasibleNodesToFind(1000), 420); // 42%
  t.is(numFeasibleNodesToFind(5000), 500); // 10%
  t.is(numFeasibleNodesToFind(6000), 300); // floor of 5%
  t.is(numFeasibleNodesToFind(1500, 1), 100); // never below 100
  t.is(numFeasibleNodesToFind(1000, 30), 300);
});

test('a cycle on 1000 nodes stops after 420 feasible ones and the next starts where it left off', async (t) => {
  const nodes = Array.from({ length: 1000 }, (_, i) => node(`n${String(i).padStart(4, '0')}`));
  const h = harness(nodes);
  const r = await h.core.schedulePod(new CycleState(), podInfoOf(pod('p')));
  t.is(r.evaluatedNodes, 420);
  t.is(r.feasibleNodes, 420);
  const r2 = await h.core.schedulePod(new CycleState(), podInfoOf(pod('q')));
  t.is(r2.evaluatedNodes, 420);
  // The second cycle started at node 420: the chosen node is among n0420..n0839.
  const idx = Number(r2.nodeName.slice(1));
  t.true(idx >= 420 && idx < 840, r2.nodeName);
});

test('infeasible nodes are evaluated past the 420 mark until enough feasible ones are found', async (t) => {
  const nodes = Array.from({ length: 1000 }, (_, i) => node(`n${i}`, { cpu: i % 2 ? '4' : '1' }));
  const h = harness(nodes);
  const r = await h.core.schedulePod(new CycleState(), podInfoOf(pod('p', { cpu: '2' })));
  t.is(r.feasibleNodes, 420);
  t.is(r.evaluatedNodes, 840);
});

test('pods with scheduling gates wait until the gates are removed', async (t) => {
  const h = harness([node('a')]);
  const gated = pod('g', { spec: { schedulingGates: [{ name: 'example.com/wait' }] } });
  const r = await scheduleAll(h, [gated]);
  t.is(r.get('g'), undefined);
  t.is(h.core.queue.where(gated), undefined);
  h.core.onPodUpdate(gated, { ...gated, spec: { ...gated.spec, schedulingGates: [] } });
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.deepEqual(h.rec.binds, [{ pod: 'g', node: 'a' }]);
});

test('pods of other schedulers are not scheduled but their resources count once bound', async (t) => {
  const h = harness([node('a', { cpu: '2' })]);
  const other = pod('other', { cpu: '1500m', spec: { schedulerName: 'my-scheduler' } });
  const r = await scheduleAll(h, [other]);
  t.is(r.get('other'), undefined);
  t.is(h.core.queue.where(other), undefined);
  running(h, other, 'a');
  const r2 = await scheduleAll(h, [pod('mine', { cpu: '1' })]);
  t.is(r2.get('mine'), undefined);
});

test('node heartbeats and pod status updates do not requeue parked pods; allocatable changes and deletions do', async (t) => {
  const n = node('a', { cpu: '1' });
  const h = harness([n]);
  const busy = running(h, pod('busy', { cpu: '500m' }), 'a');
  await scheduleAll(h, [pod('p', { cpu: '800m' })]);
  t.is(h.core.queue.pending().unschedulable, 1);
  const heartbeat = { ...n, status: { ...n.status, conditions: [{ type: 'Ready', status: 'True' }] } };
  h.core.onNodeUpdate(heartbeat, n);
  h.core.onPodUpdate(busy, { ...busy, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
  t.is(h.core.queue.pending().unschedulable, 1);
  const bigger = { ...heartbeat, status: { ...heartbeat.status, allocatable: { ...heartbeat.status!.allocatable, cpu: '2' } } };
  h.core.onNodeUpdate(bigger, heartbeat);
  t.is(h.core.queue.pending().unschedulable, 0);
  h.clock.advance(1000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.true(h.rec.binds.some((b) => b.pod === 'p'));
});

test('a completed pod frees its resources', async (t) => {
  const h = harness([node('a', { cpu: '1' })]);
  const job = running(h, pod('job', { cpu: '1' }), 'a');
  await scheduleAll(h, [pod('next', { cpu: '1' })]);
  t.is(h.core.queue.pending().unschedulable, 1);
  h.core.onPodUpdate(job, { ...job, status: { phase: 'Succeeded' } });
  h.clock.advance(1000);
  h.core.housekeeping();
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  t.true(h.rec.binds.some((b) => b.pod === 'next'));
});

// The exact unschedulable messages, PodScheduled condition and events, as kube-scheduler writes them.
import test from 'ava';
import { fitErrorMessage, Status } from '../src/framework/interface.js';
import { harness, lastFailure, node, pod, running, scheduleAll } from './helpers.js';

test('the example from kube-scheduler: insufficient cpu and control-plane taints', async (t) => {
  const cpTaint = [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }];
  const h = harness([node('w', { cpu: '1' }), node('cp1', { taints: cpTaint }), node('cp2', { taints: cpTaint })]);
  const r = await scheduleAll(h, [pod('p', { cpu: '2' })]);
  t.is(r.get('p'), undefined);
  const msg = '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';
  t.is(lastFailure(h, 'p'), msg);
  // Insufficient cpu with nothing to evict: the preemption part says so per node.
  t.is(h.rec.statuses.length, 1);
  t.deepEqual({ ...h.rec.statuses[0]!.condition, lastTransitionTime: undefined }, {
    type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: msg, lastProbeTime: null, lastTransitionTime: undefined,
  });
  t.is(h.rec.events.find((e) => e.pod === 'p')!.type, 'Warning');
});

test('insufficient cpu on a node with lower-priority pods that would not be enough still reports per-node preemption reasons', async (t) => {
  const h = harness([node('a', { cpu: '2' }), node('b', { cpu: '2' }), node('tiny', { cpu: '1' })]);
  running(h, pod('low', { cpu: '500m', priority: 0 }), 'b');
  running(h, pod('high2', { cpu: '1', priority: 1000 }), 'b');
  running(h, pod('high', { cpu: '1', priority: 1000 }), 'a');
  await scheduleAll(h, [pod('p', { cpu: '1500m', priority: 10 })]);
  t.is(lastFailure(h, 'p'), '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.');
});

test('memory and pod-count reasons; counts are summed and sorted as strings', async (t) => {
  const nodes = [
    ...Array.from({ length: 10 }, (_, i) => node(`m${i}`, { memory: '1Gi' })),
    node('full', { pods: 0, labels: { x: 'y' } }),
    node('sel', { memory: '4Gi', labels: { x: 'y' } }),
  ];
  const h = harness(nodes);
  running(h, pod('big', { memory: '3Gi' }), 'sel');
  await scheduleAll(h, [pod('p', { memory: '2Gi', spec: { nodeSelector: { x: 'y' } } })]);
  // "1 T..." sorts before "10 ..." and "10 ..." before "2 ..." as Go's sort.Strings does.
  t.is(lastFailure(h, 'p'), "0/12 nodes are available: 1 Insufficient memory, 1 Too many pods, 10 node(s) didn't match Pod's node affinity/selector. preemption: 0/12 nodes are available: 10 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.");
  const h2 = harness([node('a', { pods: 1 })]);
  running(h2, pod('x'), 'a');
  await scheduleAll(h2, [pod('p2')]);
  t.is(lastFailure(h2, 'p2'), '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
});

test('preemptionPolicy Never and an empty cluster', async (t) => {
  const h = harness([node('a', { cpu: '1' })]);
  await scheduleAll(h, [pod('p', { cpu: '2', spec: { preemptionPolicy: 'Never' } })]);
  t.is(lastFailure(h, 'p'), '0/1 nodes are available: 1 Insufficient cpu. not eligible due to preemptionPolicy=Never.');
  const empty = harness([]);
  await scheduleAll(empty, [pod('q')]);
  t.is(lastFailure(empty, 'q'), 'no nodes available to schedule pods');
  t.is(empty.rec.statuses[0]!.condition?.reason, 'Unschedulable');
  t.is(empty.core.queue.pending().unschedulable, 1);
  // The first node to join retries it.
  empty.core.onNodeAdd(node('first'));
  t.is(empty.core.queue.pending().unschedulable, 0);
});

test('a scheduled pod gets a Scheduled event "Successfully assigned ns/name to node"', async (t) => {
  const h = harness([node('n1')]);
  await scheduleAll(h, [pod('web', { namespace: 'shop' })]);
  t.deepEqual(h.rec.events, [{ pod: 'web', type: 'Normal', reason: 'Scheduled', message: 'Successfully assigned shop/web to n1' }]);
  t.deepEqual(h.rec.binds, [{ pod: 'web', node: 'n1' }]);
});

test('fitErrorMessage: multiple reasons from one node are each counted; PreFilter message replaces node reasons', (t) => {
  const st = new Map([['a', Status.unschedulable('Insufficient cpu', 'Insufficient memory')], ['b', Status.unschedulable('Insufficient cpu')]]);
  t.is(fitErrorMessage(2, st), '0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.');
  t.is(fitErrorMessage(2, st, "node(s) didn't satisfy plugin(s) [X]"), "0/2 nodes are available: node(s) didn't satisfy plugin(s) [X].");
});

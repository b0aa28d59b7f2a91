// The pod garbage collector's decisions (podgc/reconcile.ts) as upstream's gc_controller: terminated
// pods over the threshold (evicted first, then oldest), pods of deleted nodes only after the
// quarantine and with DisruptionTarget, unscheduled terminating pods, terminating pods on
// out-of-service nodes.
import test from 'ava';
import type { Node, Pod } from '@mkube/api';
import { NodeQuarantine, planPodGc, OUT_OF_SERVICE_TAINT } from '../src/podgc/reconcile.js';

const pod = (name: string, o: { node?: string; phase?: string; created?: string; reason?: string; deleting?: boolean } = {}): Pod => ({
  metadata: { name, namespace: 'default', uid: `u-${name}`, creationTimestamp: o.created ?? '2024-01-01T00:00:00Z', ...(o.deleting ? { deletionTimestamp: '2024-01-02T00:00:00Z' } : {}) },
  spec: { containers: [{ name: 'c' }], ...(o.node !== undefined ? { nodeName: o.node } : { nodeName: 'n1' }) },
  status: { phase: o.phase ?? 'Running', ...(o.reason ? { reason: o.reason } : {}) },
});
const node = (name: string, o: { ready?: boolean; outOfService?: boolean } = {}): Node => ({
  metadata: { name },
  spec: o.outOfService ? { taints: [{ key: OUT_OF_SERVICE_TAINT, value: 'nodeshutdown', effect: 'NoExecute' }] } : {},
  status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});
const names = (ds: { pod: Pod }[]) => ds.map((d) => d.pod.metadata?.name);

test('terminated pods beyond the threshold: evicted first, then the oldest; running pods untouched; threshold 0 disables', (t) => {
  const pods = [
    pod('old-ok', { phase: 'Succeeded', created: '2024-01-01T00:00:01Z' }),
    pod('new-fail', { phase: 'Failed', created: '2024-01-01T00:00:05Z' }),
    pod('evicted', { phase: 'Failed', created: '2024-01-01T00:00:09Z', reason: 'Evicted' }),
    pod('mid', { phase: 'Succeeded', created: '2024-01-01T00:00:03Z' }),
    pod('running', { created: '2024-01-01T00:00:00Z' }),
  ];
  const plan = planPodGc({ pods, nodes: [node('n1')], deletedNodes: new Set(), terminatedPodThreshold: 2 });
  t.deepEqual(names(plan.deletions), ['evicted', 'old-ok']);
  t.true(plan.deletions.every((d) => d.reason === 'terminated' && d.condition === undefined));
  t.deepEqual(planPodGc({ pods, nodes: [node('n1')], deletedNodes: new Set(), terminatedPodThreshold: 4 }).deletions, []);
  t.deepEqual(planPodGc({ pods, nodes: [node('n1')], deletedNodes: new Set(), terminatedPodThreshold: 0 }).deletions, []);
});

test('pods of a node that is gone: reported missing, deleted only once confirmed, non-terminal ones with DisruptionTarget', (t) => {
  const pods = [pod('a', { node: 'gone' }), pod('b', { node: 'gone', phase: 'Succeeded' }), pod('c', { node: 'n1' })];
  const before = planPodGc({ pods, nodes: [node('n1')], deletedNodes: new Set(), terminatedPodThreshold: 100 });
  t.deepEqual(before.missingNodes, ['gone']);
  t.deepEqual(before.deletions, []);
  const after = planPodGc({ pods, nodes: [node('n1')], deletedNodes: new Set(['gone']), terminatedPodThreshold: 100 });
  t.deepEqual(names(after.deletions), ['a', 'b']);
  t.deepEqual(after.deletions[0]!.condition, { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists' });
  t.is(after.deletions[1]!.condition, undefined);
  t.true(after.deletions.every((d) => d.reason === 'orphaned'));
});

test('the quarantine: a node missing for the quarantine is due for the live check; one that reappears is forgotten', (t) => {
  const q = new NodeQuarantine(40_000);
  t.deepEqual(q.due(['gone'], 0), []);
  t.deepEqual(q.due(['gone'], 20_000), []);
  t.deepEqual(q.due(['gone'], 40_000), ['gone']);
  t.deepEqual(q.due([], 41_000), []);
  t.deepEqual(q.due(['gone'], 50_000), [], 'the clock restarts after it reappeared');
  t.deepEqual(q.due(['gone'], 90_000), ['gone']);
});

test('unscheduled terminating pods and terminating pods on a not-ready out-of-service node are deleted', (t) => {
  const pods = [
    pod('unscheduled', { node: '', deleting: true }),
    pod('pending', { node: '' }),
    pod('oos', { node: 'down', deleting: true }),
    pod('oos-running', { node: 'down' }),
    pod('ready-node', { node: 'up', deleting: true }),
  ];
  const plan = planPodGc({ pods, nodes: [node('down', { ready: false, outOfService: true }), node('up', { outOfService: true })], deletedNodes: new Set(), terminatedPodThreshold: 100 });
  t.deepEqual(plan.deletions.map((d) => `${d.pod.metadata?.name}:${d.reason}`), ['oos:terminating_out_of_service', 'unscheduled:unscheduled_terminating']);
});

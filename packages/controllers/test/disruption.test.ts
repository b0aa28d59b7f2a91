// The disruption controller's math (disruption/reconcile.ts) as upstream's DisruptionController:
// minAvailable as a number counts the selected pods, percentages and maxUnavailable the controllers'
// scale (a Deployment's over its ReplicaSet's); disruptedPods entries hide a pod from currentHealthy
// until it goes or the 2-minute timeout; missing controllers fail safe (SyncFailed).
import test from 'ava';
import type { Pod, PodDisruptionBudget } from '@mkube/api';
import { DELETION_TIMEOUT_MS, reconcileDisruption, type ScaleSource } from '../src/disruption/reconcile.js';

const NOW = Date.UTC(2024, 0, 1, 12);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const pod = (name: string, o: { ready?: boolean; owner?: { kind: string; name: string }; deleting?: boolean; labels?: Record<string, string> } = {}): Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    labels: o.labels ?? { app: 'web' },
    ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: `u-${o.owner.name}`, controller: true }] } : {}),
    ...(o.deleting ? { deletionTimestamp: iso(NOW) } : {}),
  },
  spec: { containers: [{ name: 'c' }] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});
const pdb = (spec: PodDisruptionBudget['spec'], status?: PodDisruptionBudget['status']): PodDisruptionBudget => ({
  metadata: { name: 'web', namespace: 'ns', generation: 3 },
  spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  ...(status ? { status } : {}),
});
const scales: Record<string, ScaleSource> = {
  'ReplicaSet/web-rs': { kind: 'ReplicaSet', namespace: 'ns', name: 'web-rs', uid: 'u-web-rs', replicas: 3, controller: { kind: 'Deployment', name: 'web', uid: 'u-web' } },
  'Deployment/web': { kind: 'Deployment', namespace: 'ns', name: 'web', uid: 'u-web', replicas: 4 },
  'StatefulSet/db': { kind: 'StatefulSet', namespace: 'ns', name: 'db', uid: 'u-db', replicas: 5 },
};
const scaleOf = (kind: string, _ns: string, name: string) => scales[`${kind}/${name}`];
const rsPods = (n: number, ready = n) => Array.from({ length: n }, (_, i) => pod(`p${i}`, { owner: { kind: 'ReplicaSet', name: 'web-rs' }, ready: i < ready }));

test('minAvailable 2 over 3 ready pods: 1 disruption allowed, SufficientPods; observedGeneration follows', (t) => {
  const plan = reconcileDisruption({ pdb: pdb({ minAvailable: 2 }), pods: [...rsPods(3), pod('other', { labels: { app: 'x' } })], scaleOf, now: NOW });
  t.like(plan.status, { observedGeneration: 3, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1 });
  t.like(plan.status!.conditions![0], { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', observedGeneration: 3, lastTransitionTime: iso(NOW) });
});

test('minAvailable 2 with one pod not ready: none allowed, InsufficientPods; an unchanged status is not written again', (t) => {
  const plan = reconcileDisruption({ pdb: pdb({ minAvailable: 2 }), pods: rsPods(3, 2), scaleOf, now: NOW });
  t.like(plan.status, { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0 });
  t.like(plan.status!.conditions![0], { status: 'False', reason: 'InsufficientPods' });
  const again = reconcileDisruption({ pdb: pdb({ minAvailable: 2 }, plan.status), pods: rsPods(3, 2), scaleOf, now: NOW + 1000 });
  t.is(again.status, undefined);
});

test('maxUnavailable and percentages count the Deployment scale over its ReplicaSet (rounded up as upstream)', (t) => {
  const max = reconcileDisruption({ pdb: pdb({ maxUnavailable: 1 }), pods: rsPods(3), scaleOf, now: NOW });
  t.like(max.status, { expectedPods: 4, desiredHealthy: 3, currentHealthy: 3, disruptionsAllowed: 0 });
  const pct = reconcileDisruption({ pdb: pdb({ minAvailable: '50%' }), pods: rsPods(3), scaleOf, now: NOW });
  t.like(pct.status, { expectedPods: 4, desiredHealthy: 2, disruptionsAllowed: 1 });
  const maxPct = reconcileDisruption({ pdb: pdb({ maxUnavailable: '30%' }), pods: rsPods(3), scaleOf, now: NOW });
  t.like(maxPct.status, { expectedPods: 4, desiredHealthy: 2, disruptionsAllowed: 1 }, '30% of 4 rounds up to 2 unavailable');
  const sts = reconcileDisruption({ pdb: pdb({ maxUnavailable: 2 }), pods: [0, 1, 2, 3, 4].map((i) => pod(`db-${i}`, { owner: { kind: 'StatefulSet', name: 'db' } })), scaleOf, now: NOW });
  t.like(sts.status, { expectedPods: 5, desiredHealthy: 3, currentHealthy: 5, disruptionsAllowed: 2 });
});

test('a pod whose controller is missing fails safe; unmanaged pods are reported', (t) => {
  const plan = reconcileDisruption({ pdb: pdb({ maxUnavailable: 1 }), pods: [pod('orphan-rs', { owner: { kind: 'ReplicaSet', name: 'gone' } })], scaleOf, now: NOW });
  t.like(plan.status, { disruptionsAllowed: 0 });
  t.like(plan.status!.conditions![0], { status: 'False', reason: 'SyncFailed', message: 'found no controllers for pod "orphan-rs"' });
  const unmanaged = reconcileDisruption({ pdb: pdb({ maxUnavailable: 1 }), pods: [...rsPods(3), pod('bare')], scaleOf, now: NOW });
  t.true(unmanaged.events.some((e) => e.reason === 'UnmanagedPods'));
});

test('disruptedPods: a recent eviction hides the pod from currentHealthy until it terminates or the timeout', (t) => {
  const at = iso(NOW - 10_000);
  const cur = pdb({ minAvailable: 2 }, { currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 0, disruptedPods: { p0: at } });
  const pending = reconcileDisruption({ pdb: cur, pods: rsPods(3), scaleOf, now: NOW });
  t.like(pending.status, { currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { p0: at } });
  t.is(pending.recheckAtMs, NOW - 10_000 + DELETION_TIMEOUT_MS);
  // The pod is terminating now: the entry goes, the pod no longer counts.
  const gone = reconcileDisruption({ pdb: cur, pods: [pod('p0', { owner: { kind: 'ReplicaSet', name: 'web-rs' }, deleting: true }), ...rsPods(3).slice(1)], scaleOf, now: NOW });
  t.like(gone.status, { currentHealthy: 2, disruptionsAllowed: 0 });
  t.is(gone.status!.disruptedPods, undefined);
  // Never deleted: after the timeout it counts again.
  const expired = reconcileDisruption({ pdb: cur, pods: rsPods(3), scaleOf, now: NOW + DELETION_TIMEOUT_MS });
  t.like(expired.status, { currentHealthy: 3, disruptionsAllowed: 1 });
});

test('a nil selector selects nothing, an empty one every pod of the namespace', (t) => {
  const none = reconcileDisruption({ pdb: { ...pdb({ minAvailable: 1 }), spec: { minAvailable: 1 } }, pods: rsPods(3), scaleOf, now: NOW });
  t.like(none.status, { expectedPods: 0, currentHealthy: 0, disruptionsAllowed: 0 });
  t.true(none.events.some((e) => e.reason === 'NoPods'));
  const all = reconcileDisruption({ pdb: { ...pdb({}), spec: { minAvailable: 1, selector: {} } }, pods: [...rsPods(2), pod('x', { labels: { app: 'x' } })], scaleOf, now: NOW });
  t.like(all.status, { expectedPods: 3, currentHealthy: 3, disruptionsAllowed: 2 });
});

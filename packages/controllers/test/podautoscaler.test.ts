// The HPA's arithmetic as upstream's replica calculator and normalization:
// utilization ratio and tolerance, missing / unready / ignored pods, the
// downscale stabilization window, behavior policies, and reconcile's status,
// conditions and events.
import test from 'ava';
import type { HorizontalPodAutoscaler, Pod, PodMetrics } from '@mkube/api';
import { newHistory, normalizeDesiredReplicas, normalizeWithBehaviors, scaleDownLimit, scaleUpLimit, storeScaleEvent } from '../src/podautoscaler/normalize.js';
import { groupPods, resourceReplicas, type PodMetricsMap } from '../src/podautoscaler/replica_calculator.js';
import { afterRescale, podMetricsFor, reconcileHpa } from '../src/podautoscaler/reconcile.js';

const NOW = Date.parse('2026-01-01T01:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function pod(name: string, o: { phase?: string; ready?: boolean; startedAgoMs?: number; readyAgoMs?: number; cpuRequest?: string; deleting?: boolean } = {}): Pod {
  const started = NOW - (o.startedAgoMs ?? 3_600_000);
  return {
    metadata: { name, namespace: 'ns', labels: { app: 'web' }, ...(o.deleting ? { deletionTimestamp: iso(NOW) } : {}) },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: o.cpuRequest ?? '100m' } } }] },
    status: {
      phase: o.phase ?? 'Running',
      startTime: iso(started),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: iso(NOW - (o.readyAgoMs ?? 3_000_000)) }],
    },
  } as Pod;
}

const metrics = (entries: Record<string, number>): PodMetricsMap => new Map(Object.entries(entries).map(([k, v]) => [k, { value: v, timestampMs: NOW - 1000, windowMs: 15_000 }]));
const calc = { tolerance: 0.1, cpuInitializationPeriodMs: 300_000, delayOfInitialReadinessStatusMs: 30_000, nowMs: NOW };

test('desired = ceil(current × utilization / target); within 10% nothing changes', (t) => {
  const pods = [pod('a'), pod('b')];
  // 2 pods at 100m request using 250m each: 250% against a 50% target → ceil(2 × 5) = 10.
  t.deepEqual(resourceReplicas(2, 50, 'cpu', pods, metrics({ a: 250, b: 250 }), calc), { replicas: 10, utilization: 250, rawUtilization: 250, timestampMs: NOW - 1000 });
  t.is(resourceReplicas(2, 50, 'cpu', pods, metrics({ a: 54, b: 54 }), calc).replicas, 2, '108% of target: within tolerance');
  t.is(resourceReplicas(4, 50, 'cpu', [pod('a'), pod('b'), pod('c'), pod('d')], metrics({ a: 10, b: 10, c: 10, d: 10 }), calc).replicas, 1);
});

test('missing pods count as 100% when scaling down and 0% when scaling up; unready pods as 0% when scaling up', (t) => {
  // Scale down: a has 10%, b missing → b assumed 100% → ratio (10+100)/200/0.5 = 1.1 → within tolerance of the flip: keep 2.
  t.is(resourceReplicas(2, 50, 'cpu', [pod('a'), pod('b')], metrics({ a: 10 }), calc).replicas, 2);
  // Scale up: a 200%, b missing → 0 → (200+0)/200 = 100% /50% = 2 → ceil(2×2) = 4.
  t.is(resourceReplicas(2, 50, 'cpu', [pod('a'), pod('b')], metrics({ a: 200 }), calc).replicas, 4);
  // Scale up with an unready (Pending) pod: counted as 0 → (300+0)/200 = 150% / 50% = 3 → ceil(3×2) = 6.
  t.is(resourceReplicas(2, 50, 'cpu', [pod('a'), pod('p', { phase: 'Pending' })], metrics({ a: 300 }), calc).replicas, 6);
  // Deleted and failed pods are ignored entirely.
  t.is(resourceReplicas(1, 50, 'cpu', [pod('a'), pod('d', { deleting: true }), pod('f', { phase: 'Failed' })], metrics({ a: 100, d: 900 }), calc).replicas, 2);
});

test('CPU samples of a pod that just became ready (within a metric window) are not used', (t) => {
  const fresh = pod('a', { startedAgoMs: 20_000, readyAgoMs: 5_000 });
  const g = groupPods([fresh, pod('b')], metrics({ a: 100, b: 100 }), 'cpu', calc);
  t.deepEqual([...g.unready], ['a']);
  t.is(g.readyPodCount, 1);
  t.throws(() => resourceReplicas(1, 50, 'cpu', [pod('x', { cpuRequest: undefined })].map((p) => ({ ...p, spec: { containers: [{ name: 'c', image: 'i' }] } }) as Pod), metrics({ x: 1 }), calc), { message: 'missing request for cpu in container c of Pod x' });
});

test('without behavior: the highest recommendation of the 300 s window, the scale-up limit max(2×current, 4)', (t) => {
  const h = newHistory();
  t.is(normalizeDesiredReplicas(h, 1, 10, 1, 10, NOW).replicas, 4, 'at most max(2×1, 4)');
  t.like(normalizeDesiredReplicas(h, 4, 8, 1, 10, NOW + 15_000), { replicas: 8, scalingLimited: { status: 'True', reason: 'ScaleUpLimit' } }, 'the earlier 10 is still the stabilized recommendation; 2×4 caps it');
  const down = normalizeDesiredReplicas(h, 8, 2, 1, 10, NOW + 30_000);
  t.like(down, { replicas: 10, ableToScale: { reason: 'ScaleDownStabilized' } }, 'the 10 recommended 30 s ago wins, capped at max');
  t.is(normalizeDesiredReplicas(h, 8, 2, 1, 10, NOW + 400_000).replicas, 2, 'after the window, the low recommendation applies');
});

test('behavior: stabilization windows and policies (Pods/Percent, Max/Min/Disabled) over past scale events', (t) => {
  const behavior = { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] }, scaleDown: { stabilizationWindowSeconds: 20, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } };
  const h = newHistory();
  t.like(normalizeWithBehaviors(h, behavior, 1, 10, 1, 10, NOW), { replicas: 5, scalingLimited: { status: 'True', reason: 'ScaleUpLimit' } }, 'max(1+4, 1×2) = 5');
  storeScaleEvent(h, behavior, 1, 5, NOW);
  t.is(scaleUpLimit(5, h, behavior.scaleUp, NOW + 5_000), 5, 'the period already used its 4 pods and its doubling');
  t.is(scaleUpLimit(5, h, behavior.scaleUp, NOW + 16_000), 10, 'a new period');
  t.is(scaleUpLimit(5, h, { ...behavior.scaleUp, selectPolicy: 'Min' }, NOW + 16_000), 9);
  t.is(scaleUpLimit(5, h, { ...behavior.scaleUp, selectPolicy: 'Disabled' }, NOW + 16_000), 5);
  t.is(scaleDownLimit(10, newHistory(), { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }, { type: 'Percent', value: 50, periodSeconds: 60 }] }, NOW), 5, 'Max: the policy allowing the biggest change');
  t.is(scaleDownLimit(10, newHistory(), { selectPolicy: 'Min', policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }, { type: 'Percent', value: 50, periodSeconds: 60 }] }, NOW), 8);
  // Scale-down stabilization: the 10 recommended at NOW holds for 20 s.
  t.like(normalizeWithBehaviors(h, behavior, 5, 1, 1, 10, NOW + 10_000), { replicas: 5, ableToScale: { reason: 'ScaleDownStabilized' } });
  t.like(normalizeWithBehaviors(h, behavior, 5, 1, 1, 10, NOW + 25_000), { replicas: 1, ableToScale: { reason: 'ReadyForNewScale' } });
});

function hpa(extra: Partial<NonNullable<HorizontalPodAutoscaler['spec']>> = {}): HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'ns', generation: 1 },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }], ...extra },
  };
}
const pm = (name: string, cpu: string): PodMetrics => ({ metadata: { name, namespace: 'ns' }, timestamp: iso(NOW - 1000), window: '15s', containers: [{ name: 'c', usage: { cpu, memory: '1Mi' } }] });

test('reconcile: scale up with upstream reason, status, conditions and events', (t) => {
  const plan = reconcileHpa({ hpa: hpa(), scale: { replicas: 1, selector: 'app=web' }, pods: [pod('a')], podMetrics: [pm('a', '200m')], nowMs: NOW, history: newHistory() });
  t.deepEqual(plan.rescale, { replicas: 4, reason: 'cpu resource utilization (percentage of request) above target' });
  t.deepEqual(plan.status.currentMetrics, [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 200, averageValue: '200m' } } }]);
  t.deepEqual(plan.status.conditions!.map((c) => [c.type, c.status, c.reason]), [['AbleToScale', 'True', 'ReadyForNewScale'], ['ScalingActive', 'True', 'ValidMetricFound'], ['ScalingLimited', 'False', 'DesiredWithinRange']]);
  const done = afterRescale(plan, {}, NOW);
  t.deepEqual(done.events, [{ type: 'Normal', reason: 'SuccessfulRescale', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target' }]);
  t.is(done.status.lastScaleTime, iso(NOW));
  t.is(done.status.desiredReplicas, 4);
  t.is(done.status.observedGeneration, 1);
  t.like(done.status.conditions![0], { type: 'AbleToScale', reason: 'SucceededRescale', message: 'the HPA controller was able to update the target scale to 4' });
  const failed = afterRescale(plan, { error: 'conflict' }, NOW);
  t.deepEqual(failed.events.at(-1), { type: 'Warning', reason: 'FailedRescale', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target; error: conflict' });
});

test('reconcile: no metrics → ScalingActive False FailedGetResourceMetric; replica bounds; zero replicas disable scaling', (t) => {
  const none = reconcileHpa({ hpa: hpa(), scale: { replicas: 2, selector: 'app=web' }, pods: [pod('a')], podMetrics: [], nowMs: NOW, history: newHistory() });
  t.is(none.rescale, undefined);
  t.like(none.status.conditions!.find((c) => c.type === 'ScalingActive'), { status: 'False', reason: 'FailedGetResourceMetric', message: 'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API' });
  t.deepEqual(none.events.map((e) => e.reason), ['FailedGetResourceMetric', 'FailedComputeMetricsReplicas']);
  t.deepEqual(reconcileHpa({ hpa: hpa(), scale: { replicas: 9, selector: 'app=web' }, pods: [], podMetrics: [], nowMs: NOW, history: newHistory() }).rescale, { replicas: 5, reason: 'Current number of replicas above Spec.MaxReplicas' });
  const zero = reconcileHpa({ hpa: hpa(), scale: { replicas: 0, selector: 'app=web' }, pods: [], podMetrics: [], nowMs: NOW, history: newHistory() });
  t.is(zero.rescale, undefined);
  t.like(zero.status.conditions!.find((c) => c.type === 'ScalingActive'), { status: 'False', reason: 'ScalingDisabled' });
  const noScale = reconcileHpa({ hpa: hpa(), scale: { error: 'deployments.apps "web" not found' }, pods: [], podMetrics: [], nowMs: NOW, history: newHistory() });
  t.like(noScale.status.conditions![0], { type: 'AbleToScale', status: 'False', reason: 'FailedGetScale' });
});

test('podMetricsFor sums containers (or takes the named one) in milli-units', (t) => {
  const m: PodMetrics = { metadata: { name: 'p' }, timestamp: iso(NOW), window: '15.5s', containers: [{ name: 'a', usage: { cpu: '250m' } }, { name: 'b', usage: { cpu: '1' } }] };
  t.deepEqual([...podMetricsFor([m], 'cpu')], [['p', { value: 1250, timestampMs: NOW, windowMs: 15_500 }]]);
  t.is(podMetricsFor([m], 'cpu', 'b').get('p')!.value, 1000);
  t.is(podMetricsFor([m], 'memory').size, 0);
});

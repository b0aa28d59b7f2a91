/**
 * The HPA's replica count for a resource utilization target, as upstream's
 * ReplicaCalculator.GetResourceReplicas: pods grouped into ready, unready
 * (Pending; for CPU, not yet Ready or measured too soon after becoming Ready
 * within the CPU initialization period), missing (no metrics) and ignored
 * (deleted or Failed); the usage ratio over the ready pods' requests; no
 * change within the tolerance; missing pods counted as using 100% (or the
 * target if higher) when scaling down and 0% when scaling up, unready pods as
 * 0% when scaling up, and no change when that flips the direction. Pure.
 */
import { parseTime, quantityMilliValue, type Pod } from '@mkube/api';

export const DEFAULT_TOLERANCE = 0.1;
export const DEFAULT_CPU_INITIALIZATION_PERIOD_MS = 5 * 60_000;
export const DEFAULT_INITIAL_READINESS_DELAY_MS = 30_000;

export interface PodMetric {
  /** milli-units (millicores, milli-bytes) */
  value: number;
  timestampMs: number;
  windowMs: number;
}

export type PodMetricsMap = Map<string, PodMetric>;

export class ReplicaCalculationError extends Error {
  constructor(
    readonly code: 'NoPods' | 'NoMetrics' | 'MissingRequest' | 'NoRequests',
    message: string,
  ) {
    super(message);
    this.name = 'ReplicaCalculationError';
  }
}

export interface CalculatorOptions {
  tolerance: number;
  cpuInitializationPeriodMs: number;
  delayOfInitialReadinessStatusMs: number;
  nowMs: number;
}

export interface ReplicaResult {
  replicas: number;
  /** average utilization in percent of request */
  utilization: number;
  /** average usage in milli-units */
  rawUtilization: number;
  timestampMs: number;
}

export interface PodGroups {
  readyPodCount: number;
  unready: Set<string>;
  missing: Set<string>;
  ignored: Set<string>;
}

export function groupPods(pods: Pod[], metrics: PodMetricsMap, resource: string, o: Pick<CalculatorOptions, 'cpuInitializationPeriodMs' | 'delayOfInitialReadinessStatusMs' | 'nowMs'>): PodGroups {
  const g: PodGroups = { readyPodCount: 0, unready: new Set(), missing: new Set(), ignored: new Set() };
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '';
    if (pod.metadata?.deletionTimestamp || pod.status?.phase === 'Failed') {
      g.ignored.add(name);
      continue;
    }
    if (pod.status?.phase === 'Pending') {
      g.unready.add(name);
      continue;
    }
    const metric = metrics.get(name);
    if (!metric) {
      g.missing.add(name);
      continue;
    }
    if (resource === 'cpu') {
      const ready = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready');
      const start = parseTime(pod.status?.startTime);
      let unready: boolean;
      if (!ready || start === undefined) unready = true;
      else {
        const transition = parseTime(ready.lastTransitionTime) ?? 0;
        if (start + o.cpuInitializationPeriodMs > o.nowMs) {
          // Within the initialization period: unready, or no full metric window since becoming ready.
          unready = ready.status === 'False' || metric.timestampMs < transition + metric.windowMs;
        } else {
          // Afterwards: unready only if it has never been ready.
          unready = ready.status === 'False' && start + o.delayOfInitialReadinessStatusMs > transition;
        }
      }
      if (unready) {
        g.unready.add(name);
        continue;
      }
    }
    g.readyPodCount++;
  }
  return g;
}

/** Sum of the resource requests of each pod's containers (only `container` when given), milli-units. */
export function podRequests(pods: Pod[], resource: string, container?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const pod of pods) {
    let sum = 0;
    for (const c of pod.spec?.containers ?? []) {
      if (container && c.name !== container) continue;
      const req = c.resources?.requests?.[resource];
      if (req === undefined) throw new ReplicaCalculationError('MissingRequest', `missing request for ${resource} in container ${c.name} of Pod ${pod.metadata?.name ?? ''}`);
      sum += quantityMilliValue(String(req));
    }
    out.set(pod.metadata?.name ?? '', sum);
  }
  return out;
}

/** metricsclient.GetResourceUtilizationRatio: (ratio to target, utilization %, raw average). */
export function utilizationRatio(metrics: PodMetricsMap, requests: Map<string, number>, targetUtilization: number): { ratio: number; utilization: number; raw: number } {
  let metricsTotal = 0;
  let requestsTotal = 0;
  let n = 0;
  for (const [pod, m] of metrics) {
    const r = requests.get(pod);
    if (r === undefined) continue; // a pod without a request is not counted
    metricsTotal += m.value;
    requestsTotal += r;
    n++;
  }
  if (requestsTotal === 0) throw new ReplicaCalculationError('NoRequests', 'no metrics returned matched known pods');
  const utilization = Math.trunc((metricsTotal * 100) / requestsTotal);
  return { ratio: utilization / targetUtilization, utilization, raw: Math.trunc(metricsTotal / n) };
}

export function resourceReplicas(currentReplicas: number, targetUtilization: number, resource: string, pods: Pod[], fetched: PodMetricsMap, o: CalculatorOptions, container?: string): ReplicaResult {
  if (pods.length === 0) throw new ReplicaCalculationError('NoPods', 'no pods returned by selector while calculating replica count');
  const metrics: PodMetricsMap = new Map(fetched);
  const timestampMs = [...fetched.values()][0]?.timestampMs ?? o.nowMs;
  const g = groupPods(pods, metrics, resource, o);
  for (const p of [...g.ignored, ...g.unready]) metrics.delete(p);
  if (metrics.size === 0) throw new ReplicaCalculationError('NoMetrics', 'did not receive metrics for targeted pods (pods might be unready)');
  const requests = podRequests(pods, resource, container);
  const first = utilizationRatio(metrics, requests, targetUtilization);
  const scaleUpWithUnready = g.unready.size > 0 && first.ratio > 1;
  const result = (replicas: number): ReplicaResult => ({ replicas, utilization: first.utilization, rawUtilization: first.raw, timestampMs });
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (Math.abs(1 - first.ratio) <= o.tolerance) return result(currentReplicas);
    return result(Math.ceil(first.ratio * g.readyPodCount));
  }
  if (g.missing.size > 0) {
    if (first.ratio < 1) {
      const fallback = Math.max(100, targetUtilization);
      for (const p of g.missing) metrics.set(p, { value: ((requests.get(p) ?? 0) * fallback) / 100, timestampMs, windowMs: 0 });
    } else if (first.ratio > 1) {
      for (const p of g.missing) metrics.set(p, { value: 0, timestampMs, windowMs: 0 });
    }
  }
  if (scaleUpWithUnready) for (const p of g.unready) metrics.set(p, { value: 0, timestampMs, windowMs: 0 });
  const second = utilizationRatio(metrics, requests, targetUtilization);
  if (Math.abs(1 - second.ratio) <= o.tolerance || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) return result(currentReplicas);
  const replicas = Math.ceil(second.ratio * metrics.size);
  if ((second.ratio < 1 && replicas > currentReplicas) || (second.ratio > 1 && replicas < currentReplicas)) return result(currentReplicas);
  return result(replicas);
}

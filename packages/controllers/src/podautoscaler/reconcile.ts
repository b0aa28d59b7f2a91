/**
 * One HPA sync, as upstream's reconcileAutoscaler, without I/O: from the
 * target's scale (spec.replicas, status.selector), its pods and their
 * metrics.k8s.io PodMetrics to the desired replica count, whether to rescale
 * and why ("cpu resource utilization (percentage of request) above target",
 * "All metrics below target", the min/max bounds), the status
 * (currentReplicas, desiredReplicas, currentMetrics, observedGeneration), the
 * AbleToScale / ScalingActive / ScalingLimited conditions and the events.
 * Resource and ContainerResource metrics (Utilization or AverageValue) come
 * from the resource metrics API; Pods, Object and External metrics need the
 * custom/external metrics APIs, which mkube does not serve.
 */
import {
  formatQuantity,
  formatTime,
  newQuantity,
  parseTime,
  quantityMilliValue,
  setCondition,
  type HorizontalPodAutoscaler,
  type HorizontalPodAutoscalerCondition,
  type MetricSpec,
  type MetricStatus,
  type Pod,
  type PodMetrics,
} from '@mkube/api';
import { parseGoDuration } from '@mkube/component-base';
import { normalizeDesiredReplicas, normalizeWithBehaviors, type HpaHistory } from './normalize.js';
import {
  DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
  DEFAULT_INITIAL_READINESS_DELAY_MS,
  DEFAULT_TOLERANCE,
  ReplicaCalculationError,
  groupPods,
  resourceReplicas,
  type PodMetricsMap,
} from './replica_calculator.js';

export interface HpaEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface HpaInput {
  hpa: HorizontalPodAutoscaler;
  /** The target's scale subresource, or the error getting it. */
  scale: { replicas: number; selector: string } | { error: string };
  pods: Pod[];
  /** PodMetrics of the selector's pods, or the error listing them. */
  podMetrics: PodMetrics[] | { error: string };
  nowMs: number;
  history: HpaHistory;
  tolerance?: number;
  downscaleStabilizationMs?: number;
}

export interface HpaPlan {
  /** Set when the target's scale must be written. */
  rescale?: { replicas: number; reason: string };
  status: NonNullable<HorizontalPodAutoscaler['status']>;
  events: HpaEvent[];
}

type Cond = Omit<HorizontalPodAutoscalerCondition, 'lastTransitionTime'>;

const setCond = (list: readonly HorizontalPodAutoscalerCondition[], c: Cond, nowMs: number): HorizontalPodAutoscalerCondition[] => setCondition<HorizontalPodAutoscalerCondition>(list, c, nowMs);

/** Per pod, the usage of `resource` summed over its containers (one container when given), milli-units. */
export function podMetricsFor(items: PodMetrics[], resource: string, container?: string): PodMetricsMap {
  const out: PodMetricsMap = new Map();
  for (const pm of items) {
    let sum = 0;
    let ok = false;
    let missing = false;
    for (const c of pm.containers ?? []) {
      if (container && c.name !== container) continue;
      const u = c.usage?.[resource];
      if (u === undefined) {
        missing = true;
        break;
      }
      sum += quantityMilliValue(u);
      ok = true;
    }
    if (!ok || missing) continue;
    out.set(pm.metadata?.name ?? '', { value: sum, timestampMs: parseTime(pm.timestamp) ?? 0, windowMs: safeDuration(pm.window) });
  }
  return out;
}

function safeDuration(s: string | undefined): number {
  try {
    return s ? parseGoDuration(s) : 0;
  } catch {
    return 0;
  }
}

interface MetricOutcome {
  replicas: number;
  name: string;
  status: MetricStatus;
}

class MetricError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function resourceMetric(m: MetricSpec, current: number, input: HpaInput, opts: { tolerance: number }): MetricOutcome {
  const container = m.type === 'ContainerResource';
  const src = (container ? m.containerResource : m.resource)!;
  const resource = src.name;
  const containerName = container ? (src as { container?: string }).container : undefined;
  const reasonGet = container ? 'FailedGetContainerResourceMetric' : 'FailedGetResourceMetric';
  const what = container ? `${resource} container resource` : `${resource} resource`;
  if ('error' in input.podMetrics) throw new MetricError(reasonGet, `failed to get ${resource} utilization: unable to get metrics for resource ${resource}: ${input.podMetrics.error}`);
  const metrics = podMetricsFor(input.podMetrics, resource, containerName);
  if (metrics.size === 0) throw new MetricError(reasonGet, `failed to get ${resource} utilization: unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`);
  const calc = { tolerance: opts.tolerance, cpuInitializationPeriodMs: DEFAULT_CPU_INITIALIZATION_PERIOD_MS, delayOfInitialReadinessStatusMs: DEFAULT_INITIAL_READINESS_DELAY_MS, nowMs: input.nowMs };
  const key = container ? 'containerResource' : 'resource';
  const target = src.target;
  try {
    if (target.averageUtilization !== undefined && target.averageUtilization !== null) {
      const r = resourceReplicas(current, target.averageUtilization, resource, input.pods, metrics, calc, containerName);
      return {
        replicas: r.replicas,
        name: `${what} utilization (percentage of request)`,
        status: { type: m.type, [key]: { name: resource, ...(containerName ? { container: containerName } : {}), current: { averageUtilization: r.utilization, averageValue: formatQuantity(newQuantity(r.rawUtilization, -3)) } } } as MetricStatus,
      };
    }
    if (target.averageValue === undefined || target.averageValue === null) throw new MetricError(container ? 'InvalidContainerResourceMetricSourceType' : 'InvalidResourceMetricSourceType', `invalid resource metric source: neither an average utilization target nor an average value (usage) target was set`);
    // GetRawResourceReplicas: the average usage against the target average value, over the ready pods.
    const usable = new Map(metrics);
    const g = groupPods(input.pods, usable, resource, calc);
    for (const p of [...g.ignored, ...g.unready]) usable.delete(p);
    if (usable.size === 0) throw new ReplicaCalculationError('NoMetrics', 'did not receive metrics for targeted pods (pods might be unready)');
    const total = [...usable.values()].reduce((s, x) => s + x.value, 0);
    const targetMilli = quantityMilliValue(String(target.averageValue));
    const ratio = total / (targetMilli * usable.size);
    const replicas = Math.abs(1 - ratio) <= opts.tolerance ? current : Math.ceil(ratio * usable.size);
    return { replicas, name: what, status: { type: m.type, [key]: { name: resource, ...(containerName ? { container: containerName } : {}), current: { averageValue: formatQuantity(newQuantity(Math.trunc(total / usable.size), -3)) } } } as MetricStatus };
  } catch (err) {
    if (err instanceof ReplicaCalculationError) throw new MetricError(reasonGet, `failed to get ${resource} utilization: ${err.message}`);
    throw err;
  }
}

export function reconcileHpa(input: HpaInput): HpaPlan {
  const { hpa, nowMs } = input;
  const spec = hpa.spec!;
  const prev = hpa.status ?? { desiredReplicas: 0 };
  let conditions: HorizontalPodAutoscalerCondition[] = [...(prev.conditions ?? [])];
  const events: HpaEvent[] = [];
  const observedGeneration = hpa.metadata?.generation;
  const base = (current: number, desired: number, metrics: MetricStatus[] | undefined, conds: HorizontalPodAutoscalerCondition[]) => ({
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    ...(prev.lastScaleTime ? { lastScaleTime: prev.lastScaleTime } : {}),
    currentReplicas: current,
    desiredReplicas: desired,
    ...(metrics && metrics.length ? { currentMetrics: metrics } : {}),
    conditions: conds,
  });

  if ('error' in input.scale) {
    const message = `the HPA controller was unable to get the target's current scale: ${input.scale.error}`;
    events.push({ type: 'Warning', reason: 'FailedGetScale', message: input.scale.error });
    conditions = setCond(conditions, { type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message }, nowMs);
    return { status: { ...base(prev.currentReplicas ?? 0, prev.desiredReplicas ?? 0, prev.currentMetrics, conditions) }, events };
  }
  conditions = setCond(conditions, { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: "the HPA controller was able to get the target's current scale" }, nowMs);
  const current = input.scale.replicas;
  const min = spec.minReplicas ?? 1;
  const max = spec.maxReplicas;
  let desired = 0;
  let reason = '';
  let metricStatuses: MetricStatus[] | undefined;

  if (current === 0 && min !== 0) {
    conditions = setCond(conditions, { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' }, nowMs);
  } else if (current > max) {
    reason = 'Current number of replicas above Spec.MaxReplicas';
    desired = max;
  } else if (current < min) {
    reason = 'Current number of replicas below Spec.MinReplicas';
    desired = min;
  } else {
    const statuses: MetricStatus[] = [];
    let best: { replicas: number; name: string } | undefined;
    const failures: MetricError[] = [];
    for (const m of spec.metrics ?? []) {
      try {
        if (m.type !== 'Resource' && m.type !== 'ContainerResource') {
          const kind = m.type === 'Pods' ? 'FailedGetPodsMetric' : m.type === 'Object' ? 'FailedGetObjectMetric' : m.type === 'External' ? 'FailedGetExternalMetric' : 'InvalidMetricSourceType';
          throw new MetricError(kind, `unable to get metric ${m.type}: the ${m.type === 'External' ? 'external' : 'custom'} metrics API is not served`);
        }
        const r = resourceMetric(m, current, input, { tolerance: input.tolerance ?? DEFAULT_TOLERANCE });
        statuses.push(r.status);
        if (!best || r.replicas > best.replicas) best = { replicas: r.replicas, name: r.name };
      } catch (err) {
        if (!(err instanceof MetricError)) throw err;
        failures.push(err);
        statuses.push({ type: m.type } as MetricStatus);
        events.push({ type: 'Warning', reason: err.reason, message: err.message });
      }
    }
    metricStatuses = statuses;
    if (!best) {
      const first = failures[0];
      const message = first ? `invalid metrics (${failures.length} invalid out of ${(spec.metrics ?? []).length}), first error is: ${first.message}` : 'no metrics';
      conditions = setCond(conditions, { type: 'ScalingActive', status: 'False', reason: first?.reason ?? 'FailedGetResourceMetric', message: `the HPA was unable to compute the replica count: ${first?.message ?? 'no metrics'}` }, nowMs);
      events.push({ type: 'Warning', reason: 'FailedComputeMetricsReplicas', message });
      return { status: base(current, prev.desiredReplicas ?? 0, metricStatuses, conditions), events };
    }
    conditions = setCond(conditions, { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${best.name}` }, nowMs);
    desired = best.replicas;
    if (desired > current) reason = `${best.name} above target`;
    if (desired < current) reason = 'All metrics below target';
    const n = spec.behavior
      ? normalizeWithBehaviors(input.history, spec.behavior, current, desired, min, max, nowMs, input.downscaleStabilizationMs)
      : normalizeDesiredReplicas(input.history, current, desired, min, max, nowMs, input.downscaleStabilizationMs);
    conditions = setCond(conditions, { type: 'AbleToScale', status: 'True', ...n.ableToScale }, nowMs);
    conditions = setCond(conditions, { type: 'ScalingLimited', ...n.scalingLimited }, nowMs);
    desired = n.replicas;
  }
  const rescale = desired !== current && !(current === 0 && min !== 0);
  if (!rescale) return { status: base(current, current === 0 && min !== 0 ? 0 : desired, metricStatuses, conditions), events };
  return { rescale: { replicas: desired, reason }, status: base(current, desired, metricStatuses, conditions), events };
}

/** The status and events once the scale was written (or failed to be), as upstream after UpdateScale. */
export function afterRescale(plan: HpaPlan, result: { error?: string }, nowMs: number): HpaPlan {
  if (!plan.rescale) return plan;
  const { replicas, reason } = plan.rescale;
  const conds = plan.status.conditions ?? [];
  if (result.error !== undefined) {
    return {
      ...plan,
      status: { ...plan.status, desiredReplicas: plan.status.currentReplicas ?? 0, conditions: setCond(conds, { type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: `the HPA controller was unable to update the target scale: ${result.error}` }, nowMs) },
      events: [...plan.events, { type: 'Warning', reason: 'FailedRescale', message: `New size: ${replicas}; reason: ${reason}; error: ${result.error}` }],
    };
  }
  return {
    ...plan,
    status: { ...plan.status, lastScaleTime: formatTime(nowMs), conditions: setCond(conds, { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${replicas}` }, nowMs) },
    events: [...plan.events, { type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${replicas}; reason: ${reason}` }],
  };
}

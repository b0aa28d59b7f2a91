/**
 * autoscaling/v1 HorizontalPodAutoscaler <-> the stored autoscaling/v2 object, as upstream's
 * pkg/apis/autoscaling/v1/conversion.go: v1 carries only targetCPUUtilizationPercentage and
 * status.currentCPUUtilizationPercentage; every other metric spec, all metric statuses, the
 * conditions and the behavior travel in the autoscaling.alpha.kubernetes.io/* annotations (v1's
 * MetricSpec/MetricStatus/condition JSON, the behavior as upstream's internal Go type marshals it),
 * which a v1 write turns back into fields. A v1 object without any metric gets the implicit CPU 80%.
 */
import { fromJson, toJson, type JsonObject, type JsonValue } from '@mkube/api';
import { errors } from '../errors.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const has = (v: unknown): boolean => v !== undefined && v !== null;

export const METRIC_SPECS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics';
export const METRIC_STATUSES_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics';
export const CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';
export const BEHAVIOR_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior';
const ROUND_TRIP = [METRIC_SPECS_ANNOTATION, BEHAVIOR_ANNOTATION, METRIC_STATUSES_ANNOTATION, CONDITIONS_ANNOTATION];
/** autoscaling.DefaultCPUUtilization: the v1 controller's former implicit target. */
const DEFAULT_CPU_UTILIZATION = 80;

const V1 = 'k8s.io.api.autoscaling.v1';

/** Drops undefined members (the codec reads absent and undefined alike, JSON.stringify would not). */
function compact(obj: Record<string, JsonValue | undefined>): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out;
}

/** JSON of a v1 message as upstream's encoding/json writes it (field order, zero values) through the codec. */
function v1Json(type: string, value: Obj): Obj {
  return toJson(`${V1}.${type}`, fromJson(`${V1}.${type}`, value).message);
}

const ref = (r: unknown): Obj => compact({ kind: o(r).kind, name: o(r).name, apiVersion: o(r).apiVersion });
const zeroQuantity = (q: JsonValue | undefined): JsonValue => (has(q) ? q! : '0');

// ---------------------------------------------------------------- v2 -> v1 (annotations)

/**
 * A v2 MetricSpec (side 'target') or MetricStatus (side 'current') as v1's message: the same
 * mapping both ways round, v1 naming the values `${side}Value`, `${side}AverageValue`... A value
 * that is a plain (non-pointer) Quantity in v1's Go type is written as '0' when absent: the object
 * and pods values on both sides, and every value of a status but the external average.
 */
function metricToV1(m: Obj, side: 'target' | 'current'): Obj {
  const status = side === 'current';
  const statusZero = (q: JsonValue | undefined): JsonValue | undefined => (status ? zeroQuantity(q) : q);
  const out: Obj = { type: m.type ?? '' };
  if (m.object) {
    const s = o(m.object);
    const v = o(s[side]);
    out.object = compact({ target: ref(s.describedObject), metricName: o(s.metric).name ?? '', [`${side}Value`]: zeroQuantity(v.value), selector: o(s.metric).selector, averageValue: v.averageValue });
  }
  if (m.pods) {
    const s = o(m.pods);
    out.pods = compact({ metricName: o(s.metric).name ?? '', [`${side}AverageValue`]: zeroQuantity(o(s[side]).averageValue), selector: o(s.metric).selector });
  }
  for (const key of ['resource', 'containerResource'] as const) {
    if (!m[key]) continue;
    const s = o(m[key]);
    const v = o(s[side]);
    const values = { name: s.name ?? '', [`${side}AverageUtilization`]: v.averageUtilization, [`${side}AverageValue`]: statusZero(v.averageValue) };
    out[key] = compact(key === 'resource' ? values : { ...values, container: s.container ?? '' });
  }
  if (m.external) {
    const s = o(m.external);
    const v = o(s[side]);
    out.external = compact({ metricName: o(s.metric).name ?? '', metricSelector: o(s.metric).selector, [`${side}Value`]: statusZero(v.value), [`${side}AverageValue`]: v.averageValue });
  }
  return v1Json(status ? 'MetricStatus' : 'MetricSpec', out);
}

/**
 * The behavior as upstream writes it: json.Marshal of the internal Go type, which has no json tags
 * (Go field names, nil pointers as null).
 */
function behaviorAnnotation(b: Obj): string {
  const rules = (r: unknown): JsonValue => {
    if (!has(r)) return null;
    const x = o(r);
    return {
      StabilizationWindowSeconds: x.stabilizationWindowSeconds ?? null,
      SelectPolicy: x.selectPolicy ?? null,
      Policies: Array.isArray(x.policies) ? list(x.policies).map((p) => ({ Type: p.type ?? '', Value: p.value ?? 0, PeriodSeconds: p.periodSeconds ?? 0 })) : null,
      Tolerance: x.tolerance ?? null,
    };
  };
  return JSON.stringify({ ScaleUp: rules(b.scaleUp), ScaleDown: rules(b.scaleDown) });
}

function isCpuUtilization(m: Obj): boolean {
  return m.type === 'Resource' && o(m.resource).name === 'cpu' && has(o(o(m.resource).target).averageUtilization);
}

/** The autoscaling/v1 view of a stored autoscaling/v2 HorizontalPodAutoscaler. */
export function hpaV1FromV2(v2: Obj): Obj {
  const meta: Obj = { ...o(v2.metadata) };
  const annotations: Record<string, string> = { ...(o(meta.annotations) as Record<string, string>) };
  for (const k of ROUND_TRIP) delete annotations[k];
  const spec = o(v2.spec);
  const status = o(v2.status);
  const metrics = list(spec.metrics);
  const other = metrics.filter((m) => !isCpuUtilization(m)).map((m) => metricToV1(m, 'target'));
  if (other.length > 0) annotations[METRIC_SPECS_ANNOTATION] = JSON.stringify(other);
  const current = list(status.currentMetrics);
  if (current.length > 0) annotations[METRIC_STATUSES_ANNOTATION] = JSON.stringify(current.map((m) => metricToV1(m, 'current')));
  const conditions = list(status.conditions);
  if (conditions.length > 0) annotations[CONDITIONS_ANNOTATION] = JSON.stringify(conditions.map((c) => v1Json('HorizontalPodAutoscalerCondition', c)));
  if (has(spec.behavior)) annotations[BEHAVIOR_ANNOTATION] = behaviorAnnotation(o(spec.behavior));
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  else delete meta.annotations;

  // The first CPU resource metric gives the target (its utilization, if it has one).
  const cpu = metrics.find((m) => m.type === 'Resource' && o(m.resource).name === 'cpu');
  const cpuTarget = cpu ? o(o(cpu.resource).target).averageUtilization : undefined;
  let currentCpu: JsonValue | undefined;
  for (const m of current) {
    if (m.type === 'Resource' && o(m.resource).name === 'cpu' && has(o(o(m.resource).current).averageUtilization)) currentCpu = o(o(m.resource).current).averageUtilization;
  }
  const out: Obj = {
    apiVersion: 'autoscaling/v1',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta,
    spec: compact({ scaleTargetRef: ref(spec.scaleTargetRef), minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas ?? 0, targetCPUUtilizationPercentage: has(cpuTarget) ? cpuTarget : undefined }),
    status: compact({
      observedGeneration: status.observedGeneration,
      lastScaleTime: status.lastScaleTime,
      currentReplicas: status.currentReplicas ?? 0,
      desiredReplicas: status.desiredReplicas ?? 0,
      currentCPUUtilizationPercentage: currentCpu,
    }),
  };
  return out;
}

// ---------------------------------------------------------------- v1 -> v2

function parseAnnotation(annotations: Obj, key: string): unknown {
  const text = annotations[key];
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.badRequest(`annotation ${key}: ${(err as Error).message}`);
  }
}

const identifier = (name: unknown, selector: unknown): Obj => compact({ name: (name as JsonValue) ?? '', selector: selector as JsonValue | undefined });

/**
 * A v1 MetricSpec (side 'target') or MetricStatus (side 'current') as v2's: the inverse of
 * metricToV1. A spec's target also gets its type, from which of v1's values is set.
 */
function metricFromV1(m: Obj, side: 'target' | 'current'): Obj {
  const spec = side === 'target';
  const value = (type: string, v: Record<string, JsonValue | undefined>): Obj => compact(spec ? { type, ...v } : v);
  const statusZero = (q: unknown): JsonValue | undefined => (spec ? (q as JsonValue | undefined) : zeroQuantity(q as JsonValue | undefined));
  const out: Obj = { type: m.type ?? '' };
  if (m.object) {
    const s = o(m.object);
    out.object = {
      describedObject: ref(s.target),
      [side]: value(has(s.averageValue) ? 'AverageValue' : 'Value', { value: zeroQuantity(s[`${side}Value`]), averageValue: s.averageValue }),
      metric: identifier(s.metricName, s.selector),
    };
  }
  if (m.pods) {
    const s = o(m.pods);
    out.pods = { metric: identifier(s.metricName, s.selector), [side]: value('AverageValue', { averageValue: zeroQuantity(s[`${side}AverageValue`]) }) };
  }
  for (const key of ['resource', 'containerResource'] as const) {
    if (!m[key]) continue;
    const s = o(m[key]);
    const utilization = s[`${side}AverageUtilization`];
    const v = value(has(utilization) ? 'Utilization' : 'AverageValue', { averageValue: statusZero(s[`${side}AverageValue`]), averageUtilization: utilization });
    out[key] = key === 'resource' ? { name: s.name ?? '', [side]: v } : { name: s.name ?? '', [side]: v, container: s.container ?? '' };
  }
  if (m.external) {
    const s = o(m.external);
    out.external = { metric: identifier(s.metricName, s.metricSelector), [side]: value(has(s[`${side}Value`]) ? 'Value' : 'AverageValue', { value: statusZero(s[`${side}Value`]), averageValue: s[`${side}AverageValue`] }) };
  }
  return out;
}

function behaviorFromAnnotation(b: Obj): Obj {
  const rules = (r: unknown): JsonValue | undefined => {
    if (!has(r)) return undefined;
    const x = o(r);
    return compact({
      stabilizationWindowSeconds: x.StabilizationWindowSeconds ?? undefined,
      selectPolicy: x.SelectPolicy ?? undefined,
      policies: Array.isArray(x.Policies) ? list(x.Policies).map((p) => ({ type: p.Type ?? '', value: p.Value ?? 0, periodSeconds: p.PeriodSeconds ?? 0 })) : undefined,
      tolerance: x.Tolerance ?? undefined,
    });
  };
  return compact({ scaleUp: rules(b.ScaleUp), scaleDown: rules(b.ScaleDown) });
}

/** The autoscaling/v2 object an autoscaling/v1 HorizontalPodAutoscaler is stored as. */
export function hpaV2FromV1(v1: Obj): Obj {
  const meta: Obj = { ...o(v1.metadata) };
  const annotations: Obj = { ...o(meta.annotations) };
  const spec = o(v1.spec);
  const status = o(v1.status);

  const cpu: Obj[] = has(spec.targetCPUUtilizationPercentage)
    ? [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage! } } }]
    : [];
  const other = parseAnnotation(annotations, METRIC_SPECS_ANNOTATION);
  let metrics: Obj[] = other === undefined ? cpu : [...list(other).map((m) => metricFromV1(m, 'target')), ...cpu];
  if (metrics.length === 0) metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } }];
  const behavior = parseAnnotation(annotations, BEHAVIOR_ANNOTATION);

  let currentMetrics: Obj[] | undefined = has(status.currentCPUUtilizationPercentage)
    ? [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: status.currentCPUUtilizationPercentage! } } }]
    : undefined;
  const statuses = parseAnnotation(annotations, METRIC_STATUSES_ANNOTATION);
  if (statuses !== undefined) currentMetrics = list(statuses).map((m) => metricFromV1(m, 'current'));
  const conditions = parseAnnotation(annotations, CONDITIONS_ANNOTATION);

  for (const k of ROUND_TRIP) delete annotations[k];
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  else delete meta.annotations;

  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta,
    spec: compact({
      scaleTargetRef: ref(spec.scaleTargetRef),
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas ?? 0,
      metrics,
      behavior: behavior === undefined ? undefined : behaviorFromAnnotation(o(behavior)),
    }),
    status: compact({
      observedGeneration: status.observedGeneration,
      lastScaleTime: status.lastScaleTime,
      currentReplicas: status.currentReplicas ?? 0,
      desiredReplicas: status.desiredReplicas ?? 0,
      currentMetrics,
      conditions: conditions === undefined ? undefined : list(conditions).map((c) => compact({ type: c.type, status: c.status, lastTransitionTime: c.lastTransitionTime ?? undefined, reason: c.reason, message: c.message })),
    }),
  };
}

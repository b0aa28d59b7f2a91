/**
 * autoscaling/v2 HorizontalPodAutoscaler at the API, as upstream's
 * SetDefaults_HorizontalPodAutoscaler (minReplicas 1, 80% average CPU
 * utilization when no metric is given, a given `behavior` completed with the
 * default rules — scale up: 0 s window, Max of 4 pods / 100% per 15 s; scale
 * down: Max of 100% per 15 s, window left to the controller's 300 s) and
 * ValidateHorizontalPodAutoscaler (scale target, replica bounds, metric
 * sources and targets, behavior rules) with upstream's paths and messages.
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);

const scaleUpDefaults = (): Obj => ({ stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] });
const scaleDownDefaults = (): Obj => ({ selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] });

function completeRules(rules: unknown, defaults: Obj): Obj {
  if (!isObj(rules)) return defaults;
  const out = { ...rules };
  if (out.policies === undefined || out.policies === null) out.policies = defaults.policies;
  if (out.selectPolicy === undefined || out.selectPolicy === null) out.selectPolicy = 'Max';
  if ((out.stabilizationWindowSeconds === undefined || out.stabilizationWindowSeconds === null) && defaults.stabilizationWindowSeconds !== undefined) out.stabilizationWindowSeconds = defaults.stabilizationWindowSeconds;
  return out;
}

export function defaultHorizontalPodAutoscaler(o: Obj): void {
  if (!isObj(o.spec)) o.spec = {};
  const spec = o.spec as Obj;
  if (spec.minReplicas === undefined || spec.minReplicas === null) spec.minReplicas = 1;
  if (!Array.isArray(spec.metrics) || spec.metrics.length === 0) {
    spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
  }
  if (isObj(spec.behavior)) {
    spec.behavior.scaleUp = completeRules(spec.behavior.scaleUp, scaleUpDefaults());
    spec.behavior.scaleDown = completeRules(spec.behavior.scaleDown, scaleDownDefaults());
  }
}

const METRIC_SOURCES: Record<string, string> = { Object: 'object', Pods: 'pods', Resource: 'resource', ContainerResource: 'containerResource', External: 'external' };
const TARGET_TYPES = ['Utilization', 'Value', 'AverageValue'];
const SELECT_POLICIES = ['Max', 'Min', 'Disabled'];
const POLICY_TYPES = ['Pods', 'Percent'];
const MAX_PERIOD_SECONDS = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS = 3600;

function validateTarget(t: unknown, field: string, errs: FieldError[], utilizationAllowed: boolean): void {
  if (!isObj(t)) {
    errs.push({ type: 'FieldValueRequired', field, detail: 'must specify a metric target' });
    return;
  }
  if (!t.type) errs.push({ type: 'FieldValueRequired', field: `${field}.type`, detail: 'must specify a metric target type' });
  else if (!TARGET_TYPES.includes(String(t.type))) errs.push({ type: 'FieldValueInvalid', field: `${field}.type`, value: t.type, detail: `must be either Utilization, Value, or AverageValue` });
  if (t.value === undefined && t.averageValue === undefined && t.averageUtilization === undefined) errs.push({ type: 'FieldValueRequired', field, detail: 'must set either a target raw value, a target average value, or a target utilization' });
  const u = int(t.averageUtilization);
  if (t.averageUtilization !== undefined && (u === undefined || u < 1)) errs.push({ type: 'FieldValueInvalid', field: `${field}.averageUtilization`, value: t.averageUtilization, detail: 'must be greater than 0' });
  if (t.averageUtilization !== undefined && !utilizationAllowed) errs.push({ type: 'FieldValueInvalid', field: `${field}.averageUtilization`, value: t.averageUtilization, detail: 'may not set average utilization for non-resource metrics' });
  if (t.type === 'Utilization' && t.averageUtilization === undefined) errs.push({ type: 'FieldValueRequired', field: `${field}.averageUtilization`, detail: 'must populate averageUtilization when using Utilization target type' });
}

function validateMetric(m: unknown, field: string, errs: FieldError[]): void {
  if (!isObj(m)) return;
  const type = typeof m.type === 'string' ? m.type : '';
  const present = Object.entries(METRIC_SOURCES).filter(([, k]) => m[k] !== undefined && m[k] !== null).map(([t]) => t);
  if (!type) {
    errs.push({ type: 'FieldValueRequired', field: `${field}.type`, detail: 'must specify a metric source type' });
    return;
  }
  if (!(type in METRIC_SOURCES)) {
    errs.push({ type: 'FieldValueNotSupported', field: `${field}.type`, value: type, supported: ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'] });
    return;
  }
  if (present.length > 1 || (present.length === 1 && present[0] !== type)) errs.push({ type: 'FieldValueForbidden', field: `${field}.${METRIC_SOURCES[present.find((p) => p !== type) ?? type]}`, detail: 'must populate the given metric source only' });
  const src = m[METRIC_SOURCES[type]!];
  const sf = `${field}.${METRIC_SOURCES[type]}`;
  if (!isObj(src)) {
    errs.push({ type: 'FieldValueRequired', field: sf, detail: `must populate information for the given metric source` });
    return;
  }
  if (type === 'Resource' || type === 'ContainerResource') {
    if (!src.name) errs.push({ type: 'FieldValueRequired', field: `${sf}.name`, detail: 'must specify a resource name' });
    if (type === 'ContainerResource' && !src.container) errs.push({ type: 'FieldValueRequired', field: `${sf}.container`, detail: 'must specify a container' });
    validateTarget(src.target, `${sf}.target`, errs, true);
  } else {
    const metric = isObj(src.metric) ? src.metric : undefined;
    if (!metric?.name) errs.push({ type: 'FieldValueRequired', field: `${sf}.metric.name`, detail: 'must specify a metric name' });
    if (type === 'Object' && !isObj(src.describedObject)) errs.push({ type: 'FieldValueRequired', field: `${sf}.describedObject`, detail: 'must specify a described object' });
    validateTarget(src.target, `${sf}.target`, errs, false);
  }
}

function validateRules(r: unknown, field: string, errs: FieldError[]): void {
  if (!isObj(r)) return;
  const w = r.stabilizationWindowSeconds;
  if (w !== undefined && w !== null) {
    const n = int(w);
    if (n === undefined || n < 0) errs.push({ type: 'FieldValueInvalid', field: `${field}.stabilizationWindowSeconds`, value: w, detail: 'must be greater than or equal to zero' });
    else if (n > MAX_STABILIZATION_WINDOW_SECONDS) errs.push({ type: 'FieldValueInvalid', field: `${field}.stabilizationWindowSeconds`, value: w, detail: `must be less than or equal to ${MAX_STABILIZATION_WINDOW_SECONDS}` });
  }
  if (r.selectPolicy !== undefined && r.selectPolicy !== null && !SELECT_POLICIES.includes(String(r.selectPolicy))) {
    errs.push({ type: 'FieldValueNotSupported', field: `${field}.selectPolicy`, value: r.selectPolicy, supported: ['Disabled', 'Max', 'Min'] });
  }
  const policies = Array.isArray(r.policies) ? (r.policies as unknown[]) : [];
  if (Array.isArray(r.policies) && policies.length === 0) errs.push({ type: 'FieldValueRequired', field: `${field}.policies`, detail: 'must specify at least one Policy' });
  policies.forEach((p, i) => {
    const pf = `${field}.policies[${i}]`;
    if (!isObj(p)) return;
    if (!POLICY_TYPES.includes(String(p.type))) errs.push({ type: 'FieldValueNotSupported', field: `${pf}.type`, value: p.type, supported: ['Percent', 'Pods'] });
    const v = int(p.value);
    if (v === undefined || v <= 0) errs.push({ type: 'FieldValueInvalid', field: `${pf}.value`, value: p.value, detail: 'must be greater than zero' });
    const ps = int(p.periodSeconds);
    if (ps === undefined || ps <= 0) errs.push({ type: 'FieldValueInvalid', field: `${pf}.periodSeconds`, value: p.periodSeconds, detail: 'must be greater than zero' });
    else if (ps > MAX_PERIOD_SECONDS) errs.push({ type: 'FieldValueInvalid', field: `${pf}.periodSeconds`, value: p.periodSeconds, detail: `must be less than or equal to ${MAX_PERIOD_SECONDS}` });
  });
}

export function validateHorizontalPodAutoscaler(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  const ref = isObj(spec.scaleTargetRef) ? spec.scaleTargetRef : {};
  if (!ref.kind) errs.push({ type: 'FieldValueRequired', field: 'spec.scaleTargetRef.kind', detail: '' });
  else if (/[/%]/.test(String(ref.kind))) errs.push({ type: 'FieldValueInvalid', field: 'spec.scaleTargetRef.kind', value: ref.kind, detail: `may not contain '/'` });
  if (!ref.name) errs.push({ type: 'FieldValueRequired', field: 'spec.scaleTargetRef.name', detail: '' });
  else if (/[/%]/.test(String(ref.name))) errs.push({ type: 'FieldValueInvalid', field: 'spec.scaleTargetRef.name', value: ref.name, detail: `may not contain '/'` });
  const min = int(spec.minReplicas);
  const max = int(spec.maxReplicas);
  if (spec.minReplicas !== undefined && (min === undefined || min < 1)) errs.push({ type: 'FieldValueInvalid', field: 'spec.minReplicas', value: spec.minReplicas, detail: 'must be greater than or equal to 1' });
  if (max === undefined || max < 1) errs.push({ type: 'FieldValueInvalid', field: 'spec.maxReplicas', value: spec.maxReplicas ?? 0, detail: 'must be greater than 0' });
  else if (min !== undefined && max < min) errs.push({ type: 'FieldValueInvalid', field: 'spec.maxReplicas', value: max, detail: 'must be greater than or equal to `minReplicas`' });
  (Array.isArray(spec.metrics) ? (spec.metrics as unknown[]) : []).forEach((m, i) => validateMetric(m, `spec.metrics[${i}]`, errs));
  if (isObj(spec.behavior)) {
    validateRules(spec.behavior.scaleUp, 'spec.behavior.scaleUp', errs);
    validateRules(spec.behavior.scaleDown, 'spec.behavior.scaleDown', errs);
  }
}

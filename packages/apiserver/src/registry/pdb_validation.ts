/**
 * Validation of policy/v1 PodDisruptionBudgets as upstream's
 * ValidatePodDisruptionBudget (spec) and ValidatePodDisruptionBudgetStatusUpdate
 * (the counters are non-negative), with upstream's field paths and messages.
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';
import { validateLabels } from './validation.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const PERCENT_RE = /^[0-9]+%$/;
const PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
export const UNHEALTHY_POD_EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'];

/** ValidateNonnegativeIntOrPercent + IsNotMoreThan100Percent. */
function validateIntOrPercent(v: unknown, field: string, errs: FieldError[]): void {
  if (typeof v === 'string') {
    if (!PERCENT_RE.test(v)) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: PERCENT_MSG });
    else if (parseInt(v, 10) > 100) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must not be greater than 100%' });
  } else if (typeof v === 'number') {
    if (v < 0) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must be greater than or equal to 0' });
  } else {
    errs.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must be an integer or percentage (e.g \'5%\')' });
  }
}

export function validateSelector(sel: unknown, field: string, errs: FieldError[]): void {
  if (sel === undefined || sel === null) return;
  if (!isObj(sel)) {
    errs.push({ type: 'FieldValueInvalid', field, value: sel, detail: 'must be a label selector' });
    return;
  }
  validateLabels(sel.matchLabels, `${field}.matchLabels`, errs);
  const exprs = Array.isArray(sel.matchExpressions) ? (sel.matchExpressions as Obj[]) : [];
  exprs.forEach((e, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const op = e.operator;
    const values = Array.isArray(e.values) ? e.values : [];
    if (typeof op !== 'string' || !SELECTOR_OPERATORS.includes(op)) errs.push({ type: 'FieldValueInvalid', field: `${f}.operator`, value: op, detail: 'not a valid selector operator' });
    else if ((op === 'In' || op === 'NotIn') && values.length === 0) errs.push({ type: 'FieldValueRequired', field: `${f}.values`, detail: 'must be specified when `operator` is \'In\' or \'NotIn\'' });
    else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) errs.push({ type: 'FieldValueForbidden', field: `${f}.values`, detail: 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'' });
  });
}

export function validatePodDisruptionBudget(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    errs.push({ type: 'FieldValueInvalid', field: 'spec', value: spec, detail: 'minAvailable and maxUnavailable cannot be both set' });
  }
  if (spec.minAvailable !== undefined) validateIntOrPercent(spec.minAvailable, 'spec.minAvailable', errs);
  if (spec.maxUnavailable !== undefined) validateIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable', errs);
  validateSelector(spec.selector, 'spec.selector', errs);
  const policy = spec.unhealthyPodEvictionPolicy;
  if (policy !== undefined && (typeof policy !== 'string' || !UNHEALTHY_POD_EVICTION_POLICIES.includes(policy))) {
    errs.push({ type: 'FieldValueNotSupported', field: 'spec.unhealthyPodEvictionPolicy', value: policy, supported: UNHEALTHY_POD_EVICTION_POLICIES });
  }
  const status = isObj(o.status) ? o.status : {};
  for (const k of ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']) {
    const v = status[k];
    if (typeof v === 'number' && v < 0) errs.push({ type: 'FieldValueInvalid', field: `status.${k}`, value: v, detail: 'must be greater than or equal to 0' });
  }
}

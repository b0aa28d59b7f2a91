/**
 * batch/v1 at the API as upstream's job and cronjob strategies: the Job's
 * generated selector and pod labels (unless manualSelector), and the
 * validation of JobSpec (counts, completion modes, backoffLimitPerIndex,
 * podFailurePolicy, successPolicy), CronJobSpec (schedule, timeZone,
 * concurrencyPolicy, limits) and the immutable fields on update.
 */
import { cronScheduleError, isValidTimeZone, type JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

const LABEL_CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';
const LABEL_JOB_NAME = 'batch.kubernetes.io/job-name';
const stable = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(stable).join(',')}]` : isObj(v) ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}` : JSON.stringify(v);

/**
 * generateSelector (Job create): unless spec.manualSelector is true, the pod
 * template gets the controller-uid and job-name labels (prefixed and legacy)
 * and the selector matches the uid. A user selector that is not the generated
 * one is then invalid (validateGeneratedSelector).
 */
export function generateJobSelector(job: Obj): void {
  const spec = isObj(job.spec) ? job.spec : undefined;
  const meta = isObj(job.metadata) ? job.metadata : {};
  if (!spec || spec.manualSelector === true) return;
  const uid = String(meta.uid ?? '');
  const name = String(meta.name ?? '');
  const tpl = (isObj(spec.template) ? spec.template : (spec.template = {})) as Obj;
  const tm = (isObj(tpl.metadata) ? tpl.metadata : (tpl.metadata = {})) as Obj;
  const labels = (isObj(tm.labels) ? tm.labels : (tm.labels = {})) as Obj;
  for (const [k, v] of [[LABEL_CONTROLLER_UID, uid], ['controller-uid', uid], [LABEL_JOB_NAME, name], ['job-name', name]] as const) {
    if (labels[k] === undefined) labels[k] = v;
  }
  // A user's selector stays, for validateGeneratedSelector to refuse.
  if (!isObj(spec.selector) || Object.keys(spec.selector).length === 0) spec.selector = generatedSelector(uid);
}

const generatedSelector = (uid: string): Obj => ({ matchLabels: { [LABEL_CONTROLLER_UID]: uid } });

const nonNegative = (v: unknown, field: string, errs: FieldError[]) => {
  const n = num(v);
  if (n !== undefined && n < 0) errs.push({ type: 'FieldValueInvalid', field, value: n, detail: 'must be greater than or equal to 0' });
};

const FAILURE_ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'];

/** ValidateJobSpec (also a CronJob's jobTemplate.spec, at `path`). */
export function validateJobSpec(spec: unknown, path: string, errs: FieldError[]): void {
  if (!isObj(spec)) return;
  nonNegative(spec.parallelism, `${path}.parallelism`, errs);
  nonNegative(spec.completions, `${path}.completions`, errs);
  nonNegative(spec.backoffLimit, `${path}.backoffLimit`, errs);
  nonNegative(spec.ttlSecondsAfterFinished, `${path}.ttlSecondsAfterFinished`, errs);
  nonNegative(spec.backoffLimitPerIndex, `${path}.backoffLimitPerIndex`, errs);
  nonNegative(spec.maxFailedIndexes, `${path}.maxFailedIndexes`, errs);
  const ads = num(spec.activeDeadlineSeconds);
  if (ads !== undefined && ads <= 0) errs.push({ type: 'FieldValueInvalid', field: `${path}.activeDeadlineSeconds`, value: ads, detail: 'must be greater than 0' });
  const mode = spec.completionMode ?? 'NonIndexed';
  if (mode !== 'NonIndexed' && mode !== 'Indexed') errs.push({ type: 'FieldValueNotSupported', field: `${path}.completionMode`, value: mode, supported: ['NonIndexed', 'Indexed'] });
  const indexed = mode === 'Indexed';
  if (indexed) {
    if (spec.completions === undefined || spec.completions === null) errs.push({ type: 'FieldValueRequired', field: `${path}.completions`, detail: 'when completion mode is Indexed' });
    if ((num(spec.parallelism) ?? 0) > 100000) errs.push({ type: 'FieldValueInvalid', field: `${path}.parallelism`, value: spec.parallelism, detail: 'must be less than or equal to 100000 when completion mode is Indexed' });
  }
  const perIndex = spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null;
  if (perIndex && !indexed) errs.push({ type: 'FieldValueInvalid', field: `${path}.backoffLimitPerIndex`, value: spec.backoffLimitPerIndex, detail: 'requires indexed completion mode' });
  if (spec.maxFailedIndexes !== undefined && spec.maxFailedIndexes !== null) {
    if (!perIndex) errs.push({ type: 'FieldValueRequired', field: `${path}.backoffLimitPerIndex`, detail: 'when maxFailedIndexes is specified' });
    else if (indexed && (num(spec.maxFailedIndexes) ?? 0) > (num(spec.completions) ?? 0)) {
      errs.push({ type: 'FieldValueInvalid', field: `${path}.maxFailedIndexes`, value: spec.maxFailedIndexes, detail: 'must be less than or equal to completions' });
    }
  }
  const rp = spec.podReplacementPolicy;
  if (rp !== undefined && rp !== null && rp !== 'TerminatingOrFailed' && rp !== 'Failed') {
    errs.push({ type: 'FieldValueNotSupported', field: `${path}.podReplacementPolicy`, value: rp, supported: ['Failed', 'TerminatingOrFailed'] });
  }
  const tplSpec = isObj(spec.template) && isObj(spec.template.spec) ? spec.template.spec : {};
  const pfp = isObj(spec.podFailurePolicy) ? spec.podFailurePolicy : undefined;
  if (pfp) {
    if (tplSpec.restartPolicy !== 'Never') {
      errs.push({ type: 'FieldValueInvalid', field: `${path}.template.spec.restartPolicy`, value: tplSpec.restartPolicy ?? '', detail: 'only "Never" is supported when podFailurePolicy is specified' });
    }
    if (rp !== undefined && rp !== null && rp !== 'Failed') errs.push({ type: 'FieldValueInvalid', field: `${path}.podReplacementPolicy`, value: rp, detail: 'must be "Failed" when podFailurePolicy is used' });
    const names = new Set([...arr(tplSpec.containers), ...arr(tplSpec.initContainers)].map((c) => c.name));
    const rules = arr(pfp.rules);
    if (rules.length > 20) errs.push({ type: 'FieldValueTooLong', field: `${path}.podFailurePolicy.rules`, value: rules.length, detail: 'must have at most 20 items' });
    rules.forEach((r, i) => {
      const rpath = `${path}.podFailurePolicy.rules[${i}]`;
      if (!FAILURE_ACTIONS.includes(String(r.action))) errs.push({ type: 'FieldValueNotSupported', field: `${rpath}.action`, value: r.action ?? '', supported: FAILURE_ACTIONS });
      if (r.action === 'FailIndex' && !perIndex) errs.push({ type: 'FieldValueForbidden', field: `${rpath}.action`, detail: 'requires the backoffLimitPerIndex to be set' });
      const ec = isObj(r.onExitCodes) ? r.onExitCodes : undefined;
      const pc = arr(r.onPodConditions);
      if (ec && pc.length) errs.push({ type: 'FieldValueInvalid', field: rpath, value: 'specifying both OnExitCodes and OnPodConditions is not supported', detail: 'specifying both OnExitCodes and OnPodConditions is not supported' });
      if (!ec && !pc.length) errs.push({ type: 'FieldValueInvalid', field: rpath, value: 'specifying one of OnExitCodes and OnPodConditions is required', detail: 'specifying one of OnExitCodes and OnPodConditions is required' });
      if (ec) {
        if (ec.containerName !== undefined && ec.containerName !== null && !names.has(ec.containerName)) {
          errs.push({ type: 'FieldValueInvalid', field: `${rpath}.onExitCodes.containerName`, value: ec.containerName, detail: 'must be one of the container or initContainer names in the pod template' });
        }
        if (ec.operator !== 'In' && ec.operator !== 'NotIn') errs.push({ type: 'FieldValueNotSupported', field: `${rpath}.onExitCodes.operator`, value: ec.operator ?? '', supported: ['In', 'NotIn'] });
        const values = Array.isArray(ec.values) ? (ec.values as number[]) : [];
        if (values.length === 0) errs.push({ type: 'FieldValueRequired', field: `${rpath}.onExitCodes.values`, detail: 'at least one value is required' });
        values.forEach((v, j) => {
          if (ec.operator === 'In' && v === 0) errs.push({ type: 'FieldValueInvalid', field: `${rpath}.onExitCodes.values[${j}]`, value: 0, detail: 'must not be 0 for the In operator' });
          if (j > 0 && values[j - 1]! === v) errs.push({ type: 'FieldValueDuplicate', field: `${rpath}.onExitCodes.values[${j}]`, value: v });
          else if (j > 0 && values[j - 1]! > v) errs.push({ type: 'FieldValueInvalid', field: `${rpath}.onExitCodes.values[${j}]`, value: v, detail: 'must be ordered' });
        });
      }
      pc.forEach((p, j) => {
        if (!['True', 'False', 'Unknown'].includes(String(p.status ?? 'True'))) errs.push({ type: 'FieldValueNotSupported', field: `${rpath}.onPodConditions[${j}].status`, value: p.status, supported: ['False', 'True', 'Unknown'] });
        if (!p.type) errs.push({ type: 'FieldValueRequired', field: `${rpath}.onPodConditions[${j}].type` });
      });
    });
  }
  if (isObj(spec.successPolicy)) {
    if (!indexed) errs.push({ type: 'FieldValueInvalid', field: `${path}.successPolicy`, value: spec.successPolicy, detail: 'requires indexed completion mode' });
    arr(spec.successPolicy.rules).forEach((r, i) => {
      if (r.succeededIndexes === undefined && r.succeededCount === undefined) {
        errs.push({ type: 'FieldValueRequired', field: `${path}.successPolicy.rules[${i}]`, detail: 'at least one of succeededCount or succeededIndexes must be specified' });
      }
      if ((num(r.succeededCount) ?? 0) > (num(spec.completions) ?? 0)) {
        errs.push({ type: 'FieldValueInvalid', field: `${path}.successPolicy.rules[${i}].succeededCount`, value: r.succeededCount, detail: `must be less than or equal to ${num(spec.completions) ?? 0} (the number of specified completions)` });
      }
    });
  }
}

const CONCURRENCY = ['Allow', 'Forbid', 'Replace'];

export function validateCronJobSpec(spec: unknown, errs: FieldError[]): void {
  if (!isObj(spec)) return;
  const schedule = typeof spec.schedule === 'string' ? spec.schedule : '';
  if (!schedule) errs.push({ type: 'FieldValueRequired', field: 'spec.schedule' });
  else {
    const problem = cronScheduleError(schedule);
    if (problem) errs.push({ type: 'FieldValueInvalid', field: 'spec.schedule', value: schedule, detail: problem });
  }
  if (spec.timeZone !== undefined && spec.timeZone !== null && !isValidTimeZone(String(spec.timeZone))) {
    errs.push({ type: 'FieldValueInvalid', field: 'spec.timeZone', value: spec.timeZone, detail: 'unknown time zone ' + String(spec.timeZone) });
  }
  if (spec.concurrencyPolicy !== undefined && !CONCURRENCY.includes(String(spec.concurrencyPolicy))) {
    errs.push({ type: 'FieldValueNotSupported', field: 'spec.concurrencyPolicy', value: spec.concurrencyPolicy, supported: CONCURRENCY });
  }
  nonNegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds', errs);
  nonNegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit', errs);
  nonNegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit', errs);
  const jt = isObj(spec.jobTemplate) ? spec.jobTemplate : undefined;
  validateJobSpec(jt?.spec, 'spec.jobTemplate.spec', errs);
}

/** batch objects' own validation, from validateObject. */
export function validateBatch(resource: string, o: Obj, errs: FieldError[]): void {
  if (resource === 'jobs') {
    const spec = isObj(o.spec) ? o.spec : undefined;
    const uid = isObj(o.metadata) ? String(o.metadata.uid ?? '') : '';
    if (spec && spec.manualSelector !== true && isObj(spec.selector) && stable(spec.selector) !== stable(generatedSelector(uid))) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.selector', value: spec.selector, detail: '`selector` not auto-generated' });
    }
    validateJobSpec(o.spec, 'spec', errs);
  }
  else if (resource === 'cronjobs') validateCronJobSpec(o.spec, errs);
}

/** ValidateJobSpecUpdate: what may not change once a Job exists. */
export function validateBatchUpdate(resource: string, next: Obj, prev: Obj, errs: FieldError[]): void {
  if (resource !== 'jobs') return;
  const ns = isObj(next.spec) ? next.spec : {};
  const ps = isObj(prev.spec) ? prev.spec : {};
  for (const f of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'successPolicy', 'managedBy']) {
    if (stable(ns[f] ?? null) !== stable(ps[f] ?? null)) errs.push({ type: 'FieldValueInvalid', field: `spec.${f}`, value: ns[f] ?? null, detail: 'field is immutable' });
  }
  // Completions may change only together with parallelism on Indexed Jobs (elastic Indexed Jobs).
  if (stable(ns.completions ?? null) !== stable(ps.completions ?? null) && !(ns.completionMode === 'Indexed' && ns.completions === ns.parallelism)) {
    errs.push({ type: 'FieldValueInvalid', field: 'spec.completions', value: ns.completions ?? null, detail: 'field is immutable' });
  }
  // The template is immutable (upstream lets a suspended Job that never started change scheduling directives; mkube not yet).
  if (stable(ns.template ?? null) !== stable(ps.template ?? null)) errs.push({ type: 'FieldValueInvalid', field: 'spec.template', value: ns.template ?? null, detail: 'field is immutable' });
}

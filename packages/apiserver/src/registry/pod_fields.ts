/**
 * Validation and create-time mutation of the pod fields newer than mkube's
 * first schema, as upstream's pod validation and pod strategy do them:
 *  - Container.restartPolicy (native sidecars): on init containers only
 *    "Always"; a regular init container may not carry lifecycle or probes;
 *    a regular container may not set restartPolicy at all.
 *  - PodAffinityTerm.matchLabelKeys / mismatchLabelKeys: valid label names,
 *    only with a labelSelector, not in both lists, a matchLabelKeys key not
 *    also in the selector; on pod create the pod's own values are merged into
 *    the selector (`key In (value)` / `key NotIn (value)`), so the scheduler
 *    and everything else read the selector alone.
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';
import { validateQualifiedKey } from './validation.js';

type Obj = JsonObject;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export const SIDECAR_RESTART_POLICY = 'Always';
const INIT_ONLY_WITH_ALWAYS = 'may not be set for init containers without restartPolicy=Always';

/** Container restart policies: upstream's validateInitContainers / validateContainers. */
export function validateContainerRestartPolicies(spec: Obj, field: string, errs: FieldError[]): void {
  arr(spec.initContainers).forEach((c, i) => {
    const at = `${field}.initContainers[${i}]`;
    const sidecar = c.restartPolicy === SIDECAR_RESTART_POLICY;
    if (c.restartPolicy !== undefined && c.restartPolicy !== null && !sidecar) {
      errs.push({ type: 'FieldValueNotSupported', field: `${at}.restartPolicy`, value: c.restartPolicy, supported: [SIDECAR_RESTART_POLICY] });
    }
    if (sidecar) return;
    for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (c[k] !== undefined && c[k] !== null) errs.push({ type: 'FieldValueForbidden', field: `${at}.${k}`, detail: INIT_ONLY_WITH_ALWAYS });
    }
  });
  arr(spec.containers).forEach((c, i) => {
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
      errs.push({ type: 'FieldValueForbidden', field: `${field}.containers[${i}].restartPolicy`, detail: 'may not be set for non-init containers' });
    }
  });
}

/** Every pod (anti-)affinity term of a pod spec with its field path. */
function affinityTerms(spec: Obj, field: string): { term: Obj; at: string }[] {
  const out: { term: Obj; at: string }[] = [];
  const affinity = isObj(spec.affinity) ? spec.affinity : undefined;
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const a = affinity && isObj(affinity[kind]) ? (affinity[kind] as Obj) : undefined;
    if (!a) continue;
    const base = `${field}.affinity.${kind}`;
    arr(a.requiredDuringSchedulingIgnoredDuringExecution).forEach((term, i) => out.push({ term, at: `${base}.requiredDuringSchedulingIgnoredDuringExecution[${i}]` }));
    arr(a.preferredDuringSchedulingIgnoredDuringExecution).forEach((w, i) => {
      if (isObj(w.podAffinityTerm)) out.push({ term: w.podAffinityTerm, at: `${base}.preferredDuringSchedulingIgnoredDuringExecution[${i}].podAffinityTerm` });
    });
  }
  return out;
}

function validateLabelKeys(keys: string[], selector: Obj | undefined, field: string, errs: FieldError[]): void {
  if (keys.length === 0) return;
  if (!selector) {
    errs.push({ type: 'FieldValueForbidden', field, detail: 'must not be specified when labelSelector is not set' });
    return;
  }
  keys.forEach((k, i) => validateQualifiedKey(k, `${field}[${i}]`, errs));
}

/**
 * matchLabelKeys / mismatchLabelKeys of every affinity term: upstream's
 * validateMatchLabelKeysAndMismatchLabelKeys, run after the create-time merge
 * (a key both in matchLabelKeys and the user's selector shows as a second
 * requirement on it). The path of that error is the term's plus the key's
 * index, as upstream writes it.
 */
export function validateAffinityLabelKeys(spec: Obj, field: string, errs: FieldError[]): void {
  for (const { term, at } of affinityTerms(spec, field)) {
    const matchKeys = strings(term.matchLabelKeys);
    const mismatchKeys = strings(term.mismatchLabelKeys);
    const selector = isObj(term.labelSelector) ? term.labelSelector : undefined;
    validateLabelKeys(matchKeys, selector, `${at}.matchLabelKeys`, errs);
    validateLabelKeys(mismatchKeys, selector, `${at}.mismatchLabelKeys`, errs);
    if (selector) {
      const index = new Map(matchKeys.map((k, i) => [k, i]));
      const seen = new Set(Object.keys(isObj(selector.matchLabels) ? selector.matchLabels : {}));
      for (const e of arr(selector.matchExpressions)) {
        const key = String(e.key ?? '');
        const i = index.get(key);
        if (i !== undefined && seen.has(key)) errs.push({ type: 'FieldValueInvalid', field: `${at}[${i}]`, value: key, detail: 'exists in both matchLabelKeys and labelSelector' });
        seen.add(key);
      }
    }
    const mismatch = new Set(mismatchKeys);
    matchKeys.forEach((k, i) => {
      if (mismatch.has(k)) errs.push({ type: 'FieldValueInvalid', field: `${at}.matchLabelKeys[${i}]`, value: k, detail: 'exists in both matchLabelKeys and mismatchLabelKeys' });
    });
  }
}

/** The pod spec checks of this module, for validatePodSpec. */
export function validateNewPodSpecFields(spec: Obj, field: string, errs: FieldError[]): void {
  validateContainerRestartPolicies(spec, field, errs);
  validateAffinityLabelKeys(spec, field, errs);
}

/**
 * Pod create (upstream's pod strategy PrepareForCreate, mutatePodAffinity):
 * each affinity term's matchLabelKeys / mismatchLabelKeys become
 * `key In (value)` / `key NotIn (value)` requirements of its labelSelector
 * for the keys the pod's labels have; a term without a selector is left as
 * it is (a nil selector matches nothing).
 */
export function mergeAffinityLabelKeys(pod: Obj): void {
  const spec = isObj(pod.spec) ? pod.spec : undefined;
  if (!spec) return;
  const labels = (isObj(pod.metadata) && isObj(pod.metadata.labels) ? pod.metadata.labels : {}) as Record<string, string>;
  for (const { term } of affinityTerms(spec, 'spec')) {
    const selector = isObj(term.labelSelector) ? term.labelSelector : undefined;
    const match = strings(term.matchLabelKeys);
    const mismatch = strings(term.mismatchLabelKeys);
    if (!selector || (match.length === 0 && mismatch.length === 0)) continue;
    const expressions = arr(selector.matchExpressions);
    for (const [keys, operator] of [[match, 'In'], [mismatch, 'NotIn']] as const) {
      for (const key of keys) {
        if (Object.prototype.hasOwnProperty.call(labels, key)) expressions.push({ key, operator, values: [labels[key]!] });
      }
    }
    selector.matchExpressions = expressions;
  }
}

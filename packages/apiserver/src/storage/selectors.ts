/**
 * Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors
 * (=, ==, != on a fixed set of fields per resource), parsed from the query
 * string forms Kubernetes accepts.
 */
import type { JsonObject } from '@mkube/api';
import { ApiError } from '../errors.js';

export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type LabelRequirements = LabelRequirement[];

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function badSelector(_text: string, why: string): ApiError {
  return new ApiError(400, 'BadRequest', `unable to parse requirement: ${why}`);
}

function checkKey(key: string, text: string): string {
  if (!KEY_RE.test(key)) throw badSelector(text, `invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  return key;
}

function checkValue(value: string, text: string): string {
  if (value.length > 63 || !VALUE_RE.test(value)) throw badSelector(text, `invalid label value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  return value;
}

export function parseLabelSelector(text: string | undefined | null): LabelRequirements {
  if (!text) return [];
  const reqs: LabelRequirements = [];
  for (const part of splitTopLevel(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s=!()]+)$/.exec(part))) {
      reqs.push({ key: checkKey(m[1]!, text), op: '!exists' });
    } else if ((m = /^([^\s=!()]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v, i, a) => v !== '' || a.length === 1);
      reqs.push({ key: checkKey(m[1]!, text), op: m[2] as 'in' | 'notin', values: values.map((v) => checkValue(v, text)) });
    } else if ((m = /^([^\s=!()]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(part))) {
      const value = checkValue(m[3]!, text);
      reqs.push({ key: checkKey(m[1]!, text), op: m[2] === '!=' ? 'notin' : 'in', values: [value] });
    } else if ((m = /^([^\s=!()]+)$/.exec(part))) {
      reqs.push({ key: checkKey(m[1]!, text), op: 'exists' });
    } else {
      throw new ApiError(400, 'BadRequest', `unable to parse requirement: found '${part}', expected: !, identifier, or 'end of string'`);
    }
  }
  return reqs;
}

/** metav1.LabelSelector (matchLabels/matchExpressions) → requirements. */
export function labelSelectorFromObject(sel: JsonObject | undefined): LabelRequirements {
  if (!sel) return [];
  const reqs: LabelRequirements = [];
  for (const [k, v] of Object.entries((sel.matchLabels as Record<string, string>) ?? {})) reqs.push({ key: k, op: 'in', values: [v] });
  for (const e of (sel.matchExpressions as JsonObject[]) ?? []) {
    const op = String(e.operator);
    const key = String(e.key);
    if (op === 'In') reqs.push({ key, op: 'in', values: (e.values as string[]) ?? [] });
    else if (op === 'NotIn') reqs.push({ key, op: 'notin', values: (e.values as string[]) ?? [] });
    else if (op === 'Exists') reqs.push({ key, op: 'exists' });
    else if (op === 'DoesNotExist') reqs.push({ key, op: '!exists' });
  }
  return reqs;
}

export function matchLabels(sel: LabelRequirements, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!exists':
        if (has) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(l[r.key]!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(l[r.key]!)) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export type FieldSelector = FieldRequirement[];

/** Fields each resource can be selected on, beyond metadata.name and metadata.namespace. */
const FIELD_GETTERS: Record<string, Record<string, (o: JsonObject) => string>> = {};
const get = (path: string) => (o: JsonObject): string => {
  let cur: unknown = o;
  for (const p of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur === undefined || cur === null ? '' : String(cur);
};
FIELD_GETTERS.pods = {
  'spec.nodeName': get('spec.nodeName'),
  'spec.restartPolicy': get('spec.restartPolicy'),
  'spec.schedulerName': get('spec.schedulerName'),
  'spec.serviceAccountName': get('spec.serviceAccountName'),
  'spec.hostNetwork': (o) => String(Boolean((o.spec as JsonObject | undefined)?.hostNetwork)),
  'status.phase': get('status.phase'),
  'status.podIP': get('status.podIP'),
  'status.nominatedNodeName': get('status.nominatedNodeName'),
};
FIELD_GETTERS.events = Object.fromEntries(
  ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']
    .map((f) => [`involvedObject.${f}`, get(`involvedObject.${f}`)] as [string, (o: JsonObject) => string])
    .concat([
      ['reason', get('reason')],
      ['reportingComponent', get('reportingComponent')],
      ['source', get('source.component')],
      ['type', get('type')],
    ]),
);
FIELD_GETTERS.namespaces = { 'status.phase': get('status.phase') };
FIELD_GETTERS.nodes = { 'spec.unschedulable': (o) => String(Boolean((o.spec as JsonObject | undefined)?.unschedulable)) };
FIELD_GETTERS.secrets = { type: get('type') };
FIELD_GETTERS.replicasets = { 'status.replicas': get('status.replicas') };
FIELD_GETTERS.replicationcontrollers = { 'status.replicas': get('status.replicas') };
FIELD_GETTERS.jobs = { 'status.successful': get('status.succeeded') };
FIELD_GETTERS.certificatesigningrequests = { 'spec.signerName': get('spec.signerName') };

export function parseFieldSelector(text: string | undefined | null, resource: string): FieldSelector {
  if (!text) return [];
  const out: FieldSelector = [];
  for (const part of splitTopLevel(text)) {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw new ApiError(400, 'BadRequest', `invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1]!;
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !FIELD_GETTERS[resource]?.[field]) {
      throw new ApiError(400, 'BadRequest', `field label not supported: ${field}`);
    }
    out.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() });
  }
  return out;
}

export function matchFields(sel: FieldSelector, resource: string, obj: JsonObject): boolean {
  for (const r of sel) {
    const meta = (obj.metadata ?? {}) as JsonObject;
    let actual: string;
    if (r.field === 'metadata.name') actual = String(meta.name ?? '');
    else if (r.field === 'metadata.namespace') actual = String(meta.namespace ?? '');
    else actual = FIELD_GETTERS[resource]![r.field]!(obj);
    if ((actual === r.value) !== (r.op === '=')) return false;
  }
  return true;
}

/** A predicate over objects built from both selectors. */
export interface Selection {
  labels: LabelRequirements;
  fields: FieldSelector;
}

export function matches(sel: Selection, resource: string, obj: JsonObject): boolean {
  const labels = ((obj.metadata as JsonObject | undefined)?.labels ?? {}) as Record<string, string>;
  return matchLabels(sel.labels, labels) && matchFields(sel.fields, resource, obj);
}

export function isEverything(sel: Selection): boolean {
  return sel.labels.length === 0 && sel.fields.length === 0;
}

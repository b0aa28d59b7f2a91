/**
 * Validation of the supported fields, with Kubernetes' field paths and
 * messages (one FieldError per problem).
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';
import { validateNetworkFields, validateNetworkUpdate, type NetworkValidationContext } from './network_validation.js';
import { validateNetworkPolicy } from './netpol_validation.js';
import { validatePodVolumeFiles } from './volume_validation.js';
import { validateBatch, validateBatchUpdate } from './batch_validation.js';
import { validateStorage, validateStorageUpdate } from './storage_validation.js';
import { validatePodDisruptionBudget } from './pdb_validation.js';
import { validateHorizontalPodAutoscaler } from './hpa_validation.js';
import { validateNewPodSpecFields } from './pod_fields.js';

type Obj = JsonObject;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY_RE = /^[-._a-zA-Z0-9]+$/;
const IANA_SVC_NAME_RE = /^[-a-z0-9]+$/;
const ENV_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const MSG = {
  label:
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
  subdomain:
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  dns1035:
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
  qualifiedName:
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
  labelValue:
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
  configKey: "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  port: 'must be between 1 and 65535, inclusive',
};

export type NameKind = 'subdomain' | 'label' | 'dns1035' | 'pathSegment';

export function validateName(name: string, kind: NameKind, field: string, errs: FieldError[]): void {
  if (kind === 'pathSegment') {
    // RBAC names (ValidateRBACName): any path segment, e.g. "system:node".
    if (name === '.' || name === '..') errs.push({ type: 'FieldValueInvalid', field, value: name, detail: `may not be '${name}'` });
    for (const bad of ['/', '%']) if (name.includes(bad)) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: `may not contain '${bad}'` });
  } else if (kind === 'label') {
    if (name.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 63 characters' });
    if (!DNS1123_LABEL_RE.test(name)) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: MSG.label });
  } else if (kind === 'dns1035') {
    if (name.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 63 characters' });
    if (!DNS1035_LABEL_RE.test(name)) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: MSG.dns1035 });
  } else {
    if (name.length > 253) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 253 characters' });
    if (!DNS1123_SUBDOMAIN_RE.test(name)) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: MSG.subdomain });
  }
}

export function validateQualifiedKey(key: string, field: string, errs: FieldError[]): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (!DNS1123_SUBDOMAIN_RE.test(prefix) || prefix.length > 253)) {
    errs.push({ type: 'FieldValueInvalid', field, value: key, detail: `prefix part ${MSG.subdomain}` });
  }
  if (name.length === 0) errs.push({ type: 'FieldValueInvalid', field, value: key, detail: 'name part must be non-empty' });
  else if (name.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: key, detail: 'name part must be no more than 63 characters' });
  else if (!QUALIFIED_NAME_RE.test(name)) errs.push({ type: 'FieldValueInvalid', field, value: key, detail: MSG.qualifiedName });
}

export function validateLabels(labels: unknown, field: string, errs: FieldError[]): void {
  if (!isObj(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    validateQualifiedKey(k, field, errs);
    const s = String(v);
    if (s.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: s, detail: 'must be no more than 63 characters' });
    else if (!LABEL_VALUE_RE.test(s)) errs.push({ type: 'FieldValueInvalid', field, value: s, detail: MSG.labelValue });
  }
}

export function validateObjectMeta(meta: Obj, namespaced: boolean, nameKind: NameKind, errs: FieldError[]): void {
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (!name && !meta.generateName) errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
  else if (name) validateName(name, nameKind, 'metadata.name', errs);
  if (namespaced && !meta.namespace) errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace' });
  if (!namespaced && meta.namespace) errs.push({ type: 'FieldValueForbidden', field: 'metadata.namespace', detail: 'not allowed on this type' });
  validateLabels(meta.labels, 'metadata.labels', errs);
  if (isObj(meta.annotations)) {
    let size = 0;
    for (const [k, v] of Object.entries(meta.annotations)) {
      validateQualifiedKey(k.toLowerCase(), 'metadata.annotations', errs);
      size += k.length + String(v).length;
    }
    if (size > 256 * 1024) errs.push({ type: 'FieldValueTooLong', field: 'metadata.annotations', detail: 'may not be more than 262144 bytes' });
  }
}

function validatePort(v: unknown, field: string, errs: FieldError[], allowZero = false): void {
  const n = Number(v);
  if (!Number.isInteger(n) || n > 65535 || n < (allowZero ? 0 : 1)) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: MSG.port });
}

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

function validateContainers(list: Obj[], field: string, volumes: Set<string>, errs: FieldError[], names: Set<string>): void {
  list.forEach((c, i) => {
    const at = `${field}[${i}]`;
    const name = typeof c.name === 'string' ? c.name : '';
    if (!name) errs.push({ type: 'FieldValueRequired', field: `${at}.name` });
    else {
      validateName(name, 'label', `${at}.name`, errs);
      if (names.has(name)) errs.push({ type: 'FieldValueDuplicate', field: `${at}.name`, value: name });
      names.add(name);
    }
    if (!c.image || typeof c.image !== 'string' || c.image.trim() === '') errs.push({ type: 'FieldValueRequired', field: `${at}.image` });
    if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(String(c.imagePullPolicy))) {
      errs.push({ type: 'FieldValueNotSupported', field: `${at}.imagePullPolicy`, value: c.imagePullPolicy, supported: ['Always', 'IfNotPresent', 'Never'] });
    }
    const portNames = new Set<string>();
    arr(c.ports).forEach((p, j) => {
      const pat = `${at}.ports[${j}]`;
      validatePort(p.containerPort, `${pat}.containerPort`, errs);
      if (p.hostPort !== undefined && Number(p.hostPort) !== 0) validatePort(p.hostPort, `${pat}.hostPort`, errs);
      if (p.protocol !== undefined && !PROTOCOLS.includes(String(p.protocol))) errs.push({ type: 'FieldValueNotSupported', field: `${pat}.protocol`, value: p.protocol, supported: PROTOCOLS });
      if (typeof p.name === 'string' && p.name) {
        if (p.name.length > 15 || !IANA_SVC_NAME_RE.test(p.name) || !/[a-z]/.test(p.name)) {
          errs.push({ type: 'FieldValueInvalid', field: `${pat}.name`, value: p.name, detail: 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at least 1 letter, no more than 15 characters' });
        }
        if (portNames.has(p.name)) errs.push({ type: 'FieldValueDuplicate', field: `${pat}.name`, value: p.name });
        portNames.add(p.name);
      }
    });
    arr(c.env).forEach((e, j) => {
      const eat = `${at}.env[${j}].name`;
      if (!e.name) errs.push({ type: 'FieldValueRequired', field: eat });
      else if (!ENV_NAME_RE.test(String(e.name))) errs.push({ type: 'FieldValueInvalid', field: eat, value: e.name, detail: "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')" });
    });
    const mounts = new Set<string>();
    arr(c.volumeMounts).forEach((m, j) => {
      const mat = `${at}.volumeMounts[${j}]`;
      if (!m.name) errs.push({ type: 'FieldValueRequired', field: `${mat}.name` });
      else if (!volumes.has(String(m.name))) errs.push({ type: 'FieldValueNotFound', field: `${mat}.name`, value: m.name });
      if (!m.mountPath) errs.push({ type: 'FieldValueRequired', field: `${mat}.mountPath` });
      else if (mounts.has(String(m.mountPath))) errs.push({ type: 'FieldValueInvalid', field: `${mat}.mountPath`, value: m.mountPath, detail: 'must be unique' });
      else mounts.add(String(m.mountPath));
    });
  });
}

export function validatePodSpec(spec: Obj | undefined, field: string, errs: FieldError[], opts: { restartPolicies?: string[] } = {}): void {
  if (!isObj(spec)) {
    errs.push({ type: 'FieldValueRequired', field });
    return;
  }
  const volumes = new Set<string>();
  arr(spec.volumes).forEach((v, i) => {
    const name = String(v.name ?? '');
    if (!name) errs.push({ type: 'FieldValueRequired', field: `${field}.volumes[${i}].name` });
    else {
      validateName(name, 'label', `${field}.volumes[${i}].name`, errs);
      if (volumes.has(name)) errs.push({ type: 'FieldValueDuplicate', field: `${field}.volumes[${i}].name`, value: name });
      volumes.add(name);
    }
  });
  const containers = arr(spec.containers);
  const names = new Set<string>();
  if (containers.length === 0) errs.push({ type: 'FieldValueRequired', field: `${field}.containers` });
  validateContainers(arr(spec.initContainers), `${field}.initContainers`, volumes, errs, names);
  validateContainers(containers, `${field}.containers`, volumes, errs, names);
  const policies = opts.restartPolicies ?? ['Always', 'OnFailure', 'Never'];
  if (spec.restartPolicy !== undefined && !policies.includes(String(spec.restartPolicy))) {
    errs.push({ type: 'FieldValueNotSupported', field: `${field}.restartPolicy`, value: spec.restartPolicy, supported: policies });
  }
  const dns = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
  if (spec.dnsPolicy !== undefined && !dns.includes(String(spec.dnsPolicy))) errs.push({ type: 'FieldValueNotSupported', field: `${field}.dnsPolicy`, value: spec.dnsPolicy, supported: dns });
  if (spec.terminationGracePeriodSeconds !== undefined && Number(spec.terminationGracePeriodSeconds) < 0) {
    errs.push({ type: 'FieldValueInvalid', field: `${field}.terminationGracePeriodSeconds`, value: spec.terminationGracePeriodSeconds, detail: 'must be greater than or equal to 0' });
  }
  if (spec.activeDeadlineSeconds !== undefined && Number(spec.activeDeadlineSeconds) <= 0) {
    errs.push({ type: 'FieldValueInvalid', field: `${field}.activeDeadlineSeconds`, value: spec.activeDeadlineSeconds, detail: 'must be between 1 and 2147483647, inclusive' });
  }
  if (spec.nodeName) validateName(String(spec.nodeName), 'subdomain', `${field}.nodeName`, errs);
  validateLabels(spec.nodeSelector, `${field}.nodeSelector`, errs);
  validatePodVolumeFiles(spec, field, errs);
  validateNewPodSpecFields(spec, field, errs);
}

function selectorMatches(selector: Obj | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const ml = (selector.matchLabels ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of arr(selector.matchExpressions)) {
    const has = Object.prototype.hasOwnProperty.call(labels, String(e.key));
    const vals = (e.values as string[]) ?? [];
    const v = labels[String(e.key)];
    if (e.operator === 'In' && !(has && vals.includes(v!))) return false;
    if (e.operator === 'NotIn' && has && vals.includes(v!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return Object.keys(ml).length > 0 || arr(selector.matchExpressions).length > 0;
}

function validateWorkload(spec: Obj | undefined, errs: FieldError[], opts: { selectorRequired: boolean; restartPolicies?: string[]; replicas?: boolean }): void {
  if (!isObj(spec)) {
    errs.push({ type: 'FieldValueRequired', field: 'spec' });
    return;
  }
  if (opts.replicas !== false && spec.replicas !== undefined && Number(spec.replicas) < 0) {
    errs.push({ type: 'FieldValueInvalid', field: 'spec.replicas', value: spec.replicas, detail: 'must be greater than or equal to 0' });
  }
  const tpl = spec.template as Obj | undefined;
  const labels = ((tpl?.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>;
  const selector = spec.selector as Obj | undefined;
  if (opts.selectorRequired && !isObj(selector)) errs.push({ type: 'FieldValueRequired', field: 'spec.selector' });
  else if (isObj(selector)) {
    if (Object.keys(selector.matchLabels ?? {}).length === 0 && arr(selector.matchExpressions).length === 0) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.selector', value: selector, detail: 'empty selector is invalid for deployment' });
    } else if (!selectorMatches(selector, labels)) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.template.metadata.labels', value: labels, detail: '`selector` does not match template `labels`' });
    }
    validateLabels(selector.matchLabels, 'spec.selector.matchLabels', errs);
  }
  if (!isObj(tpl)) {
    errs.push({ type: 'FieldValueRequired', field: 'spec.template' });
    return;
  }
  validateLabels(labels, 'spec.template.metadata.labels', errs);
  validatePodSpec(tpl.spec as Obj | undefined, 'spec.template.spec', errs, { restartPolicies: opts.restartPolicies });
}

/**
 * A StatefulSet's template mounts the volumes of its volumeClaimTemplates
 * (the controller adds them to each pod): validated as the union of both, as
 * upstream's ValidatePodTemplateSpecForStatefulSet intends.
 */
function withClaimTemplateVolumes(spec: unknown): Obj | undefined {
  if (!isObj(spec) || !isObj(spec.template) || !isObj(spec.template.spec)) return isObj(spec) ? spec : undefined;
  const claims = arr(spec.volumeClaimTemplates).map((c) => (isObj(c.metadata) ? c.metadata.name : undefined)).filter((n): n is string => typeof n === 'string' && n !== '');
  if (claims.length === 0) return spec;
  const own = arr(spec.template.spec.volumes).filter((v) => !claims.includes(v.name as string));
  const volumes = [...claims.map((name) => ({ name, persistentVolumeClaim: { claimName: name } })), ...own];
  return { ...spec, template: { ...spec.template, spec: { ...spec.template.spec, volumes } } };
}

function validateService(o: Obj, errs: FieldError[]): void {
  const spec = (o.spec ?? {}) as Obj;
  const types = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
  if (spec.type !== undefined && !types.includes(String(spec.type))) errs.push({ type: 'FieldValueNotSupported', field: 'spec.type', value: spec.type, supported: types });
  const ports = arr(spec.ports);
  const headless = spec.clusterIP === 'None';
  if (ports.length === 0 && spec.type !== 'ExternalName' && !headless) errs.push({ type: 'FieldValueRequired', field: 'spec.ports' });
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push({ type: 'FieldValueRequired', field: `${at}.name` });
    if (p.name) {
      if (names.has(String(p.name))) errs.push({ type: 'FieldValueDuplicate', field: `${at}.name`, value: p.name });
      names.add(String(p.name));
      validateName(String(p.name), 'label', `${at}.name`, errs);
    }
    validatePort(p.port, `${at}.port`, errs);
    if (p.protocol !== undefined && !PROTOCOLS.includes(String(p.protocol))) errs.push({ type: 'FieldValueNotSupported', field: `${at}.protocol`, value: p.protocol, supported: PROTOCOLS });
    if (typeof p.targetPort === 'number') validatePort(p.targetPort, `${at}.targetPort`, errs);
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') errs.push({ type: 'FieldValueForbidden', field: `${at}.nodePort`, detail: 'may not be used when `type` is \'ClusterIP\'' });
      else validatePort(p.nodePort, `${at}.nodePort`, errs);
    }
  });
  if (spec.sessionAffinity !== undefined && !['ClientIP', 'None'].includes(String(spec.sessionAffinity))) {
    errs.push({ type: 'FieldValueNotSupported', field: 'spec.sessionAffinity', value: spec.sessionAffinity, supported: ['ClientIP', 'None'] });
  }
  validateLabels(spec.selector, 'spec.selector', errs);
}

function validateDataKeys(data: unknown, field: string, errs: FieldError[]): void {
  if (!isObj(data)) return;
  for (const k of Object.keys(data)) {
    if (k.length > 253 || !CONFIG_KEY_RE.test(k)) errs.push({ type: 'FieldValueInvalid', field, value: k, detail: MSG.configKey });
  }
}

/** How each resource's metadata.name is checked. */
export function nameKindFor(resource: string): NameKind {
  if (resource === 'namespaces') return 'label';
  if (resource === 'services') return 'dns1035';
  if (['clusterroles', 'clusterrolebindings', 'roles', 'rolebindings'].includes(resource)) return 'pathSegment';
  return 'subdomain';
}

export function validateObject(resource: string, namespaced: boolean, o: Obj, net: NetworkValidationContext = {}): FieldError[] {
  const errs: FieldError[] = [];
  validateObjectMeta((o.metadata ?? {}) as Obj, namespaced, nameKindFor(resource), errs);
  switch (resource) {
    case 'pods':
      validatePodSpec(o.spec as Obj | undefined, 'spec', errs);
      break;
    case 'deployments':
    case 'replicasets':
    case 'statefulsets':
    case 'daemonsets':
      validateWorkload(resource === 'statefulsets' ? withClaimTemplateVolumes(o.spec) : (o.spec as Obj | undefined), errs, { selectorRequired: true, restartPolicies: ['Always'], replicas: resource !== 'daemonsets' });
      break;
    case 'jobs':
      validateWorkload(o.spec as Obj | undefined, errs, { selectorRequired: false, restartPolicies: ['OnFailure', 'Never'], replicas: false });
      break;
    case 'replicationcontrollers': {
      // A ReplicaSet with an equality selector (upstream's ValidateReplicationControllerSpec): the map is required, matches the template.
      const spec = o.spec as Obj | undefined;
      const selector: Obj | undefined = isObj(spec) && isObj(spec.selector) && Object.keys(spec.selector).length > 0 ? { matchLabels: spec.selector } : undefined;
      if (isObj(spec) && !selector) errs.push({ type: 'FieldValueRequired', field: 'spec.selector' });
      const asReplicaSet: Obj | undefined = isObj(spec) ? { ...spec } : undefined;
      if (asReplicaSet) {
        if (selector) asReplicaSet.selector = selector;
        else delete asReplicaSet.selector;
      }
      validateWorkload(asReplicaSet, errs, { selectorRequired: false, restartPolicies: ['Always'], replicas: true });
      break;
    }
    case 'services':
      validateService(o, errs);
      break;
    case 'configmaps':
      validateDataKeys(o.data, 'data', errs);
      validateDataKeys(o.binaryData, 'binaryData', errs);
      break;
    case 'secrets':
      validateDataKeys(o.data, 'data', errs);
      validateDataKeys(o.stringData, 'stringData', errs);
      break;
    case 'controllerrevisions':
      // Upstream's ValidateControllerRevision: data is required, revision non-negative.
      if (o.data === undefined || o.data === null) errs.push({ type: 'FieldValueRequired', field: 'data', detail: 'data is mandatory' });
      if (typeof o.revision === 'number' && o.revision < 0) errs.push({ type: 'FieldValueInvalid', field: 'revision', value: o.revision, detail: 'must be greater than or equal to 0' });
      break;
  }
  validateNetworkFields(resource, o, errs, net);
  validateBatch(resource, o, errs);
  validateStorage(resource, o, errs);
  if (resource === 'poddisruptionbudgets') validatePodDisruptionBudget(o, errs);
  if (resource === 'horizontalpodautoscalers') validateHorizontalPodAutoscaler(o, errs);
  if (resource === 'networkpolicies') validateNetworkPolicy(o, errs);
  return errs;
}

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}
export const deepEqual = (a: unknown, b: unknown): boolean => stable(a) === stable(b);

/** Immutable-field checks on update (beyond validateObject of the new object). */
export function validateUpdate(resource: string, next: Obj, prev: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const ns = (next.spec ?? {}) as Obj;
  const ps = (prev.spec ?? {}) as Obj;
  switch (resource) {
    case 'pods': {
      const strip = (s: Obj): Obj => {
        const c = JSON.parse(JSON.stringify(s)) as Obj;
        for (const k of ['containers', 'initContainers']) for (const ctr of arr(c[k])) delete ctr.image;
        delete c.activeDeadlineSeconds;
        delete c.tolerations;
        // Set once by binding or the scheduler.
        if (!ps.nodeName) delete c.nodeName;
        return c;
      };
      const a = strip(ns);
      const b = strip(ps);
      if (!ps.nodeName) delete b.nodeName;
      if (!deepEqual(a, b)) errs.push({ type: 'FieldValueForbidden', field: 'spec', detail: POD_UPDATE_FORBIDDEN });
      const oldTol = arr(ps.tolerations);
      const newTol = arr(ns.tolerations);
      if (!oldTol.every((t) => newTol.some((u) => deepEqual(t, u)))) {
        errs.push({ type: 'FieldValueForbidden', field: 'spec.tolerations', detail: 'existing toleration can not be modified except its tolerationSeconds' });
      }
      break;
    }
    case 'deployments':
    case 'replicasets':
    case 'statefulsets':
    case 'daemonsets':
      if (!deepEqual(ns.selector, ps.selector)) errs.push({ type: 'FieldValueInvalid', field: 'spec.selector', value: ns.selector ?? null, detail: 'field is immutable' });
      break;
    case 'jobs':
      if (!deepEqual(ns.selector, ps.selector)) errs.push({ type: 'FieldValueInvalid', field: 'spec.selector', value: ns.selector ?? null, detail: 'field is immutable' });
      break;
    case 'services':
      if (ps.clusterIP && ns.clusterIP !== ps.clusterIP && ps.type !== 'ExternalName' && ns.type !== 'ExternalName') {
        errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', value: ns.clusterIP ?? '', detail: 'may not change once set' });
      }
      break;
    case 'rolebindings':
    case 'clusterrolebindings':
      // Upstream's ValidateRoleBindingUpdate: a binding's role is fixed (delete and recreate to change it).
      if (!deepEqual(next.roleRef, prev.roleRef)) errs.push({ type: 'FieldValueInvalid', field: 'roleRef', value: next.roleRef ?? null, detail: 'cannot change roleRef' });
      break;
    case 'configmaps':
    case 'secrets':
      if (prev.immutable === true && (!deepEqual(next.data, prev.data) || !deepEqual(next.binaryData, prev.binaryData) || next.immutable !== true)) {
        errs.push({ type: 'FieldValueForbidden', field: 'data', detail: 'field is immutable when `immutable` is set' });
      }
      break;
    case 'controllerrevisions':
      if (!deepEqual(next.data, prev.data)) errs.push({ type: 'FieldValueInvalid', field: 'data', value: next.data ?? null, detail: 'field is immutable' });
      break;
  }
  validateNetworkUpdate(resource, next, prev, errs);
  validateBatchUpdate(resource, next, prev, errs);
  validateStorageUpdate(resource, next, prev, errs);
  return errs;
}

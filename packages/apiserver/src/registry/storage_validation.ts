/**
 * PersistentVolumes, PersistentVolumeClaims and StorageClasses in the API
 * server: upstream's defaults (SetDefaults_PersistentVolume/Claim,
 * SetDefaults_StorageClass), validation and update rules with upstream's field
 * paths and messages, and the create-time admission upstream runs for them
 * (DefaultStorageClass; StorageObjectInUseProtection's finalizers).
 */
import {
  ACCESS_MODES,
  ANN_BETA_STORAGE_CLASS,
  PV_PROTECTION_FINALIZER,
  PVC_PROTECTION_FINALIZER,
  compareQuantities,
  defaultStorageClass,
  parseQuantity,
  QuantityError,
  type JsonObject,
  type StorageClass,
} from '@mkube/api';
import type { FieldError } from '../errors.js';
import { validateLabels, validateName } from './validation.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objOf = (parent: Obj, key: string): Obj => {
  const v = parent[key];
  if (isObj(v)) return v;
  const fresh: Obj = {};
  parent[key] = fresh;
  return fresh;
};
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
function dflt(o: Obj, key: string, value: Obj[string]): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}
const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

const SORTED_ACCESS_MODES = [...ACCESS_MODES].sort();
const RECLAIM_POLICIES = ['Delete', 'Recycle', 'Retain'];
const CLASS_RECLAIM_POLICIES = ['Delete', 'Retain'];
const VOLUME_MODES = ['Block', 'Filesystem'];
const BINDING_MODES = ['Immediate', 'WaitForFirstConsumer'];
/** The PersistentVolumeSource members mkube's schema carries. */
const PV_SOURCES = ['hostPath', 'nfs', 'local'];
const NODE_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'];

export const STORAGE_RESOURCES = new Set(['persistentvolumes', 'persistentvolumeclaims', 'storageclasses']);

// ---------------------------------------------------------------- defaults

export function defaultStorage(resource: string, o: Obj): void {
  if (resource === 'persistentvolumes') {
    const spec = objOf(o, 'spec');
    dflt(spec, 'persistentVolumeReclaimPolicy', 'Retain');
    dflt(spec, 'volumeMode', 'Filesystem');
    if (isObj(spec.hostPath)) dflt(spec.hostPath, 'type', '');
    dflt(objOf(o, 'status'), 'phase', 'Pending');
  } else if (resource === 'persistentvolumeclaims') {
    dflt(objOf(o, 'spec'), 'volumeMode', 'Filesystem');
    dflt(objOf(o, 'status'), 'phase', 'Pending');
  } else if (resource === 'storageclasses') {
    dflt(o, 'reclaimPolicy', 'Delete');
    dflt(o, 'volumeBindingMode', 'Immediate');
  }
}

// ---------------------------------------------------------------- admission

/**
 * Create-time mutation: a claim without a class (storageClassName absent,
 * not "") gets the default StorageClass (DefaultStorageClass admission);
 * claims and volumes get their protection finalizer.
 */
export function admitStorageCreate(resource: string, o: Obj, classes: readonly Obj[]): void {
  const m = objOf(o, 'metadata');
  const addFinalizer = (f: string) => {
    const list = strs(m.finalizers);
    if (!list.includes(f)) m.finalizers = [...list, f];
  };
  if (resource === 'persistentvolumeclaims') {
    const spec = objOf(o, 'spec');
    const annotations = isObj(m.annotations) ? m.annotations : {};
    if ((spec.storageClassName === undefined || spec.storageClassName === null) && annotations[ANN_BETA_STORAGE_CLASS] === undefined) {
      const def = defaultStorageClass(classes as unknown as StorageClass[]);
      if (def?.metadata?.name) spec.storageClassName = def.metadata.name;
    }
    addFinalizer(PVC_PROTECTION_FINALIZER);
  } else if (resource === 'persistentvolumes') {
    addFinalizer(PV_PROTECTION_FINALIZER);
  }
}

// ---------------------------------------------------------------- validation

function validateAccessModes(modes: unknown, field: string, required: string | undefined, errs: FieldError[]): void {
  const list = strs(modes);
  if (list.length === 0) {
    errs.push({ type: 'FieldValueRequired', field, detail: required });
    return;
  }
  for (const mode of list) {
    if (!(ACCESS_MODES as readonly string[]).includes(mode)) errs.push({ type: 'FieldValueNotSupported', field, value: mode, supported: SORTED_ACCESS_MODES });
  }
  if (list.includes('ReadWriteOncePod') && list.length > 1) errs.push({ type: 'FieldValueForbidden', field, detail: 'may not use ReadWriteOncePod with other access modes' });
}

function validatePositiveStorage(value: unknown, field: string, errs: FieldError[]): void {
  if (typeof value !== 'string' && typeof value !== 'number') {
    errs.push({ type: 'FieldValueRequired', field });
    return;
  }
  try {
    if (compareQuantities(parseQuantity(String(value)), '0') <= 0) errs.push({ type: 'FieldValueInvalid', field, value: String(value), detail: 'must be greater than zero' });
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    errs.push({ type: 'FieldValueInvalid', field, value: String(value), detail: err.message });
  }
}

function validateStorageClassName(name: unknown, field: string, errs: FieldError[]): void {
  if (typeof name === 'string' && name !== '') validateName(name, 'subdomain', field, errs);
}

function validateNodeSelectorTerms(required: unknown, field: string, errs: FieldError[]): void {
  if (!isObj(required)) {
    errs.push({ type: 'FieldValueRequired', field, detail: 'must specify required node constraints' });
    return;
  }
  const terms = Array.isArray(required.nodeSelectorTerms) ? (required.nodeSelectorTerms as unknown[]) : [];
  if (terms.length === 0) {
    errs.push({ type: 'FieldValueRequired', field: `${field}.nodeSelectorTerms`, detail: 'must have at least one node selector term' });
    return;
  }
  terms.forEach((t, i) => {
    const exprs = isObj(t) && Array.isArray(t.matchExpressions) ? (t.matchExpressions as unknown[]) : [];
    exprs.forEach((e, j) => {
      const f = `${field}.nodeSelectorTerms[${i}].matchExpressions[${j}]`;
      const op = isObj(e) ? e.operator : undefined;
      const values = isObj(e) ? strs(e.values) : [];
      if (typeof op !== 'string' || !NODE_SELECTOR_OPERATORS.includes(op)) errs.push({ type: 'FieldValueInvalid', field: `${f}.operator`, value: op ?? null, detail: 'not a valid selector operator' });
      else if ((op === 'In' || op === 'NotIn') && values.length === 0) errs.push({ type: 'FieldValueRequired', field: `${f}.values`, detail: 'must be specified when `operator` is \'In\' or \'NotIn\'' });
      else if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) errs.push({ type: 'FieldValueForbidden', field: `${f}.values`, detail: 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'' });
      if (isObj(e) && typeof e.key === 'string') validateLabels({ [e.key]: '' }, `${f}.key`, errs);
    });
  });
}

/** ValidatePersistentVolumeSpec for the sources mkube carries. */
function validatePersistentVolume(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  validateAccessModes(spec.accessModes, 'spec.accessModes', undefined, errs);
  const capacity = isObj(spec.capacity) ? spec.capacity : undefined;
  if (!capacity || Object.keys(capacity).length === 0) errs.push({ type: 'FieldValueRequired', field: 'spec.capacity' });
  else {
    for (const key of Object.keys(capacity)) {
      if (key !== 'storage') errs.push({ type: 'FieldValueNotSupported', field: 'spec.capacity', value: key, supported: ['storage'] });
    }
    if (capacity.storage !== undefined) validatePositiveStorage(capacity.storage, 'spec.capacity[storage]', errs);
  }
  const policy = spec.persistentVolumeReclaimPolicy;
  if (typeof policy === 'string' && !RECLAIM_POLICIES.includes(policy)) errs.push({ type: 'FieldValueNotSupported', field: 'spec.persistentVolumeReclaimPolicy', value: policy, supported: RECLAIM_POLICIES });
  validateStorageClassName(spec.storageClassName, 'spec.storageClassName', errs);
  if (typeof spec.volumeMode === 'string' && !VOLUME_MODES.includes(spec.volumeMode)) errs.push({ type: 'FieldValueNotSupported', field: 'spec.volumeMode', value: spec.volumeMode, supported: VOLUME_MODES });

  const sources = PV_SOURCES.filter((k) => isObj(spec[k]));
  if (sources.length === 0) errs.push({ type: 'FieldValueRequired', field: 'spec', detail: 'must specify a volume type' });
  for (const extra of sources.slice(1)) errs.push({ type: 'FieldValueForbidden', field: `spec.${extra}`, detail: 'may not specify more than 1 volume type' });
  if (isObj(spec.hostPath)) {
    const p = spec.hostPath.path;
    if (typeof p !== 'string' || p === '') errs.push({ type: 'FieldValueRequired', field: 'spec.hostPath.path' });
    else if (p.split('/').includes('..')) errs.push({ type: 'FieldValueInvalid', field: 'spec.hostPath.path', value: p, detail: "must not contain '..'" });
    if (policy === 'Recycle' && p === '/') errs.push({ type: 'FieldValueForbidden', field: 'spec.persistentVolumeReclaimPolicy', detail: 'may not be \'recycle\' for a hostPath mount of \'/\'' });
  }
  if (isObj(spec.nfs)) {
    if (typeof spec.nfs.server !== 'string' || spec.nfs.server === '') errs.push({ type: 'FieldValueRequired', field: 'spec.nfs.server' });
    if (typeof spec.nfs.path !== 'string' || spec.nfs.path === '') errs.push({ type: 'FieldValueRequired', field: 'spec.nfs.path' });
    else if (!spec.nfs.path.startsWith('/')) errs.push({ type: 'FieldValueInvalid', field: 'spec.nfs.path', value: spec.nfs.path, detail: 'must be an absolute path' });
  }
  if (isObj(spec.local)) {
    const p = spec.local.path;
    if (typeof p !== 'string' || p === '') errs.push({ type: 'FieldValueRequired', field: 'spec.local.path' });
    else if (p.split('/').includes('..')) errs.push({ type: 'FieldValueInvalid', field: 'spec.local.path', value: p, detail: "must not contain '..'" });
    if (!isObj(spec.nodeAffinity)) errs.push({ type: 'FieldValueRequired', field: 'spec.nodeAffinity', detail: 'Local volume requires node affinity' });
  }
  if (isObj(spec.nodeAffinity)) validateNodeSelectorTerms(spec.nodeAffinity.required, 'spec.nodeAffinity.required', errs);
  const status = isObj(o.status) ? o.status : {};
  const phases = ['Pending', 'Available', 'Bound', 'Released', 'Failed'];
  if (typeof status.phase === 'string' && status.phase !== '' && !phases.includes(status.phase)) errs.push({ type: 'FieldValueNotSupported', field: 'status.phase', value: status.phase, supported: phases });
}

/** ValidatePersistentVolumeClaimSpec. */
function validatePersistentVolumeClaim(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  validateAccessModes(spec.accessModes, 'spec.accessModes', 'at least 1 access mode is required', errs);
  const requests = isObj(spec.resources) && isObj(spec.resources.requests) ? spec.resources.requests : {};
  if (requests.storage === undefined) errs.push({ type: 'FieldValueRequired', field: 'spec.resources[storage]' });
  else validatePositiveStorage(requests.storage, 'spec.resources[storage]', errs);
  validateStorageClassName(spec.storageClassName, 'spec.storageClassName', errs);
  if (typeof spec.volumeMode === 'string' && !VOLUME_MODES.includes(spec.volumeMode)) errs.push({ type: 'FieldValueNotSupported', field: 'spec.volumeMode', value: spec.volumeMode, supported: VOLUME_MODES });
  const status = isObj(o.status) ? o.status : {};
  const phases = ['Pending', 'Bound', 'Lost'];
  if (typeof status.phase === 'string' && status.phase !== '' && !phases.includes(status.phase)) errs.push({ type: 'FieldValueNotSupported', field: 'status.phase', value: status.phase, supported: phases });
}

/** ValidateStorageClass. */
function validateStorageClass(o: Obj, errs: FieldError[]): void {
  const p = o.provisioner;
  if (typeof p !== 'string' || p === '') errs.push({ type: 'FieldValueRequired', field: 'provisioner' });
  else {
    if (p.length > 63) errs.push({ type: 'FieldValueTooLong', field: 'provisioner', value: p, detail: 'must have at most 63 bytes' });
    validateLabels({ [p.toLowerCase()]: '' }, 'provisioner', errs);
  }
  if (typeof o.reclaimPolicy === 'string' && !CLASS_RECLAIM_POLICIES.includes(o.reclaimPolicy)) errs.push({ type: 'FieldValueNotSupported', field: 'reclaimPolicy', value: o.reclaimPolicy, supported: CLASS_RECLAIM_POLICIES });
  if (o.volumeBindingMode === undefined || o.volumeBindingMode === null) errs.push({ type: 'FieldValueRequired', field: 'volumeBindingMode' });
  else if (typeof o.volumeBindingMode !== 'string' || !BINDING_MODES.includes(o.volumeBindingMode)) errs.push({ type: 'FieldValueNotSupported', field: 'volumeBindingMode', value: o.volumeBindingMode, supported: BINDING_MODES });
}

export function validateStorage(resource: string, o: Obj, errs: FieldError[]): void {
  if (resource === 'persistentvolumes') validatePersistentVolume(o, errs);
  else if (resource === 'persistentvolumeclaims') validatePersistentVolumeClaim(o, errs);
  else if (resource === 'storageclasses') validateStorageClass(o, errs);
}

// ---------------------------------------------------------------- updates

function pvSource(spec: Obj): Obj {
  const out: Obj = {};
  for (const k of PV_SOURCES) if (spec[k] !== undefined) out[k] = spec[k];
  return out;
}

/**
 * ValidatePersistentVolumeUpdate, ValidatePersistentVolumeClaimUpdate and
 * ValidateStorageClassUpdate: what may not change once written.
 */
export function validateStorageUpdate(resource: string, next: Obj, prev: Obj, errs: FieldError[]): void {
  const ns = isObj(next.spec) ? next.spec : {};
  const ps = isObj(prev.spec) ? prev.spec : {};
  if (resource === 'persistentvolumes') {
    if (!deepEqual(pvSource(ns), pvSource(ps))) errs.push({ type: 'FieldValueForbidden', field: 'spec.persistentvolumesource', detail: 'spec.persistentvolumesource is immutable after creation' });
    if (ps.volumeMode !== undefined && ns.volumeMode !== ps.volumeMode) errs.push({ type: 'FieldValueInvalid', field: 'spec.volumeMode', value: ns.volumeMode ?? null, detail: 'field is immutable' });
    if (ps.nodeAffinity !== undefined && !deepEqual(ns.nodeAffinity, ps.nodeAffinity)) errs.push({ type: 'FieldValueInvalid', field: 'spec.nodeAffinity', value: ns.nodeAffinity ?? null, detail: 'field is immutable' });
  } else if (resource === 'persistentvolumeclaims') {
    // Only resources.requests may change; an unbound claim may also be given its volumeName.
    const a: Obj = { ...ns, resources: { ...(isObj(ns.resources) ? ns.resources : {}), requests: null } };
    const b: Obj = { ...ps, resources: { ...(isObj(ps.resources) ? ps.resources : {}), requests: null } };
    if (!ps.volumeName) b.volumeName = a.volumeName;
    if (!deepEqual(a, b)) errs.push({ type: 'FieldValueForbidden', field: 'spec', detail: 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims' });
    const capacity = isObj(prev.status) && isObj(prev.status.capacity) ? prev.status.capacity.storage : undefined;
    const want = isObj(ns.resources) && isObj(ns.resources.requests) ? ns.resources.requests.storage : undefined;
    if (typeof capacity === 'string' && typeof want === 'string' && !deepEqual(want, isObj(ps.resources) && isObj(ps.resources.requests) ? ps.resources.requests.storage : undefined)) {
      try {
        if (compareQuantities(want, capacity) < 0) errs.push({ type: 'FieldValueForbidden', field: 'spec.resources.requests.storage', detail: 'field can not be less than status.capacity' });
      } catch (err) {
        if (!(err instanceof QuantityError)) throw err; // validateStorage reported it
      }
    }
  } else if (resource === 'storageclasses') {
    if (!deepEqual(next.parameters, prev.parameters)) errs.push({ type: 'FieldValueForbidden', field: 'parameters', detail: 'updates to parameters are forbidden.' });
    if (next.provisioner !== prev.provisioner) errs.push({ type: 'FieldValueForbidden', field: 'provisioner', detail: 'updates to provisioner are forbidden.' });
    if (next.reclaimPolicy !== prev.reclaimPolicy) errs.push({ type: 'FieldValueForbidden', field: 'reclaimPolicy', detail: 'updates to reclaimPolicy are forbidden.' });
    if (next.volumeBindingMode !== prev.volumeBindingMode) errs.push({ type: 'FieldValueInvalid', field: 'volumeBindingMode', value: next.volumeBindingMode ?? null, detail: 'field is immutable' });
  }
}

/**
 * NodeRestriction admission, as kube-apiserver's plugin does it, for the
 * writes of a node identity that the Node authorizer cannot judge from the
 * request attributes alone:
 *  - creates (the name is only in the body): a Node only under its own name,
 *    without configSource nor node-restriction.kubernetes.io/ labels; a Lease
 *    in kube-node-lease only under its own name; a Pod only as a mirror pod
 *    (kubernetes.io/config.mirror) bound to itself;
 *  - updates and patches (the old and new object): its own Node only, without
 *    changing taints, a configSource, a podCIDR once set, nor adding,
 *    removing or modifying node-restriction.kubernetes.io/ labels; a Pod's
 *    status only (a node creates and deletes mirror pods, nothing else).
 * Everything else (Events, other users) is left to RBAC.
 */
import type { ResourceInfo } from '@mkube/api';
import { ApiError } from '../errors.js';
import type { AuthenticatedUser } from './authn.js';
import { deepEqual } from '../registry/validation.js';
import { nodeNameOf } from './node_authorizer.js';

type Obj = Record<string, unknown>;

const RESTRICTED_LABEL_DOMAIN = 'node-restriction.kubernetes.io';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A label in the node-restriction.kubernetes.io domain (or a subdomain of it). */
function isRestrictedLabel(key: string): boolean {
  const domain = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  return domain === RESTRICTED_LABEL_DOMAIN || domain.endsWith(`.${RESTRICTED_LABEL_DOMAIN}`);
}

/** An object's labels (own string-valued entries only). */
function labelsOf(obj: Obj): Map<string, string> {
  const out = new Map<string, string>();
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const labels = isObj(meta.labels) ? meta.labels : {};
  for (const k of Object.keys(labels)) if (typeof labels[k] === 'string') out.set(k, labels[k] as string);
  return out;
}

/** Label keys added, removed or changed between two label sets. */
function modifiedLabels(a: Map<string, string>, b: Map<string, string> | Record<string, never>): Set<string> {
  const other = b instanceof Map ? b : new Map<string, string>();
  const out = new Set<string>();
  for (const [k, v] of a) if (other.get(k) !== v) out.add(k);
  for (const [k, v] of other) if (a.get(k) !== v) out.add(k);
  return out;
}

const specOf = (o: Obj): Obj => (isObj(o.spec) ? o.spec : {});
const same = (a: unknown, b: unknown): boolean => deepEqual(a ?? null, b ?? null);
const emptyList = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.length === 0);

/** NodeRestriction's 403: `<resource> "<name>" is forbidden: <why>`. */
export function forbidden(info: ResourceInfo, name: string, why: string): ApiError {
  const what = info.group ? `${info.resource}.${info.group}` : info.resource;
  return new ApiError(403, 'Forbidden', `${what} "${name}" is forbidden: ${why}`, { name, group: info.group || undefined, kind: info.resource });
}

/** Throws 403 Forbidden when a node identity creates something NodeRestriction does not admit. */
export function admitNodeCreate(user: AuthenticatedUser, info: ResourceInfo, obj: Obj): void {
  const node = nodeNameOf(user);
  if (node === undefined) return;
  const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as Obj;
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (info.group === '' && info.resource === 'nodes') {
    if (name !== node) throw forbidden(info, name, `node "${node}" is not allowed to modify node "${name}"`);
    const labels = [...modifiedLabels(labelsOf(obj), {})].filter(isRestrictedLabel);
    if (isObj(obj.spec) && obj.spec.configSource !== undefined && obj.spec.configSource !== null) {
      throw forbidden(info, name, `node "${node}" is not allowed to create pods with a non-nil configSource`);
    }
    if (labels.length > 0) throw forbidden(info, name, `node "${node}" is not allowed to set the following labels: ${labels.sort().join(', ')}`);
    return;
  }
  if (info.group === 'coordination.k8s.io' && info.resource === 'leases') {
    if (name !== node) throw forbidden(info, name, 'can only access node lease with the same name as the requesting node');
    return;
  }
  if (info.group === '' && info.resource === 'pods') {
    const annotations = (meta.annotations ?? {}) as Obj;
    if (annotations[MIRROR_ANNOTATION] === undefined) {
      throw forbidden(info, name, `pod does not have "${MIRROR_ANNOTATION}" annotation, node "${node}" can only create mirror pods`);
    }
    const spec = (obj.spec ?? {}) as Obj;
    if (spec.nodeName !== node) throw forbidden(info, name, `node "${node}" can only create pods with spec.nodeName set to itself`);
  }
}

/**
 * Throws 403 Forbidden when a node identity updates or patches something
 * NodeRestriction does not admit. `next` is the object the write would store,
 * `old` the current one; a status write keeps everything but the status (the
 * registry takes the rest from the current object), so it is not checked here.
 */
export function admitNodeUpdate(user: AuthenticatedUser, info: ResourceInfo, name: string, subresource: string | undefined, next: Obj, old: Obj): void {
  const node = nodeNameOf(user);
  if (node === undefined) return;
  if (info.group === '' && info.resource === 'nodes') {
    if (name !== node) throw forbidden(info, name, `node "${node}" is not allowed to modify node "${name}"`);
    if (subresource === 'status') return;
    const spec = specOf(next);
    const oldSpec = specOf(old);
    if (spec.configSource !== undefined && spec.configSource !== null && !same(spec.configSource, oldSpec.configSource)) {
      throw forbidden(info, name, `node "${node}" is not allowed to update configSource to a new non-nil configSource`);
    }
    if (!same(emptyList(spec.taints) ? null : spec.taints, emptyList(oldSpec.taints) ? null : oldSpec.taints)) {
      throw forbidden(info, name, `node "${node}" is not allowed to modify taints`);
    }
    // A podCIDR may be assigned once (the node agent registers with the one it was given), never changed.
    const cidrSet = typeof oldSpec.podCIDR === 'string' && oldSpec.podCIDR !== '';
    const cidrsSet = Array.isArray(oldSpec.podCIDRs) && oldSpec.podCIDRs.length > 0;
    if ((cidrSet && !same(spec.podCIDR, oldSpec.podCIDR)) || (cidrsSet && !same(spec.podCIDRs, oldSpec.podCIDRs))) {
      throw forbidden(info, name, `node "${node}" is not allowed to modify podCIDR`);
    }
    const labels = [...modifiedLabels(labelsOf(next), labelsOf(old))].filter(isRestrictedLabel);
    if (labels.length > 0) throw forbidden(info, name, `is not allowed to modify labels: ${labels.sort().join(', ')}`);
    return;
  }
  if (info.group === '' && info.resource === 'pods') {
    if (subresource === 'status') {
      if (specOf(old).nodeName !== node) throw forbidden(info, name, `node "${node}" can only update pod status for pods with spec.nodeName set to itself`);
      return;
    }
    if (subresource === undefined) throw forbidden(info, name, `unexpected operation "UPDATE", node "${node}" can only create and delete mirror pods`);
  }
}

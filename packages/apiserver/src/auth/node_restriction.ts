/**
 * NodeRestriction admission for creates, as kube-apiserver's plugin does it:
 * the Node authorizer cannot see the name of an object being created (create
 * requests carry it only in the body), so a node identity's creates are
 * checked here against the body:
 *  - a Node only under its own name, without node-restriction.kubernetes.io/ labels;
 *  - a Lease in kube-node-lease only under its own name;
 *  - a Pod only as a mirror pod (kubernetes.io/config.mirror) bound to itself.
 * Everything else (Events, other users) is left to RBAC.
 */
import type { ResourceInfo } from '@mkube/api';
import { ApiError } from '../errors.js';
import type { UserInfo } from './authn.js';
import { nodeNameOf } from './node_authorizer.js';

type Obj = Record<string, unknown>;

const RESTRICTED_LABEL_DOMAIN = 'node-restriction.kubernetes.io';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

function forbidden(info: ResourceInfo, name: string, why: string): ApiError {
  const what = info.group ? `${info.resource}.${info.group}` : info.resource;
  return new ApiError(403, 'Forbidden', `${what} "${name}" is forbidden: ${why}`, { name, group: info.group || undefined, kind: info.resource });
}

/** Throws 403 Forbidden when a node identity creates something NodeRestriction does not admit. */
export function admitNodeCreate(user: UserInfo, info: ResourceInfo, obj: Obj): void {
  const node = nodeNameOf(user);
  if (node === undefined) return;
  const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as Obj;
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (info.group === '' && info.resource === 'nodes') {
    if (name !== node) throw forbidden(info, name, `node "${node}" is not allowed to modify node "${name}"`);
    const labels = Object.keys((meta.labels ?? {}) as Obj).filter((k) => {
      const domain = k.includes('/') ? k.slice(0, k.indexOf('/')) : '';
      return domain === RESTRICTED_LABEL_DOMAIN || domain.endsWith(`.${RESTRICTED_LABEL_DOMAIN}`);
    });
    if (labels.length > 0) throw forbidden(info, name, `is not allowed to set the following labels: ${labels.sort().join(', ')}`);
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

/**
 * The Node authorizer (kube-apiserver's Node authorizer and NodeRestriction
 * admission, simplified). A node identity — user system:node:<name> in group
 * system:nodes — may only
 *   - get secrets and config maps referenced by pods bound to its node
 *     (volumes, projected volumes, env valueFrom, envFrom, imagePullSecrets),
 *   - update/patch/delete its own Node (and nodes/status),
 *   - get/update/patch/delete its own Lease in kube-node-lease,
 *   - update/patch pods/status of, delete and evict, pods bound to its node,
 *   - get persistent volume claims used by pods bound to its node or selected
 *     to it (volume.kubernetes.io/selected-node) for its local-path provisioner,
 *   - update/patch/delete persistent volumes pinned to it by their node
 *     affinity (what it may create: node_volume_restriction.ts).
 * Everything else gets no opinion here and is decided by RBAC. It runs before
 * RBAC for node identities; a denial carries the reason that Kubernetes
 * appends to its 403 message. Pods are user input: only their own fields are
 * read (never anything inherited through a prototype).
 */
import { ANN_SELECTED_NODE, findResource, volumePinnedNode, type JsonObject, type PersistentVolume } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import type { UserInfo } from './authn.js';
import type { Attributes } from './rbac.js';

type Obj = JsonObject;

export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export type NodeDecision = { decision: 'deny'; reason: string } | { decision: 'noOpinion' };

const NO_OPINION: NodeDecision = { decision: 'noOpinion' };

/** The node name of a node identity, or undefined for any other user. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES_GROUP) || !user.name.startsWith(NODE_USER_PREFIX)) return undefined;
  const name = user.name.slice(NODE_USER_PREFIX.length);
  return name || undefined;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** An own field of an untrusted object. */
const own = (o: unknown, key: string): unknown => (isObj(o) && Object.hasOwn(o, key) ? o[key] : undefined);
/** An own object field, or undefined. */
const ownObj = (o: unknown, key: string): Obj | undefined => {
  const v = own(o, key);
  return isObj(v) ? v : undefined;
};
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

/** Names of the secrets and config maps a pod references. */
export function podReferences(pod: Obj): { secrets: Set<string>; configMaps: Set<string> } {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  const add = (set: Set<string>, name: unknown) => {
    if (typeof name === 'string' && name) set.add(name);
  };
  const spec = ownObj(pod, 'spec') ?? {};
  for (const ref of arr(own(spec, 'imagePullSecrets'))) add(secrets, own(ref, 'name'));
  for (const v of arr(own(spec, 'volumes'))) {
    add(secrets, own(ownObj(v, 'secret'), 'secretName'));
    add(configMaps, own(ownObj(v, 'configMap'), 'name'));
    for (const src of arr(own(ownObj(v, 'projected'), 'sources'))) {
      add(secrets, own(ownObj(src, 'secret'), 'name'));
      add(configMaps, own(ownObj(src, 'configMap'), 'name'));
    }
    for (const plugin of ['cephfs', 'cinder', 'flexVolume', 'iscsi', 'rbd', 'scaleIO', 'storageos', 'csi']) {
      const p = ownObj(v, plugin);
      add(secrets, own(ownObj(p, 'secretRef'), 'name'));
      add(secrets, own(ownObj(p, 'nodePublishSecretRef'), 'name'));
    }
    add(secrets, own(ownObj(v, 'azureFile'), 'secretName'));
  }
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const c of arr(own(spec, field))) {
      for (const e of arr(own(c, 'env'))) {
        const from = ownObj(e, 'valueFrom');
        add(secrets, own(ownObj(from, 'secretKeyRef'), 'name'));
        add(configMaps, own(ownObj(from, 'configMapKeyRef'), 'name'));
      }
      for (const e of arr(own(c, 'envFrom'))) {
        add(secrets, own(ownObj(e, 'secretRef'), 'name'));
        add(configMaps, own(ownObj(e, 'configMapRef'), 'name'));
      }
    }
  }
  return { secrets, configMaps };
}

/** Names of the claims a pod uses: persistentVolumeClaim volumes and the <pod>-<volume> claims of its ephemeral volumes. */
export function podClaimNames(pod: Obj): Set<string> {
  const out = new Set<string>();
  const podName = own(ownObj(pod, 'metadata'), 'name');
  for (const v of arr(own(ownObj(pod, 'spec'), 'volumes'))) {
    const claim = own(ownObj(v, 'persistentVolumeClaim'), 'claimName');
    if (typeof claim === 'string' && claim) out.add(claim);
    const name = own(v, 'name');
    if (ownObj(v, 'ephemeral') && typeof podName === 'string' && typeof name === 'string') out.add(`${podName}-${name}`);
  }
  return out;
}

const nodeNameOfPod = (pod: Obj | undefined): string | undefined => {
  const name = own(ownObj(pod, 'spec'), 'nodeName');
  return typeof name === 'string' ? name : undefined;
};

export class NodeAuthorizer {
  private readonly pods = findResource('', 'v1', 'pods')!;
  private readonly claims = findResource('', 'v1', 'persistentvolumeclaims')!;
  private readonly volumes = findResource('', 'v1', 'persistentvolumes')!;

  constructor(private readonly registry: Registry) {}

  /** Applies only to node identities; others (and requests it does not restrict) get no opinion. */
  authorize(user: UserInfo, a: Attributes): NodeDecision {
    const node = nodeNameOf(user);
    if (node === undefined || a.resource === undefined) return NO_OPINION;
    const noRelationship: NodeDecision = { decision: 'deny', reason: `no relationship found between node '${node}' and this object` };
    const group = a.apiGroup ?? '';
    if (group === '' && (a.resource === 'secrets' || a.resource === 'configmaps')) {
      if (a.subresource) return noRelationship;
      if (a.verb !== 'get') {
        if (a.verb === 'list' || a.verb === 'watch') return { decision: 'deny', reason: 'can only get individual resources of this type' };
        return NO_OPINION;
      }
      if (!a.name || !a.namespace) return noRelationship;
      return this.referencedByNodePod(node, a.namespace, a.resource, a.name) ? NO_OPINION : noRelationship;
    }
    if (group === '' && a.resource === 'nodes') {
      // Creating is allowed by RBAC (the node registers itself); writes to an existing Node only for its own.
      if (['update', 'patch', 'delete'].includes(a.verb)) return a.name === node ? NO_OPINION : noRelationship;
      if (a.verb === 'deletecollection') return noRelationship;
      return NO_OPINION;
    }
    if (group === 'coordination.k8s.io' && a.resource === 'leases') {
      if (a.namespace !== NODE_LEASE_NAMESPACE) return noRelationship;
      if (a.verb === 'create') return NO_OPINION;
      if (['get', 'update', 'patch', 'delete'].includes(a.verb)) return a.name === node ? NO_OPINION : noRelationship;
      return { decision: 'deny', reason: 'can only get, create, update, patch or delete its own lease' };
    }
    if (group === '' && a.resource === 'pods') {
      const restricted =
        (a.subresource === 'status' && (a.verb === 'update' || a.verb === 'patch')) || (!a.subresource && a.verb === 'delete') || (a.subresource === 'eviction' && a.verb === 'create');
      if (a.verb === 'deletecollection') return noRelationship;
      if (!restricted) return NO_OPINION;
      if (!a.name || !a.namespace) return noRelationship;
      const pod = this.registry.cachedGet(this.pods, a.namespace, a.name);
      return nodeNameOfPod(pod) === node ? NO_OPINION : noRelationship;
    }
    if (group === '' && a.resource === 'serviceaccounts' && a.subresource === 'token') {
      // Tokens only for the service accounts of pods bound to the node (the binding itself is checked by the TokenRequest handler).
      if (a.verb !== 'create' || !a.name || !a.namespace) return noRelationship;
      const used = this.registry.cachedList(this.pods, a.namespace).some((p) => nodeNameOfPod(p) === node && (own(ownObj(p, 'spec'), 'serviceAccountName') ?? 'default') === a.name);
      return used ? NO_OPINION : noRelationship;
    }
    if (group === '' && a.resource === 'persistentvolumeclaims') return this.authorizeClaim(node, a, noRelationship);
    if (group === '' && a.resource === 'persistentvolumes') return this.authorizeVolume(node, a, noRelationship);
    return NO_OPINION;
  }

  /**
   * A claim (or its status) is read with get only when a pod bound to the node
   * uses it or it is selected to the node for provisioning. list and watch are
   * left to RBAC: the local-path provisioner's informer lists every claim.
   */
  private authorizeClaim(node: string, a: Attributes, noRelationship: NodeDecision): NodeDecision {
    if (a.verb !== 'get') return a.verb === 'deletecollection' ? noRelationship : NO_OPINION;
    if (a.subresource !== undefined && a.subresource !== 'status') return noRelationship;
    if (!a.name || !a.namespace) return noRelationship;
    const claim = this.registry.cachedGet(this.claims, a.namespace, a.name);
    if (claim !== undefined && own(ownObj(ownObj(claim, 'metadata'), 'annotations'), ANN_SELECTED_NODE) === node) return NO_OPINION;
    const used = this.registry.cachedList(this.pods, a.namespace).some((p) => nodeNameOfPod(p) === node && podClaimNames(p).has(a.name!));
    return used ? NO_OPINION : noRelationship;
  }

  /** Writes (update, patch, delete; any subresource) only to a volume whose node affinity pins it to the node; none to a collection. */
  private authorizeVolume(node: string, a: Attributes, noRelationship: NodeDecision): NodeDecision {
    if (a.verb === 'deletecollection') return noRelationship;
    if (!['update', 'patch', 'delete'].includes(a.verb)) return NO_OPINION;
    if (!a.name) return noRelationship;
    const pv = this.registry.cachedGet(this.volumes, undefined, a.name);
    return pv !== undefined && volumePinnedNode(pv as PersistentVolume) === node ? NO_OPINION : noRelationship;
  }

  private referencedByNodePod(node: string, namespace: string, resource: 'secrets' | 'configmaps', name: string): boolean {
    for (const pod of this.registry.cachedList(this.pods, namespace)) {
      if (nodeNameOfPod(pod) !== node) continue;
      const refs = podReferences(pod);
      if ((resource === 'secrets' ? refs.secrets : refs.configMaps).has(name)) return true;
    }
    return false;
  }
}

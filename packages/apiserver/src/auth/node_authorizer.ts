/**
 * The Node authorizer (kube-apiserver's plugin/pkg/auth/authorizer/node, simplified: relationships
 * are read from the watch cache, not a graph). For a node identity — user system:node:<name> in
 * group system:nodes — it subdivides the resources upstream subdivides, with upstream's decisions
 * and reasons (node_authorizer.go):
 *   - secrets and config maps: get/list/watch of one named object referenced by a pod bound to the
 *     node (volumes, projected volumes, env valueFrom, envFrom, imagePullSecrets) is allowed;
 *   - persistent volume claims: get of one used by a pod bound to the node, update/patch of its
 *     status; persistent volumes: get of one bound to such a claim;
 *   - service accounts: only create of the token of one used by a pod bound to the node.
 * Anything else on these resources gets no opinion with upstream's reason ("can only read
 * resources of this type", "No Object name found", "no relationship found between node ..."),
 * marked `subdivided`: RBAC then decides without the system:node ClusterRole (upstream leaves it
 * unbound and grants nodes these resources only here; mkube binds it to system:nodes for the rest),
 * so a node gets them only through another binding, and the 403 carries the reason.
 * mkube additions for the node agent's local-path provisioner (upstream's kubelet has none): list
 * and watch of claims and volumes, create of volumes (NodeRestriction: node_volume_restriction.ts),
 * get of a claim selected to the node (volume.kubernetes.io/selected-node), get and delete of a
 * volume its node affinity pins to the node.
 * Nodes, pods and node leases stay as before: RBAC's system:node grants narrowed by a deny —
 *   - update/patch/delete of its own Node (and nodes/status) only,
 *   - get/update/patch/delete of its own Lease in kube-node-lease,
 *   - update/patch of pods/status, delete and evict only for pods bound to the node.
 * Pods are user input: only their own fields are read (never anything inherited through a
 * prototype).
 */
import { ANN_SELECTED_NODE, findResource, volumePinnedNode, type JsonObject, type PersistentVolume } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import type { AuthenticatedUser } from './authn.js';
import type { Attributes } from './rbac.js';

type Obj = JsonObject;

export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/**
 * allow: granted here (RBAC is not asked); deny: refused whatever RBAC says; noOpinion: RBAC
 * decides — without the system:node ClusterRole when `subdivided` — and a refusal carries `reason`.
 */
export type NodeDecision = { decision: 'allow' } | { decision: 'deny'; reason: string } | { decision: 'noOpinion'; reason?: string; subdivided?: boolean };

const NO_OPINION: NodeDecision = { decision: 'noOpinion' };
const ALLOW: NodeDecision = { decision: 'allow' };
/** Upstream's DecisionNoOpinion with a reason, on a resource this authorizer subdivides. */
const refuse = (reason: string): NodeDecision => ({ decision: 'noOpinion', reason, subdivided: true });

/** The node name of a node identity, or undefined for any other user. */
export function nodeNameOf(user: AuthenticatedUser): string | undefined {
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

/** Upstream's reasons. */
const relationshipReason = (node: string): string => `no relationship found between node '${node}' and this object`;
const NO_NAME = 'No Object name found';
const GET_ONLY = 'can only get individual resources of this type';

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
  authorize(user: AuthenticatedUser, a: Attributes): NodeDecision {
    const node = nodeNameOf(user);
    if (node === undefined || a.resource === undefined) return NO_OPINION;
    const noRelationship: NodeDecision = { decision: 'deny', reason: relationshipReason(node) };
    const group = a.apiGroup ?? '';
    if (group === '' && (a.resource === 'secrets' || a.resource === 'configmaps')) return this.authorizeReadNamespaced(node, a);
    if (group === '' && a.resource === 'persistentvolumeclaims') return a.subresource === 'status' ? this.authorizeClaimStatus(node, a) : this.authorizeClaim(node, a);
    if (group === '' && a.resource === 'persistentvolumes') return this.authorizeVolume(node, a);
    if (group === '' && a.resource === 'serviceaccounts') return this.authorizeCreateToken(node, a);
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
    return NO_OPINION;
  }

  /** Upstream's authorizeReadNamespacedObject: get, list and watch of one named, related object. */
  private authorizeReadNamespaced(node: string, a: Attributes): NodeDecision {
    if (!['get', 'list', 'watch'].includes(a.verb)) return refuse('can only read resources of this type');
    if (a.subresource) return refuse('cannot read subresource');
    if (!a.namespace) return refuse('can only read namespaced object of this type');
    if (!a.name) return refuse(NO_NAME);
    return this.referencedByNodePod(node, a.namespace, a.resource as 'secrets' | 'configmaps', a.name) ? ALLOW : refuse(relationshipReason(node));
  }

  /**
   * Upstream's authorizeGet for claims: get of one a pod bound to the node uses (or, for the
   * provisioner, selected to the node). mkube: list and watch are allowed (the provisioner's
   * informer lists every claim).
   */
  private authorizeClaim(node: string, a: Attributes): NodeDecision {
    if ((a.verb === 'list' || a.verb === 'watch') && !a.subresource) return ALLOW;
    if (a.verb !== 'get') return refuse(GET_ONLY);
    if (a.subresource) return refuse('cannot get subresource');
    if (!a.name || !a.namespace) return refuse(NO_NAME);
    const claim = this.registry.cachedGet(this.claims, a.namespace, a.name);
    if (claim !== undefined && own(ownObj(ownObj(claim, 'metadata'), 'annotations'), ANN_SELECTED_NODE) === node) return ALLOW;
    return this.claimUsedByNodePod(node, a.namespace, a.name) ? ALLOW : refuse(relationshipReason(node));
  }

  /** Upstream's authorizeStatusUpdate: update and patch of the status of a claim a pod bound to the node uses. */
  private authorizeClaimStatus(node: string, a: Attributes): NodeDecision {
    if (a.verb !== 'update' && a.verb !== 'patch') return refuse('can only get/update/patch this type');
    if (!a.name || !a.namespace) return refuse(NO_NAME);
    return this.claimUsedByNodePod(node, a.namespace, a.name) ? ALLOW : refuse(relationshipReason(node));
  }

  /**
   * Upstream's authorizeGet for volumes: get of one bound to a claim a pod bound to the node uses.
   * mkube (the provisioner): list, watch and create are allowed, get and delete of a volume whose
   * node affinity pins it to the node; no other write, and none to a collection.
   */
  private authorizeVolume(node: string, a: Attributes): NodeDecision {
    if (!a.subresource && (a.verb === 'list' || a.verb === 'watch' || a.verb === 'create')) return ALLOW;
    const pinned = (): boolean => {
      const pv = a.name ? this.registry.cachedGet(this.volumes, undefined, a.name) : undefined;
      return pv !== undefined && volumePinnedNode(pv as PersistentVolume) === node;
    };
    if (a.verb === 'delete' && !a.subresource) return a.name && pinned() ? ALLOW : refuse(relationshipReason(node));
    if (a.verb !== 'get') return refuse(GET_ONLY);
    if (a.subresource) return refuse('cannot get subresource');
    if (!a.name) return refuse(NO_NAME);
    return pinned() || this.volumeUsedByNodePod(node, a.name) ? ALLOW : refuse(relationshipReason(node));
  }

  /** Upstream's authorizeCreateToken: every serviceaccounts request; only a token of a service account a pod bound to the node runs as. */
  private authorizeCreateToken(node: string, a: Attributes): NodeDecision {
    if (a.verb !== 'create' || !a.name) return refuse('can only create tokens for individual service accounts');
    if (a.subresource !== 'token') return refuse('can only create token subresource of serviceaccount');
    const used = a.namespace !== undefined && this.registry.cachedList(this.pods, a.namespace).some((p) => nodeNameOfPod(p) === node && (own(ownObj(p, 'spec'), 'serviceAccountName') || 'default') === a.name);
    return used ? ALLOW : refuse(relationshipReason(node));
  }

  private claimUsedByNodePod(node: string, namespace: string, name: string): boolean {
    return this.registry.cachedList(this.pods, namespace).some((p) => nodeNameOfPod(p) === node && podClaimNames(p).has(name));
  }

  /** node <- pod <- claim <- volume: a claim of a pod bound to the node is bound to the volume (spec.volumeName). */
  private volumeUsedByNodePod(node: string, volume: string): boolean {
    for (const pod of this.registry.cachedList(this.pods)) {
      if (nodeNameOfPod(pod) !== node) continue;
      const namespace = own(ownObj(pod, 'metadata'), 'namespace');
      if (typeof namespace !== 'string') continue;
      for (const claimName of podClaimNames(pod)) {
        const claim = this.registry.cachedGet(this.claims, namespace, claimName);
        if (own(ownObj(claim, 'spec'), 'volumeName') === volume) return true;
      }
    }
    return false;
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

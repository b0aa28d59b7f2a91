/**
 * The resources mkube serves, with the facts Kubernetes discovery reports for
 * them (group, version, kind, plural, singular, scope, short names,
 * categories, verbs, subresources) and the protobuf message types they use.
 */

export interface ResourceInfo {
  /** API group; "" for the core group. */
  readonly group: string;
  readonly version: string;
  /** "v1" for the core group, otherwise "group/version". */
  readonly apiVersion: string;
  readonly kind: string;
  readonly listKind: string | undefined;
  /** Plural resource name used in URLs ("pods"). */
  readonly resource: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
  /** Full protobuf message name of the object. */
  readonly protoType: string;
  /** Full protobuf message name of the list, if the resource can be listed. */
  readonly listProtoType: string | undefined;
  readonly subresources: { readonly status: boolean; readonly scale: boolean };
}

export const STANDARD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;
const NO_COLLECTION_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] as const;

interface Spec {
  group: string;
  version: string;
  kind: string;
  resource: string;
  namespaced: boolean;
  pkg: string;
  shortNames?: string[];
  categories?: string[];
  verbs?: readonly string[];
  status?: boolean;
  scale?: boolean;
  list?: boolean;
}

function define(s: Spec): ResourceInfo {
  const listable = s.list ?? true;
  return {
    group: s.group,
    version: s.version,
    apiVersion: s.group === '' ? s.version : `${s.group}/${s.version}`,
    kind: s.kind,
    listKind: listable ? `${s.kind}List` : undefined,
    resource: s.resource,
    singular: s.kind.toLowerCase(),
    namespaced: s.namespaced,
    shortNames: s.shortNames ?? [],
    categories: s.categories ?? [],
    verbs: s.verbs ?? STANDARD_VERBS,
    protoType: `k8s.io.api.${s.pkg}.${s.kind}`,
    listProtoType: listable ? `k8s.io.api.${s.pkg}.${s.kind}List` : undefined,
    subresources: { status: s.status ?? false, scale: s.scale ?? false },
  };
}

const ALL = ['all'];

export const RESOURCES: readonly ResourceInfo[] = [
  define({ group: '', version: 'v1', kind: 'Binding', resource: 'bindings', namespaced: true, pkg: 'core.v1', verbs: ['create'], list: false }),
  define({ group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespaced: true, pkg: 'core.v1', shortNames: ['cm'] }),
  define({ group: '', version: 'v1', kind: 'Endpoints', resource: 'endpoints', namespaced: true, pkg: 'core.v1', shortNames: ['ep'] }),
  define({ group: '', version: 'v1', kind: 'Event', resource: 'events', namespaced: true, pkg: 'core.v1', shortNames: ['ev'] }),
  define({ group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false, pkg: 'core.v1', shortNames: ['ns'], verbs: NO_COLLECTION_VERBS, status: true }),
  define({ group: '', version: 'v1', kind: 'Node', resource: 'nodes', namespaced: false, pkg: 'core.v1', shortNames: ['no'], status: true }),
  define({ group: '', version: 'v1', kind: 'PersistentVolumeClaim', resource: 'persistentvolumeclaims', namespaced: true, pkg: 'core.v1', shortNames: ['pvc'], status: true }),
  define({ group: '', version: 'v1', kind: 'PersistentVolume', resource: 'persistentvolumes', namespaced: false, pkg: 'core.v1', shortNames: ['pv'], status: true }),
  define({ group: '', version: 'v1', kind: 'Pod', resource: 'pods', namespaced: true, pkg: 'core.v1', shortNames: ['po'], categories: ALL, status: true }),
  define({ group: '', version: 'v1', kind: 'ReplicationController', resource: 'replicationcontrollers', namespaced: true, pkg: 'core.v1', shortNames: ['rc'], categories: ALL, status: true, scale: true }),
  define({ group: '', version: 'v1', kind: 'Secret', resource: 'secrets', namespaced: true, pkg: 'core.v1' }),
  define({ group: '', version: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', namespaced: true, pkg: 'core.v1', shortNames: ['sa'] }),
  define({ group: '', version: 'v1', kind: 'Service', resource: 'services', namespaced: true, pkg: 'core.v1', shortNames: ['svc'], categories: ALL, status: true }),
  define({ group: 'apps', version: 'v1', kind: 'ControllerRevision', resource: 'controllerrevisions', namespaced: true, pkg: 'apps.v1' }),
  define({ group: 'apps', version: 'v1', kind: 'DaemonSet', resource: 'daemonsets', namespaced: true, pkg: 'apps.v1', shortNames: ['ds'], categories: ALL, status: true }),
  define({ group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespaced: true, pkg: 'apps.v1', shortNames: ['deploy'], categories: ALL, status: true, scale: true }),
  define({ group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets', namespaced: true, pkg: 'apps.v1', shortNames: ['rs'], categories: ALL, status: true, scale: true }),
  define({ group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets', namespaced: true, pkg: 'apps.v1', shortNames: ['sts'], categories: ALL, status: true, scale: true }),
  define({ group: 'batch', version: 'v1', kind: 'CronJob', resource: 'cronjobs', namespaced: true, pkg: 'batch.v1', shortNames: ['cj'], categories: ALL, status: true }),
  define({ group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs', namespaced: true, pkg: 'batch.v1', categories: ALL, status: true }),
  define({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', resource: 'endpointslices', namespaced: true, pkg: 'discovery.v1' }),
  define({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', resource: 'leases', namespaced: true, pkg: 'coordination.v1' }),
  define({ group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', resource: 'ingressclasses', namespaced: false, pkg: 'networking.v1' }),
  define({ group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', resource: 'ingresses', namespaced: true, pkg: 'networking.v1', shortNames: ['ing'], status: true }),
  define({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', resource: 'networkpolicies', namespaced: true, pkg: 'networking.v1', shortNames: ['netpol'] }),
  define({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', resource: 'clusterrolebindings', namespaced: false, pkg: 'rbac.v1' }),
  define({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', resource: 'clusterroles', namespaced: false, pkg: 'rbac.v1' }),
  define({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', resource: 'rolebindings', namespaced: true, pkg: 'rbac.v1' }),
  define({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', resource: 'roles', namespaced: true, pkg: 'rbac.v1' }),
  define({ group: 'scheduling.k8s.io', version: 'v1', kind: 'PriorityClass', resource: 'priorityclasses', namespaced: false, pkg: 'scheduling.v1', shortNames: ['pc'] }),
  define({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', resource: 'storageclasses', namespaced: false, pkg: 'storage.v1', shortNames: ['sc'] }),
  define({ group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService', resource: 'apiservices', namespaced: false, pkg: 'apiregistration.v1', categories: ['api-extensions'], status: true }),
  define({ group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', resource: 'poddisruptionbudgets', namespaced: true, pkg: 'policy.v1', shortNames: ['pdb'], status: true }),
  define({ group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', resource: 'horizontalpodautoscalers', namespaced: true, pkg: 'autoscaling.v2', shortNames: ['hpa'], categories: ALL, status: true }),
  // Served converted from the stored autoscaling/v2 object (apiserver registry/hpa_v1_conversion.ts); v2 stays preferred.
  define({ group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler', resource: 'horizontalpodautoscalers', namespaced: true, pkg: 'autoscaling.v1', shortNames: ['hpa'], categories: ALL, status: true }),
  define({ group: 'certificates.k8s.io', version: 'v1', kind: 'CertificateSigningRequest', resource: 'certificatesigningrequests', namespaced: false, pkg: 'certificates.v1', shortNames: ['csr'], status: true }),
  // Create-only reviews: answered from the authenticator/authorizer, never stored, not listable.
  define({ group: 'authentication.k8s.io', version: 'v1', kind: 'SelfSubjectReview', resource: 'selfsubjectreviews', namespaced: false, pkg: 'authentication.v1', verbs: ['create'], list: false }),
  define({ group: 'authentication.k8s.io', version: 'v1', kind: 'TokenReview', resource: 'tokenreviews', namespaced: false, pkg: 'authentication.v1', verbs: ['create'], list: false }),
  define({ group: 'authentication.k8s.io', version: 'v1beta1', kind: 'SelfSubjectReview', resource: 'selfsubjectreviews', namespaced: false, pkg: 'authentication.v1beta1', verbs: ['create'], list: false }),
  define({ group: 'authorization.k8s.io', version: 'v1', kind: 'LocalSubjectAccessReview', resource: 'localsubjectaccessreviews', namespaced: true, pkg: 'authorization.v1', verbs: ['create'], list: false }),
  define({ group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', resource: 'selfsubjectaccessreviews', namespaced: false, pkg: 'authorization.v1', verbs: ['create'], list: false }),
  define({ group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectRulesReview', resource: 'selfsubjectrulesreviews', namespaced: false, pkg: 'authorization.v1', verbs: ['create'], list: false }),
  define({ group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', resource: 'subjectaccessreviews', namespaced: false, pkg: 'authorization.v1', verbs: ['create'], list: false }),
];

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/**
 * Kinds that travel on the wire but are not stored resources: the
 * apiVersion/kind → protobuf message table for Status, Scale and friends.
 */
export const AUXILIARY_KINDS: ReadonlyMap<string, string> = new Map([
  ['v1/Status', `${META}.Status`],
  ['meta.k8s.io/v1/Status', `${META}.Status`],
  ['v1/DeleteOptions', `${META}.DeleteOptions`],
  ['meta.k8s.io/v1/DeleteOptions', `${META}.DeleteOptions`],
  ['meta.k8s.io/v1/WatchEvent', `${META}.WatchEvent`],
  ['v1/WatchEvent', `${META}.WatchEvent`],
  ['autoscaling/v1/Scale', 'k8s.io.api.autoscaling.v1.Scale'],
  // The serviceaccounts/token subresource's body (not a resource of its own).
  ['authentication.k8s.io/v1/TokenRequest', 'k8s.io.api.authentication.v1.TokenRequest'],
  // The pods/eviction subresource's body.
  ['policy/v1/Eviction', 'k8s.io.api.policy.v1.Eviction'],
]);

export class RegistryError extends Error {
  constructor(readonly code: 'RESOURCE_NOT_FOUND' | 'KIND_NOT_FOUND', message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Splits an apiVersion ("apps/v1", "v1") into group and version. */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/**
 * Create-only resources answered on the spot and never stored (the access and
 * token reviews): POST returns the object with its status, other verbs are 405.
 */
export function isVirtualResource(info: ResourceInfo): boolean {
  return info.group === 'authentication.k8s.io' || info.group === 'authorization.k8s.io';
}

/** The resource served at /apis/{group}/{version}/{resource} (or /api/v1/{resource}). */
export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** The resource whose objects (or lists, with list=true) have this apiVersion and kind. */
export function findResourceByKind(apiVersion: string, kind: string): { info: ResourceInfo; list: boolean } | undefined {
  for (const info of RESOURCES) {
    if (info.apiVersion !== apiVersion) continue;
    if (info.kind === kind) return { info, list: false };
    if (info.listKind === kind) return { info, list: true };
  }
  return undefined;
}

/**
 * Resolves what a user types (kubectl style): plural, singular, short name or
 * kind, optionally qualified by group ("deployments.apps", "deploy").
 */
export function resolveResourceName(name: string): ResourceInfo | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf('.');
  const base = dot < 0 ? lower : lower.slice(0, dot);
  const group = dot < 0 ? undefined : lower.slice(dot + 1);
  return RESOURCES.find(
    (r) =>
      (group === undefined || r.group === group) &&
      (r.resource === base || r.singular === base || r.kind.toLowerCase() === base || r.shortNames.includes(base)),
  );
}

/** The protobuf message type for apiVersion + kind, including lists and auxiliary kinds. */
export function protoTypeForKind(apiVersion: string, kind: string): string {
  const found = findResourceByKind(apiVersion, kind);
  if (found) return found.list ? found.info.listProtoType! : found.info.protoType;
  const aux = AUXILIARY_KINDS.get(`${apiVersion}/${kind}`);
  if (aux) return aux;
  throw new RegistryError('KIND_NOT_FOUND', `no kind "${kind}" is registered in version "${apiVersion}"`);
}

/** The API groups mkube serves, with their versions, in discovery order. */
export function apiGroups(): { group: string; versions: string[] }[] {
  const groups = new Map<string, Set<string>>();
  for (const r of RESOURCES) {
    if (!groups.has(r.group)) groups.set(r.group, new Set());
    groups.get(r.group)!.add(r.version);
  }
  return [...groups].map(([group, versions]) => ({ group, versions: [...versions] }));
}

/**
 * The served resource with this plural name in this group (first version in
 * the table); throws RESOURCE_NOT_FOUND when mkube does not serve it. The
 * client's and the controllers' named handles (Resources.pods) come from here.
 */
export function resourceFor(resource: string, group = ''): ResourceInfo {
  const found = RESOURCES.find((r) => r.group === group && r.resource === resource);
  if (!found) throw new RegistryError('RESOURCE_NOT_FOUND', `the server doesn't have a resource type "${group ? `${resource}.${group}` : resource}"`);
  return found;
}

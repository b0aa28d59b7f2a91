/**
 * The bootstrap RBAC policy (kube-apiserver's rbac/bootstrap-roles post-start
 * hook): default ClusterRoles, Roles and their bindings, created at API server
 * start when absent and reconciled when present. Reconciling only adds what
 * is missing (rules not covered by the existing ones, subjects, labels,
 * annotations); it never removes anything a user added. Objects annotated
 * rbac.authorization.kubernetes.io/autoupdate=false are left alone.
 */
import { findResource, type JsonObject, type PolicyRule, type ResourceInfo, type Subject } from '@mkube/api';
import type { Logger } from 'pino';
import { ApiError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { deepEqual } from '../registry/validation.js';

type Obj = JsonObject;


const RBAC_API = 'rbac.authorization.k8s.io/v1';
const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const AUTOUPDATE_ANNOTATION = 'rbac.authorization.kubernetes.io/autoupdate';
export const BOOTSTRAP_LABEL = 'kubernetes.io/bootstrapping';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): PolicyRule =>
  resourceNames ? { apiGroups, resources, verbs, resourceNames } : { apiGroups, resources, verbs };
const urls = (nonResourceURLs: string[], verbs: string[]): PolicyRule => ({ nonResourceURLs, verbs });

const metadata = (name: string, namespace?: string): Obj => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels: { [BOOTSTRAP_LABEL]: 'rbac-defaults' },
  annotations: { [AUTOUPDATE_ANNOTATION]: 'true' },
});

function clusterRole(name: string, rules: PolicyRule[]): Obj {
  return { apiVersion: RBAC_API, kind: 'ClusterRole', metadata: metadata(name), rules: rules as unknown as Obj[] };
}

function role(namespace: string, name: string, rules: PolicyRule[]): Obj {
  return { apiVersion: RBAC_API, kind: 'Role', metadata: metadata(name, namespace), rules: rules as unknown as Obj[] };
}

function subjectsOf(subjects: Subject[]): Obj[] {
  return subjects.map((s) => (s.kind === 'ServiceAccount' ? { ...s } : { apiGroup: RBAC_GROUP, ...s })) as unknown as Obj[];
}

function clusterRoleBinding(name: string, roleName: string, subjects: Subject[]): Obj {
  return { apiVersion: RBAC_API, kind: 'ClusterRoleBinding', metadata: metadata(name), roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: roleName }, subjects: subjectsOf(subjects) };
}

function roleBinding(namespace: string, name: string, roleName: string, subjects: Subject[]): Obj {
  return { apiVersion: RBAC_API, kind: 'RoleBinding', metadata: metadata(name, namespace), roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: roleName }, subjects: subjectsOf(subjects) };
}

// ------------------------------------------------------------------ roles

/** Read access to the namespaced workload resources (no secrets, no RBAC). */
const VIEW_RULES: PolicyRule[] = [
  rule([''], ['pods', 'pods/log', 'pods/status', 'configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'replicationcontrollers', 'replicationcontrollers/scale', 'replicationcontrollers/status', 'serviceaccounts', 'services', 'services/status', 'bindings', 'events', 'limitranges', 'resourcequotas', 'resourcequotas/status'], READ),
  rule([''], ['namespaces', 'namespaces/status'], READ),
  rule(['apps'], ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status'], READ),
  rule(['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status'], READ),
  rule(['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status'], READ),
  rule(['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status'], READ),
  rule(['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies'], READ),
  rule(['discovery.k8s.io'], ['endpointslices'], READ),
];

/** view plus writes to workloads, config and secrets (no RBAC). */
const EDIT_RULES: PolicyRule[] = [
  ...VIEW_RULES,
  rule([''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy'], READ),
  rule([''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'], WRITE),
  rule([''], ['pods/eviction'], ['create']),
  rule([''], ['configmaps', 'endpoints', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy'], WRITE),
  rule([''], ['serviceaccounts'], ['impersonate']),
  rule(['apps'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale'], WRITE),
  rule(['autoscaling'], ['horizontalpodautoscalers'], WRITE),
  rule(['batch'], ['cronjobs', 'jobs'], WRITE),
  rule(['policy'], ['poddisruptionbudgets'], WRITE),
  rule(['networking.k8s.io'], ['ingresses', 'networkpolicies'], WRITE),
  rule(['discovery.k8s.io'], ['endpointslices'], WRITE),
  rule(['coordination.k8s.io'], ['leases'], [...READ, ...WRITE]),
];

/** edit plus Roles and RoleBindings of the namespace. */
const ADMIN_RULES: PolicyRule[] = [
  ...EDIT_RULES,
  rule([RBAC_GROUP], ['roles', 'rolebindings'], [...READ, ...WRITE]),
  rule(['authorization.k8s.io'], ['localsubjectaccessreviews'], ['create']),
];

const SCHEDULER_RULES: PolicyRule[] = [
  rule(['', 'events.k8s.io'], ['events'], ['create', 'patch', 'update']),
  rule([''], ['pods'], [...READ, 'delete']),
  rule([''], ['bindings', 'pods/binding'], ['create']),
  rule([''], ['pods/status'], ['patch', 'update']),
  rule([''], ['nodes'], READ),
  rule([''], ['namespaces'], READ),
  rule([''], ['configmaps'], ['get']),
  rule([''], ['persistentvolumeclaims', 'persistentvolumes'], READ),
  rule([''], ['replicationcontrollers', 'services'], READ),
  // VolumeBinding's PreBind: binds volumes to claims and marks WaitForFirstConsumer claims with the selected node.
  rule([''], ['persistentvolumeclaims', 'persistentvolumes'], ['patch', 'update']),
  rule(['apps'], ['replicasets', 'statefulsets'], READ),
  rule(['policy'], ['poddisruptionbudgets'], READ),
  rule(['scheduling.k8s.io'], ['priorityclasses'], READ),
  rule(['storage.k8s.io'], ['storageclasses', 'csinodes', 'csidrivers', 'csistoragecapacities'], READ),
  rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
  rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
];

const CONTROLLER_MANAGER_RULES: PolicyRule[] = [
  // The garbage collector and the namespace controller act on every resource.
  rule(['*'], ['*'], [...READ, 'patch', 'update', 'delete', 'deletecollection']),
  rule(['', 'events.k8s.io'], ['events'], ['create', 'patch', 'update']),
  rule([''], ['pods', 'endpoints', 'services', 'configmaps', 'serviceaccounts', 'secrets'], ['create']),
  rule([''], ['pods/status', 'nodes/status', 'services/status', 'namespaces/status', 'replicationcontrollers/status'], ['patch', 'update']),
  rule([''], ['replicationcontrollers/finalizers'], ['update']),
  rule([''], ['namespaces/finalize'], ['update']),
  // The PV controller (persistentvolume-binder) and the PVC/PV protection controllers.
  rule([''], ['persistentvolumes/status', 'persistentvolumeclaims/status'], ['patch', 'update']),
  rule([''], ['pods/eviction'], ['create']),
  rule(['apps'], ['replicasets', 'deployments', 'controllerrevisions', 'daemonsets', 'statefulsets'], ['create']),
  rule(['apps'], ['replicasets/status', 'deployments/status', 'deployments/scale', 'replicasets/scale', 'daemonsets/status', 'statefulsets/status'], ['patch', 'update']),
  rule(['apps'], ['deployments/finalizers', 'replicasets/finalizers'], ['update']),
  // The CronJob controller creates Jobs; the Job, CronJob and TTL-after-finished controllers write their status and owner references that block deletion.
  rule(['batch'], ['jobs'], ['create']),
  rule(['batch'], ['jobs/status', 'cronjobs/status'], ['patch', 'update']),
  rule(['batch'], ['jobs/finalizers', 'cronjobs/finalizers'], ['update']),
  // The StatefulSet controller's claims from volumeClaimTemplates; owner references that block deletion on its and the DaemonSet controller's objects.
  rule([''], ['persistentvolumeclaims'], ['create']),
  rule(['apps'], ['statefulsets/finalizers', 'daemonsets/finalizers'], ['update']),
  // The disruption controller writes PodDisruptionBudget status; the pod GC force-deletes and patches pod conditions.
  rule(['policy'], ['poddisruptionbudgets/status'], ['patch', 'update']),
  rule(['discovery.k8s.io'], ['endpointslices'], ['create']),
  rule(['coordination.k8s.io'], ['leases'], READ),
  rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
  rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
  // The horizontal pod autoscaler writes its status (it reads metrics.k8s.io and scales through the rules above).
  rule(['autoscaling'], ['horizontalpodautoscalers/status'], ['patch', 'update']),
  // csrapproving and csrsigning (upstream's certificate-controller role): CertificateApproval and CertificateSigning
  // admit their /approval and /status writes only with approve / sign on the signer.
  rule(['certificates.k8s.io'], ['signers'], ['approve'], ['kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving']),
  // mkube: csrapproving also approves a node's request for its own Ingress controller identity (kube-apiserver-client,
  // exactly CN system:mkube-ingress:<node>, O system:mkube-ingresses; packages/controllers/src/certificates/approve.ts).
  rule(['certificates.k8s.io'], ['signers'], ['approve'], ['kubernetes.io/kube-apiserver-client']),
  rule(['certificates.k8s.io'], ['signers'], ['sign'], ['kubernetes.io/legacy-unknown', 'kubernetes.io/kube-apiserver-client', 'kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving']),
];

/** metrics-server's ClusterRole system:metrics-server: the nodes it scrapes and the pods it serves metrics of. */
const METRICS_SERVER_RULES: PolicyRule[] = [rule([''], ['nodes/metrics', 'nodes/stats'], ['get']), rule([''], ['pods', 'nodes'], READ)];
export const METRICS_SERVER_USER = 'system:metrics-server';

/** What a node agent may do; reads of secrets, config maps and claims and writes to nodes, leases, pods and persistent volumes are narrowed by the Node authorizer and NodeRestriction. */
const NODE_RULES: PolicyRule[] = [
  rule([''], ['nodes'], ['create', 'get', 'list', 'watch', 'patch', 'update']),
  rule([''], ['nodes/status'], ['patch', 'update']),
  rule([''], ['pods'], [...READ, 'delete']),
  rule([''], ['pods/status'], ['patch', 'update']),
  rule([''], ['pods/eviction'], ['create']),
  rule(['', 'events.k8s.io'], ['events'], ['create', 'patch', 'update']),
  rule(['coordination.k8s.io'], ['leases'], ['get', 'create', 'update', 'patch', 'delete']),
  rule([''], ['configmaps', 'secrets', 'persistentvolumeclaims', 'persistentvolumes'], ['get']),
  rule([''], ['services', 'endpoints'], READ),
  // Projected service-account tokens for the node's pods (narrowed by the Node authorizer).
  rule([''], ['serviceaccounts'], ['get']),
  rule([''], ['serviceaccounts/token'], ['create']),
  rule(['discovery.k8s.io'], ['endpointslices'], READ),
  rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
  rule(['authorization.k8s.io'], ['subjectaccessreviews', 'localsubjectaccessreviews'], ['create']),
  // The local-path provisioner in the node agent: its informers list and watch claims, volumes and classes (a get of a
  // claim only for one selected to the node or used by its pods); NodeRestriction (node_volume_restriction.ts) admits
  // only the local volume of a claim selected to the node, pinned to it, and the Node authorizer lets it delete only
  // volumes pinned to it.
  rule([''], ['persistentvolumeclaims', 'persistentvolumes'], READ),
  rule([''], ['persistentvolumes'], ['create', 'delete']),
  rule(['storage.k8s.io'], ['storageclasses'], READ),
  // Its client and serving certificates through CertificateSigningRequests (rotation).
  rule(['certificates.k8s.io'], ['certificatesigningrequests'], ['create', 'get', 'list', 'watch']),
  // NetworkPolicy enforcement in the node agent (src/netpol): policies, and the namespaces their namespaceSelectors
  // select (pods are read above), as a CNI's node agent reads them.
  rule([''], ['namespaces'], READ),
  rule(['networking.k8s.io'], ['networkpolicies'], READ),
];

/**
 * Joining nodes (upstream's system:node-bootstrapper and the csrapproving
 * controller's nodeclient/selfnodeclient roles), bound as kubeadm init binds
 * them: bootstrap tokens of kubeadm's default group may submit CSRs that are
 * auto-approved, nodes may renew their own client certificate, and
 * kube-public/cluster-info is readable before a client trusts the CA.
 */
const CSR_RULES: PolicyRule[] = [rule(['certificates.k8s.io'], ['certificatesigningrequests'], ['create', 'get', 'list', 'watch'])];
const BOOTSTRAP_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

/** Upstream's system:kube-dns: the cluster DNS reads Services and their endpoints. */
const KUBE_DNS_RULES: PolicyRule[] = [
  rule([''], ['endpoints', 'services'], ['list', 'watch']),
  rule(['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']),
];

/** mkube-ingress (as ingress-nginx's ClusterRole): reads what it routes, writes Ingress status and events. */
const INGRESS_RULES: PolicyRule[] = [
  rule([''], ['services', 'secrets', 'nodes'], ['get', 'list', 'watch']),
  rule(['discovery.k8s.io'], ['endpointslices'], ['get', 'list', 'watch']),
  rule(['networking.k8s.io'], ['ingresses', 'ingressclasses'], ['get', 'list', 'watch']),
  // It creates the default IngressClass mkube when missing.
  rule(['networking.k8s.io'], ['ingressclasses'], ['create']),
  rule(['networking.k8s.io'], ['ingresses/status'], ['update']),
  rule([''], ['events'], ['create', 'patch']),
];

/** Upstream's system:cloud-controller-manager (mkube-cloud-controller-manager): LoadBalancer status and finalizers, Node initialisation and deletion, events. */
const CLOUD_CONTROLLER_MANAGER_RULES: PolicyRule[] = [
  rule([''], ['events'], ['create', 'patch', 'update']),
  rule([''], ['nodes'], [...READ, 'patch', 'update', 'delete']),
  rule([''], ['nodes/status'], ['patch', 'update']),
  rule([''], ['services'], [...READ, 'patch', 'update']),
  rule([''], ['services/status'], ['patch', 'update']),
  rule(['coordination.k8s.io'], ['leases'], READ),
];
export const CLOUD_CONTROLLER_MANAGER_USER = 'system:cloud-controller-manager';

const DISCOVERY_RULES: PolicyRule[] = [
  urls(['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/version', '/version/', '/openapi', '/openapi/*'], ['get']),
];

const BASIC_USER_RULES: PolicyRule[] = [
  rule(['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], ['create']),
  rule(['authentication.k8s.io'], ['selfsubjectreviews'], ['create']),
];

/** Leader election leases of the control-plane components, in kube-system only. */
const leaderLockingRules = (): PolicyRule[] => [rule(['coordination.k8s.io'], ['leases'], [...READ, 'create', 'update', 'patch'])];

export const SCHEDULER_USER = 'system:kube-scheduler';
export const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';
export const NODES_GROUP = 'system:nodes';

export interface BootstrapPolicy {
  clusterRoles: Obj[];
  clusterRoleBindings: Obj[];
  roles: Obj[];
  roleBindings: Obj[];
}

export function bootstrapPolicy(): BootstrapPolicy {
  return {
    clusterRoles: [
      clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
      clusterRole('admin', ADMIN_RULES),
      clusterRole('edit', EDIT_RULES),
      clusterRole('view', VIEW_RULES),
      clusterRole('system:discovery', DISCOVERY_RULES),
      clusterRole('system:basic-user', BASIC_USER_RULES),
      clusterRole('system:kube-scheduler', SCHEDULER_RULES),
      clusterRole('system:kube-controller-manager', CONTROLLER_MANAGER_RULES),
      clusterRole('system:node', NODE_RULES),
      clusterRole('system:kube-dns', KUBE_DNS_RULES),
      clusterRole('mkube-ingress', INGRESS_RULES),
      clusterRole('system:metrics-server', METRICS_SERVER_RULES),
      clusterRole('system:cloud-controller-manager', CLOUD_CONTROLLER_MANAGER_RULES),
      clusterRole('system:node-bootstrapper', CSR_RULES),
      clusterRole('system:certificates.k8s.io:certificatesigningrequests:nodeclient', [rule(['certificates.k8s.io'], ['certificatesigningrequests/nodeclient'], ['create'])]),
      clusterRole('system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [rule(['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient'], ['create'])]),
    ],
    clusterRoleBindings: [
      clusterRoleBinding('cluster-admin', 'cluster-admin', [{ kind: 'Group', name: 'system:masters' }]),
      clusterRoleBinding('system:discovery', 'system:discovery', [{ kind: 'Group', name: 'system:authenticated' }]),
      clusterRoleBinding('system:basic-user', 'system:basic-user', [{ kind: 'Group', name: 'system:authenticated' }]),
      clusterRoleBinding('system:kube-scheduler', 'system:kube-scheduler', [{ kind: 'User', name: SCHEDULER_USER }]),
      clusterRoleBinding('system:kube-controller-manager', 'system:kube-controller-manager', [{ kind: 'User', name: CONTROLLER_MANAGER_USER }]),
      clusterRoleBinding('system:node', 'system:node', [{ kind: 'Group', name: NODES_GROUP }]),
      clusterRoleBinding('system:kube-dns', 'system:kube-dns', [{ kind: 'ServiceAccount', name: 'kube-dns', namespace: 'kube-system' }]),
      clusterRoleBinding('mkube-ingress', 'mkube-ingress', [{ kind: 'ServiceAccount', name: 'mkube-ingress', namespace: 'kube-system' }]),
      // Each worker's Ingress controller on a join-flow cluster: its own identity system:mkube-ingress:<node> in this group.
      clusterRoleBinding('mkube-ingresses', 'mkube-ingress', [{ kind: 'Group', name: 'system:mkube-ingresses' }]),
      clusterRoleBinding('system:metrics-server', 'system:metrics-server', [{ kind: 'User', name: METRICS_SERVER_USER }]),
      clusterRoleBinding('system:cloud-controller-manager', 'system:cloud-controller-manager', [{ kind: 'User', name: CLOUD_CONTROLLER_MANAGER_USER }]),
      clusterRoleBinding('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', [{ kind: 'Group', name: BOOTSTRAP_TOKEN_GROUP }]),
      clusterRoleBinding('kubeadm:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', [{ kind: 'Group', name: BOOTSTRAP_TOKEN_GROUP }]),
      clusterRoleBinding('kubeadm:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [{ kind: 'Group', name: NODES_GROUP }]),
    ],
    roles: [
      role('kube-system', 'system::leader-locking-kube-scheduler', leaderLockingRules()),
      role('kube-system', 'system::leader-locking-kube-controller-manager', leaderLockingRules()),
      role('kube-system', 'system::leader-locking-cloud-controller-manager', leaderLockingRules()),
      role('kube-public', 'kubeadm:bootstrap-signer-clusterinfo', [rule([''], ['configmaps'], ['get'], ['cluster-info'])]),
    ],
    roleBindings: [
      roleBinding('kube-system', 'system::leader-locking-kube-scheduler', 'system::leader-locking-kube-scheduler', [{ kind: 'User', name: SCHEDULER_USER }]),
      roleBinding('kube-system', 'system::leader-locking-kube-controller-manager', 'system::leader-locking-kube-controller-manager', [{ kind: 'User', name: CONTROLLER_MANAGER_USER }]),
      roleBinding('kube-system', 'system::leader-locking-cloud-controller-manager', 'system::leader-locking-cloud-controller-manager', [{ kind: 'User', name: CLOUD_CONTROLLER_MANAGER_USER }]),
      roleBinding('kube-public', 'kubeadm:bootstrap-signer-clusterinfo', 'kubeadm:bootstrap-signer-clusterinfo', [{ kind: 'User', name: 'system:anonymous' }, { kind: 'Group', name: 'system:bootstrappers' }]),
    ],
  };
}

// ------------------------------------------------------------------ reconciliation

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as unknown[]).map(String) : []);
const has = (l: string[], v: string) => l.includes('*') || l.includes(v);

/** Whether the rules in `existing` together allow everything `wanted` allows (each verb × group × resource × name / URL). */
export function ruleCovered(existing: Obj[], wanted: PolicyRule): boolean {
  const verbs = wanted.verbs;
  if (wanted.nonResourceURLs && wanted.nonResourceURLs.length > 0) {
    return verbs.every((v) => wanted.nonResourceURLs!.every((u) => existing.some((r) => {
      if (!has(list(r.verbs), v)) return false;
      return list(r.nonResourceURLs).some((eu) => eu === '*' || eu === u || (eu.endsWith('*') && u.startsWith(eu.slice(0, -1))));
    })));
  }
  const groups = wanted.apiGroups ?? [];
  const resources = wanted.resources ?? [];
  const names = wanted.resourceNames ?? [];
  for (const v of verbs) for (const g of groups) for (const res of resources) {
    const ok = existing.some((r) => {
      if (!has(list(r.verbs), v) || !has(list(r.apiGroups), g) || !has(list(r.resources), res)) return false;
      const en = list(r.resourceNames);
      if (en.length === 0) return true;
      return names.length > 0 && names.every((n) => en.includes(n));
    });
    if (!ok) return false;
  }
  return true;
}

const autoupdate = (o: Obj): boolean => ((o.metadata as Obj | undefined)?.annotations as Obj | undefined)?.[AUTOUPDATE_ANNOTATION] !== 'false';

/** Adds the labels and annotations of `wanted` that `cur` lacks (keeps the user's values). */
function mergeMetadata(cur: Obj, wanted: Obj): void {
  const cm = cur.metadata as Obj;
  const wm = wanted.metadata as Obj;
  for (const field of ['labels', 'annotations']) {
    const w = (wm[field] as Obj | undefined) ?? {};
    const c = { ...((cm[field] as Obj | undefined) ?? {}) };
    for (const [k, v] of Object.entries(w)) if (!(k in c)) c[k] = v;
    cm[field] = c;
  }
}

/** The role with the rules it is missing appended (nothing removed). */
export function reconcileRole(cur: Obj, wanted: Obj): Obj {
  if (!autoupdate(cur)) return cur;
  const next: Obj = { ...cur, metadata: { ...(cur.metadata as Obj) } };
  mergeMetadata(next, wanted);
  const rules = [...((cur.rules as Obj[] | undefined) ?? [])];
  for (const r of (wanted.rules as unknown as PolicyRule[]) ?? []) if (!ruleCovered(rules, r)) rules.push({ ...r } as unknown as Obj);
  next.rules = rules;
  return next;
}

/** The binding with the subjects it is missing appended (nothing removed; a changed roleRef is kept). */
export function reconcileBinding(cur: Obj, wanted: Obj): Obj {
  if (!autoupdate(cur)) return cur;
  const next: Obj = { ...cur, metadata: { ...(cur.metadata as Obj) } };
  mergeMetadata(next, wanted);
  const subjects = [...((cur.subjects as Obj[] | undefined) ?? [])];
  for (const s of (wanted.subjects as Obj[]) ?? []) {
    if (!subjects.some((e) => e.kind === s.kind && e.name === s.name && (e.namespace ?? '') === (s.namespace ?? ''))) subjects.push({ ...s });
  }
  next.subjects = subjects;
  return next;
}

const rbacInfo = (resource: string): ResourceInfo => findResource(RBAC_GROUP, 'v1', resource)!;

export interface BootstrapResult {
  created: string[];
  updated: string[];
}

/**
 * Creates or reconciles every object of the bootstrap policy, then waits until
 * the RBAC watch caches have seen the writes (so the authorizer uses them).
 * Safe to run from several API servers at once (lost races are retried).
 */
export async function ensureBootstrapPolicy(registry: Registry, log?: Logger): Promise<BootstrapResult> {
  const policy = bootstrapPolicy();
  const result: BootstrapResult = { created: [], updated: [] };
  const work: Array<[string, Obj[], (cur: Obj, wanted: Obj) => Obj]> = [
    ['clusterroles', policy.clusterRoles, reconcileRole],
    ['roles', policy.roles, reconcileRole],
    ['clusterrolebindings', policy.clusterRoleBindings, reconcileBinding],
    ['rolebindings', policy.roleBindings, reconcileBinding],
  ];
  for (const [resource, objects, reconcile] of work) {
    const info = rbacInfo(resource);
    let maxRev = 0;
    for (const wanted of objects) {
      const m = wanted.metadata as Obj;
      const name = String(m.name);
      const ns = m.namespace as string | undefined;
      const what = `${resource}/${ns ? `${ns}/` : ''}${name}`;
      for (let attempt = 0; ; attempt++) {
        try {
          // Registry.update writes even when nothing changed, so look first: an up-to-date object is not rewritten.
          const cur = await registry.get(info, ns, name).catch((err: unknown) => {
            if (err instanceof ApiError && err.code === 404) return undefined;
            throw err;
          });
          if (cur && deepEqual(reconcile(cur, wanted), cur)) {
            maxRev = Math.max(maxRev, Number((cur.metadata as Obj).resourceVersion ?? 0));
            break;
          }
          const { obj, created } = await registry.update(info, ns, name, (c) => reconcile(c, wanted), { createIfMissing: () => structuredClone(wanted) });
          (created ? result.created : result.updated).push(what);
          maxRev = Math.max(maxRev, Number((obj.metadata as Obj).resourceVersion ?? 0));
          break;
        } catch (err) {
          // Another API server created or changed it between our read and our write.
          if (err instanceof ApiError && err.code === 409 && attempt < 5) continue;
          throw err;
        }
      }
    }
    await registry.cache(info).waitFor(maxRev);
  }
  if (result.created.length > 0 || result.updated.length > 0) log?.info(result, 'bootstrap RBAC policy reconciled');
  return result;
}

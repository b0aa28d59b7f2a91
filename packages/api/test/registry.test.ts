import test from 'ava';
import { decodeObject, encodeObject, type JsonObject } from '../src/index.js';
import { apiGroups, findResource, isVirtualResource, findResourceByKind, messageType, protoTypeForKind, RESOURCES, resolveResourceName } from '../src/index.js';

const facts: [string, string, string, boolean, string[], boolean, boolean][] = [
  // resource, apiVersion, kind, namespaced, shortNames, status, scale
  ['pods', 'v1', 'Pod', true, ['po'], true, false],
  ['services', 'v1', 'Service', true, ['svc'], true, false],
  ['nodes', 'v1', 'Node', false, ['no'], true, false],
  ['namespaces', 'v1', 'Namespace', false, ['ns'], true, false],
  ['configmaps', 'v1', 'ConfigMap', true, ['cm'], false, false],
  ['replicationcontrollers', 'v1', 'ReplicationController', true, ['rc'], true, true],
  ['secrets', 'v1', 'Secret', true, [], false, false],
  ['endpoints', 'v1', 'Endpoints', true, ['ep'], false, false],
  ['events', 'v1', 'Event', true, ['ev'], false, false],
  ['serviceaccounts', 'v1', 'ServiceAccount', true, ['sa'], false, false],
  ['bindings', 'v1', 'Binding', true, [], false, false],
  ['persistentvolumes', 'v1', 'PersistentVolume', false, ['pv'], true, false],
  ['persistentvolumeclaims', 'v1', 'PersistentVolumeClaim', true, ['pvc'], true, false],
  ['deployments', 'apps/v1', 'Deployment', true, ['deploy'], true, true],
  ['replicasets', 'apps/v1', 'ReplicaSet', true, ['rs'], true, true],
  ['statefulsets', 'apps/v1', 'StatefulSet', true, ['sts'], true, true],
  ['daemonsets', 'apps/v1', 'DaemonSet', true, ['ds'], true, false],
  ['controllerrevisions', 'apps/v1', 'ControllerRevision', true, [], false, false],
  ['jobs', 'batch/v1', 'Job', true, [], true, false],
  ['cronjobs', 'batch/v1', 'CronJob', true, ['cj'], true, false],
  ['ingresses', 'networking.k8s.io/v1', 'Ingress', true, ['ing'], true, false],
  ['ingressclasses', 'networking.k8s.io/v1', 'IngressClass', false, [], false, false],
  ['networkpolicies', 'networking.k8s.io/v1', 'NetworkPolicy', true, ['netpol'], false, false],
  ['endpointslices', 'discovery.k8s.io/v1', 'EndpointSlice', true, [], false, false],
  ['leases', 'coordination.k8s.io/v1', 'Lease', true, [], false, false],
  ['roles', 'rbac.authorization.k8s.io/v1', 'Role', true, [], false, false],
  ['clusterroles', 'rbac.authorization.k8s.io/v1', 'ClusterRole', false, [], false, false],
  ['rolebindings', 'rbac.authorization.k8s.io/v1', 'RoleBinding', true, [], false, false],
  ['clusterrolebindings', 'rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', false, [], false, false],
  ['priorityclasses', 'scheduling.k8s.io/v1', 'PriorityClass', false, ['pc'], false, false],
  ['storageclasses', 'storage.k8s.io/v1', 'StorageClass', false, ['sc'], false, false],
  ['apiservices', 'apiregistration.k8s.io/v1', 'APIService', false, [], true, false],
  ['poddisruptionbudgets', 'policy/v1', 'PodDisruptionBudget', true, ['pdb'], true, false],
  ['horizontalpodautoscalers', 'autoscaling/v2', 'HorizontalPodAutoscaler', true, ['hpa'], true, false],
  ['horizontalpodautoscalers', 'autoscaling/v1', 'HorizontalPodAutoscaler', true, ['hpa'], true, false],
  ['certificatesigningrequests', 'certificates.k8s.io/v1', 'CertificateSigningRequest', false, ['csr'], true, false],
  ['selfsubjectreviews', 'authentication.k8s.io/v1', 'SelfSubjectReview', false, [], false, false],
  ['tokenreviews', 'authentication.k8s.io/v1', 'TokenReview', false, [], false, false],
  ['selfsubjectreviews', 'authentication.k8s.io/v1beta1', 'SelfSubjectReview', false, [], false, false],
  ['localsubjectaccessreviews', 'authorization.k8s.io/v1', 'LocalSubjectAccessReview', true, [], false, false],
  ['selfsubjectaccessreviews', 'authorization.k8s.io/v1', 'SelfSubjectAccessReview', false, [], false, false],
  ['selfsubjectrulesreviews', 'authorization.k8s.io/v1', 'SelfSubjectRulesReview', false, [], false, false],
  ['subjectaccessreviews', 'authorization.k8s.io/v1', 'SubjectAccessReview', false, [], false, false],
];

test('every resource matches Kubernetes discovery facts', (t) => {
  t.is(RESOURCES.length, facts.length);
  for (const [resource, apiVersion, kind, namespaced, shortNames, status, scale] of facts) {
    const found = findResourceByKind(apiVersion, kind);
    t.truthy(found, kind);
    const r = found!.info;
    t.is(r.resource, resource);
    t.is(r.singular, kind.toLowerCase());
    t.is(r.namespaced, namespaced, kind);
    t.deepEqual(r.shortNames, shortNames, kind);
    t.deepEqual(r.subresources, { status, scale }, kind);
    t.is(findResource(r.group, r.version, resource), r);
  }
});

test('every message and list type named by the registry exists in the schema', (t) => {
  for (const r of RESOURCES) {
    t.truthy(messageType(r.protoType));
    if (r.listProtoType) t.truthy(messageType(r.listProtoType));
    else t.true(r.kind === 'Binding' || isVirtualResource(r), r.kind);
  }
});

test('kubectl-style names resolve', (t) => {
  t.is(resolveResourceName('po')?.kind, 'Pod');
  t.is(resolveResourceName('pod')?.kind, 'Pod');
  t.is(resolveResourceName('Pods')?.kind, 'Pod');
  t.is(resolveResourceName('deploy')?.kind, 'Deployment');
  t.is(resolveResourceName('deployments.apps')?.kind, 'Deployment');
  t.is(resolveResourceName('svc')?.kind, 'Service');
  t.is(resolveResourceName('deployments.batch'), undefined);
  t.is(resolveResourceName('widgets'), undefined);
});

test('lists and auxiliary kinds map to their messages', (t) => {
  t.is(protoTypeForKind('v1', 'PodList'), 'k8s.io.api.core.v1.PodList');
  t.is(protoTypeForKind('apps/v1', 'Deployment'), 'k8s.io.api.apps.v1.Deployment');
  t.is(protoTypeForKind('v1', 'Status'), 'k8s.io.apimachinery.pkg.apis.meta.v1.Status');
  t.is(protoTypeForKind('autoscaling/v1', 'Scale'), 'k8s.io.api.autoscaling.v1.Scale');
  t.is(protoTypeForKind('autoscaling/v1', 'HorizontalPodAutoscaler'), 'k8s.io.api.autoscaling.v1.HorizontalPodAutoscaler');
  t.is(resolveResourceName('hpa')?.apiVersion, 'autoscaling/v2', 'the preferred version comes first');
  t.throws(() => protoTypeForKind('apps/v1', 'Pod'), { message: /no kind "Pod"/ });
});

test('groups are listed with their versions, core first', (t) => {
  const groups = apiGroups();
  t.deepEqual(groups[0], { group: '', versions: ['v1'] });
  t.deepEqual(
    groups.map((g) => g.group).sort(),
    ['', 'apiregistration.k8s.io', 'apps', 'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling', 'batch', 'certificates.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'scheduling.k8s.io', 'storage.k8s.io'],
  );
  t.deepEqual(groups.find((g) => g.group === 'authentication.k8s.io')?.versions, ['v1', 'v1beta1'], 'v1 first: the preferred version');
});

test('review kinds round-trip JSON through protobuf, extra values as string arrays', (t) => {
  const sar = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user: 'bob', groups: ['dev'], uid: 'u1', extra: { scopes: ['a', 'b'] }, resourceAttributes: { namespace: 'ns', verb: 'get', resource: 'pods', subresource: 'log', name: 'p' } },
    status: { allowed: true, reason: 'ok' },
  };
  t.like(decodeObject(encodeObject(sar as JsonObject).bytes), sar);
  t.deepEqual(encodeObject(sar as JsonObject).unknownFields, []);
  const tr = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['x'], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: 'u' } } };
  t.like(decodeObject(encodeObject(tr as JsonObject).bytes), tr);
});

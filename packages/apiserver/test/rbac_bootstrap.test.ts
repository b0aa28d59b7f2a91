// The bootstrap RBAC policy and the Node authorizer against a real API server
// on a real etcd 3.4: requests are made with client certificates issued by
// the fixture's cluster CA for the component identities.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { findResource } from '@mkube/api';
import { pino } from 'pino';
import { ensureBootstrapPolicy } from '../src/auth/bootstrap_policy.js';
import { issueCertificate } from '../src/auth/pki.js';
import { RbacAuthorizer } from '../src/auth/rbac.js';
import { startApiServer, type ApiServer } from '../src/server.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

interface Identity {
  cert: string;
  key: string;
}

let serial = 0;
/** A client certificate for `subject` (e.g. "/O=system:nodes/CN=system:node:n1") signed by the fixture's CA. */
function identity(subject: string): Identity {
  const dir = fx.server.pki.dir;
  const base = `test-client-${++serial}`;
  issueCertificate(dir, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  return { cert: readFileSync(join(dir, `${base}.crt`), 'utf8'), key: readFileSync(join(dir, `${base}.key`), 'utf8') };
}

/** One HTTPS request with the client certificate of `who`. */
function as(who: Identity, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  return api(fx.server, method, path, body, { identity: who, contentType });
}

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const MERGE = 'application/merge-patch+json';
const podsInfo = findResource('', 'v1', 'pods')!;

/** Waits until the API server's pod watch cache (which the Node authorizer reads) has seen a write. */
async function podCacheSaw(reply: Reply): Promise<void> {
  await fx.server.registry.cache(podsInfo).waitFor(Number(reply.body.metadata.resourceVersion));
}

const pod = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });
const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {} });
const lease = (ns: string, name: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: ns }, spec: { holderIdentity: name, leaseDurationSeconds: 40 } });

const CLUSTER_ROLES = ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:kube-scheduler', 'system:kube-controller-manager', 'system:node', 'system:metrics-server'];

test.serial('the bootstrap roles and bindings exist after start', async (t) => {
  const s = fx.server;
  const roles = await api(s, 'GET', `${RBAC}/clusterroles`);
  t.is(roles.status, 200);
  const names = (roles.body.items as Array<{ metadata: { name: string } }>).map((r) => r.metadata.name);
  for (const n of CLUSTER_ROLES) t.true(names.includes(n), `clusterrole ${n}`);
  const admin = await api(s, 'GET', `${RBAC}/clusterroles/cluster-admin`);
  t.deepEqual(admin.body.rules, [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }]);
  t.is(admin.body.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate'], 'true');
  const subjects = async (name: string) => (await api(s, 'GET', `${RBAC}/clusterrolebindings/${name}`)).body.subjects.map((x: { kind: string; name: string }) => `${x.kind}:${x.name}`);
  t.deepEqual(await subjects('cluster-admin'), ['Group:system:masters']);
  t.deepEqual(await subjects('system:kube-scheduler'), ['User:system:kube-scheduler']);
  t.deepEqual(await subjects('system:kube-controller-manager'), ['User:system:kube-controller-manager']);
  t.deepEqual(await subjects('system:node'), ['Group:system:nodes']);
  t.deepEqual(await subjects('system:metrics-server'), ['User:system:metrics-server']);
  t.deepEqual(await subjects('system:discovery'), ['Group:system:authenticated']);
  const rb = await api(s, 'GET', `${RBAC}/namespaces/kube-system/rolebindings/system::leader-locking-kube-scheduler`);
  t.is(rb.status, 200);
  t.is(rb.body.roleRef.name, 'system::leader-locking-kube-scheduler');
});

test.serial('a restart reconciles: no duplicates, user additions kept, removed rules restored, autoupdate=false respected', async (t) => {
  const s = fx.server;
  const before = (await api(s, 'GET', `${RBAC}/clusterroles/cluster-admin`)).body;
  const view = (await api(s, 'GET', `${RBAC}/clusterroles/view`)).body;
  const originalViewRules = view.rules;
  // A user adds a rule to view and removes all but the first of the bootstrap rules.
  const extra = { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] };
  t.is((await api(s, 'PUT', `${RBAC}/clusterroles/view`, { ...view, rules: [originalViewRules[0], extra] })).status, 200);
  // A user opts "edit" out of reconciliation and cuts it down to one rule.
  const edit = (await api(s, 'GET', `${RBAC}/clusterroles/edit`)).body;
  edit.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate'] = 'false';
  t.is((await api(s, 'PUT', `${RBAC}/clusterroles/edit`, { ...edit, rules: [extra] })).status, 200);
  // A user adds a subject to a bootstrap binding.
  const disc = (await api(s, 'GET', `${RBAC}/clusterrolebindings/system:discovery`)).body;
  disc.subjects.push({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'carol' });
  t.is((await api(s, 'PUT', `${RBAC}/clusterrolebindings/system:discovery`, disc)).status, 200);
  // A user deletes a bootstrap binding entirely.
  t.is((await api(s, 'DELETE', `${RBAC}/clusterrolebindings/system:basic-user`)).status, 200);

  // A second API server start against the same etcd (what a restart does).
  let second: ApiServer | undefined;
  t.teardown(() => second?.stop());
  second = await startApiServer({ dataDir: join(fx.dir, 'data'), etcdServers: [fx.etcdEndpoint], ...fx.etcdTls, securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }) });

  const after = (await api(s, 'GET', `${RBAC}/clusterroles/cluster-admin`)).body;
  t.is(after.metadata.resourceVersion, before.metadata.resourceVersion, 'an unchanged role is not rewritten');
  const viewAfter = (await api(s, 'GET', `${RBAC}/clusterroles/view`)).body;
  t.deepEqual(viewAfter.rules, [originalViewRules[0], extra, ...originalViewRules.slice(1)]);
  t.deepEqual((await api(s, 'GET', `${RBAC}/clusterroles/edit`)).body.rules, [extra]);
  const discAfter = (await api(s, 'GET', `${RBAC}/clusterrolebindings/system:discovery`)).body;
  t.deepEqual(discAfter.subjects.map((x: { name: string }) => x.name), ['system:authenticated', 'carol']);
  t.is((await api(s, 'GET', `${RBAC}/clusterrolebindings/system:basic-user`)).status, 200, 'a deleted bootstrap binding is recreated');
  const names = ((await api(s, 'GET', `${RBAC}/clusterroles`)).body.items as Array<{ metadata: { name: string } }>).map((r) => r.metadata.name);
  for (const n of CLUSTER_ROLES) t.is(names.filter((x) => x === n).length, 1, `clusterrole ${n} once`);

  // Once reconciled, further runs (also concurrent ones, as from several API servers) change nothing.
  const runs = await Promise.all([ensureBootstrapPolicy(fx.server.registry), ensureBootstrapPolicy(second.registry)]);
  for (const r of runs) t.deepEqual(r, { created: [], updated: [] });
  t.deepEqual((await api(s, 'GET', `${RBAC}/clusterroles/view`)).body.rules.length, originalViewRules.length + 1);
});

test.serial('the scheduler identity can bind pods and cannot delete a namespace', async (t) => {
  const s = fx.server;
  const sched = identity('/CN=system:kube-scheduler');
  await api(s, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sched-ns' } });
  t.is((await api(s, 'POST', '/api/v1/nodes', node('sched-node'))).status, 201);
  t.is((await api(s, 'POST', '/api/v1/namespaces/default/pods', pod('to-bind'))).status, 201);
  t.is((await as(sched, 'GET', '/api/v1/pods')).status, 200);
  t.is((await as(sched, 'GET', '/api/v1/nodes')).status, 200);
  const bind = await as(sched, 'POST', '/api/v1/namespaces/default/pods/to-bind/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'sched-node' } });
  t.is(bind.status, 201, bind.text);
  t.is((await api(s, 'GET', '/api/v1/namespaces/default/pods/to-bind')).body.spec.nodeName, 'sched-node');
  const cond = { status: { conditions: [{ type: 'PodScheduled', status: 'True' }] } };
  t.is((await as(sched, 'PATCH', '/api/v1/namespaces/default/pods/to-bind/status', cond, MERGE)).status, 200);
  t.is((await as(sched, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', lease('kube-system', 'kube-scheduler'))).status, 201);

  const del = await as(sched, 'DELETE', '/api/v1/namespaces/sched-ns');
  t.is(del.status, 403);
  t.is(del.body.message, 'namespaces "sched-ns" is forbidden: User "system:kube-scheduler" cannot delete resource "namespaces" in API group "" in the namespace "sched-ns"');
  t.is((await as(sched, 'POST', '/api/v1/namespaces/default/pods', pod('nope'))).status, 403);
  t.is((await as(sched, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', lease('default', 'kube-scheduler'))).status, 403, 'leader election leases only in kube-system');
  t.is((await as(sched, 'GET', '/api/v1/namespaces/default/secrets')).status, 403);
});

test.serial('the controller manager identity can create replicasets and pods and garbage-collect', async (t) => {
  const s = fx.server;
  const cm = identity('/CN=system:kube-controller-manager');
  const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs1' }, spec: { replicas: 1, selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } };
  const created = await as(cm, 'POST', '/apis/apps/v1/namespaces/default/replicasets', rs);
  t.is(created.status, 201, created.text);
  const owned = { ...pod('rs1-abcde'), metadata: { name: 'rs1-abcde', labels: { app: 'a' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs1', uid: created.body.metadata.uid, controller: true }] } };
  t.is((await as(cm, 'POST', '/api/v1/namespaces/default/pods', owned)).status, 201);
  t.is((await as(cm, 'PATCH', '/apis/apps/v1/namespaces/default/replicasets/rs1/status', { status: { replicas: 1 } }, MERGE)).status, 200);
  t.is((await as(cm, 'POST', '/api/v1/namespaces/default/endpoints', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ep1' } })).status, 201);
  t.is((await as(cm, 'POST', '/api/v1/namespaces/default/events', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'ev1' }, involvedObject: { kind: 'Pod', name: 'rs1-abcde', namespace: 'default' }, reason: 'Created', message: 'm' })).status, 201);
  // The garbage collector may delete anything.
  t.is((await api(s, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orphan' } })).status, 201);
  t.is((await as(cm, 'DELETE', '/api/v1/namespaces/default/configmaps/orphan')).status, 200);
  const ns = await as(cm, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cm-made' } });
  t.is(ns.status, 403);
  t.is(ns.body.message, 'namespaces is forbidden: User "system:kube-controller-manager" cannot create resource "namespaces" in API group "" at the cluster scope');
  t.is((await as(cm, 'POST', `${RBAC}/clusterrolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'escalate' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'x' }] })).status, 403);
});

const noRelationship = (verb: string, what: string, resource: string, group: string, scope: string) =>
  `${what} is forbidden: User "system:node:n1" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}: no relationship found between node 'n1' and this object`;

test.serial('a node identity may update only its own Node, node status and Lease', async (t) => {
  const s = fx.server;
  const n1 = identity('/O=system:nodes/CN=system:node:n1');
  t.is((await as(n1, 'POST', '/api/v1/nodes', node('n1'))).status, 201);
  t.is((await api(s, 'POST', '/api/v1/nodes', node('n2'))).status, 201);
  const ready = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] } };
  t.is((await as(n1, 'PATCH', '/api/v1/nodes/n1/status', ready, MERGE)).status, 200);
  t.is((await api(s, 'GET', '/api/v1/nodes/n1')).body.status.conditions[0].reason, 'KubeletReady');
  t.is((await as(n1, 'PATCH', '/api/v1/nodes/n1', { metadata: { labels: { zone: 'a' } } }, MERGE)).status, 200);
  t.is((await as(n1, 'GET', '/api/v1/nodes/n2')).status, 200, 'reading other nodes is fine');

  const other = await as(n1, 'PATCH', '/api/v1/nodes/n2/status', ready, MERGE);
  t.is(other.status, 403);
  t.is(other.body.message, noRelationship('patch', 'nodes "n2"', 'nodes/status', '', 'at the cluster scope'));
  const n2 = (await api(s, 'GET', '/api/v1/nodes/n2')).body;
  const put = await as(n1, 'PUT', '/api/v1/nodes/n2', { ...n2, metadata: { ...n2.metadata, labels: { stolen: 'yes' } } });
  t.is(put.status, 403);
  t.is(put.body.message, noRelationship('update', 'nodes "n2"', 'nodes', '', 'at the cluster scope'));
  t.is((await as(n1, 'DELETE', '/api/v1/nodes/n2')).status, 403);
  t.falsy((await api(s, 'GET', '/api/v1/nodes/n2')).body.status?.conditions);

  const leases = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
  const own = await as(n1, 'POST', leases, lease('kube-node-lease', 'n1'));
  t.is(own.status, 201, own.text);
  t.is((await as(n1, 'PUT', `${leases}/n1`, { ...own.body, spec: { ...own.body.spec, leaseDurationSeconds: 41 } })).status, 200);
  t.is((await as(n1, 'GET', `${leases}/n1`)).body.spec.leaseDurationSeconds, 41);
  const theirs = await api(s, 'POST', leases, lease('kube-node-lease', 'n2'));
  t.is(theirs.status, 201);
  const steal = await as(n1, 'PUT', `${leases}/n2`, { ...theirs.body, spec: { ...theirs.body.spec, holderIdentity: 'n1' } });
  t.is(steal.status, 403);
  t.is(steal.body.message, noRelationship('update', 'leases.coordination.k8s.io "n2"', 'leases', 'coordination.k8s.io', 'in the namespace "kube-node-lease"'));
  t.is((await api(s, 'GET', `${leases}/n2`)).body.spec.holderIdentity, 'n2');
  t.is((await as(n1, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', lease('default', 'n1'))).status, 403, 'node leases only in kube-node-lease');
});

test.serial('NodeRestriction: a node identity creates only its own Node and Lease, and only mirror pods bound to itself', async (t) => {
  const n3 = identity('/O=system:nodes/CN=system:node:n3');
  const other = await as(n3, 'POST', '/api/v1/nodes', node('n4'));
  t.is(other.status, 403);
  t.is(other.body.message, 'nodes "n4" is forbidden: node "n3" is not allowed to modify node "n4"');
  const labelled = await as(n3, 'POST', '/api/v1/nodes', { ...node('n3'), metadata: { name: 'n3', labels: { 'node-restriction.kubernetes.io/pool': 'gold', 'example.node-restriction.kubernetes.io/x': 'y', zone: 'a' } } });
  t.is(labelled.status, 403);
  t.is(labelled.body.message, 'nodes "n3" is forbidden: node "n3" is not allowed to set the following labels: example.node-restriction.kubernetes.io/x, node-restriction.kubernetes.io/pool');
  t.is((await as(n3, 'POST', '/api/v1/nodes', node('n3'))).status, 201);
  const leases = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
  const foreign = await as(n3, 'POST', leases, lease('kube-node-lease', 'n4'));
  t.is(foreign.status, 403);
  t.is(foreign.body.message, 'leases.coordination.k8s.io "n4" is forbidden: can only access node lease with the same name as the requesting node');
  t.is((await as(n3, 'POST', leases, lease('kube-node-lease', 'n3'))).status, 201);
  const pod = (name: string, nodeName: string, mirror: boolean) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, ...(mirror ? { annotations: { 'kubernetes.io/config.mirror': 'hash' } } : {}) },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
  });
  // system:node grants no pod creation here (mkube has no static pods): RBAC refuses first.
  const refused = await as(n3, 'POST', '/api/v1/namespaces/default/pods', pod('plain', 'n3', false));
  t.is(refused.status, 403);
  t.is(refused.body.message, 'pods is forbidden: User "system:node:n3" cannot create resource "pods" in API group "" in the namespace "default"');
  // With RBAC granting it, NodeRestriction still admits only mirror pods bound to the node.
  t.is((await api(fx.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'pod-creator' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['create'] }] })).status, 201);
  t.is((await api(fx.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'n3-pods' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-creator' }, subjects: [{ kind: 'User', name: 'system:node:n3', apiGroup: 'rbac.authorization.k8s.io' }] })).status, 201);
  await new Promise((r) => setTimeout(r, 300)); // the authorizer reads bindings from the watch cache
  const plain = await as(n3, 'POST', '/api/v1/namespaces/default/pods', pod('plain', 'n3', false));
  t.is(plain.status, 403);
  t.is(plain.body.message, 'pods "plain" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n3" can only create mirror pods');
  const elsewhere = await as(n3, 'POST', '/api/v1/namespaces/default/pods', pod('elsewhere', 'n4', true));
  t.is(elsewhere.status, 403);
  t.is(elsewhere.body.message, 'pods "elsewhere" is forbidden: node "n3" can only create pods with spec.nodeName set to itself');
  t.is((await as(n3, 'POST', '/api/v1/namespaces/default/pods', pod('mirror', 'n3', true))).status, 201, 'a mirror pod bound to itself is admitted');
  t.is((await api(fx.server, 'GET', '/api/v1/nodes/n4')).status, 404, 'nothing was created');
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/pods/elsewhere')).status, 404);
});

test.serial("a node agent identity trying to read another node's secrets", async (t) => {
  const s = fx.server;
  const n1 = identity('/O=system:nodes/CN=system:node:n1');
  const n2 = identity('/O=system:nodes/CN=system:node:n2');
  for (const name of ['db', 'other', 'unrelated']) {
    t.is((await api(s, 'POST', '/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { k: 'dg==' } })).status, 201);
  }
  t.is((await api(s, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { k: 'v' } })).status, 201);
  const p1 = await api(s, 'POST', '/api/v1/namespaces/default/pods', pod('p1', {
    nodeName: 'n1',
    volumes: [{ name: 'db', secret: { secretName: 'db' } }],
    containers: [{ name: 'c', image: 'busybox', env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }],
  }));
  t.is(p1.status, 201, p1.text);
  const p2 = await api(s, 'POST', '/api/v1/namespaces/default/pods', pod('p2', {
    nodeName: 'n2',
    containers: [{ name: 'c', image: 'busybox', envFrom: [{ secretRef: { name: 'other' } }] }],
  }));
  t.is(p2.status, 201, p2.text);
  await podCacheSaw(p2);

  t.is((await as(n1, 'GET', '/api/v1/namespaces/default/secrets/db')).status, 200);
  t.is((await as(n1, 'GET', '/api/v1/namespaces/default/configmaps/cfg')).status, 200);
  const denied = await as(n1, 'GET', '/api/v1/namespaces/default/secrets/other');
  t.is(denied.status, 403);
  t.is(denied.body.message, 'secrets "other" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object');
  t.is(denied.body.reason, 'Forbidden');
  t.is((await as(n2, 'GET', '/api/v1/namespaces/default/secrets/other')).status, 200);
  t.is((await as(n2, 'GET', '/api/v1/namespaces/default/secrets/db')).status, 403);
  t.is((await as(n1, 'GET', '/api/v1/namespaces/default/secrets/unrelated')).status, 403);
  const list = await as(n1, 'GET', '/api/v1/namespaces/default/secrets');
  t.is(list.status, 403);
  t.is(list.body.message, 'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API group "" in the namespace "default": No Object name found', "upstream's reason: a list has no object name");

  // Pods: status and deletion only for pods bound to the node.
  const running = { status: { phase: 'Running' } };
  t.is((await as(n1, 'PATCH', '/api/v1/namespaces/default/pods/p1/status', running, MERGE)).status, 200);
  const foreign = await as(n1, 'PATCH', '/api/v1/namespaces/default/pods/p2/status', running, MERGE);
  t.is(foreign.status, 403);
  t.is(foreign.body.message, noRelationship('patch', 'pods "p2"', 'pods/status', '', 'in the namespace "default"'));
  t.is((await as(n1, 'DELETE', '/api/v1/namespaces/default/pods/p2?gracePeriodSeconds=0')).status, 403);
  t.is((await api(s, 'GET', '/api/v1/namespaces/default/pods/p2')).status, 200);
  t.is((await as(n1, 'GET', '/api/v1/namespaces/default/pods/p2')).status, 200, 'reading pods is fine');

  // Once its pod is gone the node loses access to the secret.
  const gone = await as(n1, 'DELETE', '/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0');
  t.is(gone.status, 200, gone.text);
  t.is((await api(s, 'GET', '/api/v1/namespaces/default/pods/p1')).status, 404);
  const marker = await api(s, 'POST', '/api/v1/namespaces/default/pods', pod('marker'));
  await podCacheSaw(marker);
  t.is((await as(n1, 'GET', '/api/v1/namespaces/default/secrets/db')).status, 403);
});

test.serial('an authenticated user without bindings can do discovery but not read pods', async (t) => {
  const daveId = identity('/CN=dave');
  for (const path of ['/api', '/apis', '/version', '/api/v1', '/apis/apps/v1']) t.is((await as(daveId, 'GET', path)).status, 200, path);
  const pods = await as(daveId, 'GET', '/api/v1/namespaces/default/pods');
  t.is(pods.status, 403);
  t.is(pods.body.message, 'pods is forbidden: User "dave" cannot list resource "pods" in API group "" in the namespace "default"');
  t.is((await as(daveId, 'GET', '/metrics')).status, 403);
  // The policy itself grants discovery to every authenticated user (and nothing more).
  const authz = new RbacAuthorizer(fx.server.registry);
  const dave = { name: 'dave', groups: ['system:authenticated'] };
  for (const path of ['/api', '/apis', '/apis/apps/v1', '/version', '/healthz', '/openapi/v2']) t.true(authz.authorize(dave, { verb: 'get', path }), path);
  t.false(authz.authorize(dave, { verb: 'get', path: '/metrics' }));
  t.false(authz.authorize(dave, { verb: 'post', path: '/api' }));
  t.false(authz.authorize({ name: 'dave', groups: [] }, { verb: 'get', path: '/apis' }), 'not without system:authenticated');
  t.true(authz.authorize(dave, { verb: 'create', apiGroup: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' }));
  // A user named like a node but without the system:nodes group is no node identity and gets nothing.
  const fake = identity('/CN=system:node:n1');
  t.is((await as(fake, 'GET', '/api/v1/namespaces/default/secrets/db')).status, 403);
  t.is((await as(fake, 'GET', '/api/v1/nodes')).status, 403);
});

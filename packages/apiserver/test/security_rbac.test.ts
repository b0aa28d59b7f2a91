// Issue 10, holes 2, 3 and 5, attacked through the real REST API (HTTPS) and
// the gRPC API of a real API server on a real etcd 3.4: RBAC escalation
// (roles granting, bindings binding what the user does not hold; escalate and
// bind; roleRef immutable; PUT and apply that create authorized as create),
// namespace paths nested in a namespace, the namespace attribute of the
// namespaces resource, and NodeRestriction / the Node authorizer on updates,
// patches and deletes by a node identity.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { findResource, type JsonObject } from '@mkube/api';
import { podReferences } from '../src/auth/node_authorizer.js';
import { issueCertificate } from '../src/auth/pki.js';
import { ruleAllows, rulesOf, toPolicyRule } from '../src/auth/rbac.js';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
const clients: ResourcesClient[] = [];

test.before(async () => {
  fx = await startFixture();
  for (const ns of ['team', 'victim', 'binds', 'esc', 'nsattr']) await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, 201);
});
test.after.always(async () => {
  for (const c of clients) c.close();
  await fx?.stop();
});

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const RBAC_GROUP = 'rbac.authorization.k8s.io';
const MERGE = 'application/merge-patch+json';
const APPLY = 'application/apply-patch+yaml';
const BOB = 'bob-token';
const ALICE = 'alice-token';

interface Identity {
  cert: string;
  key: string;
}

let serial = 0;
/** A client certificate for `subject` signed by the fixture's cluster CA. */
function identity(subject: string): Identity {
  const dir = fx.server.pki.dir;
  const base = `security-rbac-${++serial}`;
  issueCertificate(dir, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  return { cert: readFileSync(join(dir, `${base}.crt`), 'utf8'), key: readFileSync(join(dir, `${base}.key`), 'utf8') };
}

function grpcClient(who: { token?: string; identity?: Identity }): ResourcesClient {
  const s = fx.server;
  const c = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, token: who.token, cert: who.identity?.cert, key: who.identity?.key });
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<GrpcApiError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcApiError;
  }
  throw new Error('the call succeeded');
}

/** The watch cache the authorizers read has seen this write (RBAC objects, pods). */
async function cacheSaw(resource: string, group: string, body: { metadata?: { resourceVersion?: string } }): Promise<void> {
  const info = findResource(group, 'v1', resource)!;
  await fx.server.registry.cache(info).waitFor(Number(body.metadata?.resourceVersion));
}

/** An admin (system:masters) request that must answer `code`; RBAC writes wait for the authorizer's caches. */
async function admin(method: string, path: string, body?: unknown, code?: number, contentType?: string): Promise<Reply> {
  const r = await api(fx.server, method, path, body, contentType ? { contentType } : {});
  if (code !== undefined && r.status !== code) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  if (r.status < 300 && r.body?.metadata?.resourceVersion) {
    const m = /^\/apis?\/(?:([^/]+)\/)?v1\/(?:namespaces\/[^/]+\/)?([a-z]+)/.exec(path);
    const group = path.startsWith('/apis/') ? m![1]! : '';
    const resource = path.startsWith('/apis/') ? m![2]! : /^\/api\/v1\/(?:namespaces\/[^/]+\/)?([a-z]+)/.exec(path)![1]!;
    if (group === RBAC_GROUP || resource === 'pods') await cacheSaw(resource, group, r.body);
  }
  return r;
}

const as = (token: string, method: string, path: string, body?: unknown, contentType?: string) => api(fx.server, method, path, body, { token, contentType });
const asNode = (who: Identity, method: string, path: string, body?: unknown, contentType?: string) => api(fx.server, method, path, body, { identity: who, contentType });

const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]) => ({ apiGroups, resources, verbs, ...(resourceNames ? { resourceNames } : {}) });
const role = (ns: string, name: string, rules: unknown[]): JsonObject => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata: { name, namespace: ns }, rules: rules as JsonObject[] });
const binding = (ns: string, name: string, roleRef: { kind: string; name: string }, subjects: unknown[]): JsonObject => ({
  apiVersion: `${RBAC_GROUP}/v1`,
  kind: 'RoleBinding',
  metadata: { name, namespace: ns },
  roleRef: { apiGroup: RBAC_GROUP, ...roleRef },
  subjects: subjects as JsonObject[],
});
const user = (name: string) => ({ kind: 'User', apiGroup: RBAC_GROUP, name });

/** Grants `who` the rules in `ns` through a Role and RoleBinding the admin writes. */
async function grant(ns: string, name: string, who: string, rules: unknown[]): Promise<void> {
  await admin('POST', `${RBAC}/namespaces/${ns}/roles`, role(ns, name, rules), 201);
  await admin('POST', `${RBAC}/namespaces/${ns}/rolebindings`, binding(ns, name, { kind: 'Role', name }, [user(who)]), 201);
}

const BOB_GROUPS = '(groups=["system:authenticated"])';
const ALICE_GROUPS = '(groups=["devs" "system:authenticated"])';

// ------------------------------------------------------------------ hole 2: escalation

test.serial('a user who may create RoleBindings cannot bind cluster-admin to himself (REST and gRPC); nothing is created', async (t) => {
  await grant('team', 'rb-writer', 'bob', [rule([RBAC_GROUP], ['rolebindings'], ['create', 'get', 'update', 'patch'])]);
  const attack = binding('team', 'bob-admin', { kind: 'ClusterRole', name: 'cluster-admin' }, [user('bob')]);
  const r = await as(BOB, 'POST', `${RBAC}/namespaces/team/rolebindings`, attack);
  t.is(r.status, 403, r.text);
  t.is(r.body.kind, 'Status');
  t.is(r.body.reason, 'Forbidden');
  t.like(r.body.details, { name: 'bob-admin', group: RBAC_GROUP, kind: 'rolebindings' });
  const expected = `rolebindings.rbac.authorization.k8s.io "bob-admin" is forbidden: user "bob" ${BOB_GROUPS} is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}`;
  t.is(r.body.message, expected);
  t.is((await admin('GET', `${RBAC}/namespaces/team/rolebindings/bob-admin`)).status, 404);

  const bob = grpcClient({ token: BOB });
  const g = await failure(bob.create({ group: RBAC_GROUP, resource: 'rolebindings', namespace: 'team' }, attack));
  t.is(g.code, grpc.status.PERMISSION_DENIED);
  t.is(g.status?.message, expected);
  t.is((await admin('GET', `${RBAC}/namespaces/team/rolebindings/bob-admin`)).status, 404);

  // Still refused as a PUT that creates, and as a server-side apply that creates.
  t.is((await as(BOB, 'PUT', `${RBAC}/namespaces/team/rolebindings/bob-admin`, attack)).status, 403);
  const applied = await as(BOB, 'PATCH', `${RBAC}/namespaces/team/rolebindings/bob-admin?fieldManager=bob`, JSON.stringify(attack), APPLY);
  t.is(applied.status, 403);
  t.is(applied.body.message, expected);
  t.is((await admin('GET', `${RBAC}/namespaces/team/rolebindings/bob-admin`)).status, 404);

  // A binding of a role whose permissions bob holds is fine (the check is not a blanket refusal).
  await grant('team', 'cm-reader', 'bob', [rule([''], ['configmaps'], ['get', 'list'])]);
  const fine = await as(BOB, 'POST', `${RBAC}/namespaces/team/rolebindings`, binding('team', 'cm-reader-too', { kind: 'Role', name: 'cm-reader' }, [user('bob')]));
  t.is(fine.status, 201, fine.text);
  // Binding a role that does not exist: 404 for it, as upstream's rule resolver.
  const missing = await as(BOB, 'POST', `${RBAC}/namespaces/team/rolebindings`, binding('team', 'ghost', { kind: 'Role', name: 'ghost' }, [user('bob')]));
  t.is(missing.status, 404);
  t.is(missing.body.message, 'roles.rbac.authorization.k8s.io "ghost" not found');
});

test.serial('updating a binding to a bigger role: roleRef is immutable (422), and a subjects change of a role bob lacks is refused', async (t) => {
  await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('team', 'viewers', { kind: 'ClusterRole', name: 'view' }, [user('carol')]), 201);
  const cur = (await admin('GET', `${RBAC}/namespaces/team/rolebindings/viewers`)).body;
  const changed = await admin('PUT', `${RBAC}/namespaces/team/rolebindings/viewers`, { ...cur, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'edit' } });
  t.is(changed.status, 422, changed.text);
  t.is(changed.body.reason, 'Invalid');
  t.regex(String(changed.body.message), /^RoleBinding(\.rbac\.authorization\.k8s\.io)? "viewers" is invalid: roleRef: Invalid value: /);
  t.true(String(changed.body.message).endsWith(': cannot change roleRef'), changed.body.message);
  t.deepEqual(changed.body.details.causes.map((c: { field: string; reason: string }) => [c.field, c.reason]), [['roleRef', 'FieldValueInvalid']]);
  const patched = await admin('PATCH', `${RBAC}/namespaces/team/rolebindings/viewers`, { roleRef: { name: 'cluster-admin' } }, undefined, MERGE);
  t.is(patched.status, 422);
  t.is((await admin('GET', `${RBAC}/namespaces/team/rolebindings/viewers`)).body.roleRef.name, 'view');

  // bob may patch rolebindings but does not hold view's permissions: adding himself is an escalation.
  const self = await as(BOB, 'PATCH', `${RBAC}/namespaces/team/rolebindings/viewers`, { subjects: [user('carol'), user('bob')] }, MERGE);
  t.is(self.status, 403, self.text);
  t.regex(self.body.message, /^rolebindings\.rbac\.authorization\.k8s\.io "viewers" is forbidden: user "bob" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["[a-z]+"\], Verbs:\["get" "list" "watch"\]\}\n/);
  const bob = grpcClient({ token: BOB });
  const g = await failure(bob.patch({ group: RBAC_GROUP, resource: 'rolebindings', namespace: 'team' }, 'viewers', 'JSON_MERGE_PATCH', { subjects: [user('carol'), user('bob')] }));
  t.is(g.code, grpc.status.PERMISSION_DENIED);
  t.deepEqual((await admin('GET', `${RBAC}/namespaces/team/rolebindings/viewers`)).body.subjects.map((s: { name: string }) => s.name), ['carol']);
});

test.serial('a user who may create Roles cannot grant what he lacks; with escalate he may (REST and gRPC)', async (t) => {
  await grant('esc', 'role-writer', 'bob', [rule([RBAC_GROUP], ['roles'], ['create', 'update', 'patch', 'get']), rule([''], ['configmaps'], ['get'])]);
  const secretReader = role('esc', 'secret-reader', [rule([''], ['secrets'], ['get'])]);
  const r = await as(BOB, 'POST', `${RBAC}/namespaces/esc/roles`, secretReader);
  t.is(r.status, 403, r.text);
  t.is(r.body.message, `roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "bob" ${BOB_GROUPS} is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`);
  t.like(r.body.details, { name: 'secret-reader', group: RBAC_GROUP, kind: 'roles' });
  const bob = grpcClient({ token: BOB });
  const g = await failure(bob.create({ group: RBAC_GROUP, resource: 'roles', namespace: 'esc' }, secretReader));
  t.is(g.code, grpc.status.PERMISSION_DENIED);
  t.is(g.status?.message, r.body.message);
  t.is((await admin('GET', `${RBAC}/namespaces/esc/roles/secret-reader`)).status, 404);

  // Several missing verbs of one resource are compacted into one line, lines sorted.
  const wide = await as(BOB, 'POST', `${RBAC}/namespaces/esc/roles`, role('esc', 'wide', [rule([''], ['secrets', 'configmaps'], ['get', 'delete'])]));
  t.is(wide.status, 403);
  t.true(String(wide.body.message).endsWith('not currently held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}'), wide.body.message);

  // What bob holds he may grant; growing it afterwards by update or patch is refused.
  const held = await as(BOB, 'POST', `${RBAC}/namespaces/esc/roles`, role('esc', 'cm-get', [rule([''], ['configmaps'], ['get'])]));
  t.is(held.status, 201, held.text);
  const grow = await as(BOB, 'PATCH', `${RBAC}/namespaces/esc/roles/cm-get`, { rules: [rule([''], ['configmaps', 'secrets'], ['get'])] }, MERGE);
  t.is(grow.status, 403);
  const growPut = await as(BOB, 'PUT', `${RBAC}/namespaces/esc/roles/cm-get`, { ...held.body, rules: [rule(['*'], ['*'], ['*'])] });
  t.is(growPut.status, 403);
  const growGrpc = await failure(bob.update({ group: RBAC_GROUP, resource: 'roles', namespace: 'esc' }, { ...held.body, rules: [rule([''], ['secrets'], ['list'])] }));
  t.is(growGrpc.code, grpc.status.PERMISSION_DENIED);
  t.deepEqual((await admin('GET', `${RBAC}/namespaces/esc/roles/cm-get`)).body.rules, [rule([''], ['configmaps'], ['get'])]);
  // A label (not a GC field) is still a change that needs the permissions, which bob has here.
  t.is((await as(BOB, 'PATCH', `${RBAC}/namespaces/esc/roles/cm-get`, { metadata: { labels: { a: 'b' } } }, MERGE)).status, 200);

  // alice has escalate on roles in esc: she may create the role she could not otherwise.
  await grant('esc', 'escalator', 'alice', [rule([RBAC_GROUP], ['roles'], ['create', 'escalate'])]);
  const denied = await as(ALICE, 'POST', `${RBAC}/namespaces/esc/roles`, role('esc', 'not-yet', [rule([''], ['pods'], ['delete'])]));
  t.is(denied.status, 201, `escalate allows it: ${denied.text}`);
  const alice = grpcClient({ token: ALICE });
  const viaGrpc = await alice.create({ group: RBAC_GROUP, resource: 'roles', namespace: 'esc' }, secretReader);
  t.is((viaGrpc.metadata as { name: string }).name, 'secret-reader');
  // escalate in esc does not reach another namespace.
  const elsewhere = await as(ALICE, 'POST', `${RBAC}/namespaces/team/roles`, role('team', 'x', [rule([''], ['secrets'], ['get'])]));
  t.is(elsewhere.status, 403);
  t.is(elsewhere.body.message, 'roles.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "team"');
});

test.serial('ClusterRoles: granting what one lacks is refused, an aggregationRule needs full authority', async (t) => {
  await admin('POST', `${RBAC}/clusterroles`, { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: { name: 'cr-writer' }, rules: [rule([RBAC_GROUP], ['clusterroles'], ['create']), rule([''], ['nodes'], ['get'])] }, 201);
  await admin('POST', `${RBAC}/clusterrolebindings`, { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRoleBinding', metadata: { name: 'cr-writer-bob' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'cr-writer' }, subjects: [user('bob')] }, 201);
  const cr = (name: string, extra: Record<string, unknown>) => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: { name }, ...extra });
  const bad = await as(BOB, 'POST', `${RBAC}/clusterroles`, cr('all-secrets', { rules: [rule([''], ['secrets'], ['list'])] }));
  t.is(bad.status, 403);
  t.is(bad.body.message, `clusterroles.rbac.authorization.k8s.io "all-secrets" is forbidden: user "bob" ${BOB_GROUPS} is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}`);
  t.is((await as(BOB, 'POST', `${RBAC}/clusterroles`, cr('node-getter', { rules: [rule([''], ['nodes'], ['get'])] }))).status, 201);
  const agg = await as(BOB, 'POST', `${RBAC}/clusterroles`, cr('gatherer', { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] }, rules: [] }));
  t.is(agg.status, 403);
  t.is(agg.body.message, 'clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have cluster-admin privileges to use the aggregationRule');
  // A Role in a namespace does not count for a ClusterRole: bob's rules in "esc" do not cover cluster scope.
  t.is((await as(BOB, 'POST', `${RBAC}/clusterroles`, cr('cm-cluster', { rules: [rule([''], ['configmaps'], ['get'])] }))).status, 403);
});

test.serial('bind on a ClusterRole by name lets one bind exactly that role', async (t) => {
  await grant('binds', 'binder', 'bob', [rule([RBAC_GROUP], ['rolebindings'], ['create']), rule([RBAC_GROUP], ['clusterroles'], ['bind'], ['view'])]);
  const view = await as(BOB, 'POST', `${RBAC}/namespaces/binds/rolebindings`, binding('binds', 'v', { kind: 'ClusterRole', name: 'view' }, [user('dave')]));
  t.is(view.status, 201, view.text);
  const edit = await as(BOB, 'POST', `${RBAC}/namespaces/binds/rolebindings`, binding('binds', 'e', { kind: 'ClusterRole', name: 'edit' }, [user('dave')]));
  t.is(edit.status, 403);
  t.regex(edit.body.message, /^rolebindings\.rbac\.authorization\.k8s\.io "e" is forbidden: user "bob" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n/);
  const bob = grpcClient({ token: BOB });
  t.is(((await bob.create({ group: RBAC_GROUP, resource: 'rolebindings', namespace: 'binds' }, binding('binds', 'v2', { kind: 'ClusterRole', name: 'view' }, [user('erin')]))).metadata as { name: string }).name, 'v2');
  t.is((await failure(bob.create({ group: RBAC_GROUP, resource: 'rolebindings', namespace: 'binds' }, binding('binds', 'e2', { kind: 'ClusterRole', name: 'edit' }, [user('erin')])))).code, grpc.status.PERMISSION_DENIED);
  // bind in "binds" does not reach "team".
  t.is((await as(BOB, 'POST', `${RBAC}/namespaces/team/rolebindings`, binding('team', 'v', { kind: 'ClusterRole', name: 'view' }, [user('dave')]))).status, 403);
});

test.serial('PUT and server-side apply that create are authorized as create (REST and gRPC)', async (t) => {
  await grant('victim', 'updater', 'bob', [rule([''], ['configmaps'], ['update', 'patch']), rule([RBAC_GROUP], ['rolebindings'], ['update', 'patch'])]);
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'planted', namespace: 'victim' }, data: { a: '1' } };
  const put = await as(BOB, 'PUT', '/api/v1/namespaces/victim/configmaps/planted', cm);
  t.is(put.status, 403, put.text);
  t.is(put.body.message, 'configmaps "planted" is forbidden: User "bob" cannot create resource "configmaps" in API group "" in the namespace "victim"');
  const apply = await as(BOB, 'PATCH', '/api/v1/namespaces/victim/configmaps/planted?fieldManager=bob', JSON.stringify(cm), APPLY);
  t.is(apply.status, 403);
  t.is(apply.body.message, put.body.message);
  const bob = grpcClient({ token: BOB });
  const g = await failure(bob.update({ resource: 'configmaps', namespace: 'victim' }, cm));
  t.is(g.code, grpc.status.PERMISSION_DENIED);
  t.is(g.status?.message, put.body.message);
  t.is((await admin('GET', '/api/v1/namespaces/victim/configmaps/planted')).status, 404);
  const rb = binding('victim', 'planted', { kind: 'ClusterRole', name: 'view' }, [user('bob')]);
  const rbPut = await as(BOB, 'PUT', `${RBAC}/namespaces/victim/rolebindings/planted`, rb);
  t.is(rbPut.status, 403);
  t.is(rbPut.body.message, 'rolebindings.rbac.authorization.k8s.io "planted" is forbidden: User "bob" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "victim"');
  t.is((await as(BOB, 'PATCH', `${RBAC}/namespaces/victim/rolebindings/planted?fieldManager=bob`, JSON.stringify(rb), APPLY)).status, 403);
  t.is((await admin('GET', `${RBAC}/namespaces/victim/rolebindings/planted`)).status, 404);
  // Updating an existing object needs only update / patch.
  await admin('POST', '/api/v1/namespaces/victim/configmaps', { ...cm, metadata: { name: 'existing' } }, 201);
  t.is((await as(BOB, 'PUT', '/api/v1/namespaces/victim/configmaps/existing', { ...cm, metadata: { name: 'existing' }, data: { a: '2' } })).status, 200);
  t.is((await as(BOB, 'PATCH', '/api/v1/namespaces/victim/configmaps/existing?fieldManager=bob&force=true', JSON.stringify({ ...cm, metadata: { name: 'existing' }, data: { a: '3' } }), APPLY)).status, 200);
  // With create as well, PUT creates.
  await grant('victim', 'creator', 'bob', [rule([''], ['configmaps'], ['create'])]);
  t.is((await as(BOB, 'PUT', '/api/v1/namespaces/victim/configmaps/planted', cm)).status, 201);
});

// ------------------------------------------------------------------ hole 3: paths

test.serial('a namespace path nested in a namespace is 404 for every verb, and the victim namespace survives', async (t) => {
  const nested = '/api/v1/namespaces/team/namespaces/victim';
  for (const [method, body, type] of [
    ['GET', undefined, undefined],
    ['DELETE', undefined, undefined],
    ['PUT', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'victim', labels: { owned: 'yes' } } }, undefined],
    ['PATCH', { metadata: { labels: { owned: 'yes' } } }, MERGE],
  ] as const) {
    const r = await admin(method, nested, body, undefined, type);
    t.is(r.status, 404, `${method} ${nested}: ${r.text}`);
    t.is(r.body.kind, 'Status');
    t.is(r.body.reason, 'NotFound');
  }
  for (const path of [`${nested}/status`, `${nested}/pods`, '/api/v1/namespaces/team/namespaces/victim/configmaps/x', '/api/v1/namespaces/team/nodes/n1', `/apis${RBAC.slice(5)}/namespaces/team/clusterroles/cluster-admin`]) {
    t.is((await admin('GET', path)).status, 404, path);
    t.is((await admin('DELETE', path)).status, 404, path);
  }
  t.is((await admin('GET', '/api/v1/namespaces/team/namespaces')).status, 404);
  const victim = await admin('GET', '/api/v1/namespaces/victim', undefined, 200);
  t.is(victim.body.status.phase, 'Active');
  t.is(victim.body.metadata.labels?.owned, undefined);
  // The Namespace's own subresources still route.
  t.is((await admin('GET', '/api/v1/namespaces/victim/status')).status, 200);
});

test.serial('a namespaced kind cannot be created on its all-namespaces path (405, as upstream registers no POST there)', async (t) => {
  const r = await admin('POST', '/api/v1/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nowhere', namespace: 'team' } });
  t.is(r.status, 405, r.text);
  t.is(r.body.reason, 'MethodNotAllowed');
  t.is((await admin('GET', '/api/v1/namespaces/team/configmaps/nowhere')).status, 404);
});

test.serial('for namespaces the namespace attribute is the object name: a Role in a namespace grants get on that namespace only (REST and gRPC)', async (t) => {
  await grant('nsattr', 'ns-getter', 'bob', [rule([''], ['namespaces'], ['get', 'delete'])]);
  t.is((await as(BOB, 'GET', '/api/v1/namespaces/nsattr')).status, 200);
  const other = await as(BOB, 'GET', '/api/v1/namespaces/victim');
  t.is(other.status, 403);
  t.is(other.body.message, 'namespaces "victim" is forbidden: User "bob" cannot get resource "namespaces" in API group "" in the namespace "victim"');
  t.is((await as(BOB, 'GET', '/api/v1/namespaces/nsattr/namespaces/victim')).status, 404);
  t.is((await as(BOB, 'DELETE', '/api/v1/namespaces/nsattr/namespaces/victim')).status, 404);
  t.is((await as(BOB, 'GET', '/api/v1/namespaces')).status, 403, 'listing namespaces is cluster-scoped');
  const bob = grpcClient({ token: BOB });
  t.is(((await bob.get({ resource: 'namespaces' }, 'nsattr')).metadata as { name: string }).name, 'nsattr');
  t.is((await failure(bob.get({ resource: 'namespaces' }, 'victim'))).code, grpc.status.PERMISSION_DENIED);
  t.is((await failure(bob.get({ resource: 'namespaces', namespace: 'nsattr' }, 'victim'))).code, grpc.status.NOT_FOUND);
  t.is((await failure(bob.delete({ resource: 'namespaces', namespace: 'nsattr' }, 'victim'))).code, grpc.status.NOT_FOUND);
  t.is((await failure(bob.delete({ resource: 'namespaces' }, 'victim'))).code, grpc.status.PERMISSION_DENIED);
  t.is((await admin('GET', '/api/v1/namespaces/victim')).body.status.phase, 'Active');
});

// ------------------------------------------------------------------ hole 5: NodeRestriction on every verb

test.serial('a node identity may not change its restricted labels, taints or podCIDR, nor touch another node; its status it may', async (t) => {
  const n1 = identity('/O=system:nodes/CN=system:node:n1');
  const nodeBody = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
  });
  t.is((await asNode(n1, 'POST', '/api/v1/nodes', nodeBody('n1'))).status, 201);
  await admin('POST', '/api/v1/nodes', nodeBody('n2'), 201);
  await admin('PATCH', '/api/v1/nodes/n1', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'gold' } } }, 200, MERGE);

  const label = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'platinum' } } }, MERGE);
  t.is(label.status, 403, label.text);
  t.is(label.body.message, 'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool');
  const removed = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': null } } }, MERGE);
  t.is(removed.status, 403);
  const added = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', [{ op: 'add', path: '/metadata/labels/x.node-restriction.kubernetes.io~1secure', value: 'yes' }], 'application/json-patch+json');
  t.is(added.status, 403);
  t.is(added.body.message, 'nodes "n1" is forbidden: is not allowed to modify labels: x.node-restriction.kubernetes.io/secure');
  const taints = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { spec: { taints: [] } }, MERGE);
  t.is(taints.status, 403);
  t.is(taints.body.message, 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
  const cidr = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { spec: { podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.9.0/24'] } }, 'application/strategic-merge-patch+json');
  t.is(cidr.status, 403);
  t.is(cidr.body.message, 'nodes "n1" is forbidden: node "n1" is not allowed to modify podCIDR');
  const cur = (await admin('GET', '/api/v1/nodes/n1')).body;
  const putTaints = await asNode(n1, 'PUT', '/api/v1/nodes/n1', { ...cur, spec: { ...cur.spec, taints: [] } });
  t.is(putTaints.status, 403);
  const applyLabel = await asNode(n1, 'PATCH', '/api/v1/nodes/n1?fieldManager=kubelet&force=true', JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'node-restriction.kubernetes.io/pool': 'x' } } }), APPLY);
  t.is(applyLabel.status, 403);
  const configSource = await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { spec: { configSource: { configMap: { name: 'c', namespace: 'kube-system', kubeletConfigKey: 'k' } } } }, MERGE);
  t.is(configSource.status, 403);

  // Another node: every verb refused.
  const other = await asNode(n1, 'PATCH', '/api/v1/nodes/n2', { metadata: { labels: { a: 'b' } } }, MERGE);
  t.is(other.status, 403);
  t.regex(other.body.message, /^nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes" in API group "" at the cluster scope/);
  t.is((await asNode(n1, 'PUT', '/api/v1/nodes/n2/status', (await admin('GET', '/api/v1/nodes/n2')).body)).status, 403);
  t.is((await asNode(n1, 'DELETE', '/api/v1/nodes/n2')).status, 403);
  // PUT that would create another Node.
  const planted = await asNode(n1, 'PUT', '/api/v1/nodes/n9', nodeBody('n9'));
  t.is(planted.status, 403);
  t.is((await admin('GET', '/api/v1/nodes/n9')).status, 404);

  // What stays allowed: ordinary labels, its own status.
  t.is((await asNode(n1, 'PATCH', '/api/v1/nodes/n1', { metadata: { labels: { 'example.com/rack': 'r1' } } }, MERGE)).status, 200);
  const status = await asNode(n1, 'PATCH', '/api/v1/nodes/n1/status', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok' }] } }, MERGE);
  t.is(status.status, 200, status.text);
  const fresh = (await admin('GET', '/api/v1/nodes/n1')).body;
  t.is((await asNode(n1, 'PUT', '/api/v1/nodes/n1/status', fresh)).status, 200);
  t.is(fresh.metadata.labels['node-restriction.kubernetes.io/pool'], 'gold');
  t.deepEqual(fresh.spec.taints, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
  t.is(fresh.spec.podCIDR, '10.244.1.0/24');

  // The same over gRPC.
  const node = grpcClient({ identity: n1 });
  const g = await failure(node.patch({ resource: 'nodes' }, 'n1', 'JSON_MERGE_PATCH', { spec: { taints: [] } }));
  t.is(g.code, grpc.status.PERMISSION_DENIED);
  t.is(g.status?.message, 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
  const { resourceVersion: _rv, ...freshMeta } = fresh.metadata;
  const gl = await failure(node.update({ resource: 'nodes' }, { ...fresh, metadata: { ...freshMeta, labels: { ...fresh.metadata.labels, 'node-restriction.kubernetes.io/pool': 'x' } } }));
  t.is(gl.code, grpc.status.PERMISSION_DENIED);
  t.is((await failure(node.patch({ resource: 'nodes' }, 'n2', 'JSON_MERGE_PATCH', { metadata: { labels: { a: 'b' } } }))).code, grpc.status.PERMISSION_DENIED);
  t.is((await failure(node.update({ resource: 'nodes' }, nodeBody('n8')))).code, grpc.status.PERMISSION_DENIED);
  t.is((await admin('GET', '/api/v1/nodes/n8')).status, 404);
  const ok = await node.patch({ resource: 'nodes' }, 'n1', 'JSON_MERGE_PATCH', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'grpc' }] } }, { subresource: 'status' });
  t.is((ok.metadata as { name: string }).name, 'n1');
  const final = (await admin('GET', '/api/v1/nodes/n1')).body;
  t.is(final.metadata.labels['node-restriction.kubernetes.io/pool'], 'gold');
  t.is(final.spec.taints.length, 1);
});

test.serial('a node updates the status of, and deletes, only pods bound to itself; no pod spec updates (REST and gRPC)', async (t) => {
  const n1 = identity('/O=system:nodes/CN=system:node:n1');
  const pod = (name: string, nodeName: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] } });
  await admin('POST', '/api/v1/namespaces/default/pods', pod('mine', 'n1'), 201);
  await admin('POST', '/api/v1/namespaces/default/pods', pod('theirs', 'n2'), 201);
  const statusPatch = { status: { phase: 'Running' } };
  t.is((await asNode(n1, 'PATCH', '/api/v1/namespaces/default/pods/mine/status', statusPatch, MERGE)).status, 200);
  const theirs = await asNode(n1, 'PATCH', '/api/v1/namespaces/default/pods/theirs/status', statusPatch, MERGE);
  t.is(theirs.status, 403);
  t.is((await asNode(n1, 'DELETE', '/api/v1/namespaces/default/pods/theirs')).status, 403);
  const spec = await asNode(n1, 'PATCH', '/api/v1/namespaces/default/pods/mine', { metadata: { labels: { stolen: 'yes' } } }, MERGE);
  t.is(spec.status, 403);
  t.regex(spec.body.message, /^pods "mine" is forbidden: /);
  const node = grpcClient({ identity: n1 });
  t.is((await failure(node.patch({ resource: 'pods', namespace: 'default' }, 'theirs', 'JSON_MERGE_PATCH', statusPatch, { subresource: 'status' }))).code, grpc.status.PERMISSION_DENIED);
  t.is((await failure(node.delete({ resource: 'pods', namespace: 'default' }, 'theirs'))).code, grpc.status.PERMISSION_DENIED);
  t.is((await admin('GET', '/api/v1/namespaces/default/pods/theirs')).body.status.phase, 'Pending');
  t.is((await admin('GET', '/api/v1/namespaces/default/pods/mine')).body.metadata.labels?.stolen, undefined);
  const del = await asNode(n1, 'DELETE', '/api/v1/namespaces/default/pods/mine?gracePeriodSeconds=0');
  t.true(del.status === 200 || del.status === 202, del.text);
});

// ------------------------------------------------------------------ own fields only

test.serial('RBAC rules and the Node authorizer read only own fields: a polluted Object.prototype grants nothing', (t) => {
  // Synchronous: nothing else runs while Object.prototype carries the fields.
  const proto = Object.prototype as Record<string, unknown>;
  const fields = { verbs: ['*'], apiGroups: ['*'], resources: ['*'], nonResourceURLs: ['*'], spec: { nodeName: 'n1', volumes: [{ secret: { secretName: 'stolen' } }] } };
  try {
    Object.assign(proto, fields);
    const empty = toPolicyRule({});
    t.deepEqual(empty, { verbs: [], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [] });
    t.false(ruleAllows(empty, { verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'x', name: 'y' }));
    t.false(ruleAllows(empty, { verb: 'get', path: '/metrics' }));
    t.deepEqual(rulesOf({ rules: [{}] }), [empty]);
    const refs = podReferences({});
    t.is(refs.secrets.size, 0);
  } finally {
    for (const k of Object.keys(fields)) delete proto[k];
  }
  // Type-confused stored rules: non-arrays and non-string entries are ignored.
  t.deepEqual(toPolicyRule({ verbs: 'get', apiGroups: [''], resources: ['secrets', 7, null] }), { verbs: [], apiGroups: [''], resources: ['secrets'], resourceNames: [], nonResourceURLs: [] });
});

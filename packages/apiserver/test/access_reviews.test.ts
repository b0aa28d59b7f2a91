// The identity APIs against a real API server on a real etcd 3.4, over HTTPS:
// SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
// SelfSubjectRulesReview and SelfSubjectReview answered by the RBAC
// authorizer, impersonation headers authorized by the impersonate verb, and
// the real kubectl 1.27 and 1.33 (`auth can-i`, `--list`, `auth whoami`, `--as`).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { findResource } from '@mkube/api';
import { EtcdClient } from '@mkube/store/client';
import * as grpc from '@grpc/grpc-js';
import { bytesToJson, jsonToBytes } from '@mkube/api';
import { kubeconfig } from '../src/auth/pki.js';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { decodeGrpc, encodeGrpc } from '../src/grpc/proto.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const AUTHZ = '/apis/authorization.k8s.io/v1';
const AUTHN = '/apis/authentication.k8s.io';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

let fx: Fixture;
let bobConfig: string;
let aliceConfig: string;

/** Waits until the API server's RBAC caches have seen a write (the authorizer reads them). */
async function rbacCacheSaw(reply: Reply, resource: string): Promise<void> {
  const info = findResource('rbac.authorization.k8s.io', 'v1', resource)!;
  await fx.server.registry.cache(info).waitFor(Number(reply.body.metadata.resourceVersion));
}

async function create(path: string, body: unknown, resource: string): Promise<void> {
  const r = await api(fx.server, 'POST', path, body);
  if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${r.text}`);
  await rbacCacheSaw(r, resource);
}

test.before(async () => {
  fx = await startFixture();
  bobConfig = join(fx.dir, 'bob.kubeconfig');
  aliceConfig = join(fx.dir, 'alice.kubeconfig');
  await writeFile(bobConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'bob', { token: 'bob-token' }));
  await writeFile(aliceConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'alice', { token: 'alice-token' }));
  const ns = await api(fx.server, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  if (ns.status !== 201) throw new Error(ns.text);
  await create(`${RBAC}/namespaces/team/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: 'team' },
    rules: [
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'], verbs: ['get'] },
    ],
  }, 'roles');
  await create(`${RBAC}/namespaces/team/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bob-reads', namespace: 'team' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [{ kind: 'User', name: 'bob' }],
  }, 'rolebindings');
  await create(`${RBAC}/clusterroles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'log-urls' },
    rules: [{ nonResourceURLs: ['/logs', '/logs/*'], verbs: ['get'] }],
  }, 'clusterroles');
  await create(`${RBAC}/clusterrolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'bob-log-urls' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'log-urls' },
    subjects: [{ kind: 'User', name: 'bob' }],
  }, 'clusterrolebindings');
  // "devs" (alice's group) may impersonate the user bob and the group ops, nobody else.
  await create(`${RBAC}/clusterroles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'impersonate-bob' },
    rules: [
      { apiGroups: [''], resources: ['users'], resourceNames: ['bob'], verbs: ['impersonate'] },
      { apiGroups: [''], resources: ['groups'], resourceNames: ['ops'], verbs: ['impersonate'] },
    ],
  }, 'clusterroles');
  await create(`${RBAC}/clusterrolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'devs-impersonate-bob' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonate-bob' },
    subjects: [{ kind: 'Group', name: 'devs' }],
  }, 'clusterrolebindings');
  // The group ops may list secrets in team.
  await create(`${RBAC}/namespaces/team/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'secret-lister', namespace: 'team' },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }],
  }, 'roles');
  await create(`${RBAC}/namespaces/team/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'ops-secrets', namespace: 'team' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-lister' },
    subjects: [{ kind: 'Group', name: 'ops' }],
  }, 'rolebindings');
});
test.after.always(async () => {
  await fx?.stop();
});

const ssar = (resourceAttributes?: object, nonResourceAttributes?: object) => ({
  apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
  spec: { ...(resourceAttributes ? { resourceAttributes } : {}), ...(nonResourceAttributes ? { nonResourceAttributes } : {}) },
});
const sar = (spec: object) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });

/** One HTTPS request with a bearer token and extra headers (impersonation). */
function call(method: string, path: string, token: string, headers: Record<string, string | string[]> = {}, body?: unknown): Promise<Reply> {
  return api(fx.server, method, path, body, { token, headers });
}

test('SelfSubjectAccessReview answers from RBAC: resources, subresources, resource names, non-resource URLs', async (t) => {
  const ask = async (ra?: object, nra?: object) => {
    const r = await call('POST', `${AUTHZ}/selfsubjectaccessreviews`, 'bob-token', {}, ssar(ra, nra));
    t.is(r.status, 201, r.text);
    t.is(r.body.kind, 'SelfSubjectAccessReview');
    t.is(r.body.apiVersion, 'authorization.k8s.io/v1');
    return r.body.status.allowed as boolean;
  };
  t.true(await ask({ namespace: 'team', verb: 'get', resource: 'pods' }));
  t.true(await ask({ namespace: 'team', verb: 'list', resource: 'pods' }));
  t.false(await ask({ namespace: 'team', verb: 'delete', resource: 'pods' }));
  t.false(await ask({ namespace: 'other', verb: 'get', resource: 'pods' }));
  t.false(await ask({ verb: 'get', resource: 'pods' }), 'all namespaces: only cluster-wide grants count');
  t.true(await ask({ namespace: 'team', verb: 'get', resource: 'pods', subresource: 'log', name: 'p' }));
  t.false(await ask({ namespace: 'team', verb: 'get', resource: 'pods', subresource: 'exec', name: 'p' }));
  t.true(await ask({ namespace: 'team', verb: 'get', resource: 'configmaps', name: 'settings' }));
  t.false(await ask({ namespace: 'team', verb: 'get', resource: 'configmaps', name: 'other' }));
  t.false(await ask({ namespace: 'team', verb: 'get', resource: 'pods', group: 'apps' }));
  t.true(await ask(undefined, { path: '/logs/kube.log', verb: 'get' }));
  t.true(await ask(undefined, { path: '/version', verb: 'get' }), 'system:public-info-viewer / discovery');
  t.false(await ask(undefined, { path: '/metrics', verb: 'get' }));
  // Nothing was stored: etcd has no key for any review.
  const etcd = new EtcdClient({ endpoints: [fx.etcdEndpoint] });
  t.teardown(() => etcd.close());
  const keys = (await etcd.range(Buffer.from('/'), { fromKey: true })).kvs.map((kv) => kv.key.toString('utf8'));
  t.true(keys.some((k) => k.includes('/rolebindings/')), 'the range saw the store');
  t.false(keys.some((k) => /review/i.test(k)), keys.filter((k) => /review/i.test(k)).join(','));
});

test('review validation and verbs as upstream: 422 for a spec without attributes, 405 for anything but create', async (t) => {
  const empty = await call('POST', `${AUTHZ}/selfsubjectaccessreviews`, 'bob-token', {}, ssar());
  t.is(empty.status, 422);
  t.is(empty.body.reason, 'Invalid');
  t.is(empty.body.message, 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified');
  const both = await call('POST', `${AUTHZ}/selfsubjectaccessreviews`, 'bob-token', {}, ssar({ verb: 'get', resource: 'pods' }, { verb: 'get', path: '/x' }));
  t.is(both.status, 422);
  t.regex(both.body.message, /spec\.nonResourceAttributes: Invalid value: .*cannot be specified in combination with resourceAttributes/);
  const named = await call('POST', `${AUTHZ}/selfsubjectaccessreviews`, 'bob-token', {}, { ...ssar({ verb: 'get', resource: 'pods' }), metadata: { name: 'x' } });
  t.is(named.status, 422);
  t.regex(named.body.message, /metadata: Invalid value: .*: must be empty$/);
  const get = await api(fx.server, 'GET', `${AUTHZ}/selfsubjectaccessreviews`);
  t.is(get.status, 405);
  t.is(get.body.reason, 'MethodNotAllowed');
  const del = await api(fx.server, 'DELETE', `${AUTHZ}/selfsubjectaccessreviews/x`);
  t.is(del.status, 405);
  const notJson = await call('POST', `${AUTHZ}/selfsubjectaccessreviews`, 'bob-token', {}, ['not', 'an', 'object']);
  t.is(notJson.status, 400);
});

test('SubjectAccessReview and LocalSubjectAccessReview ask about another user; only who may create them may ask', async (t) => {
  const asAdmin = async (path: string, body: object) => api(fx.server, 'POST', path, body);
  const bobGets = await asAdmin(`${AUTHZ}/subjectaccessreviews`, sar({ user: 'bob', resourceAttributes: { namespace: 'team', verb: 'get', resource: 'pods' } }));
  t.is(bobGets.status, 201, bobGets.text);
  t.true(bobGets.body.status.allowed);
  t.is(bobGets.body.spec.user, 'bob');
  const bobDeletes = await asAdmin(`${AUTHZ}/subjectaccessreviews`, sar({ user: 'bob', resourceAttributes: { namespace: 'team', verb: 'delete', resource: 'pods' } }));
  t.false(bobDeletes.body.status.allowed);
  const ops = await asAdmin(`${AUTHZ}/subjectaccessreviews`, sar({ user: 'carol', groups: ['ops'], resourceAttributes: { namespace: 'team', verb: 'list', resource: 'secrets' } }));
  t.true(ops.body.status.allowed, 'groups are taken from the spec');
  const noGroups = await asAdmin(`${AUTHZ}/subjectaccessreviews`, sar({ user: 'carol', resourceAttributes: { namespace: 'team', verb: 'list', resource: 'secrets' } }));
  t.false(noGroups.body.status.allowed);
  const nobody = await asAdmin(`${AUTHZ}/subjectaccessreviews`, sar({ resourceAttributes: { verb: 'get', resource: 'pods' } }));
  t.is(nobody.status, 422);
  t.is(nobody.body.message, 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified');
  const bobAsks = await call('POST', `${AUTHZ}/subjectaccessreviews`, 'bob-token', {}, sar({ user: 'alice', resourceAttributes: { verb: 'get', resource: 'pods' } }));
  t.is(bobAsks.status, 403);
  t.is(bobAsks.body.message, 'subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope');

  const lsar = (ns: string, spec: object, meta: object = {}) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview', metadata: meta, spec });
  const local = await asAdmin(`${AUTHZ}/namespaces/team/localsubjectaccessreviews`, lsar('team', { user: 'bob', resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } }));
  t.is(local.status, 201, local.text);
  t.true(local.body.status.allowed);
  t.is(local.body.metadata.namespace, 'team');
  const otherNs = await asAdmin(`${AUTHZ}/namespaces/team/localsubjectaccessreviews`, lsar('team', { user: 'bob', resourceAttributes: { namespace: 'other', verb: 'list', resource: 'pods' } }));
  t.is(otherNs.status, 422);
  t.is(otherNs.body.message, 'LocalSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace');
  const nonRes = await asAdmin(`${AUTHZ}/namespaces/team/localsubjectaccessreviews`, lsar('team', { user: 'bob', nonResourceAttributes: { verb: 'get', path: '/logs' } }));
  t.is(nonRes.status, 422);
  t.regex(nonRes.body.message, /spec\.nonResourceAttributes: Invalid value: .*: disallowed on this kind of request/);
  const metaNs = await asAdmin(`${AUTHZ}/namespaces/team/localsubjectaccessreviews`, lsar('team', { user: 'bob', resourceAttributes: { namespace: 'team', verb: 'get', resource: 'pods' } }, { namespace: 'other' }));
  t.is(metaNs.status, 400);
  t.is(metaNs.body.message, 'the namespace of the provided object does not match the namespace sent on the request');
});

test('SelfSubjectRulesReview lists the rules RBAC grants in a namespace', async (t) => {
  const r = await call('POST', `${AUTHZ}/selfsubjectrulesreviews`, 'bob-token', {}, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'team' } });
  t.is(r.status, 201, r.text);
  const st = r.body.status;
  t.false(st.incomplete);
  t.deepEqual(st.resourceRules.find((x: { resources: string[] }) => x.resources.includes('pods')), { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'pods/log'] });
  t.deepEqual(st.resourceRules.find((x: { resources: string[] }) => x.resources.includes('configmaps')), { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'] });
  t.truthy(st.resourceRules.find((x: { resources: string[] }) => x.resources.includes('selfsubjectaccessreviews')), 'system:basic-user');
  t.truthy(st.nonResourceRules.find((x: { nonResourceURLs: string[] }) => x.nonResourceURLs.includes('/logs/*')));
  const elsewhere = await call('POST', `${AUTHZ}/selfsubjectrulesreviews`, 'bob-token', {}, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'other' } });
  t.falsy(elsewhere.body.status.resourceRules.find((x: { resources: string[] }) => x.resources.includes('pods')));
  const noNs = await call('POST', `${AUTHZ}/selfsubjectrulesreviews`, 'bob-token', {}, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: {} });
  t.is(noNs.status, 400);
  t.is(noNs.body.message, 'no namespace on request');
});

test('SelfSubjectReview (v1 and v1beta1) returns the requesting user', async (t) => {
  for (const v of ['v1', 'v1beta1']) {
    const r = await call('POST', `${AUTHN}/${v}/selfsubjectreviews`, 'alice-token', {}, { apiVersion: `authentication.k8s.io/${v}`, kind: 'SelfSubjectReview' });
    t.is(r.status, 201, r.text);
    t.is(r.body.apiVersion, `authentication.k8s.io/${v}`);
    t.deepEqual(r.body.status.userInfo, { username: 'alice', uid: '1001', groups: ['devs', 'system:authenticated'] });
  }
});

test('discovery lists the reviews as upstream', async (t) => {
  const authz = await api(fx.server, 'GET', AUTHZ);
  t.deepEqual(
    authz.body.resources.map((r: { name: string; namespaced: boolean; verbs: string[] }) => [r.name, r.namespaced, r.verbs]).sort(),
    [['localsubjectaccessreviews', true, ['create']], ['selfsubjectaccessreviews', false, ['create']], ['selfsubjectrulesreviews', false, ['create']], ['subjectaccessreviews', false, ['create']]],
  );
  const authn = await api(fx.server, 'GET', `${AUTHN}/v1`);
  t.deepEqual(authn.body.resources.map((r: { name: string }) => r.name).sort(), ['selfsubjectreviews', 'tokenreviews']);
  const group = await api(fx.server, 'GET', '/apis/authentication.k8s.io');
  t.is(group.body.preferredVersion.version, 'v1');
});

test('impersonation headers: authorized by the impersonate verb, with upstream messages', async (t) => {
  const whoami = (token: string, headers: Record<string, string | string[]>) =>
    call('POST', `${AUTHN}/v1/selfsubjectreviews`, token, headers, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  const asBob = await whoami('alice-token', { 'Impersonate-User': 'bob' });
  t.is(asBob.status, 201, asBob.text);
  t.deepEqual(asBob.body.status.userInfo, { username: 'bob', groups: ['system:authenticated'] });
  const withGroup = await whoami('alice-token', { 'Impersonate-User': 'bob', 'Impersonate-Group': 'ops' });
  t.deepEqual(withGroup.body.status.userInfo.groups, ['ops', 'system:authenticated']);
  // As bob in ops, alice may list secrets in team (ops' grant), which neither alice nor bob may.
  t.is((await call('GET', '/api/v1/namespaces/team/secrets', 'alice-token')).status, 403);
  t.is((await call('GET', '/api/v1/namespaces/team/secrets', 'alice-token', { 'Impersonate-User': 'bob', 'Impersonate-Group': 'ops' })).status, 200);
  t.is((await call('GET', '/api/v1/namespaces/team/secrets', 'alice-token', { 'Impersonate-User': 'bob' })).status, 403);
  const carol = await whoami('alice-token', { 'Impersonate-User': 'carol' });
  t.is(carol.status, 403);
  t.is(carol.body.message, 'users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
  const masters = await whoami('alice-token', { 'Impersonate-User': 'bob', 'Impersonate-Group': ['ops', 'system:masters'] });
  t.is(masters.status, 403);
  t.is(masters.body.message, 'groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope');
  const bobTries = await whoami('bob-token', { 'Impersonate-User': 'alice' });
  t.is(bobTries.status, 403);
  t.is(bobTries.body.message, 'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope');
  const sa = await whoami('alice-token', { 'Impersonate-User': 'system:serviceaccount:team:builder' });
  t.is(sa.status, 403);
  t.is(sa.body.message, 'serviceaccounts "builder" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team"');
  const uid = await whoami('alice-token', { 'Impersonate-User': 'bob', 'Impersonate-Uid': '42' });
  t.is(uid.body.message, 'uids.authentication.k8s.io "42" is forbidden: User "alice" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope');
  const extra = await whoami('alice-token', { 'Impersonate-User': 'bob', 'Impersonate-Extra-Scopes': 'view' });
  t.is(extra.body.message, 'userextras.authentication.k8s.io "view" is forbidden: User "alice" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope');
  const groupOnly = await whoami('alice-token', { 'Impersonate-Group': 'ops' });
  t.is(groupOnly.status, 400);
  t.is(groupOnly.body.message, 'requested [{Group  ops    }] without impersonating a user');
});

function kubectl(bin: string, args: string[], config: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...process.env, KUBECONFIG: config, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

for (const v of ['1.27', '1.33']) {
  const bin = `${BIN}/kubectl.${v}`;
  test.serial(`kubectl ${v}: auth can-i (yes/no, exit codes, subresource, non-resource URL, --list) and auth whoami`, async (t) => {
    const bob = (args: string[]) => kubectl(bin, args, bobConfig);
    const yes = await bob(['auth', 'can-i', 'get', 'pods', '-n', 'team']);
    t.is(yes.code, 0, yes.err);
    t.is(yes.out.trim(), 'yes');
    const no = await bob(['auth', 'can-i', 'delete', 'pods', '-n', 'team']);
    t.is(no.code, 1, no.err);
    t.is(no.out.trim(), 'no');
    t.is((await bob(['auth', 'can-i', 'get', 'pods', '--subresource=log', '-n', 'team'])).out.trim(), 'yes');
    t.is((await bob(['auth', 'can-i', 'get', 'pods', '--subresource=exec', '-n', 'team'])).out.trim(), 'no');
    t.is((await bob(['auth', 'can-i', 'get', 'configmaps/settings', '-n', 'team'])).out.trim(), 'yes');
    t.is((await bob(['auth', 'can-i', 'get', 'configmaps/other', '-n', 'team'])).out.trim(), 'no');
    t.is((await bob(['auth', 'can-i', 'get', '/logs/x'])).out.trim(), 'yes');
    t.is((await bob(['auth', 'can-i', 'get', '/metrics'])).out.trim(), 'no');
    t.is((await bob(['auth', 'can-i', 'list', 'deployments.apps', '-n', 'team'])).out.trim(), 'no');
    const list = await bob(['auth', 'can-i', '--list', '-n', 'team']);
    t.is(list.code, 0, list.err);
    t.regex(list.out, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    t.regex(list.out, /^pods\s+\[\]\s+\[\]\s+\[get list\]$/m);
    t.regex(list.out, /^pods\/log\s+\[\]\s+\[\]\s+\[get list\]$/m);
    t.regex(list.out, /^configmaps\s+\[\]\s+\[settings\]\s+\[get\]$/m);
    t.regex(list.out, /^\s+\[\/logs\/\*\]\s+\[\]\s+\[get\]$/m);
    const elsewhere = await bob(['auth', 'can-i', '--list', '-n', 'other']);
    t.notRegex(elsewhere.out, /^pods\s/m);

    const who = await kubectl(bin, ['auth', 'whoami'], aliceConfig);
    t.is(who.code, 0, who.err);
    t.regex(who.out, /Username\s+alice/);
    t.regex(who.out, /UID\s+1001/);
    t.regex(who.out, /Groups\s+\[devs system:authenticated\]/);
    const whoJson = await kubectl(bin, ['auth', 'whoami', '-o', 'json'], aliceConfig);
    t.is(JSON.parse(whoJson.out).status.userInfo.username, 'alice');
  });

  test.serial(`kubectl ${v}: --as / --as-group allowed and denied with upstream's messages`, async (t) => {
    const admin = (args: string[]) => kubectl(bin, args, fx.server.kubeconfigPath);
    t.is((await admin(['auth', 'can-i', 'get', 'pods', '-n', 'team', '--as', 'bob'])).out.trim(), 'yes');
    const no = await admin(['auth', 'can-i', 'delete', 'pods', '-n', 'team', '--as', 'bob']);
    t.is(no.out.trim(), 'no');
    t.is(no.code, 1);
    t.is((await admin(['auth', 'can-i', 'list', 'secrets', '-n', 'team', '--as', 'carol', '--as-group', 'ops'])).out.trim(), 'yes');
    const whoSa = await admin(['auth', 'whoami', '--as', 'system:serviceaccount:team:builder', '-o', 'json']);
    t.is(whoSa.code, 0, whoSa.err);
    t.deepEqual(JSON.parse(whoSa.out).status.userInfo, { username: 'system:serviceaccount:team:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'] });
    const alice = (args: string[]) => kubectl(bin, args, aliceConfig);
    const asBob = await alice(['get', 'secrets', '-n', 'team', '--as', 'bob', '--as-group', 'ops']);
    t.is(asBob.code, 0, asBob.err);
    const asCarol = await alice(['get', 'pods', '-n', 'team', '--as', 'carol']);
    t.is(asCarol.code, 1);
    t.is(asCarol.err.trim(), 'Error from server (Forbidden): users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
    const asMasters = await alice(['get', 'pods', '-n', 'team', '--as', 'bob', '--as-group', 'system:masters']);
    t.is(asMasters.err.trim(), 'Error from server (Forbidden): groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope');
    const bobGets = await alice(['get', 'secrets', '-n', 'team', '--as', 'bob']);
    t.is(bobGets.code, 1);
    t.regex(bobGets.err, /secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "team"/);
    if (v !== '1.27') {
      const uid = await alice(['get', 'pods', '-n', 'team', '--as', 'bob', '--as-uid', '7']);
      t.is(uid.err.trim(), 'Error from server (Forbidden): uids.authentication.k8s.io "7" is forbidden: User "alice" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope');
    }
  });
}

test('over gRPC: Create answers a review, other verbs are UNIMPLEMENTED, impersonation metadata is authorized', async (t) => {
  const s = fx.server;
  const clients: ResourcesClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const client = (token: string) => {
    const c = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, token });
    clients.push(c);
    return c;
  };
  const ref = { group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews' };
  const bob = client('bob-token');
  const yes = await bob.create(ref, { spec: { resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } } });
  t.is(yes.kind, 'SelfSubjectAccessReview');
  t.deepEqual(yes.status, { allowed: true });
  const no = await bob.create(ref, { spec: { resourceAttributes: { namespace: 'team', verb: 'delete', resource: 'pods' } } });
  t.false(Boolean((no.status as { allowed?: boolean } | undefined)?.allowed));
  const invalid = await t.throwsAsync<GrpcApiError>(bob.create(ref, { spec: {} }));
  t.is(invalid?.code, grpc.status.INVALID_ARGUMENT);
  const get = await t.throwsAsync<GrpcApiError>(client('alice-token').get(ref, 'x'));
  t.is(get?.code, grpc.status.PERMISSION_DENIED, 'authorized first, as upstream');
  const admin = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey });
  clients.push(admin);
  for (const call of [admin.get(ref, 'x'), admin.delete(ref, 'x'), admin.list(ref)]) {
    const err = await t.throwsAsync<GrpcApiError>(call);
    t.is(err?.code, grpc.status.UNIMPLEMENTED);
  }

  // Impersonation headers as metadata on a raw Create of a SelfSubjectReview.
  const ssr = 'k8s.io.api.authentication.v1.SelfSubjectReview';
  const whoami = (md: Record<string, string | string[]>) => new Promise<{ err?: GrpcApiError; user?: Record<string, unknown> }>((resolve) => {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) for (const x of [v].flat()) metadata.add(k, x);
    const req = encodeGrpc('mkube.api.v1.CreateRequest', {
      ref: { group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', namespace: '' },
      object: Buffer.from(jsonToBytes(ssr, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { typeMeta: true }).bytes),
      dry_run: false, field_manager: '',
    });
    const id = (b: Buffer) => b;
    client('alice-token').client.makeUnaryRequest('/mkube.api.v1.Resources/Create', id, id, req, metadata, {}, (err, res) => {
      if (err) return resolve({ err: err as GrpcApiError });
      const out = decodeGrpc('mkube.api.v1.ObjectResponse', res!);
      resolve({ user: (bytesToJson(ssr, out.object as Uint8Array).status as { userInfo: Record<string, unknown> }).userInfo });
    });
  });
  t.deepEqual((await whoami({})).user, { username: 'alice', uid: '1001', groups: ['devs', 'system:authenticated'] });
  t.deepEqual((await whoami({ 'impersonate-user': 'bob', 'impersonate-group': 'ops' })).user, { username: 'bob', groups: ['ops', 'system:authenticated'] });
  const denied = await whoami({ 'impersonate-user': 'carol' });
  t.is(denied.err?.code, grpc.status.PERMISSION_DENIED);
  t.regex(String(denied.err?.details), /users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope/);
});

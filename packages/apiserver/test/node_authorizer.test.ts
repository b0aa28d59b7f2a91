// The Node authorizer's decisions and reasons for secrets, config maps, persistent volume claims,
// persistent volumes and service account tokens, as upstream's node_authorizer.go, through a real
// API server (HTTPS, etcd) with a node's client certificate (system:node:n1 in system:nodes) and
// real kubectl. What the authorizer refuses is upstream's NoOpinion: RBAC decides without the
// system:node role and the 403 carries upstream's reason — and a binding of the admin's granting
// the node more (list secrets) is honoured, which a deny would not be.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { findResource } from '@mkube/api';
import { run } from '@mkube/testing';
import { issueCertificate, kubeconfig } from '../src/auth/pki.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

const NS = 'na';
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const MERGE = 'application/merge-patch+json';

let fx: Fixture;
let n1: { cert: string; key: string };

async function admin(method: string, path: string, body?: unknown): Promise<Reply> {
  const r = await api(fx.server, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

/** Waits until the watch cache the authorizers read has seen `reply`'s write. */
async function cached(group: string, resource: string, reply: Reply): Promise<void> {
  await fx.server.registry.cache(findResource(group, 'v1', resource)!).waitFor(Number(reply.body.metadata.resourceVersion));
}

const asNode = (method: string, path: string, body?: unknown, contentType?: string) => api(fx.server, method, path, body, { identity: n1, contentType });
const forbidden = (verb: string, what: string, resource: string, scope: string, reason: string) =>
  `${what} is forbidden: User "system:node:n1" cannot ${verb} resource "${resource}" in API group "" ${scope}: ${reason}`;
const inNs = `in the namespace "${NS}"`;
const noRelationship = "no relationship found between node 'n1' and this object";

const volume = (name: string) => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/${name}` } } });
const claim = (name: string, volumeName: string) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeName, storageClassName: '' },
});
const pod = (name: string, nodeName: string, serviceAccountName: string, secret: string, configMap: string, claimName: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    nodeName,
    serviceAccountName,
    volumes: [{ name: 's', secret: { secretName: secret } }, { name: 'd', persistentVolumeClaim: { claimName } }],
    containers: [{ name: 'c', image: 'busybox', env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: configMap, key: 'k' } } }] }],
  },
});

test.before(async () => {
  fx = await startFixture();
  const s = fx.server;
  issueCertificate(s.pki.dir, 'node-authz-n1', '/O=system:nodes/CN=system:node:n1', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  n1 = { cert: readFileSync(join(s.pki.dir, 'node-authz-n1.crt'), 'utf8'), key: readFileSync(join(s.pki.dir, 'node-authz-n1.key'), 'utf8') };
  await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const name of ['s-mine', 's-theirs']) await admin('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { k: 'dg==' } });
  for (const name of ['cm-mine', 'cm-theirs']) await admin('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } });
  for (const name of ['robot', 'other-sa']) await admin('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  for (const name of ['pv-mine', 'pv-theirs']) await admin('POST', '/api/v1/persistentvolumes', volume(name));
  await admin('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, claim('data-mine', 'pv-mine'));
  await cached('', 'persistentvolumeclaims', await admin('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, claim('data-theirs', 'pv-theirs')));
  await admin('POST', `/api/v1/namespaces/${NS}/pods`, pod('p1', 'n1', 'robot', 's-mine', 'cm-mine', 'data-mine'));
  await cached('', 'pods', await admin('POST', `/api/v1/namespaces/${NS}/pods`, pod('p2', 'n2', 'other-sa', 's-theirs', 'cm-theirs', 'data-theirs')));
});

test.after.always(async () => {
  await fx?.stop();
});

test.serial('secrets and config maps: get of one a pod on the node references; every other read or write refused with the reason', async (t) => {
  for (const path of [`/api/v1/namespaces/${NS}/secrets/s-mine`, `/api/v1/namespaces/${NS}/configmaps/cm-mine`]) t.is((await asNode('GET', path)).status, 200, path);
  const cases: Array<[string, string, unknown, string]> = [
    ['GET', `/api/v1/namespaces/${NS}/secrets/s-theirs`, undefined, forbidden('get', 'secrets "s-theirs"', 'secrets', inNs, noRelationship)],
    ['GET', `/api/v1/namespaces/${NS}/configmaps/cm-theirs`, undefined, forbidden('get', 'configmaps "cm-theirs"', 'configmaps', inNs, noRelationship)],
    ['GET', `/api/v1/namespaces/${NS}/secrets`, undefined, forbidden('list', 'secrets', 'secrets', inNs, 'No Object name found')],
    ['GET', `/api/v1/namespaces/${NS}/configmaps?watch=1`, undefined, forbidden('watch', 'configmaps', 'configmaps', inNs, 'No Object name found')],
    ['GET', '/api/v1/secrets', undefined, forbidden('list', 'secrets', 'secrets', 'at the cluster scope', 'can only read namespaced object of this type')],
    ['DELETE', `/api/v1/namespaces/${NS}/secrets/s-mine`, undefined, forbidden('delete', 'secrets "s-mine"', 'secrets', inNs, 'can only read resources of this type')],
    ['POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, forbidden('create', 'configmaps', 'configmaps', inNs, 'can only read resources of this type')],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await asNode(method, path, body);
    t.is(r.status, 403, `${method} ${path}: ${r.text}`);
    t.is(r.body.message, message);
  }
  t.is((await api(fx.server, 'GET', `/api/v1/namespaces/${NS}/secrets/s-mine`)).status, 200, 'nothing deleted');
});

test.serial('kubectl with the node credentials sees upstream’s 403 for a list of secrets', async (t) => {
  const cfg = join(fx.dir, 'node-n1.kubeconfig');
  writeFileSync(cfg, kubeconfig(fx.server.url, fx.server.pki.caCert, 'system:node:n1', n1), { mode: 0o600 });
  const err = await t.throwsAsync(run(KUBECTL, ['--kubeconfig', cfg, '-n', NS, 'get', 'secrets'], 30_000));
  t.true(err!.message.includes(`Error from server (Forbidden): ${forbidden('list', 'secrets', 'secrets', inNs, 'No Object name found')}`), err!.message);
  const { stdout } = await run(KUBECTL, ['--kubeconfig', cfg, '-n', NS, 'get', 'secret', 's-mine', '-o', 'jsonpath={.metadata.name}'], 30_000);
  t.is(stdout, 's-mine');
});

test.serial('claims: get of one a pod on the node uses, update/patch of its status; list and watch for the provisioner', async (t) => {
  const base = `/api/v1/namespaces/${NS}/persistentvolumeclaims`;
  t.is((await asNode('GET', `${base}/data-mine`)).status, 200);
  t.is((await asNode('GET', base)).status, 200, 'mkube: the local-path provisioner lists claims');
  const patched = await asNode('PATCH', `${base}/data-mine/status`, { status: { conditions: [{ type: 'Resizing', status: 'True' }] } }, MERGE);
  t.is(patched.status, 200, patched.text);
  const cases: Array<[string, string, unknown, string]> = [
    ['GET', `${base}/data-theirs`, undefined, forbidden('get', 'persistentvolumeclaims "data-theirs"', 'persistentvolumeclaims', inNs, noRelationship)],
    ['GET', `${base}/data-mine/status`, undefined, forbidden('get', 'persistentvolumeclaims "data-mine"', 'persistentvolumeclaims/status', inNs, 'can only get/update/patch this type')],
    ['PATCH', `${base}/data-theirs/status`, { status: { conditions: [] } }, forbidden('patch', 'persistentvolumeclaims "data-theirs"', 'persistentvolumeclaims/status', inNs, noRelationship)],
    ['PATCH', `${base}/data-mine`, { metadata: { labels: { a: 'b' } } }, forbidden('patch', 'persistentvolumeclaims "data-mine"', 'persistentvolumeclaims', inNs, 'can only get individual resources of this type')],
    ['DELETE', `${base}/data-mine`, undefined, forbidden('delete', 'persistentvolumeclaims "data-mine"', 'persistentvolumeclaims', inNs, 'can only get individual resources of this type')],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await asNode(method, path, body, method === 'PATCH' ? MERGE : undefined);
    t.is(r.status, 403, `${method} ${path}: ${r.text}`);
    t.is(r.body.message, message);
  }
});

test.serial('volumes: get of one bound to a claim of a pod on the node; no subresource, no write', async (t) => {
  t.is((await asNode('GET', '/api/v1/persistentvolumes/pv-mine')).status, 200);
  t.is((await asNode('GET', '/api/v1/persistentvolumes')).status, 200, 'mkube: the local-path provisioner lists volumes');
  const cluster = 'at the cluster scope';
  const cases: Array<[string, string, unknown, string]> = [
    ['GET', '/api/v1/persistentvolumes/pv-theirs', undefined, forbidden('get', 'persistentvolumes "pv-theirs"', 'persistentvolumes', cluster, noRelationship)],
    ['GET', '/api/v1/persistentvolumes/pv-mine/status', undefined, forbidden('get', 'persistentvolumes "pv-mine"', 'persistentvolumes/status', cluster, 'cannot get subresource')],
    ['PATCH', '/api/v1/persistentvolumes/pv-mine', { metadata: { labels: { a: 'b' } } }, forbidden('patch', 'persistentvolumes "pv-mine"', 'persistentvolumes', cluster, 'can only get individual resources of this type')],
    ['DELETE', '/api/v1/persistentvolumes/pv-mine', undefined, forbidden('delete', 'persistentvolumes "pv-mine"', 'persistentvolumes', cluster, noRelationship)],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await asNode(method, path, body, method === 'PATCH' ? MERGE : undefined);
    t.is(r.status, 403, `${method} ${path}: ${r.text}`);
    t.is(r.body.message, message);
  }
});

test.serial('service accounts: only the token of one a pod on the node runs as', async (t) => {
  const base = `/api/v1/namespaces/${NS}/serviceaccounts`;
  const p1 = (await api(fx.server, 'GET', `/api/v1/namespaces/${NS}/pods/p1`)).body;
  const tokenRequest = (podName: string, uid: string) => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid } } });
  const ok = await asNode('POST', `${base}/robot/token`, tokenRequest('p1', p1.metadata.uid));
  t.is(ok.status, 201, ok.text);
  const individual = 'can only create tokens for individual service accounts';
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', `${base}/other-sa/token`, tokenRequest('p1', p1.metadata.uid), forbidden('create', 'serviceaccounts "other-sa"', 'serviceaccounts/token', inNs, noRelationship)],
    ['GET', `${base}/robot`, undefined, forbidden('get', 'serviceaccounts "robot"', 'serviceaccounts', inNs, individual)],
    ['GET', base, undefined, forbidden('list', 'serviceaccounts', 'serviceaccounts', inNs, individual)],
    ['DELETE', `${base}/robot`, undefined, forbidden('delete', 'serviceaccounts "robot"', 'serviceaccounts', inNs, individual)],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await asNode(method, path, body);
    t.is(r.status, 403, `${method} ${path}: ${r.text}`);
    t.is(r.body.message, message);
  }
});

test.serial('a refusal is no opinion: a binding of the admin granting the node more is honoured by RBAC', async (t) => {
  await admin('POST', `${RBAC}/namespaces/${NS}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'read-secrets' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] });
  const b = await admin('POST', `${RBAC}/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'n1-read-secrets' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-secrets' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'system:node:n1' }],
  });
  await cached('rbac.authorization.k8s.io', 'rolebindings', b);
  const list = await asNode('GET', `/api/v1/namespaces/${NS}/secrets`);
  t.is(list.status, 200, list.text);
  t.deepEqual(list.body.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort(), ['s-mine', 's-theirs']);
  t.is((await asNode('GET', `/api/v1/namespaces/${NS}/secrets/s-theirs`)).status, 200);
  t.is((await asNode('GET', `/api/v1/namespaces/${NS}/configmaps/cm-theirs`)).status, 403, 'the grant covers secrets only');
  await admin('DELETE', `${RBAC}/namespaces/${NS}/rolebindings/n1-read-secrets`);
});

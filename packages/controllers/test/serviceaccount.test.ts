// The serviceaccount-controller and root-ca-cert-publisher: pure decisions,
// then against a real API server (real etcd) with the controller manager:
// the `default` ServiceAccount and `kube-root-ca.crt` appear in every
// namespace and come back when deleted or edited.
import test from 'ava';
import { ApiError } from '@mkube/client';
import { reconcileRootCa, reconcileServiceAccounts, ROOT_CA_DESCRIPTION } from '../src/serviceaccount/reconcile.js';
import { objectOf, type Obj } from './helpers/world.js';
import { eventually, startFixture, type Fixture } from './helpers/cluster.js';

const SA = { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true };
const CM = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true };
const NS = { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false };
const ns = (name: string, terminating = false): Obj => ({ metadata: { name, ...(terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) }, status: { phase: terminating ? 'Terminating' : 'Active' } });

test('pure: default ServiceAccount only where missing and the namespace is active', (t) => {
  const [create] = reconcileServiceAccounts(ns('a'), () => undefined);
  t.like(create, { verb: 'create', namespace: 'a', object: { kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'a' } } });
  t.deepEqual(reconcileServiceAccounts(ns('a'), () => ({ metadata: { name: 'default' } })), []);
  t.deepEqual(reconcileServiceAccounts(ns('a', true), () => undefined), []);
  t.deepEqual(reconcileServiceAccounts(undefined, () => undefined), []);
});

test('pure: kube-root-ca.crt created, corrected, left alone', (t) => {
  const [create] = reconcileRootCa(ns('a'), undefined, 'CA');
  t.like(create, { verb: 'create', object: { metadata: { name: 'kube-root-ca.crt', annotations: { 'kubernetes.io/description': ROOT_CA_DESCRIPTION } }, data: { 'ca.crt': 'CA' } } });
  const good: Obj = { metadata: { name: 'kube-root-ca.crt', namespace: 'a', resourceVersion: '5', annotations: { 'kubernetes.io/description': ROOT_CA_DESCRIPTION } }, data: { 'ca.crt': 'CA' } };
  t.deepEqual(reconcileRootCa(ns('a'), good, 'CA'), []);
  const [fix] = reconcileRootCa(ns('a'), { ...good, data: { 'ca.crt': 'EVIL', extra: 'x' } }, 'CA');
  t.like(fix, { verb: 'update', object: { metadata: { resourceVersion: '5' }, data: { 'ca.crt': 'CA' } } });
  t.deepEqual(objectOf(fix).data, { 'ca.crt': 'CA' });
  t.deepEqual(reconcileRootCa(ns('a', true), undefined, 'CA'), []);
});

let fx: Fixture;
test.before(async () => {
  fx = await startFixture({ leaderElect: false });
});
test.after.always(async () => {
  await fx?.stop();
});

const saOf = (namespace: string) => fx.client.resource(SA).get(namespace, 'default').catch((err: unknown) => (ApiError.isNotFound(err) ? undefined : Promise.reject(err)));
const caOf = (namespace: string) => fx.client.resource(CM).get(namespace, 'kube-root-ca.crt').catch((err: unknown) => (ApiError.isNotFound(err) ? undefined : Promise.reject(err)));

test.serial('every namespace gets the default ServiceAccount and kube-root-ca.crt with the cluster CA', async (t) => {
  await fx.client.resource(NS).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  for (const namespace of ['default', 'kube-system', 'kube-public', 'team-a']) {
    const sa = await eventually(`default SA in ${namespace}`, () => saOf(namespace));
    t.is(sa.metadata.name, 'default');
    const cm = await eventually(`kube-root-ca.crt in ${namespace}`, () => caOf(namespace));
    t.deepEqual(cm.data, { 'ca.crt': fx.server.pki.caCert });
    t.is(cm.metadata.annotations?.['kubernetes.io/description'], ROOT_CA_DESCRIPTION);
  }
});

test.serial('a deleted default ServiceAccount and a deleted or edited kube-root-ca.crt come back', async (t) => {
  const before = await eventually('default SA in team-a', () => saOf('team-a'));
  await fx.client.resource(SA).delete('team-a', 'default');
  const after = await eventually('a new default SA', async () => {
    const sa = await saOf('team-a');
    return sa && sa.metadata.uid !== before.metadata.uid ? sa : undefined;
  });
  t.not(after.metadata.uid, before.metadata.uid);

  const cm = await eventually('kube-root-ca.crt in team-a', () => caOf('team-a'));
  await fx.client.resource(CM).update({ ...cm, data: { 'ca.crt': 'not the CA' } });
  await eventually('the CA restored', async () => ((await caOf('team-a'))?.data as Record<string, string> | undefined)?.['ca.crt'] === fx.server.pki.caCert);
  await fx.client.resource(CM).delete('team-a', 'kube-root-ca.crt');
  const back = await eventually('kube-root-ca.crt recreated', async () => {
    const c = await caOf('team-a');
    return c && c.metadata.uid !== cm.metadata.uid ? c : undefined;
  });
  t.deepEqual(back.data, { 'ca.crt': fx.server.pki.caCert });
});

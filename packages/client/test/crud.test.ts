import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, KubeClient, loadKubeconfig, Resources, type KubeObject } from '../src/index.js';
import { startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
let c: KubeClient;

test.before(async () => {
  fx = await startFixture();
  c = fx.client({ userAgent: 'client-test' });
});
test.after.always(async () => {
  await fx?.stop();
});

const cm = (name: string, data: Record<string, string> = {}, labels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });

test.serial('create, get, update, merge/json/strategic patch, delete', async (t) => {
  const cms = c.resource(Resources.configmaps);
  const created = await cms.create('default', cm('a', { k: 'v' }));
  t.is(created.metadata.name, 'a');
  t.is(created.metadata.namespace, 'default');
  t.truthy(created.metadata.uid);
  t.truthy(created.metadata.resourceVersion);

  const got = await cms.get('default', 'a');
  t.deepEqual(got.data, { k: 'v' });

  const updated = await cms.update({ ...got, data: { k: 'v2' } });
  t.deepEqual(updated.data, { k: 'v2' });
  t.not(updated.metadata.resourceVersion, got.metadata.resourceVersion);

  const merged = await cms.patch('default', 'a', { data: { extra: '1' } }, 'merge');
  t.deepEqual(merged.data, { k: 'v2', extra: '1' });
  const jsonPatched = await cms.patch('default', 'a', [{ op: 'remove', path: '/data/extra' }], 'json');
  t.deepEqual(jsonPatched.data, { k: 'v2' });
  const strategic = await cms.patch('default', 'a', { metadata: { labels: { x: 'y' } } }, 'strategic');
  t.deepEqual(strategic.metadata.labels, { x: 'y' });

  await cms.delete('default', 'a');
  const e = await t.throwsAsync(cms.get('default', 'a'));
  t.true(ApiError.isNotFound(e));
});

test.serial('ApiError codes: 404, 409 AlreadyExists, 409 Conflict on a stale resourceVersion, 422, precondition', async (t) => {
  const cms = c.resource(Resources.configmaps);
  const first = await cms.create('default', cm('dup'));

  const exists = await t.throwsAsync(cms.create('default', cm('dup')));
  t.true(exists instanceof ApiError);
  t.true(ApiError.isAlreadyExists(exists));
  t.false(ApiError.isConflict(exists));
  t.is((exists as ApiError).code, 409);
  t.is((exists as ApiError).reason, 'AlreadyExists');

  await cms.update({ ...first, data: { n: '1' } });
  const conflict = await t.throwsAsync(cms.update({ ...first, data: { n: '2' } }));
  t.true(ApiError.isConflict(conflict), String(conflict));
  t.is((conflict as ApiError).status.kind, 'Status');

  const missing = await t.throwsAsync(cms.get('default', 'nope'));
  t.is((missing as ApiError).code, 404);
  t.is((missing as ApiError).reason, 'NotFound');

  const invalid = await t.throwsAsync(cms.create('default', cm('Not_A_Valid_Name')));
  t.is((invalid as ApiError).code, 422);

  const precondition = await t.throwsAsync(cms.delete('default', 'dup', { preconditions: { uid: 'wrong-uid' } }));
  t.is((precondition as ApiError).code, 409);
  await cms.delete('default', 'dup', { preconditions: { uid: first.metadata.uid } });
  t.true(ApiError.isNotFound(await t.throwsAsync(cms.get('default', 'dup'))));
});

test.serial('list follows continue tokens and filters by label; cluster-scoped resources', async (t) => {
  const cms = c.resource(Resources.configmaps);
  await c.resource(Resources.namespaces).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'paged' } });
  for (let i = 0; i < 23; i++) await cms.create('paged', cm(`cm-${String(i).padStart(2, '0')}`, {}, { parity: i % 2 ? 'odd' : 'even' }));
  const all = await cms.list('paged', { limit: 5 });
  t.is(all.items.length, 23);
  t.is(new Set(all.items.map((o) => o.metadata.name)).size, 23);
  t.truthy(all.resourceVersion);
  const odd = await cms.list('paged', { labelSelector: 'parity=odd', limit: 4 });
  t.is(odd.items.length, 11);
  t.true(odd.items.every((o) => o.metadata.labels?.parity === 'odd'));
  const byField = await cms.list('paged', { fieldSelector: 'metadata.name=cm-07' });
  t.deepEqual(byField.items.map((o) => o.metadata.name), ['cm-07']);
  const allNs = await cms.list(undefined, { labelSelector: 'parity' });
  t.is(allNs.items.length, 23);
  const ns = await c.resource(Resources.namespaces).get(undefined, 'paged');
  t.is(ns.metadata.name, 'paged');
});

test.serial('status subresource, binding and raw request', async (t) => {
  const nodes = c.resource(Resources.nodes);
  const node = await nodes.create(undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: {} });
  const withStatus = await nodes.updateStatus({ ...node, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  t.is(withStatus.status.conditions[0].type, 'Ready');
  const pods = c.resource(Resources.pods);
  await pods.create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  await pods.subresourceCreate('default', 'p1', 'binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p1' }, target: { apiVersion: 'v1', kind: 'Node', name: 'n1' } });
  const bound = await pods.get('default', 'p1');
  t.is(bound.spec.nodeName, 'n1');
  const raw = await c.request('GET', '/api/v1/namespaces/default/pods/p1');
  t.is(raw.spec.nodeName, 'n1');
  const version = await c.request('GET', '/version');
  t.truthy(version);
});

test.serial('watch streams ADDED/MODIFIED/DELETED from a resourceVersion and stops', async (t) => {
  const cms = c.resource(Resources.configmaps);
  const start = await cms.list('default');
  const seen: [string, string][] = [];
  const w = cms.watch('default', { resourceVersion: start.resourceVersion }, (type, obj) => seen.push([type, obj.metadata.name]));
  const o = await cms.create('default', cm('watched'));
  await cms.update({ ...o, data: { a: 'b' } });
  await cms.delete('default', 'watched');
  const deadline = Date.now() + 5000;
  while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  w.stop();
  await w.done;
  t.deepEqual(seen, [['ADDED', 'watched'], ['MODIFIED', 'watched'], ['DELETED', 'watched']]);
});

test.serial('a watch from a compacted resourceVersion delivers an ERROR event with code 410', async (t) => {
  const cms = c.resource(Resources.configmaps);
  const old = await cms.list('default');
  for (let i = 0; i < 3; i++) await cms.create('default', cm(`churn-${i}`));
  // A fresh API server has no ring history, so the old rv goes to etcd, which has compacted it.
  await fx.restartApiServer(async () => {
    await fx.compactEtcd();
  });
  const c2 = new KubeClient(loadKubeconfig(fx.server.kubeconfigPath));
  t.teardown(() => c2.close());
  const events: [string, any][] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  const w = c2.resource(Resources.configmaps).watch('default', { resourceVersion: old.resourceVersion }, (type, obj) => events.push([type, obj]));
  await w.done;
  t.is(events.length, 1);
  t.is(events[0]![0], 'ERROR');
  t.is(events[0]![1].code, 410);
  c = fx.client();
});

test.serial('loadKubeconfig: token users, file paths, named contexts; bearer token auth reaches the server', async (t) => {
  const cfg = loadKubeconfig(fx.server.kubeconfigPath);
  t.truthy(cfg.ca && cfg.cert && cfg.key);
  t.true(cfg.server.startsWith('https://'));
  const path = join(fx.dir, 'token.kubeconfig');
  writeFileSync(join(fx.dir, 'ca.crt'), cfg.ca!);
  writeFileSync(
    path,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${cfg.server}\n    certificate-authority: ca.crt\nusers:\n- name: u\n  user:\n    token: not-a-real-token\ncontexts:\n- name: other\n  context: {cluster: c, user: u}\ncurrent-context: missing\n`,
  );
  t.throws(() => loadKubeconfig(path), { message: /context "missing" not found/ });
  const tokCfg = loadKubeconfig(path, 'other');
  t.is(tokCfg.token, 'not-a-real-token');
  t.deepEqual(tokCfg.ca, cfg.ca);
  const anon = new KubeClient(tokCfg);
  t.teardown(() => anon.close());
  const e = await t.throwsAsync(anon.resource(Resources.pods).list('default'));
  t.is((e as ApiError).code, 401);
});

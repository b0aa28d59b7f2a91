// The official JavaScript client (@kubernetes/client-node 1.4.0) against an
// in-process API server on a real etcd 3.4, through the generated admin
// kubeconfig: typed CRUD on pods, deployments, services and configmaps, merge
// patches (Content-Type set through the client's header middleware), a
// watch, and errors surfaced as ApiException with the Status body.
import test from 'ava';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1ConfigMap,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
let core: CoreV1Api;
let apps: AppsV1Api;
let kc: KubeConfig;
const NS = 'client-node';

test.before(async () => {
  fx = await startFixture();
  kc = new KubeConfig();
  kc.loadFromFile(fx.server.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});
test.after.always(async () => {
  await fx?.stop();
});

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The Status body of an ApiException (1.x hands it over as the response text). */
function statusOf(err: unknown): { code: number; status: Record<string, unknown> } {
  if (!(err instanceof ApiException)) throw err;
  const body = typeof err.body === 'string' ? (JSON.parse(err.body) as Record<string, unknown>) : (err.body as Record<string, unknown>);
  return { code: err.code, status: body };
}

const pod = (name: string, labels: Record<string, string>): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
});

test.serial('pods: create, list with labelSelector, read, replace, merge patch, delete', async (t) => {
  const created = await core.createNamespacedPod({ namespace: NS, body: pod('p1', { app: 'a', tier: 'web' }) });
  t.is(created.metadata?.name, 'p1');
  t.is(created.metadata?.namespace, NS);
  t.truthy(created.metadata?.uid);
  t.truthy(created.metadata?.creationTimestamp instanceof Date);
  await core.createNamespacedPod({ namespace: NS, body: pod('p2', { app: 'b' }) });

  const list = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=a' });
  t.deepEqual(list.items.map((p) => p.metadata?.name), ['p1']);
  t.truthy(list.metadata?.resourceVersion);
  const all = await core.listPodForAllNamespaces({ labelSelector: 'app in (a,b)' });
  t.deepEqual(all.items.map((p) => p.metadata?.name).sort(), ['p1', 'p2']);

  const read = await core.readNamespacedPod({ name: 'p1', namespace: NS });
  t.is(read.spec?.containers[0]?.image, 'busybox:1.36');
  read.metadata!.labels = { ...read.metadata!.labels, replaced: 'yes' };
  const replaced = await core.replaceNamespacedPod({ name: 'p1', namespace: NS, body: read });
  t.is(replaced.metadata?.labels?.replaced, 'yes');
  t.not(replaced.metadata?.resourceVersion, read.metadata?.resourceVersion);

  const patched = await core.patchNamespacedPod({ name: 'p1', namespace: NS, body: { metadata: { labels: { patched: 'merge', replaced: null } } } }, mergePatch);
  t.is(patched.metadata?.labels?.patched, 'merge');
  t.is(patched.metadata?.labels?.replaced, undefined);
  t.is(patched.metadata?.labels?.app, 'a');

  // The client's default patch type is a JSON patch.
  const jp = await core.patchNamespacedPod({ name: 'p1', namespace: NS, body: [{ op: 'add', path: '/metadata/annotations', value: { via: 'json-patch' } }] });
  t.is(jp.metadata?.annotations?.via, 'json-patch');

  const deleted = await core.deleteNamespacedPod({ name: 'p2', namespace: NS, gracePeriodSeconds: 0 });
  t.is(deleted.metadata?.name, 'p2');
  const after = await core.listNamespacedPod({ namespace: NS });
  t.false(after.items.some((p) => p.metadata?.name === 'p2' && !p.metadata?.deletionTimestamp));
});

test.serial('deployments: create, list, read, replace, merge patch, delete', async (t) => {
  const body: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { tier: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } },
    },
  };
  const created = await apps.createNamespacedDeployment({ namespace: NS, body });
  t.is(created.spec?.replicas, 2);
  t.is(created.metadata?.generation, 1);
  const list = await apps.listNamespacedDeployment({ namespace: NS, labelSelector: 'tier=web' });
  t.deepEqual(list.items.map((d) => d.metadata?.name), ['web']);
  t.is((await apps.listNamespacedDeployment({ namespace: NS, labelSelector: 'tier=db' })).items.length, 0);
  const read = await apps.readNamespacedDeployment({ name: 'web', namespace: NS });
  read.spec!.replicas = 3;
  const replaced = await apps.replaceNamespacedDeployment({ name: 'web', namespace: NS, body: read });
  t.is(replaced.spec?.replicas, 3);
  t.is(replaced.metadata?.generation, 2);
  const patched = await apps.patchNamespacedDeployment({ name: 'web', namespace: NS, body: { spec: { replicas: 1 } } }, mergePatch);
  t.is(patched.spec?.replicas, 1);
  t.is(patched.spec?.template.spec?.containers[0]?.image, 'nginx:1.25');
  const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: NS });
  t.is(scale.spec?.replicas, 1);
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: NS });
  const err = await t.throwsAsync(apps.readNamespacedDeployment({ name: 'web', namespace: NS }));
  t.is(statusOf(err).code, 404);
});

test.serial('services and configmaps: create, list, read, replace, merge patch, delete', async (t) => {
  const svc: V1Service = { metadata: { name: 'web', labels: { app: 'web' } }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 as unknown as never }] } };
  const s = await core.createNamespacedService({ namespace: NS, body: svc });
  t.truthy(s.spec?.clusterIP);
  t.is(s.spec?.ports?.[0]?.port, 80);
  t.is(s.spec?.ports?.[0]?.protocol, 'TCP');
  t.deepEqual((await core.listNamespacedService({ namespace: NS, labelSelector: 'app=web' })).items.map((x) => x.metadata?.name), ['web']);
  const sr = await core.readNamespacedService({ name: 'web', namespace: NS });
  sr.spec!.ports!.push({ name: 'https', port: 443 });
  sr.spec!.ports![0]!.name = 'http';
  const sRep = await core.replaceNamespacedService({ name: 'web', namespace: NS, body: sr });
  t.deepEqual(sRep.spec?.ports?.map((p) => p.port), [80, 443]);
  t.is(sRep.spec?.clusterIP, s.spec?.clusterIP);
  const sPatch = await core.patchNamespacedService({ name: 'web', namespace: NS, body: { metadata: { annotations: { a: 'b' } } } }, mergePatch);
  t.is(sPatch.metadata?.annotations?.a, 'b');
  await core.deleteNamespacedService({ name: 'web', namespace: NS });
  t.is((await core.listNamespacedService({ namespace: NS })).items.length, 0);

  const cm: V1ConfigMap = { metadata: { name: 'cfg', labels: { kind: 'config' } }, data: { a: '1' } };
  await core.createNamespacedConfigMap({ namespace: NS, body: cm });
  t.deepEqual((await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'kind=config' })).items.map((x) => x.data), [{ a: '1' }]);
  const cr = await core.readNamespacedConfigMap({ name: 'cfg', namespace: NS });
  cr.data = { ...cr.data, b: '2' };
  t.deepEqual((await core.replaceNamespacedConfigMap({ name: 'cfg', namespace: NS, body: cr })).data, { a: '1', b: '2' });
  t.deepEqual((await core.patchNamespacedConfigMap({ name: 'cfg', namespace: NS, body: { data: { a: null, c: '3' } } }, mergePatch)).data, { b: '2', c: '3' });
  const st = await core.deleteNamespacedConfigMap({ name: 'cfg', namespace: NS });
  t.truthy(st);
  t.is(statusOf(await t.throwsAsync(core.readNamespacedConfigMap({ name: 'cfg', namespace: NS }))).code, 404);
});

test.serial('errors: 404 and 409 as ApiException with the Status body', async (t) => {
  const nf = statusOf(await t.throwsAsync(core.readNamespacedPod({ name: 'nope', namespace: NS })));
  t.is(nf.code, 404);
  t.like(nf.status, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, details: { name: 'nope', kind: 'pods' } });
  t.regex(String(nf.status.message), /pods "nope" not found/);

  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'c409' }, data: { v: '1' } } });
  const exists = statusOf(await t.throwsAsync(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'c409' } } })));
  t.is(exists.code, 409);
  t.is(exists.status.reason, 'AlreadyExists');

  const stale = await core.readNamespacedConfigMap({ name: 'c409', namespace: NS });
  await core.replaceNamespacedConfigMap({ name: 'c409', namespace: NS, body: { ...stale, data: { v: '2' } } });
  const conflict = statusOf(await t.throwsAsync(core.replaceNamespacedConfigMap({ name: 'c409', namespace: NS, body: { ...stale, data: { v: '3' } } })));
  t.is(conflict.code, 409);
  t.is(conflict.status.reason, 'Conflict');
  t.regex(String(conflict.status.message), /the object has been modified/);
  t.is((await core.readNamespacedConfigMap({ name: 'c409', namespace: NS })).data?.v, '2');
});

test.serial('watch on pods: ADDED, MODIFIED, DELETED', async (t) => {
  const events: { type: string; name: string; label?: string }[] = [];
  let wake: () => void = () => undefined;
  const until = (pred: () => boolean, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch events so far: ${JSON.stringify(events)}`)), ms);
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake = check;
      check();
    });
  const start = await core.listNamespacedPod({ namespace: NS });
  let ended: unknown = 'open';
  const ctl = await new Watch(kc).watch(
    `/api/v1/namespaces/${NS}/pods`,
    { resourceVersion: start.metadata?.resourceVersion, labelSelector: 'watched=yes' },
    (type, obj: V1Pod) => {
      events.push({ type, name: obj.metadata?.name ?? '', label: obj.metadata?.labels?.step });
      wake();
    },
    (err) => {
      ended = err;
    },
  );
  t.teardown(() => ctl.abort());
  await core.createNamespacedPod({ namespace: NS, body: pod('w1', { watched: 'yes' }) });
  await core.createNamespacedPod({ namespace: NS, body: pod('ignored', { watched: 'no' }) });
  await until(() => events.length >= 1);
  await core.patchNamespacedPod({ name: 'w1', namespace: NS, body: { metadata: { labels: { step: 'two' } } } }, mergePatch);
  await until(() => events.some((e) => e.type === 'MODIFIED'));
  await core.deleteNamespacedPod({ name: 'w1', namespace: NS, gracePeriodSeconds: 0 });
  await until(() => events.some((e) => e.type === 'DELETED'));
  t.deepEqual(events.filter((e) => e.type !== 'MODIFIED' || e.label === 'two').map((e) => `${e.type} ${e.name}`).filter((e, i, a) => a.indexOf(e) === i), ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
  t.false(events.some((e) => e.name === 'ignored'));
  t.is(ended, 'open');
});

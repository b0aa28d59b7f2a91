// The gRPC API (mkube.api.v1.Resources) of a real API server on a real
// etcd 3.4 (or, via grpc_on_mkube_store.test.ts, the embedded mkube-store):
// real gRPC over TLS with client certificates and bearer tokens.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import protobuf from 'protobufjs';
import { ensurePki } from '../src/auth/pki.js';
import { ResourcesClient, type GrpcApiError, type WatchEventJson } from '../src/grpc/client.js';
import { encodeGrpc } from '../src/grpc/proto.js';
import { startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
let admin: ResourcesClient;
const clients: ResourcesClient[] = [];

function client(opts: { token?: string; anonymous?: boolean } = {}): ResourcesClient {
  const s = fx.server;
  const useCert = !opts.token && !opts.anonymous;
  const c = new ResourcesClient({
    address: `127.0.0.1:${s.grpc!.port}`,
    caCert: s.pki.caCert,
    cert: useCert ? s.pki.adminCert : undefined,
    key: useCert ? s.pki.adminKey : undefined,
    token: opts.token,
  });
  clients.push(c);
  return c;
}

test.before(async () => {
  fx = await startFixture({ bookmarkIntervalMs: 200 });
  admin = client();
});
test.after.always(async () => {
  for (const c of clients) c.close();
  await fx?.stop();
});

const CM = { resource: 'configmaps', namespace: 'default' };
const PODS = { resource: 'pods', namespace: 'default' };
const DEPLOY = { group: 'apps', resource: 'deployments', namespace: 'default' };
const SVC = { resource: 'services', namespace: 'default' };
const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = { a: '1' }) => ({ metadata: { name, labels }, data });
const pod = (name: string, extra: Record<string, unknown> = {}) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...extra } });
const deployment = (name: string, replicas = 1) => ({
  metadata: { name },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});

/** The rejection of a call, with its gRPC code and Kubernetes Status. */
async function failure(p: Promise<unknown>): Promise<GrpcApiError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcApiError;
  }
  throw new Error('the call succeeded');
}

/** Collects watch events until `until` holds (or the stream ends / times out). */
function watch(c: ResourcesClient, ref: typeof CM, opts: Parameters<ResourcesClient['watch']>[1], until: (evs: WatchEventJson[]) => boolean, timeoutMs = 5000): { done: Promise<{ events: WatchEventJson[]; error?: GrpcApiError }>; ready: Promise<void> } {
  const events: WatchEventJson[] = [];
  let stream: grpc.ClientReadableStream<Buffer>;
  const done = new Promise<{ events: WatchEventJson[]; error?: GrpcApiError }>((resolve) => {
    const timer = setTimeout(() => {
      stream.cancel();
      resolve({ events });
    }, timeoutMs);
    stream = c.watch(ref, opts, (ev) => {
      events.push(ev);
      if (until(events)) {
        clearTimeout(timer);
        stream.cancel();
        resolve({ events });
      }
    }, (error) => {
      clearTimeout(timer);
      resolve({ events, error });
    });
  });
  return { done, ready: new Promise((r) => setTimeout(r, 300)) };
}

const names = (evs: WatchEventJson[]) => evs.map((e) => `${e.type}:${String((e.object.metadata as any).name)}`); // eslint-disable-line @typescript-eslint/no-explicit-any

test.serial('configmaps: create, get, list, update, patch (merge, JSON patch), delete with preconditions; error statuses', async (t) => {
  const created = await admin.create(CM, cm('one'));
  const m = created.metadata as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.truthy(m.uid);
  t.truthy(m.creationTimestamp);
  t.is(m.namespace, 'default');
  t.is(created.kind, 'ConfigMap');
  const dup = await failure(admin.create(CM, cm('one')));
  t.is(dup.code, grpc.status.ALREADY_EXISTS);
  t.is(dup.details, 'configmaps "one" already exists');
  t.like(dup.status, { kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409, details: { name: 'one', kind: 'configmaps' } });
  const got = await admin.get(CM, 'one');
  t.deepEqual(got.data, { a: '1' });
  const { object: updated, created: wasCreated } = await admin.update(CM, { ...got, data: { a: '2' } });
  t.false(wasCreated);
  t.deepEqual(updated.data, { a: '2' });
  t.not((updated.metadata as any).resourceVersion, m.resourceVersion); // eslint-disable-line @typescript-eslint/no-explicit-any
  const stale = await failure(admin.update(CM, { ...got, data: { a: '3' } }));
  t.is(stale.code, grpc.status.ABORTED);
  t.is(stale.details, 'Operation cannot be fulfilled on configmaps "one": the object has been modified; please apply your changes to the latest version and try again');
  t.like(stale.status, { reason: 'Conflict', code: 409 });
  const merged = await admin.patch(CM, 'one', 'JSON_MERGE_PATCH', { data: { b: 'x' }, metadata: { labels: { l: 'v' } } });
  t.deepEqual(merged.data, { a: '2', b: 'x' });
  t.deepEqual((merged.metadata as any).labels, { l: 'v' }); // eslint-disable-line @typescript-eslint/no-explicit-any
  const jp = await admin.patch(CM, 'one', 'JSON_PATCH', [{ op: 'remove', path: '/data/a' }, { op: 'add', path: '/data/c', value: 'y' }]);
  t.deepEqual(jp.data, { b: 'x', c: 'y' });
  const badTest = await failure(admin.patch(CM, 'one', 'JSON_PATCH', [{ op: 'test', path: '/data/b', value: 'nope' }]));
  t.is(badTest.code, grpc.status.INVALID_ARGUMENT);
  const badJson = await failure(admin.callRaw('Patch', encodeGrpc('mkube.api.v1.PatchRequest', { ref: { version: 'v1', resource: 'configmaps', namespace: 'default' }, name: 'one', type: 'JSON_MERGE_PATCH', patch: Buffer.from('{nope') })));
  t.is(badJson.code, grpc.status.INVALID_ARGUMENT);
  t.regex(badJson.details, /^the patch is not valid JSON/);
  // Dry run writes nothing.
  await admin.patch(CM, 'one', 'JSON_MERGE_PATCH', { data: { dry: 'run' } }, { dryRun: true });
  t.is(((await admin.get(CM, 'one')).data as any).dry, undefined); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Delete preconditions.
  const wrongUid = await failure(admin.delete(CM, 'one', { preconditionUid: 'not-the-uid' }));
  t.is(wrongUid.code, grpc.status.ABORTED);
  t.regex(wrongUid.details, /Precondition failed: UID in precondition: not-the-uid/);
  const wrongRv = await failure(admin.delete(CM, 'one', { preconditionResourceVersion: '1' }));
  t.is(wrongRv.code, grpc.status.ABORTED);
  const del = await admin.delete(CM, 'one', { preconditionUid: m.uid, propagationPolicy: 'Background' });
  t.true(del.deleted);
  t.is((del.object.metadata as any).name, 'one'); // eslint-disable-line @typescript-eslint/no-explicit-any
  const nf = await failure(admin.get(CM, 'one'));
  t.is(nf.code, grpc.status.NOT_FOUND);
  t.is(nf.details, 'configmaps "one" not found');
  t.like(nf.status, { reason: 'NotFound', code: 404, details: { name: 'one', kind: 'configmaps' } });
  const noNs = await failure(admin.create({ resource: 'configmaps', namespace: 'missing' }, cm('x')));
  t.is(noNs.code, grpc.status.NOT_FOUND);
  t.is(noNs.details, 'namespaces "missing" not found');
  const noRes = await failure(admin.callRaw('Get', encodeGrpc('mkube.api.v1.GetRequest', { ref: { version: 'v1', resource: 'widgets' }, name: 'x' })));
  t.is(noRes.code, grpc.status.NOT_FOUND);
  // Update creates a missing configmap (as PUT does).
  const viaPut = await admin.update(CM, cm('put-created'));
  t.true(viaPut.created);
});

test.serial('409 on stale resourceVersion under concurrent updates: exactly one wins', async (t) => {
  const base = await admin.create(CM, cm('race'));
  const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((i) => admin.update(CM, { ...base, data: { a: `c${i}` } })));
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as GrpcApiError);
  t.is(rejected.length, 5);
  for (const e of rejected) {
    t.is(e.code, grpc.status.ABORTED);
    t.is(e.status?.reason, 'Conflict');
  }
  // Unconditional concurrent merge patches all apply (the registry retries).
  await Promise.all([1, 2, 3, 4].map((i) => admin.patch(CM, 'race', 'JSON_MERGE_PATCH', { data: { [`k${i}`]: 'v' } })));
  t.deepEqual(Object.keys((await admin.get(CM, 'race')).data as object).sort(), ['a', 'k1', 'k2', 'k3', 'k4']);
});

test.serial('pods: defaulting and validation, status subresource, strategic merge patch, binding, graceful delete', async (t) => {
  const p = await admin.create(PODS, pod('p1', { terminationGracePeriodSeconds: 30 }));
  t.like(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
  t.is((p.spec as any).restartPolicy, 'Always'); // eslint-disable-line @typescript-eslint/no-explicit-any
  const invalid = await failure(admin.create(PODS, { metadata: { name: 'bad' }, spec: { containers: [{ name: 'c' }] } }));
  t.is(invalid.code, grpc.status.INVALID_ARGUMENT);
  t.is(invalid.details, 'Pod "bad" is invalid: spec.containers[0].image: Required value');
  t.like(invalid.status, { reason: 'Invalid', code: 422 });
  t.deepEqual((invalid.status as any).details.causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }]); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Status only through UpdateStatus; Update keeps the stored status.
  const withStatus = await admin.updateStatus(PODS, { ...p, status: { ...(p.status as object), phase: 'Running', podIP: '10.1.2.3' } });
  t.like(withStatus.status, { phase: 'Running', podIP: '10.1.2.3' });
  const cur = await admin.get(PODS, 'p1');
  const upd = (await admin.update(PODS, { ...cur, metadata: { ...(cur.metadata as object), labels: { x: 'y' } }, status: { phase: 'Failed' } })).object;
  t.like(upd.status, { phase: 'Running' });
  t.deepEqual((upd.metadata as any).labels, { x: 'y' }); // eslint-disable-line @typescript-eslint/no-explicit-any
  const smp = await admin.patch(PODS, 'p1', 'STRATEGIC_MERGE_PATCH', { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } });
  t.is((smp.spec as any).containers[0].image, 'busybox:2'); // eslint-disable-line @typescript-eslint/no-explicit-any
  const statusPatch = await admin.patch(PODS, 'p1', 'JSON_MERGE_PATCH', { status: { message: 'hi' } }, { subresource: 'status' });
  t.is((statusPatch.status as any).message, 'hi'); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Binding.
  const status = await admin.bind('default', 'p1', 'node-a');
  t.like(status, { status: 'Success', code: 201 });
  const bound = await admin.get(PODS, 'p1');
  t.is((bound.spec as any).nodeName, 'node-a'); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.true(((bound.status as any).conditions as any[]).some((c) => c.type === 'PodScheduled' && c.status === 'True')); // eslint-disable-line @typescript-eslint/no-explicit-any
  const again = await failure(admin.bind('default', 'p1', 'node-b'));
  t.is(again.code, grpc.status.ABORTED);
  t.is(again.details, 'Operation cannot be fulfilled on pods/binding "p1": pod p1 is already assigned to node "node-a"');
  const noTarget = await failure(admin.bind('default', 'p1', ''));
  t.is(noTarget.code, grpc.status.INVALID_ARGUMENT);
  // A bound pod is deleted gracefully; grace period 0 removes it.
  const graceful = await admin.delete(PODS, 'p1');
  t.false(graceful.deleted);
  t.truthy((graceful.object.metadata as any).deletionTimestamp); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is((graceful.object.metadata as any).deletionGracePeriodSeconds, 30); // eslint-disable-line @typescript-eslint/no-explicit-any
  const now = await admin.delete(PODS, 'p1', { gracePeriodSeconds: 0 });
  t.true(now.deleted);
  t.is((await failure(admin.get(PODS, 'p1'))).code, grpc.status.NOT_FOUND);
  // A dry-run delete of an unbound pod keeps it.
  await admin.create(PODS, pod('p2'));
  t.true((await admin.delete(PODS, 'p2', { dryRun: true })).deleted);
  t.truthy(await admin.get(PODS, 'p2'));
  t.true((await admin.delete(PODS, 'p2')).deleted);
});

test.serial('deployments: every verb and the scale subresource', async (t) => {
  const d = await admin.create(DEPLOY, deployment('web', 2));
  t.is((d.metadata as any).generation, 1); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.like((d.spec as any).strategy, { type: 'RollingUpdate' }); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is((await admin.list(DEPLOY)).items.length, 1);
  const scale = await admin.getScale(DEPLOY, 'web');
  t.like(scale, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 2 }, status: { replicas: 0, selector: 'app=web' } });
  const scaled = await admin.updateScale(DEPLOY, 'web', 5);
  t.is((scaled.spec as any).replicas, 5); // eslint-disable-line @typescript-eslint/no-explicit-any
  const after = await admin.get(DEPLOY, 'web');
  t.is((after.spec as any).replicas, 5); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is((after.metadata as any).generation, 2); // eslint-disable-line @typescript-eslint/no-explicit-any
  const staleScale = await failure(admin.updateScale(DEPLOY, 'web', 3, String((d.metadata as any).resourceVersion))); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is(staleScale.code, grpc.status.ABORTED);
  const negative = await failure(admin.updateScale(DEPLOY, 'web', -1));
  t.is(negative.code, grpc.status.INVALID_ARGUMENT);
  t.is(negative.details, 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
  const noScale = await failure(admin.getScale(CM, 'race'));
  t.is(noScale.code, grpc.status.NOT_FOUND);
  const st = await admin.updateStatus(DEPLOY, { ...after, status: { replicas: 5, readyReplicas: 4, observedGeneration: 2 } });
  t.like(st.status, { replicas: 5, readyReplicas: 4 });
  t.is((st.metadata as any).generation, 2); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.like(await admin.getScale(DEPLOY, 'web'), { status: { replicas: 5 } });
  const patched = await admin.patch(DEPLOY, 'web', 'STRATEGIC_MERGE_PATCH', { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } });
  t.is((patched.metadata as any).generation, 3); // eslint-disable-line @typescript-eslint/no-explicit-any
  const up = await admin.update(DEPLOY, { ...patched, spec: { ...(patched.spec as object), paused: true } });
  t.true((up.object.spec as any).paused); // eslint-disable-line @typescript-eslint/no-explicit-any
  // StatefulSets and ReplicaSets have scale too.
  await admin.create({ group: 'apps', resource: 'replicasets', namespace: 'default' }, deployment('rs'));
  t.like(await admin.updateScale({ group: 'apps', resource: 'replicasets', namespace: 'default' }, 'rs', 3), { spec: { replicas: 3 } });
  // Foreground deletion waits for the garbage collector (the foregroundDeletion finalizer); there is no
  // controller manager here, so the test plays its part and removes the finalizer.
  const fg = await admin.delete(DEPLOY, 'web', { propagationPolicy: 'Foreground' });
  t.false(fg.deleted);
  t.deepEqual((fg.object.metadata as { finalizers?: string[] }).finalizers, ['foregroundDeletion']);
  t.truthy((fg.object.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  const pending = await admin.get(DEPLOY, 'web');
  await admin.update(DEPLOY, { ...pending, metadata: { ...(pending.metadata as object), finalizers: [] } });
  t.is((await admin.list(DEPLOY)).items.length, 0);
});

test.serial('services: cluster IP allocation kept across update and patch; delete frees it', async (t) => {
  const svc = await admin.create(SVC, { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
  const ip = (svc.spec as any).clusterIP as string; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.regex(ip, /^10\.213\.200\.\d+$/);
  t.like((svc.spec as any).ports[0], { port: 80, protocol: 'TCP', targetPort: 80 }); // eslint-disable-line @typescript-eslint/no-explicit-any
  const cur = await admin.get(SVC, 'web');
  const up = await admin.update(SVC, { ...cur, spec: { ...(cur.spec as object), ports: [{ port: 8080 }] } });
  t.is((up.object.spec as any).clusterIP, ip); // eslint-disable-line @typescript-eslint/no-explicit-any
  const np = await admin.patch(SVC, 'web', 'JSON_MERGE_PATCH', { spec: { type: 'NodePort' } });
  t.true(Number((np.spec as any).ports[0].nodePort) >= 30000); // eslint-disable-line @typescript-eslint/no-explicit-any
  const dupIp = await failure(admin.create(SVC, { metadata: { name: 'web2' }, spec: { clusterIP: ip, ports: [{ port: 80 }] } }));
  t.is(dupIp.code, grpc.status.INVALID_ARGUMENT);
  t.regex(dupIp.details, /provided IP is already allocated/);
  t.true((await admin.delete(SVC, 'web')).deleted);
  const reuse = await admin.create(SVC, { metadata: { name: 'web3' }, spec: { clusterIP: ip, ports: [{ port: 80 }] } });
  t.is((reuse.spec as any).clusterIP, ip); // eslint-disable-line @typescript-eslint/no-explicit-any
  await admin.delete(SVC, 'web3');
});

test.serial('paging with limit/continue at one revision; label and field selectors', async (t) => {
  await admin.create({ resource: 'namespaces' }, { metadata: { name: 'gpaging' } });
  const ref = { resource: 'configmaps', namespace: 'gpaging' };
  for (let i = 0; i < 7; i++) await admin.create(ref, cm(`cm-${i}`, { idx: String(i), parity: i % 2 ? 'odd' : 'even' }));
  const p1 = await admin.list(ref, { limit: 3 });
  t.is(p1.items.length, 3);
  t.truthy(p1.metadata.continue);
  t.is(p1.metadata.remainingItemCount, 4);
  await admin.create(ref, cm('cm-late'));
  const p2 = await admin.list(ref, { limit: 3, continue: String(p1.metadata.continue) });
  const p3 = await admin.list(ref, { limit: 3, continue: String(p2.metadata.continue) });
  t.deepEqual([...p1.items, ...p2.items, ...p3.items].map((i) => (i.metadata as any).name), ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.false("continue" in p3.metadata);
  t.is(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
  const listed = async (o: { labelSelector?: string; fieldSelector?: string; limit?: number }) => (await admin.list(ref, o)).items.map((i) => (i.metadata as any).name); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.deepEqual(await listed({ labelSelector: 'parity=odd' }), ['cm-1', 'cm-3', 'cm-5']);
  t.deepEqual(await listed({ labelSelector: 'idx in (1,2),parity notin (even)' }), ['cm-1']);
  t.deepEqual(await listed({ labelSelector: '!idx' }), ['cm-late']);
  t.deepEqual(await listed({ fieldSelector: 'metadata.name=cm-4' }), ['cm-4']);
  t.deepEqual(await listed({ labelSelector: 'parity=odd', fieldSelector: 'metadata.name!=cm-1', limit: 2 }), ['cm-3', 'cm-5']);
  const badField = await failure(admin.list(ref, { fieldSelector: 'spec.nope=1' }));
  t.is(badField.code, grpc.status.INVALID_ARGUMENT);
  const badContinue = await failure(admin.list(ref, { continue: 'garbage' }));
  t.is(badContinue.code, grpc.status.INVALID_ARGUMENT);
  // All namespaces; pods by field.
  t.is((await admin.list({ resource: 'configmaps' }, { labelSelector: 'parity' })).items.length, 7);
  await admin.create({ resource: 'pods', namespace: 'gpaging' }, pod('on-n1', { nodeName: 'n1' }));
  await admin.create({ resource: 'pods', namespace: 'gpaging' }, pod('unbound'));
  t.deepEqual((await admin.list({ resource: 'pods' }, { fieldSelector: 'spec.nodeName=n1' })).items.map((i) => (i.metadata as any).name), ['on-n1']); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Exact list at an older revision.
  const exact = await admin.list(ref, { resourceVersion: String(p1.metadata.resourceVersion), resourceVersionMatch: 'Exact' });
  t.is(exact.items.length, 7);
});

test.serial('watch: from a resourceVersion, selectors, from now, bookmarks, one object; OUT_OF_RANGE after compaction', async (t) => {
  const first = await admin.create(CM, cm('w1', { w: 'yes' }));
  const rv = String((first.metadata as any).resourceVersion); // eslint-disable-line @typescript-eslint/no-explicit-any
  await admin.update(CM, { ...first, data: { a: 'changed' } });
  await admin.create(CM, cm('w2'));
  await admin.delete(CM, 'w1');
  const resumed = await watch(admin, CM, { resourceVersion: rv }, (e) => e.length >= 3).done;
  t.deepEqual(names(resumed.events), ['MODIFIED:w1', 'ADDED:w2', 'DELETED:w1']);
  t.deepEqual(resumed.events[0]!.object.data, { a: 'changed' });
  const sel = await watch(admin, CM, { resourceVersion: rv, labelSelector: 'w' }, (e) => e.length >= 2).done;
  t.deepEqual(names(sel.events), ['MODIFIED:w1', 'DELETED:w1']);
  const byName = await watch(admin, CM, { resourceVersion: rv, name: 'w2' }, (e) => e.length >= 1).done;
  t.deepEqual(names(byName.events), ['ADDED:w2']);
  // From now: the current state as ADDED, then live events; bookmarks.
  const live = watch(admin, CM, { allowWatchBookmarks: true, fieldSelector: 'metadata.name!=race' }, (e) => e.some((x) => (x.object.metadata as any).name === 'w3') && e.some((x) => x.type === 'BOOKMARK')); // eslint-disable-line @typescript-eslint/no-explicit-any
  await live.ready;
  await admin.create(CM, cm('w3'));
  const got = (await live.done).events;
  t.is(got[0]!.type, 'ADDED');
  t.true(got.some((e) => e.type === 'ADDED' && (e.object.metadata as any).name === 'w2')); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.false(got.some((e) => (e.object.metadata as any).name === 'race')); // eslint-disable-line @typescript-eslint/no-explicit-any
  const bookmark = got.find((e) => e.type === 'BOOKMARK')!;
  t.regex(String((bookmark.object.metadata as any).resourceVersion), /^[1-9]\d*$/); // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is(bookmark.object.kind, 'ConfigMap');
  // Deployments and pods stream too (typed by the resource).
  const dw = watch(admin, DEPLOY, {}, (e) => e.some((x) => x.type === 'MODIFIED'));
  await dw.ready;
  await admin.create(DEPLOY, deployment('watched'));
  await admin.updateScale(DEPLOY, 'watched', 4);
  const devs = (await dw.done).events;
  t.deepEqual(names(devs), ['ADDED:watched', 'MODIFIED:watched']);
  t.is((devs[1]!.object.spec as any).replicas, 4); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Compaction: an old resourceVersion ends the stream with OUT_OF_RANGE (410 Expired).
  const latest = String(((await admin.create(CM, cm('w4'))).metadata as any).resourceVersion); // eslint-disable-line @typescript-eslint/no-explicit-any
  await fx.server.compactor.compact(Number(latest));
  const gone = await watch(admin, CM, { resourceVersion: rv }, () => false).done;
  t.is(gone.events.length, 0);
  t.is(gone.error?.code, grpc.status.OUT_OF_RANGE);
  t.regex(gone.error?.details ?? '', /^too old resource version: \d+ \(\d+\)$/);
  t.like(gone.error?.status ?? {}, { code: 410, reason: 'Expired' });
  // Resuming from the latest revision still works.
  const again = watch(admin, CM, { resourceVersion: latest }, (e) => e.length >= 1);
  await again.ready;
  await admin.create(CM, cm('w5'));
  t.deepEqual(names((await again.done).events), ['ADDED:w5']);
  const badRv = await watch(admin, CM, { resourceVersion: 'abc' }, () => false).done;
  t.is(badRv.error?.code, grpc.status.INVALID_ARGUMENT);
  // The server-side timeout ends the stream cleanly.
  const timed = await watch(admin, CM, { resourceVersion: latest, timeoutSeconds: 1 }, () => false, 4000).done;
  t.is(timed.error, undefined);
});

test.serial('authentication and authorization: 401 without credentials, 403 for a token user without rights, RBAC grants', async (t) => {
  const anon = client({ anonymous: true });
  const noCreds = await failure(anon.list(CM));
  t.is(noCreds.code, grpc.status.UNAUTHENTICATED);
  t.like(noCreds.status, { reason: 'Unauthorized', code: 401 });
  const badToken = await failure(client({ token: 'nope' }).get(CM, 'race'));
  t.is(badToken.code, grpc.status.UNAUTHENTICATED);
  // An admin certificate from another CA is no credential.
  const foreign = ensurePki(join(fx.dir, 'foreign-pki'), { ips: ['127.0.0.1'], dns: ['localhost'] });
  const impostor = new ResourcesClient({ address: `127.0.0.1:${fx.server.grpc!.port}`, caCert: fx.server.pki.caCert, cert: foreign.adminCert, key: foreign.adminKey });
  clients.push(impostor);
  t.is((await failure(impostor.list(CM))).code, grpc.status.UNAUTHENTICATED);
  const bob = client({ token: 'bob-token' });
  const denied = await failure(bob.list(CM));
  t.is(denied.code, grpc.status.PERMISSION_DENIED);
  t.is(denied.details, 'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"');
  t.like(denied.status, { reason: 'Forbidden', code: 403 });
  const deniedWatch = await watch(bob, CM, {}, () => false).done;
  t.is(deniedWatch.error?.code, grpc.status.PERMISSION_DENIED);
  const deniedScale = await failure(bob.updateScale(DEPLOY, 'watched', 1));
  t.is(deniedScale.code, grpc.status.PERMISSION_DENIED);
  t.regex(deniedScale.details, /cannot update resource "deployments\/scale"/);
  // A Role and RoleBinding (created over gRPC) let bob read configmaps in default only.
  await admin.create({ group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'default' }, { metadata: { name: 'cm-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] });
  await admin.create({ group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'default' }, { metadata: { name: 'bob-reads' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] });
  await admin.create(CM, cm('for-bob'));
  let items: unknown[] | undefined;
  for (let i = 0; i < 40 && !items; i++) {
    items = await bob.list(CM).then((l) => l.items, () => undefined);
    if (!items) await new Promise((r) => setTimeout(r, 50));
  }
  t.truthy(items && items.length > 0);
  t.is((await failure(bob.create(CM, cm('bobs')))).code, grpc.status.PERMISSION_DENIED);
  t.is((await failure(bob.list({ resource: 'configmaps', namespace: 'gpaging' }))).code, grpc.status.PERMISSION_DENIED);
});

test.serial('malformed protobuf and oversized requests', async (t) => {
  // Not a protobuf message at all (field 1 with the invalid wire type 7).
  const garbage = await failure(admin.callRaw('Create', Buffer.from([0x0f, 0x01, 0x02])));
  t.is(garbage.code, grpc.status.INVALID_ARGUMENT);
  t.regex(garbage.details, /^malformed request: not a valid mkube\.api\.v1\.CreateRequest message/);
  t.like(garbage.status, { reason: 'BadRequest', code: 400 });
  // A length prefix running past the end.
  const truncated = await failure(admin.callRaw('Get', Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01])));
  t.is(truncated.code, grpc.status.INVALID_ARGUMENT);
  // A valid request whose object bytes are not a ConfigMap.
  const badObject = await failure(admin.callRaw('Create', encodeGrpc('mkube.api.v1.CreateRequest', { ref: { version: 'v1', resource: 'configmaps', namespace: 'default' }, object: Buffer.from([0x0a, 0x05, 0x0a]) })));
  t.is(badObject.code, grpc.status.INVALID_ARGUMENT);
  t.regex(badObject.details, /^malformed object: not a valid k8s\.io\.api\.core\.v1\.ConfigMap message/);
  const badWatch = await new Promise<grpc.ServiceError>((resolve) => {
    const s = admin.client.makeServerStreamRequest('/mkube.api.v1.Resources/Watch', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0f]), new grpc.Metadata());
    s.on('data', () => undefined);
    s.on('error', resolve);
  });
  t.is(badWatch.code, grpc.status.INVALID_ARGUMENT);
  // Over 1.5 MiB.
  const big = await failure(admin.create(CM, cm('huge', {}, { blob: 'x'.repeat(2 * 1024 * 1024) })));
  t.is(big.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(big.details, /^request is too large: \d+ bytes, limit is 1572864$/);
  t.like(big.status, { reason: 'RequestEntityTooLarge', code: 413 });
  t.is((await failure(admin.get(CM, 'huge'))).code, grpc.status.NOT_FOUND);
  // Just under the limit is fine.
  const ok = await admin.create(CM, cm('large', {}, { blob: 'x'.repeat(1024 * 1024) }));
  t.is(((ok.data as any).blob as string).length, 1024 * 1024); // eslint-disable-line @typescript-eslint/no-explicit-any
  await admin.delete(CM, 'large');
});

test.serial('server reflection lists the services and serves their file descriptors', async (t) => {
  const ask = (service: string, req: Record<string, unknown>) =>
    new Promise<Record<string, any>>((resolve, reject) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const call = admin.client.makeBidiStreamRequest(`/${service}/ServerReflectionInfo`, (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata());
      call.on('data', (raw: Buffer) => {
        resolve(decodeReflection(raw));
        call.end();
      });
      call.on('error', reject);
      call.write(encodeGrpc('grpc.reflection.v1alpha.ServerReflectionRequest', req));
    });
  for (const svc of ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']) {
    const listed = await ask(svc, { list_services: '*' });
    t.deepEqual(listed.list_services_response.service.map((s: { name: string }) => s.name).sort(), ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection', 'mkube.api.v1.Resources']);
  }
  const file = await ask('grpc.reflection.v1.ServerReflection', { file_containing_symbol: 'mkube.api.v1.Resources' });
  const fds = file.file_descriptor_response.file_descriptor_proto as Uint8Array[];
  t.is(fds.length, 1);
  const fd = FILE_DESCRIPTOR.decode(fds[0]!) as unknown as { name: string; package: string; service: { name: string; method: { name: string }[] }[] };
  t.is(fd.name, 'mkube/apiserver/v1/resources.proto');
  t.is(fd.package, 'mkube.api.v1');
  t.deepEqual(fd.service[0]!.method.map((m) => m.name), ['Create', 'Get', 'List', 'Update', 'UpdateStatus', 'Patch', 'Delete', 'Watch', 'GetScale', 'UpdateScale', 'Bind']);
  const byMessage = await ask('grpc.reflection.v1.ServerReflection', { file_containing_symbol: 'mkube.api.v1.WatchEvent' });
  t.is(byMessage.file_descriptor_response.file_descriptor_proto.length, 1);
  const missing = await ask('grpc.reflection.v1.ServerReflection', { file_containing_symbol: 'no.such.Thing' });
  t.is(missing.error_response.error_code, grpc.status.NOT_FOUND);
});

// The few FileDescriptorProto fields the reflection test reads (descriptor.proto field numbers).
const FILE_DESCRIPTOR = protobuf.Root.fromJSON({
  nested: {
    d: {
      nested: {
        File: { fields: { name: { type: 'string', id: 1 }, package: { type: 'string', id: 2 }, service: { rule: 'repeated', type: 'Service', id: 6 } } },
        Service: { fields: { name: { type: 'string', id: 1 }, method: { rule: 'repeated', type: 'Method', id: 2 } } },
        Method: { fields: { name: { type: 'string', id: 1 } } },
      },
    },
  },
}).lookupType('d.File');

function decodeReflection(raw: Buffer): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const root = protobuf.Root.fromJSON({
    nested: {
      r: {
        nested: {
          Res: { fields: { file_descriptor_response: { type: 'Fd', id: 4 }, list_services_response: { type: 'Ls', id: 6 }, error_response: { type: 'Err', id: 7 } } },
          Fd: { fields: { file_descriptor_proto: { rule: 'repeated', type: 'bytes', id: 1 } } },
          Ls: { fields: { service: { rule: 'repeated', type: 'Svc', id: 1 } } },
          Svc: { fields: { name: { type: 'string', id: 1 } } },
          Err: { fields: { error_code: { type: 'int32', id: 1 }, error_message: { type: 'string', id: 2 } } },
        },
      },
    },
  });
  const t = root.lookupType('r.Res');
  return t.toObject(t.decode(raw)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

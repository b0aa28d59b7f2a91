// Issue 10 follow-up: what a node identity may do with PersistentVolumes and
// claims, attacked through the real REST API (HTTPS) and gRPC of a real API
// server on a real etcd. A node (system:node:n1) creates only the local-path
// provisioner's volume for a claim selected to it (local/hostPath under
// <root>/local-path/pvc-<uid>_<ns>_<name>, node affinity pinned to itself),
// deletes only volumes pinned to itself, and gets only claims selected to it
// or used by its pods.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { findResource, type JsonObject } from '@mkube/api';
import { issueCertificate } from '../src/auth/pki.js';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
const clients: ResourcesClient[] = [];
const NS = 'pvsec';
const ROOT = '/var/lib/mkube-node';

interface Identity {
  cert: string;
  key: string;
}
let n1: Identity;

/** A client certificate for `subject` signed by the fixture's cluster CA. */
function identity(subject: string, base: string): Identity {
  const dir = fx.server.pki.dir;
  issueCertificate(dir, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  return { cert: readFileSync(join(dir, `${base}.crt`), 'utf8'), key: readFileSync(join(dir, `${base}.key`), 'utf8') };
}

/** An admin (system:masters) request that must answer `code`. */
async function admin(method: string, path: string, body?: unknown, code?: number): Promise<Reply> {
  const r = await api(fx.server, method, path, body);
  if (code !== undefined && r.status !== code) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r;
}
const asNode = (method: string, path: string, body?: unknown) => api(fx.server, method, path, body, { identity: n1 });

/** The watch cache the Node authorizer reads has seen this write. */
async function cacheSaw(resource: string, body: { metadata?: { resourceVersion?: string } }): Promise<void> {
  await fx.server.registry.cache(findResource('', 'v1', resource)!).waitFor(Number(body.metadata?.resourceVersion));
}

const claims: Record<string, { uid: string }> = {};

async function claim(name: string, annotations: Record<string, string>): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, annotations },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '1Gi' } } },
  };
  const r = await admin('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, body, 201);
  claims[name] = { uid: r.body.metadata.uid };
  await cacheSaw('persistentvolumeclaims', r.body);
}

const selectedTo = (node: string) => ({ 'volume.kubernetes.io/selected-node': node, 'volume.kubernetes.io/storage-provisioner': 'mkube.io/local-path' });

/** The volume the local-path provisioner of `node` writes for claim `name` (overrides change it). */
function volume(name: string, node: string, over: { spec?: JsonObject; pvName?: string } = {}): JsonObject {
  const c = claims[name]!;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: over.pvName ?? `pvc-${c.uid}`, annotations: { 'pv.kubernetes.io/provisioned-by': 'mkube.io/local-path' } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'local-path',
      volumeMode: 'Filesystem',
      local: { path: `${ROOT}/local-path/pvc-${c.uid}_${NS}_${name}` },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: NS, name, uid: c.uid },
      ...over.spec,
    },
  };
}

function grpcClient(): ResourcesClient {
  const s = fx.server;
  const c = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, cert: n1.cert, key: n1.key });
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

test.before(async () => {
  fx = await startFixture();
  n1 = identity('/O=system:nodes/CN=system:node:n1', 'node-pv-n1');
  await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, 201);
  await claim('mine', selectedTo('n1'));
  await claim('theirs', selectedTo('n2'));
  await claim('other-provisioner', { 'volume.kubernetes.io/selected-node': 'n1', 'volume.kubernetes.io/storage-provisioner': 'example.com/nfs' });
  await claim('used', {});
  await claim('web-scratch', {});
  await claim('unrelated', {});
  const pod = (name: string, nodeName: string, volumes: unknown[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], volumes } });
  const ephemeral = { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } };
  for (const p of [
    pod('db', 'n1', [{ name: 'data', persistentVolumeClaim: { claimName: 'used' } }]),
    pod('web', 'n1', [{ name: 'scratch', ephemeral }]),
    pod('far', 'n2', [{ name: 'data', persistentVolumeClaim: { claimName: 'unrelated' } }]),
  ]) {
    await cacheSaw('pods', (await admin('POST', `/api/v1/namespaces/${NS}/pods`, p, 201)).body);
  }
});
test.after.always(async () => {
  for (const c of clients) c.close();
  await fx?.stop();
});

const PVS = '/api/v1/persistentvolumes';

test.serial('a node may not create a volume pinned to another node, nor for a claim selected to another node', async (t) => {
  const pinned = await asNode('POST', PVS, volume('mine', 'n2'));
  t.is(pinned.status, 403, pinned.text);
  t.is(pinned.body.reason, 'Forbidden');
  t.is(pinned.body.message, `persistentvolumes "pvc-${claims.mine!.uid}" is forbidden: node "n1" can only create persistentvolumes whose node affinity requires kubernetes.io/hostname in (n1) and nothing else`);
  // Pinned to n1 and n2 (two terms, or two values) is not pinned to n1.
  const terms = { required: { nodeSelectorTerms: [1, 2].map((i) => ({ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [`n${i}`] }] })) } };
  t.is((await asNode('POST', PVS, volume('mine', 'n1', { spec: { nodeAffinity: terms } }))).status, 403);
  const values = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1', 'n2'] }] }] } };
  t.is((await asNode('POST', PVS, volume('mine', 'n1', { spec: { nodeAffinity: values } }))).status, 403);
  const notIn = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['n1'] }] }] } };
  t.is((await asNode('POST', PVS, volume('mine', 'n1', { spec: { nodeAffinity: notIn } }))).status, 403);

  const theirs = await asNode('POST', PVS, volume('theirs', 'n1'));
  t.is(theirs.status, 403);
  t.is(
    theirs.body.message,
    `persistentvolumes "pvc-${claims.theirs!.uid}" is forbidden: node "n1" can only create persistentvolumes for claims with volume.kubernetes.io/selected-node=n1 and volume.kubernetes.io/storage-provisioner=mkube.io/local-path: persistentvolumeclaim "${NS}/theirs" (uid ${claims.theirs!.uid}) is not one`,
  );
  t.is((await asNode('POST', PVS, volume('other-provisioner', 'n1'))).status, 403);
  // A claim reference with another uid, or none, or to a claim that does not exist.
  const wrongUid = volume('mine', 'n1');
  (wrongUid.spec as { claimRef: { uid: string } }).claimRef.uid = claims.theirs!.uid;
  t.is((await asNode('POST', PVS, wrongUid)).status, 403);
  const noRef = volume('mine', 'n1');
  delete (noRef.spec as { claimRef?: unknown }).claimRef;
  t.is((await asNode('POST', PVS, noRef)).status, 403);
  const ghost = volume('mine', 'n1');
  (ghost.spec as { claimRef: { name: string } }).claimRef.name = 'ghost';
  const g = await asNode('POST', PVS, ghost);
  t.is(g.status, 403);
  t.regex(g.body.message, /persistentvolumeclaim "pvsec\/ghost" not found$/);
  t.is((await admin('GET', `${PVS}/pvc-${claims.mine!.uid}`)).status, 404);
});

test.serial('a node may not create a hostPath volume to /, nor a volume outside the provisioner directory of the claim, nor another source', async (t) => {
  const uid = claims.mine!.uid;
  const root = volume('mine', 'n1', { spec: { hostPath: { path: '/' } } });
  delete (root.spec as { local?: unknown }).local;
  const r = await asNode('POST', PVS, root);
  t.is(r.status, 403, r.text);
  t.is(r.body.message, `persistentvolumes "pvc-${uid}" is forbidden: node "n1" can only create persistentvolumes at the local-path provisioner's directory for the claim (<root>/local-path/pvc-${uid}_${NS}_mine), not at "/"`);
  for (const path of [
    '/etc',
    `${ROOT}/local-path/pvc-${claims.theirs!.uid}_${NS}_theirs`,
    `${ROOT}/other/pvc-${uid}_${NS}_mine`,
    `${ROOT}//local-path/pvc-${uid}_${NS}_mine`,
    `local-path/pvc-${uid}_${NS}_mine`,
  ]) {
    const res = await asNode('POST', PVS, volume('mine', 'n1', { spec: { local: { path } } }));
    t.is(res.status, 403, `${path}: ${res.text}`);
  }
  // '..' is refused by validation before admission (422), as upstream's validateLocalDescendingPath.
  const dots = await asNode('POST', PVS, volume('mine', 'n1', { spec: { local: { path: `${ROOT}/local-path/../../../etc/pvc-${uid}_${NS}_mine` } } }));
  t.is(dots.status, 422, dots.text);
  const nfs = volume('mine', 'n1', { spec: { nfs: { server: '10.0.0.1', path: '/exports' } } });
  delete (nfs.spec as { local?: unknown }).local;
  const n = await asNode('POST', PVS, nfs);
  t.is(n.status, 403, n.text);
  t.is(n.body.message, `persistentvolumes "pvc-${uid}" is forbidden: node "n1" can only create local or hostPath persistentvolumes`);
  // PUT that would create is admitted as a create.
  const put = await asNode('PUT', `${PVS}/pvc-${uid}`, root);
  t.is(put.status, 403, put.text);
  // The same over gRPC.
  const node = grpcClient();
  const e = await failure(node.create({ resource: 'persistentvolumes' }, volume('mine', 'n2')));
  t.is(e.code, grpc.status.PERMISSION_DENIED);
  t.regex(String(e.status?.message), /node "n1" can only create persistentvolumes whose node affinity requires kubernetes.io\/hostname in \(n1\)/);
  t.is((await failure(node.create({ resource: 'persistentvolumes' }, root))).code, grpc.status.PERMISSION_DENIED);
  t.is((await admin('GET', `${PVS}/pvc-${uid}`)).status, 404);
});

test.serial("a node may not delete another node's volume (one by one or as a collection), nor one not pinned to a single node", async (t) => {
  const theirs = await admin('POST', PVS, volume('theirs', 'n2'), 201);
  await cacheSaw('persistentvolumes', theirs.body);
  const name = theirs.body.metadata.name as string;
  const del = await asNode('DELETE', `${PVS}/${name}`);
  t.is(del.status, 403, del.text);
  t.is(del.body.message, `persistentvolumes "${name}" is forbidden: User "system:node:n1" cannot delete resource "persistentvolumes" in API group "" at the cluster scope: no relationship found between node 'n1' and this object`);
  t.is((await asNode('DELETE', PVS)).status, 403);
  const unpinned = await admin('POST', PVS, { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'shared-nfs' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteMany'], nfs: { server: '10.0.0.1', path: '/x' } } }, 201);
  await cacheSaw('persistentvolumes', unpinned.body);
  t.is((await asNode('DELETE', `${PVS}/shared-nfs`)).status, 403);
  t.is((await asNode('DELETE', `${PVS}/absent`)).status, 403);
  t.is((await failure(grpcClient().delete({ resource: 'persistentvolumes' }, name))).code, grpc.status.PERMISSION_DENIED);
  t.is((await admin('GET', `${PVS}/${name}`)).status, 200);
  t.is((await admin('GET', `${PVS}/shared-nfs`)).status, 200);
});

test.serial('gets of claims: only those selected to the node or used by its pods (persistentVolumeClaim and ephemeral volumes)', async (t) => {
  for (const name of ['mine', 'used', 'web-scratch', 'other-provisioner']) {
    const r = await asNode('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/${name}`);
    t.is(r.status, 200, `${name}: ${r.text}`);
  }
  for (const name of ['theirs', 'unrelated', 'absent']) {
    const r = await asNode('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/${name}`);
    t.is(r.status, 403, `${name}: ${r.text}`);
    t.is(r.body.message, `persistentvolumeclaims "${name}" is forbidden: User "system:node:n1" cannot get resource "persistentvolumeclaims" in API group "" in the namespace "${NS}": no relationship found between node 'n1' and this object`);
  }
  t.is((await asNode('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/theirs/status`)).status, 403);
  t.is((await failure(grpcClient().get({ resource: 'persistentvolumeclaims', namespace: NS }, 'theirs'))).code, grpc.status.PERMISSION_DENIED);
  // A node still may not write claims.
  t.is((await asNode('PATCH', `/api/v1/namespaces/${NS}/persistentvolumeclaims/mine`, { metadata: { labels: { a: 'b' } } })).status, 403);
});

test.serial('its own flow is allowed: the provisioner creates the volume of a claim selected to it, then deletes it', async (t) => {
  const uid = claims.mine!.uid;
  const created = await asNode('POST', PVS, volume('mine', 'n1'));
  t.is(created.status, 201, created.text);
  t.is(created.body.spec.local.path, `${ROOT}/local-path/pvc-${uid}_${NS}_mine`);
  await cacheSaw('persistentvolumes', created.body);
  t.is((await asNode('GET', `${PVS}/pvc-${uid}`)).status, 200);
  const del = await asNode('DELETE', `${PVS}/pvc-${uid}`);
  t.true(del.status === 200 || del.status === 202, del.text);
  // A hostPath volume in the same place, over gRPC, is allowed too.
  const hostPath = volume('mine', 'n1', { spec: { hostPath: { path: `${ROOT}/local-path/pvc-${uid}_${NS}_mine`, type: 'DirectoryOrCreate' } } });
  delete (hostPath.spec as { local?: unknown }).local;
  const node = grpcClient();
  const pv = await node.create({ resource: 'persistentvolumes' }, { ...hostPath, metadata: { name: `hp-${uid}` } });
  await cacheSaw('persistentvolumes', pv as { metadata?: { resourceVersion?: string } });
  await node.delete({ resource: 'persistentvolumes' }, `hp-${uid}`);
  // Both deleted: no pv-protection controller runs here to release its finalizer, so they stay Terminating.
  for (const name of [`pvc-${uid}`, `hp-${uid}`]) {
    const after = await admin('GET', `${PVS}/${name}`, undefined, 200);
    t.is(typeof after.body.metadata.deletionTimestamp, 'string', after.text);
    t.deepEqual(after.body.metadata.finalizers, ['kubernetes.io/pv-protection']);
  }
});

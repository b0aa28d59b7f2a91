// PersistentVolumes, PersistentVolumeClaims and StorageClasses served against a real etcd and API
// server over HTTPS: upstream's defaults, validation messages and update rules, the
// DefaultStorageClass admission (newest default class wins, "" opts out), the protection
// finalizers, protobuf round trips of the inlined volume source, table columns, and kubectl.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const run = promisify(execFile);
let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const PVS = '/api/v1/persistentvolumes';
const PVCS = '/api/v1/namespaces/default/persistentvolumeclaims';
const SCS = '/apis/storage.k8s.io/v1/storageclasses';
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' };

const pv = (name: string, spec: object = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/${name}` }, ...spec },
});
const pvc = (name: string, spec: object = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});

test.serial('PersistentVolume: defaults, pv-protection, validation and immutable source as upstream', async (t) => {
  const ok = await api(fx.server, 'POST', PVS, pv('pv-a', { storageClassName: 'slow' }));
  t.is(ok.status, 201, ok.text);
  t.is(ok.body.spec.persistentVolumeReclaimPolicy, 'Retain');
  t.is(ok.body.spec.volumeMode, 'Filesystem');
  t.deepEqual(ok.body.spec.hostPath, { path: '/tmp/pv-a', type: '' });
  t.deepEqual(ok.body.status, { phase: 'Pending' });
  t.deepEqual(ok.body.metadata.finalizers, ['kubernetes.io/pv-protection']);
  // Protobuf: the inlined PersistentVolumeSource survives a round trip through the store.
  const got = await api(fx.server, 'GET', `${PVS}/pv-a`);
  t.deepEqual(got.body.spec.hostPath, { path: '/tmp/pv-a', type: '' });

  const noSource = await api(fx.server, 'POST', PVS, { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'bad' }, spec: { accessModes: ['ReadWriteOnce'] } });
  t.is(noSource.status, 422);
  t.regex(noSource.body.message, /spec.capacity: Required value/);
  t.regex(noSource.body.message, /spec: Required value: must specify a volume type/);
  const badMode = await api(fx.server, 'POST', PVS, pv('bad', { accessModes: ['ReadWriteSometimes'], persistentVolumeReclaimPolicy: 'Keep' }));
  t.regex(badMode.body.message, /spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"/);
  t.regex(badMode.body.message, /spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"/);
  const local = await api(fx.server, 'POST', PVS, pv('bad', { hostPath: undefined, local: { path: '/mnt/x' } }));
  t.is(local.status, 422);
  t.regex(local.body.message, /spec.nodeAffinity: Required value: Local volume requires node affinity/);
  const two = await api(fx.server, 'POST', PVS, pv('bad', { local: { path: '/mnt/x' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } } }));
  t.regex(two.body.message, /spec.local: Forbidden: may not specify more than 1 volume type/);
  const zero = await api(fx.server, 'POST', PVS, pv('bad', { capacity: { storage: '0' } }));
  t.regex(zero.body.message, /spec.capacity\[storage\]: Invalid value: "0": must be greater than zero/);

  const moved = await api(fx.server, 'PUT', `${PVS}/pv-a`, { ...got.body, spec: { ...got.body.spec, hostPath: { path: '/elsewhere', type: '' } } });
  t.is(moved.status, 422);
  t.regex(moved.body.message, /spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation/);
  const status = await api(fx.server, 'PUT', `${PVS}/pv-a/status`, { ...got.body, status: { phase: 'Available' } });
  t.is(status.status, 200, status.text);
  t.is(status.body.status.phase, 'Available');

  const table = await api(fx.server, 'GET', PVS, undefined, TABLE);
  t.deepEqual(
    table.body.columnDefinitions.map((c: { name: string }) => c.name),
    ['Name', 'Capacity', 'Access Modes', 'Reclaim Policy', 'Status', 'Claim', 'StorageClass', 'VolumeAttributesClass', 'Reason', 'Age', 'VolumeMode'],
  );
  const row = table.body.rows.find((r: { cells: unknown[] }) => r.cells[0] === 'pv-a');
  t.deepEqual(row.cells.slice(0, 9), ['pv-a', '1Gi', 'RWO', 'Retain', 'Available', '', 'slow', '<unset>', '']);
});

test.serial('StorageClass: defaults, immutable fields, (default) in the table; DefaultStorageClass on claims', async (t) => {
  const bad = await api(fx.server, 'POST', SCS, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'bad' }, reclaimPolicy: 'Recycle', volumeBindingMode: 'Later' });
  t.is(bad.status, 422);
  t.regex(bad.body.message, /provisioner: Required value/);
  t.regex(bad.body.message, /reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"/);
  t.regex(bad.body.message, /volumeBindingMode: Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"/);

  const older = await api(fx.server, 'POST', SCS, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'older', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } }, provisioner: 'example.com/a' });
  t.is(older.status, 201, older.text);
  t.is(older.body.reclaimPolicy, 'Delete');
  t.is(older.body.volumeBindingMode, 'Immediate');
  await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has second resolution: the next class must be newer
  const newer = await api(fx.server, 'POST', SCS, {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'newer', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: 'example.com/b',
    volumeBindingMode: 'WaitForFirstConsumer',
  });
  t.is(newer.status, 201, newer.text);
  const changed = await api(fx.server, 'PUT', `${SCS}/newer`, { ...newer.body, provisioner: 'example.com/c', volumeBindingMode: 'Immediate' });
  t.regex(changed.body.message, /provisioner: Forbidden: updates to provisioner are forbidden\./);
  t.regex(changed.body.message, /volumeBindingMode: Invalid value: "Immediate": field is immutable/);
  const table = await api(fx.server, 'GET', `${SCS}/newer`, undefined, TABLE);
  t.deepEqual(table.body.columnDefinitions.map((c: { name: string }) => c.name), ['Name', 'Provisioner', 'ReclaimPolicy', 'VolumeBindingMode', 'AllowVolumeExpansion', 'Age']);
  t.deepEqual(table.body.rows[0].cells.slice(0, 5), ['newer (default)', 'example.com/b', 'Delete', 'WaitForFirstConsumer', 'false']);

  const defaulted = await api(fx.server, 'POST', PVCS, pvc('claim-default'));
  t.is(defaulted.status, 201, defaulted.text);
  t.is(defaulted.body.spec.storageClassName, 'newer', 'the newest default class');
  t.deepEqual(defaulted.body.metadata.finalizers, ['kubernetes.io/pvc-protection']);
  t.deepEqual(defaulted.body.status, { phase: 'Pending' });
  t.is(defaulted.body.spec.volumeMode, 'Filesystem');
  const none = await api(fx.server, 'POST', PVCS, pvc('claim-none', { storageClassName: '' }));
  t.is(none.body.spec.storageClassName, '', '"" asks for no class');

  await api(fx.server, 'DELETE', `${SCS}/older`);
  await api(fx.server, 'DELETE', `${SCS}/newer`);
});

test.serial('PersistentVolumeClaim: validation, spec immutable except requests and an unset volumeName, table columns', async (t) => {
  const bad = await api(fx.server, 'POST', PVCS, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'bad' }, spec: {} });
  t.is(bad.status, 422);
  t.regex(bad.body.message, /spec.accessModes: Required value: at least 1 access mode is required/);
  t.regex(bad.body.message, /spec.resources\[storage\]: Required value/);

  const c = await api(fx.server, 'POST', PVCS, pvc('claim-b', { storageClassName: 'slow' }));
  t.is(c.status, 201, c.text);
  const classChange = await api(fx.server, 'PUT', `${PVCS}/claim-b`, { ...c.body, spec: { ...c.body.spec, storageClassName: 'fast' } });
  t.is(classChange.status, 422);
  t.regex(classChange.body.message, /spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims/);
  const named = await api(fx.server, 'PUT', `${PVCS}/claim-b`, { ...c.body, spec: { ...c.body.spec, volumeName: 'pv-a' } });
  t.is(named.status, 200, named.text);
  const renamed = await api(fx.server, 'PUT', `${PVCS}/claim-b`, { ...named.body, spec: { ...named.body.spec, volumeName: 'pv-b' } });
  t.is(renamed.status, 422);
  const bound = await api(fx.server, 'PUT', `${PVCS}/claim-b/status`, { ...named.body, status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } });
  t.is(bound.status, 200, bound.text);
  const table = await api(fx.server, 'GET', `${PVCS}/claim-b`, undefined, TABLE);
  t.deepEqual(table.body.columnDefinitions.map((x: { name: string }) => x.name), ['Name', 'Status', 'Volume', 'Capacity', 'Access Modes', 'StorageClass', 'VolumeAttributesClass', 'Age', 'VolumeMode']);
  t.deepEqual(table.body.rows[0].cells.slice(0, 7), ['claim-b', 'Bound', 'pv-a', '1Gi', 'RWO', 'slow', '<unset>']);

  // Deleting a claim with its protection finalizer leaves it Terminating until a controller removes the finalizer.
  await api(fx.server, 'DELETE', `${PVCS}/claim-b`);
  const terminating = await api(fx.server, 'GET', `${PVCS}/claim-b`, undefined, TABLE);
  t.is(terminating.body.rows[0].cells[1], 'Terminating');
  const cur = await api(fx.server, 'GET', `${PVCS}/claim-b`);
  await api(fx.server, 'PUT', `${PVCS}/claim-b`, { ...cur.body, metadata: { ...cur.body.metadata, finalizers: [] } });
  t.is((await api(fx.server, 'GET', `${PVCS}/claim-b`)).status, 404);
});

test.serial('kubectl get pv,pvc,sc and short names', async (t) => {
  const kubectl = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
  const { stdout } = await run(kubectl, ['--kubeconfig', fx.server.kubeconfigPath, 'get', 'pv,pvc', '-o', 'name'], { timeout: 30_000 });
  t.regex(stdout, /persistentvolume\/pv-a/);
  t.regex(stdout, /persistentvolumeclaim\/claim-default/);
  const sc = await run(kubectl, ['--kubeconfig', fx.server.kubeconfigPath, 'api-resources', '--api-group=storage.k8s.io'], { timeout: 30_000 });
  t.regex(sc.stdout, /storageclasses\s+sc\s+storage.k8s.io\/v1\s+false\s+StorageClass/);
});

// The PV controller and the protection controllers against a real etcd 3.4 and API server over
// HTTPS: static binding (no class, smallest fit), kubectl's view of both sides, Retain releasing
// a volume, Delete without a deleter failing with upstream's event, a claim whose class has a
// provisioner handed to it, and pvc-protection keeping a claim while a pod uses it (checked once
// the protection controller has observably reconciled the deleted object: protectionCaughtUp).
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resourceFor, type Event, type PersistentVolume, type PersistentVolumeClaim, type Pod, type StorageClass } from '@mkube/api';
import { ApiError, Resources } from '@mkube/client';
import { eventually, startFixture, type Fixture } from './helpers/cluster.js';

const run = promisify(execFile);
let fx: Fixture;
test.before(async () => {
  // One worker per controller: keys are reconciled one at a time in queue order (protectionCaughtUp relies on it).
  fx = await startFixture({ controllers: ['persistentvolume-binder', 'pvc-protection', 'pv-protection'], config: { workers: 1 } });
});
test.after.always(async () => {
  await fx?.stop();
});

const pvs = () => fx.client.resource<PersistentVolume>(resourceFor('persistentvolumes'));
const pvcs = () => fx.client.resource<PersistentVolumeClaim>(resourceFor('persistentvolumeclaims'));
const gone = async (get: () => Promise<unknown>) => get().then(() => false, (err: unknown) => (ApiError.isNotFound(err) ? true : Promise.reject(err)));
const kubectl = async (...args: string[]) => (await run('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', ['--kubeconfig', fx.server.kubeconfigPath, ...args], { timeout: 30_000 })).stdout;
const eventsOf = async (kind: string, name: string) =>
  (await fx.client.resource<Event>(Resources.events).list('default', { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` })).items;

function pv(name: string, size: string, policy: 'Retain' | 'Delete', storageClassName?: string): PersistentVolume {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/${name}` }, persistentVolumeReclaimPolicy: policy, ...(storageClassName ? { storageClassName } : {}) },
  };
}
function pvc(name: string, size: string, storageClassName = ''): PersistentVolumeClaim {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec: { storageClassName, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } } } };
}

let markers = 0;
/**
 * Returns once the pv-protection (or pvc-protection) controller has reconciled every object whose change reached it
 * before this call, in the state that change left it. Its single worker takes keys in the order their events
 * arrived (a key being reconciled when a new event for it arrives is queued again at the back). A marker volume
 * (claim) that nothing uses is created, which gives it the protection finalizer, and deleted: it is gone (404) only
 * after the controller reconciled it and removed the finalizer, so after every key queued ahead of it. A second
 * marker covers a key that was mid-reconcile when its change arrived: it was queued again behind the first marker.
 */
async function protectionCaughtUp(t: ExecutionContext, kind: 'pv' | 'pvc'): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const name = `marker-${kind}-${++markers}`;
    // A class no claim or volume here has, so the binder never binds a marker.
    const created = kind === 'pv' ? await pvs().create(undefined, pv(name, '1Gi', 'Retain', 'marker')) : await pvcs().create('default', pvc(name, '1Gi', 'marker'));
    t.deepEqual(created.metadata.finalizers, [kind === 'pv' ? 'kubernetes.io/pv-protection' : 'kubernetes.io/pvc-protection']);
    if (kind === 'pv') await pvs().delete(undefined, name);
    else await pvcs().delete('default', name);
    await eventually(`${name} released by ${kind}-protection`, () => gone(() => (kind === 'pv' ? pvs().get(undefined, name) : pvcs().get('default', name))));
  }
}

test.serial('static binding: the smallest fitting volume, both sides Bound, Released on claim deletion (Retain)', async (t) => {
  await pvs().create(undefined, pv('big', '10Gi', 'Retain'));
  await pvs().create(undefined, pv('fit', '2Gi', 'Retain'));
  await eventually('volumes Available', async () => (await pvs().list()).items.every((v) => v.status?.phase === 'Available'));
  await pvcs().create('default', pvc('claim', '1Gi'));
  const bound = await eventually('claim Bound', async () => {
    const c = await pvcs().get('default', 'claim');
    return c.status?.phase === 'Bound' ? c : undefined;
  });
  t.is(bound.spec?.volumeName, 'fit');
  t.like(bound.metadata.annotations, { 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
  t.deepEqual(bound.status?.capacity, { storage: '2Gi' });
  const vol = await pvs().get(undefined, 'fit');
  t.is(vol.status?.phase, 'Bound');
  t.like(vol.spec?.claimRef, { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'claim', uid: bound.metadata.uid });
  t.regex(await kubectl('get', 'pv', 'fit', '--no-headers'), /^fit\s+2Gi\s+RWO\s+Retain\s+Bound\s+default\/claim\s+<unset>\s+/);
  t.regex(await kubectl('get', 'pvc', 'claim', '--no-headers'), /^claim\s+Bound\s+fit\s+2Gi\s+RWO\s+<unset>\s+/);

  await pvcs().delete('default', 'claim');
  await eventually('claim gone', () => gone(() => pvcs().get('default', 'claim')));
  const released = await eventually('volume Released', async () => {
    const v = await pvs().get(undefined, 'fit');
    return v.status?.phase === 'Released' ? v : undefined;
  });
  t.is(released.spec?.claimRef?.name, 'claim', 'Retain keeps the claim reference (an administrator reclaims the volume)');
  // A Released volume is not bound again.
  await pvcs().create('default', pvc('claim2', '1Gi'));
  const next = await eventually('claim2 Bound', async () => {
    const c = await pvcs().get('default', 'claim2');
    return c.status?.phase === 'Bound' ? c : undefined;
  });
  t.is(next.spec?.volumeName, 'big');
});

test.serial('Delete without a deleter: Failed with VolumeFailedDelete; pv-protection keeps a Bound volume until its claim goes', async (t) => {
  await pvs().create(undefined, pv('doomed', '1Gi', 'Delete'));
  await pvcs().create('default', pvc('short', '500Mi'));
  await eventually('short Bound to doomed', async () => (await pvcs().get('default', 'short')).spec?.volumeName === 'doomed');
  await pvcs().delete('default', 'short');
  const failed = await eventually('doomed Failed', async () => {
    const v = await pvs().get(undefined, 'doomed');
    return v.status?.phase === 'Failed' ? v : undefined;
  });
  t.is(failed.status?.message, 'error getting deleter volume plugin');
  const warn = (await eventsOf('PersistentVolume', 'doomed')).find((e) => e.reason === 'VolumeFailedDelete');
  t.is(warn?.type, 'Warning');
  t.is(warn?.message, 'error getting deleter volume plugin for volume "doomed": no deletable volume plugin matched');
  t.is(warn?.source?.component, 'persistentvolume-controller');
  // A Failed volume is not in use: its deletion completes.
  await pvs().delete(undefined, 'doomed');
  await eventually('doomed gone', () => gone(() => pvs().get(undefined, 'doomed')));

  await pvs().create(undefined, pv('kept', '1Gi', 'Retain'));
  await pvcs().create('default', pvc('holder', '1Gi'));
  await eventually('kept Bound', async () => (await pvs().get(undefined, 'kept')).status?.phase === 'Bound');
  await pvs().delete(undefined, 'kept');
  await protectionCaughtUp(t, 'pv'); // pv-protection reconciled 'kept' as deleted and Bound: it must have kept it
  const protectedPv = await pvs().get(undefined, 'kept');
  t.truthy(protectedPv.metadata.deletionTimestamp);
  t.deepEqual(protectedPv.metadata.finalizers, ['kubernetes.io/pv-protection']);
  await pvcs().delete('default', 'holder');
  await eventually('kept gone once Released', () => gone(() => pvs().get(undefined, 'kept')));
});

test.serial('a claim of a class with a provisioner is handed to it (annotations, ExternalProvisioning)', async (t) => {
  await fx.client.resource<StorageClass>(resourceFor('storageclasses', 'storage.k8s.io')).create(undefined, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'fast' }, provisioner: 'example.com/fast' });
  await pvcs().create('default', pvc('wants', '1Gi', 'fast'));
  const annotated = await eventually('provisioner annotation', async () => {
    const c = await pvcs().get('default', 'wants');
    return c.metadata.annotations?.['volume.kubernetes.io/storage-provisioner'] ? c : undefined;
  });
  t.is(annotated.metadata.annotations?.['volume.beta.kubernetes.io/storage-provisioner'], 'example.com/fast');
  t.is(annotated.status?.phase, 'Pending');
  const ev = await eventually('ExternalProvisioning', async () => (await eventsOf('PersistentVolumeClaim', 'wants')).find((e) => e.reason === 'ExternalProvisioning'));
  t.is(ev.message, "Waiting for a volume to be created either by the external provisioner 'example.com/fast' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.");
});

test.serial('pvc-protection: a claim used by a running pod stays Terminating until the pod finishes', async (t) => {
  await pvcs().create('default', pvc('used', '1Gi', 'none-such'));
  const pods = fx.client.resource<Pod>(Resources.pods);
  const p = await pods.create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'user' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'used' } }] } });
  await pods.updateStatus({ ...p, status: { phase: 'Running' } });
  await pvcs().delete('default', 'used');
  await protectionCaughtUp(t, 'pvc'); // pvc-protection reconciled 'used' as deleted and in use: it must have kept it
  const terminating = await pvcs().get('default', 'used');
  t.truthy(terminating.metadata.deletionTimestamp);
  t.deepEqual(terminating.metadata.finalizers, ['kubernetes.io/pvc-protection']);
  const cur = await pods.get('default', 'user');
  await pods.updateStatus({ ...cur, status: { phase: 'Succeeded' } });
  await eventually('claim gone', () => gone(() => pvcs().get('default', 'used')));
  t.pass();
});

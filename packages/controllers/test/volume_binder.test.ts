// The PV controller's binder and the protection controllers as pure functions: static binding
// (class, access modes, selector, smallest fit, pre-bound volumes), WaitForFirstConsumer left to
// the scheduler, hand-off to a provisioner through the annotations, Lost claims, Released volumes
// and the reclaim policies, finalizer removal only when nothing uses the object.
import test from 'ava';
import type { PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from '@mkube/api';
import { syncClaim, syncVolume } from '../src/volume/binder.js';
import { claimProtection, volumeProtection } from '../src/volume/protection.js';
import type { Action, Named } from '../src/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
type PV = Named<PersistentVolume>;
type PVC = Named<PersistentVolumeClaim>;

const pv = (name: string, size: string, extra: Partial<PersistentVolume['spec']> = {}, meta: Partial<PV['metadata']> = {}): PV => ({
  metadata: { name, uid: `uid-${name}`, resourceVersion: '1', ...meta },
  spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/data/${name}` }, persistentVolumeReclaimPolicy: 'Retain', ...extra },
  status: { phase: 'Available' },
});
const pvc = (name: string, size: string, extra: Partial<PersistentVolumeClaim['spec']> = {}, meta: Partial<PVC['metadata']> = {}): PVC => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: '5', ...meta },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...extra },
  status: { phase: 'Pending' },
});
const sc = (name: string, mode: 'Immediate' | 'WaitForFirstConsumer', provisioner = 'example.com/p'): StorageClass => ({ metadata: { name }, provisioner, volumeBindingMode: mode });
const classes = (...list: StorageClass[]) => new Map(list.map((s) => [s.metadata!.name!, s]));

const writes = (actions: Action[]) => actions.map((a) => `${a.verb} ${a.ref.resource} ${a.verb === 'delete' ? a.name : a.object.metadata?.name}`);
const objectOf = (a: Action | undefined): Named | undefined => (a && a.verb !== 'delete' ? (a.object as Named) : undefined);
const statusOf = (a: Action) => (a.verb === 'updateStatus' ? (a.object as { status?: { phase?: string } }).status : undefined);
const last = <T>(actions: Action[], verb: string, resource: string): T => objectOf(actions.filter((a) => a.verb === verb && a.ref.resource === resource).at(-1)) as unknown as T;

test('an unbound claim binds to the smallest volume of its class that fits, both sides Bound', (t) => {
  const claim = pvc('c', '2Gi', { storageClassName: 'slow' });
  const vols = [pv('big', '10Gi', { storageClassName: 'slow' }), pv('small', '1Gi', { storageClassName: 'slow' }), pv('fit', '3Gi', { storageClassName: 'slow' }), pv('other', '2Gi', { storageClassName: 'fast' })];
  const plan = syncClaim({ claim, volumes: vols, classes: classes(), now: NOW });
  t.deepEqual(writes(plan.actions), ['update persistentvolumes fit', 'updateStatus persistentvolumes fit', 'update persistentvolumeclaims c', 'updateStatus persistentvolumeclaims c']);
  const boundPv = last<PV>(plan.actions, 'update', 'persistentvolumes');
  t.like(boundPv.spec!.claimRef, { kind: 'PersistentVolumeClaim', namespace: 'ns', name: 'c', uid: 'uid-c', apiVersion: 'v1' });
  t.is(boundPv.metadata.annotations!['pv.kubernetes.io/bound-by-controller'], 'yes');
  t.is(last<PV>(plan.actions, 'updateStatus', 'persistentvolumes').status!.phase, 'Bound');
  const boundClaim = last<PVC>(plan.actions, 'update', 'persistentvolumeclaims');
  t.is(boundClaim.spec!.volumeName, 'fit');
  t.like(boundClaim.metadata.annotations, { 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
  t.deepEqual(last<PVC>(plan.actions, 'updateStatus', 'persistentvolumeclaims').status, { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '3Gi' } });
});

test('access modes, selector and bound volumes rule volumes out; no class and no match is FailedBinding', (t) => {
  const claim = pvc('c', '1Gi', { storageClassName: '', accessModes: ['ReadWriteMany'], selector: { matchLabels: { tier: 'db' } } });
  const vols = [
    pv('rwo', '1Gi', {}, { labels: { tier: 'db' } }),
    pv('unlabelled', '1Gi', { accessModes: ['ReadWriteMany'] }),
    pv('taken', '1Gi', { accessModes: ['ReadWriteMany'], claimRef: { namespace: 'ns', name: 'someone', uid: 'x' } }, { labels: { tier: 'db' } }),
  ];
  const plan = syncClaim({ claim, volumes: vols, classes: classes(), now: NOW });
  t.deepEqual(writes(plan.actions), []);
  t.deepEqual(plan.events, [{ on: 'claim', type: 'Normal', reason: 'FailedBinding', message: 'no persistent volumes available for this claim and no storage class is set' }]);
  const ok = syncClaim({ claim, volumes: [...vols, pv('good', '5Gi', { accessModes: ['ReadWriteOnce', 'ReadWriteMany'] }, { labels: { tier: 'db' } })], classes: classes(), now: NOW });
  t.is(last<PVC>(ok.actions, 'update', 'persistentvolumeclaims').spec!.volumeName, 'good');
});

test('WaitForFirstConsumer: the binder waits for the scheduler, then hands the claim to the provisioner', (t) => {
  const cls = classes(sc('local-path', 'WaitForFirstConsumer', 'mkube.io/local-path'));
  const claim = pvc('data', '1Gi', { storageClassName: 'local-path' });
  // Even a fitting static volume is left to the scheduler, which knows the node.
  const waiting = syncClaim({ claim, volumes: [pv('static', '1Gi', { storageClassName: 'local-path' })], classes: cls, now: NOW });
  t.deepEqual(writes(waiting.actions), []);
  t.deepEqual(waiting.events.map((e) => [e.reason, e.message]), [['WaitForFirstConsumer', 'waiting for first consumer to be created before binding']]);

  const selected = pvc('data', '1Gi', { storageClassName: 'local-path' }, { annotations: { 'volume.kubernetes.io/selected-node': 'n1' } });
  const handOff = syncClaim({ claim: selected, volumes: [], classes: cls, now: NOW });
  const annotated = last<PVC>(handOff.actions, 'update', 'persistentvolumeclaims');
  t.like(annotated.metadata.annotations, { 'volume.kubernetes.io/storage-provisioner': 'mkube.io/local-path', 'volume.beta.kubernetes.io/storage-provisioner': 'mkube.io/local-path' });
  t.is(handOff.events[0]!.reason, 'ExternalProvisioning');
  t.is(
    handOff.events[0]!.message,
    "Waiting for a volume to be created either by the external provisioner 'mkube.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
  );

  // The provisioner's volume comes pre-bound (claimRef with the uid): the claim binds to it, not to a bigger free one.
  const provisioned = pv('pvc-uid-data', '1Gi', { storageClassName: 'local-path', claimRef: { kind: 'PersistentVolumeClaim', namespace: 'ns', name: 'data', uid: 'uid-data' } }, { annotations: { 'pv.kubernetes.io/provisioned-by': 'mkube.io/local-path' } });
  const bind = syncClaim({ claim: selected, volumes: [provisioned], classes: cls, now: NOW });
  t.is(last<PVC>(bind.actions, 'update', 'persistentvolumeclaims').spec!.volumeName, 'pvc-uid-data');
  t.false(writes(bind.actions).includes('update persistentvolumes pvc-uid-data'), 'the claimRef already names the claim');
});

test('a bound claim whose volume vanished is Lost with upstream\'s warning', (t) => {
  const claim = pvc('c', '1Gi', { volumeName: 'gone' }, { annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } });
  claim.status = { phase: 'Bound' };
  const plan = syncClaim({ claim, volumes: [], classes: classes(), now: NOW });
  t.is(last<PVC>(plan.actions, 'updateStatus', 'persistentvolumeclaims').status!.phase, 'Lost');
  t.deepEqual(plan.events, [{ on: 'claim', type: 'Warning', reason: 'ClaimLost', message: 'Bound claim has lost its PersistentVolume. Data on the volume is lost!' }]);
});

test('volumes: Available without a claim, Released when the claim is gone, reclaim Retain / Delete / provisioner', (t) => {
  const fresh = pv('v', '1Gi');
  fresh.status = { phase: 'Pending' };
  t.is(last<PV>(syncVolume({ volume: fresh, claim: undefined, now: NOW }).actions, 'updateStatus', 'persistentvolumes').status!.phase, 'Available');

  const bound = pv('v', '1Gi', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } });
  bound.status = { phase: 'Bound' };
  const retain = syncVolume({ volume: bound, claim: undefined, now: NOW });
  t.deepEqual(retain.actions.map(statusOf), [{ phase: 'Released', lastPhaseTransitionTime: '2026-01-01T00:00:00Z' }]);
  t.deepEqual(retain.events, []);
  // A claim of the same name but another uid is a new claim: still released.
  t.is(syncVolume({ volume: bound, claim: pvc('c', '1Gi', {}, { uid: 'other' }), now: NOW }).actions.length, 1);

  const del = pv('v', '1Gi', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' }, persistentVolumeReclaimPolicy: 'Delete' });
  const failed = syncVolume({ volume: del, claim: undefined, now: NOW });
  t.deepEqual(failed.actions.map((a) => statusOf(a)?.phase ?? a.verb), ['Released', 'Failed']);
  t.deepEqual(failed.events.map((e) => [e.type, e.reason, e.message]), [['Warning', 'VolumeFailedDelete', 'error getting deleter volume plugin for volume "v": no deletable volume plugin matched']]);

  const provisioned = pv('v', '1Gi', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' }, persistentVolumeReclaimPolicy: 'Delete' }, { annotations: { 'pv.kubernetes.io/provisioned-by': 'mkube.io/local-path' } });
  const handed = syncVolume({ volume: provisioned, claim: undefined, now: NOW });
  t.deepEqual(handed.actions.map((a) => statusOf(a)?.phase ?? a.verb), ['Released'], 'the provisioner deletes its own volumes');
  t.deepEqual(handed.events, []);

  const live = pvc('c', '1Gi', { volumeName: 'v' });
  t.is(last<PV>(syncVolume({ volume: pv('v', '1Gi', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } }), claim: live, now: NOW }).actions, 'updateStatus', 'persistentvolumes').status!.phase, 'Bound');
});

test('protection: a claim keeps its finalizer while a running pod uses it; a volume while Bound', (t) => {
  const claim = pvc('c', '1Gi', {}, { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['kubernetes.io/pvc-protection'] });
  const user: Pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'c' } }] }, status: { phase: 'Running' } };
  t.deepEqual(claimProtection(claim, [user]), []);
  const done = claimProtection(claim, [{ ...user, status: { phase: 'Succeeded' } }]);
  t.deepEqual(objectOf(done[0])?.metadata.finalizers, []);
  t.deepEqual(claimProtection(pvc('c', '1Gi', {}, { finalizers: ['kubernetes.io/pvc-protection'] }), []), [], 'not being deleted');

  const vol = pv('v', '1Gi', {}, { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['kubernetes.io/pv-protection'] });
  vol.status = { phase: 'Bound' };
  t.deepEqual(volumeProtection(vol), []);
  vol.status = { phase: 'Released' };
  t.is(volumeProtection(vol).length, 1);
});

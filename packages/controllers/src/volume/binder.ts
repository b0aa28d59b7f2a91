/**
 * The PV controller's binder (upstream's persistentvolume-binder,
 * pv_controller.go syncClaim/syncVolume), free of I/O: from one claim or one
 * volume plus what the caches hold, decide the writes that bind claims to
 * volumes (static provisioning: class, access modes, selector, smallest fit),
 * hand claims without a match to their class' provisioner through the
 * storage-provisioner annotations, keep phases (Pending/Bound/Lost for claims;
 * Pending/Available/Bound/Released/Failed for volumes) and reclaim released
 * volumes (Retain keeps them; Delete is the provisioner's for provisioned
 * volumes, otherwise Failed as upstream without a deleter plugin).
 */
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  claimStorageClass,
  findMatchingVolume,
  formatTime,
  isVolumeBoundToClaim,
  volumeBindingMode,
  type ObjectReference,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '@mkube/api';
import type { EventSpec } from '../runtime/events.js';
import type { Action, Named } from '../types.js';
import { PVCS, PVS } from './resources.js';

export interface BinderEvent extends EventSpec {
  /** The object the event is about. */
  on: 'claim' | 'volume';
}

export interface BinderPlan {
  actions: Action[];
  events: BinderEvent[];
}

type PV = Named<PersistentVolume>;
type PVC = Named<PersistentVolumeClaim>;

const clone = <T>(v: T): T => structuredClone(v);
const empty = (): BinderPlan => ({ actions: [], events: [] });

export function claimRefFor(claim: PVC): ObjectReference {
  return {
    kind: 'PersistentVolumeClaim',
    namespace: claim.metadata.namespace,
    name: claim.metadata.name,
    uid: claim.metadata.uid,
    apiVersion: 'v1',
    resourceVersion: claim.metadata.resourceVersion,
  };
}

function setVolumePhase(plan: BinderPlan, pv: PV, phase: string, now: number, reason?: string, message?: string): PV {
  if (pv.status?.phase === phase && (reason === undefined || pv.status?.reason === reason)) return pv;
  const next = clone(pv);
  next.status = { phase, ...(reason ? { reason } : {}), ...(message ? { message } : {}), lastPhaseTransitionTime: formatTime(now) };
  plan.actions.push({ verb: 'updateStatus', ref: PVS, object: next });
  return next;
}

function setClaimPending(plan: BinderPlan, claim: PVC): void {
  if (claim.status?.phase === 'Pending') return;
  const next = clone(claim);
  next.status = { ...(next.status ?? {}), phase: 'Pending' };
  plan.actions.push({ verb: 'updateStatus', ref: PVCS, namespace: claim.metadata.namespace, object: next });
}

function setClaimLost(plan: BinderPlan, claim: PVC, reason: string, message: string): void {
  if (claim.status?.phase === 'Lost') return;
  const next = clone(claim);
  next.status = { ...(next.status ?? {}), phase: 'Lost' };
  plan.actions.push({ verb: 'updateStatus', ref: PVCS, namespace: claim.metadata.namespace, object: next });
  plan.events.push({ on: 'claim', type: 'Warning', reason, message });
}

/** bind(): volume → claim reference and Bound; claim → volumeName, annotations, Bound with the volume's modes and capacity. */
function bind(plan: BinderPlan, pv: PV, claim: PVC, now: number): void {
  const ref = pv.spec?.claimRef;
  if (!ref || ref.uid !== claim.metadata.uid || ref.name !== claim.metadata.name || ref.namespace !== claim.metadata.namespace) {
    const next = clone(pv);
    next.spec = { ...(next.spec ?? {}), claimRef: claimRefFor(claim) };
    if (!ref) next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [ANN_BOUND_BY_CONTROLLER]: 'yes' };
    plan.actions.push({ verb: 'update', ref: PVS, object: next });
    pv = next;
  }
  setVolumePhase(plan, pv, 'Bound', now);

  let c = claim;
  const ann = claim.metadata.annotations ?? {};
  if (claim.spec?.volumeName !== pv.metadata.name || ann[ANN_BIND_COMPLETED] !== 'yes') {
    c = clone(claim);
    const annotations: Record<string, string> = { ...(c.metadata.annotations ?? {}), [ANN_BIND_COMPLETED]: 'yes' };
    if (!claim.spec?.volumeName) annotations[ANN_BOUND_BY_CONTROLLER] = 'yes';
    c.metadata.annotations = annotations;
    c.spec = { ...(c.spec ?? {}), volumeName: pv.metadata.name };
    plan.actions.push({ verb: 'update', ref: PVCS, namespace: c.metadata.namespace, object: c });
  }
  const want = { phase: 'Bound', accessModes: pv.spec?.accessModes ?? [], capacity: pv.spec?.capacity ?? {} };
  const st = c.status ?? {};
  if (st.phase !== 'Bound' || JSON.stringify(st.accessModes ?? []) !== JSON.stringify(want.accessModes) || JSON.stringify(st.capacity ?? {}) !== JSON.stringify(want.capacity)) {
    const next = clone(c);
    next.status = { ...(next.status ?? {}), ...want };
    plan.actions.push({ verb: 'updateStatus', ref: PVCS, namespace: next.metadata.namespace, object: next });
  }
}

export interface ClaimInput {
  claim: PVC;
  volumes: PV[];
  classes: ReadonlyMap<string, StorageClass>;
  now: number;
}

/** syncClaim: an unbound claim is matched or provisioned; a bound one is kept bound or Lost. */
export function syncClaim({ claim, volumes, classes, now }: ClaimInput): BinderPlan {
  const plan = empty();
  if (claim.metadata.deletionTimestamp) return plan;
  const byName = new Map(volumes.map((v) => [v.metadata.name, v]));
  const volumeName = claim.spec?.volumeName ?? '';
  const bound = claim.metadata.annotations?.[ANN_BIND_COMPLETED] !== undefined;

  if (bound) {
    if (!volumeName) {
      setClaimLost(plan, claim, 'ClaimLost', 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!');
      return plan;
    }
    const pv = byName.get(volumeName);
    if (!pv) {
      setClaimLost(plan, claim, 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!');
      return plan;
    }
    if (!pv.spec?.claimRef || isVolumeBoundToClaim(pv, claim)) {
      bind(plan, pv, claim, now);
      return plan;
    }
    setClaimLost(plan, claim, 'ClaimMisbound', 'Two claims are bound to the same volume, this one is bound incorrectly');
    return plan;
  }

  if (volumeName) {
    // The user asked for a particular volume.
    const pv = byName.get(volumeName);
    if (!pv) {
      setClaimPending(plan, claim);
      return plan;
    }
    if (!pv.spec?.claimRef || isVolumeBoundToClaim(pv, claim)) {
      const problem = volumeMismatch(claim, pv);
      if (problem) {
        plan.events.push({ on: 'claim', type: 'Warning', reason: 'VolumeMismatch', message: problem });
        setClaimPending(plan, claim);
        return plan;
      }
      bind(plan, pv, claim, now);
      return plan;
    }
    setClaimPending(plan, claim);
    plan.events.push({ on: 'claim', type: 'Warning', reason: 'FailedBinding', message: `volume "${volumeName}" already bound to a different claim.` });
    return plan;
  }

  const className = claimStorageClass(claim);
  const cls = className ? classes.get(className) : undefined;
  const delayBinding = volumeBindingMode(cls) === 'WaitForFirstConsumer';
  const pv = findMatchingVolume(claim, volumes, { delayBinding });
  if (pv) {
    bind(plan, pv, claim, now);
    return plan;
  }
  setClaimPending(plan, claim);
  const selectedNode = claim.metadata.annotations?.[ANN_SELECTED_NODE];
  if (delayBinding && !selectedNode) {
    plan.events.push({ on: 'claim', type: 'Normal', reason: 'WaitForFirstConsumer', message: 'waiting for first consumer to be created before binding' });
    return plan;
  }
  if (className === '') {
    plan.events.push({ on: 'claim', type: 'Normal', reason: 'FailedBinding', message: 'no persistent volumes available for this claim and no storage class is set' });
    return plan;
  }
  if (!cls) {
    plan.events.push({ on: 'claim', type: 'Warning', reason: 'ProvisioningFailed', message: `storageclass.storage.k8s.io "${className}" not found` });
    return plan;
  }
  const provisioner = cls.provisioner ?? '';
  const ann = claim.metadata.annotations ?? {};
  if (ann[ANN_STORAGE_PROVISIONER] !== provisioner || ann[ANN_BETA_STORAGE_PROVISIONER] !== provisioner) {
    const next = clone(claim);
    next.metadata.annotations = { ...ann, [ANN_STORAGE_PROVISIONER]: provisioner, [ANN_BETA_STORAGE_PROVISIONER]: provisioner };
    // The Pending status (if any) was computed on the claim as read; the annotation write goes first.
    plan.actions.unshift({ verb: 'update', ref: PVCS, namespace: claim.metadata.namespace, object: next });
  }
  plan.events.push({
    on: 'claim',
    type: 'Normal',
    reason: 'ExternalProvisioning',
    message: `Waiting for a volume to be created either by the external provisioner '${provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
  });
  return plan;
}

/** checkVolumeSatisfyClaim: why a volume the claim names cannot serve it, or undefined. */
function volumeMismatch(claim: PVC, pv: PV): string | undefined {
  const cls = claimStorageClass(claim);
  if ((pv.spec?.storageClassName ?? '') !== cls) return 'storageClassName does not match';
  const want = new Set(claim.spec?.accessModes ?? []);
  const have = new Set(pv.spec?.accessModes ?? []);
  if ([...want].some((m) => !have.has(m))) return 'incompatible accessMode';
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (claim.spec?.volumeMode ?? 'Filesystem')) return 'incompatible volumeMode';
  const found = findMatchingVolume({ ...claim, spec: { ...claim.spec, selector: undefined } }, [{ ...pv, spec: { ...pv.spec, claimRef: undefined } }], { delayBinding: false });
  if (!found) return `requested PV is too small`;
  return undefined;
}

export interface VolumeInput {
  volume: PV;
  /** The claim named by the volume's claimRef (namespace/name), from the cache or a live read; undefined when it does not exist. */
  claim: PVC | undefined;
  now: number;
}

/** syncVolume: phases of one volume, releasing it when its claim is gone, reclaim by policy. */
export function syncVolume({ volume, claim, now }: VolumeInput): BinderPlan {
  const plan = empty();
  if (volume.metadata.deletionTimestamp && volume.status?.phase === 'Released') return plan;
  const ref = volume.spec?.claimRef;
  if (!ref) {
    setVolumePhase(plan, volume, 'Available', now);
    return plan;
  }
  if (!ref.uid) {
    // Pre-bound to a claim by name: the claim's sync binds it.
    setVolumePhase(plan, volume, 'Available', now);
    return plan;
  }
  const live = claim && claim.metadata.uid === ref.uid ? claim : undefined;
  if (!live) {
    if (volume.status?.phase === 'Failed') return plan;
    const released = volume.status?.phase === 'Released' ? volume : setVolumePhase(plan, volume, 'Released', now);
    reclaim(plan, released, now);
    return plan;
  }
  const claimVolume = live.spec?.volumeName ?? '';
  if (claimVolume === '') {
    // The claim has not been bound yet (the scheduler pre-bound the volume, or a provisioner created it): claim sync finishes.
    return plan;
  }
  if (claimVolume === volume.metadata.name) {
    setVolumePhase(plan, volume, 'Bound', now);
    return plan;
  }
  // The claim is bound to another volume: undo our own binding of this one.
  if (volume.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER]) {
    const next = clone(volume);
    delete next.spec!.claimRef;
    const { [ANN_BOUND_BY_CONTROLLER]: _dropped, ...rest } = next.metadata.annotations ?? {};
    next.metadata.annotations = rest;
    plan.actions.push({ verb: 'update', ref: PVS, object: next });
    setVolumePhase(plan, next, 'Available', now);
  }
  return plan;
}

/** reclaimVolume for a Released volume. */
function reclaim(plan: BinderPlan, pv: PV, now: number): void {
  const policy = pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
  if (policy === 'Retain') return;
  if (policy === 'Delete') {
    // A provisioned volume is deleted by its provisioner (it watches Released volumes of its own).
    if (pv.metadata.annotations?.[ANN_PROVISIONED_BY]) return;
    plan.events.push({ on: 'volume', type: 'Warning', reason: 'VolumeFailedDelete', message: `error getting deleter volume plugin for volume "${pv.metadata.name}": no deletable volume plugin matched` });
    setVolumePhase(plan, pv, 'Failed', now, undefined, 'error getting deleter volume plugin');
    return;
  }
  plan.events.push({ on: 'volume', type: 'Warning', reason: 'VolumeFailedRecycle', message: 'No recycler plugin found for the volume!' });
  setVolumePhase(plan, pv, 'Failed', now, undefined, 'No recycler plugin found for the volume!');
}

/**
 * The PVC protection and PV protection controllers (upstream's
 * pvc-protection and pv-protection), free of I/O: a deleted claim keeps its
 * kubernetes.io/pvc-protection finalizer while a pod that is not finished
 * uses it; a deleted volume keeps kubernetes.io/pv-protection while it is
 * Bound. When the object is no longer in use, the finalizer is removed and
 * the API server completes the deletion.
 */
import { PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER, type PersistentVolume, type PersistentVolumeClaim, type Pod } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { PVCS, PVS } from './resources.js';

/** The pod references the claim and still runs or may run (not Succeeded or Failed). */
export function podUsesClaim(pod: Pod, claimName: string): boolean {
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
  return (pod.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claimName);
}

export function claimProtection(claim: Named<PersistentVolumeClaim>, podsInNamespace: readonly Pod[]): Action[] {
  const finalizers = claim.metadata.finalizers ?? [];
  if (!claim.metadata.deletionTimestamp || !finalizers.includes(PVC_PROTECTION_FINALIZER)) return [];
  if (podsInNamespace.some((p) => podUsesClaim(p, claim.metadata.name))) return [];
  const next = structuredClone(claim);
  next.metadata.finalizers = finalizers.filter((f) => f !== PVC_PROTECTION_FINALIZER);
  return [{ verb: 'update', ref: PVCS, namespace: claim.metadata.namespace, object: next }];
}

export function volumeProtection(volume: Named<PersistentVolume>): Action[] {
  const finalizers = volume.metadata.finalizers ?? [];
  if (!volume.metadata.deletionTimestamp || !finalizers.includes(PV_PROTECTION_FINALIZER)) return [];
  if (volume.status?.phase === 'Bound') return [];
  const next = structuredClone(volume);
  next.metadata.finalizers = finalizers.filter((f) => f !== PV_PROTECTION_FINALIZER);
  return [{ verb: 'update', ref: PVS, object: next }];
}

/**
 * Persistent storage facts shared by the API server, the PV controller, the
 * scheduler's VolumeBinding and the node agent: the annotation and finalizer
 * names upstream uses, a claim's storage class, access-mode containment,
 * capacity of claims and volumes, and the default StorageClass.
 */
import { labelSelectorMatches } from './label_selector.js';
import { compareQuantities } from './quantity.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from './types/generated.js';

/** Set on a claim once the binder has finished binding it (value "yes"). */
export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
/** Set on a claim/volume whose binding the PV controller made (not a user's pre-binding). */
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';
/** The node the scheduler chose for a WaitForFirstConsumer claim. */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** The provisioner asked to provision a claim (and its deprecated beta twin, still written by upstream). */
export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
/** Set on a PV by the provisioner that created it. */
export const ANN_PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
/** Marks the default StorageClass ("true"). */
export const ANN_DEFAULT_STORAGE_CLASS = 'storageclass.kubernetes.io/is-default-class';
/** Deprecated class annotation on claims and volumes, still honoured by upstream. */
export const ANN_BETA_STORAGE_CLASS = 'volume.beta.kubernetes.io/storage-class';

export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
const ACCESS_MODE_ABBREV: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };

/** GetAccessModesAsString: "RWO,ROX" in upstream's fixed order, duplicates dropped. */
export function accessModesAsString(modes: readonly string[] | undefined | null): string {
  const set = new Set(modes ?? []);
  return ACCESS_MODES.filter((m) => set.has(m)).map((m) => ACCESS_MODE_ABBREV[m]).join(',');
}

/** Every requested mode is offered (upstream's CheckAccessModes / ContainsAllAccessModes). */
export function accessModesContained(requested: readonly string[] | undefined | null, offered: readonly string[] | undefined | null): boolean {
  const have = new Set(offered ?? []);
  return (requested ?? []).every((m) => have.has(m));
}

/** GetPersistentVolumeClaimClass: the beta annotation wins over spec.storageClassName; "" means no class. */
export function claimStorageClass(pvc: PersistentVolumeClaim): string {
  const ann = pvc.metadata?.annotations?.[ANN_BETA_STORAGE_CLASS];
  if (ann !== undefined) return ann;
  return pvc.spec?.storageClassName ?? '';
}

/** GetPersistentVolumeClass. */
export function volumeStorageClass(pv: PersistentVolume): string {
  const ann = pv.metadata?.annotations?.[ANN_BETA_STORAGE_CLASS];
  if (ann !== undefined) return ann;
  return pv.spec?.storageClassName ?? '';
}

/** The storage a claim requests (spec.resources.requests.storage), or undefined. */
export function claimRequest(pvc: PersistentVolumeClaim): string | undefined {
  return pvc.spec?.resources?.requests?.storage;
}

/** The volume's capacity.storage, or undefined. */
export function volumeCapacity(pv: PersistentVolume): string | undefined {
  return pv.spec?.capacity?.storage;
}

/** The volume holds at least what the claim asks for (a claim without a request fits any volume). */
export function capacityFits(pvc: PersistentVolumeClaim, pv: PersistentVolume): boolean {
  const want = claimRequest(pvc);
  if (want === undefined) return true;
  const have = volumeCapacity(pv);
  if (have === undefined) return false;
  return compareQuantities(have, want) >= 0;
}

export function isDefaultStorageClass(sc: StorageClass): boolean {
  return sc.metadata?.annotations?.[ANN_DEFAULT_STORAGE_CLASS] === 'true';
}

/**
 * The default class as upstream's GetDefaultClass picks it: of the classes
 * marked default, the newest (then the name first alphabetically on a tie).
 */
export function defaultStorageClass<T extends StorageClass>(classes: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const sc of classes) {
    if (!isDefaultStorageClass(sc)) continue;
    if (!best) {
      best = sc;
      continue;
    }
    const a = sc.metadata?.creationTimestamp ?? '';
    const b = best.metadata?.creationTimestamp ?? '';
    if (a > b || (a === b && (sc.metadata?.name ?? '') < (best.metadata?.name ?? ''))) best = sc;
  }
  return best;
}

/** The class's binding mode, Immediate when unset. */
export function volumeBindingMode(sc: StorageClass | undefined): 'Immediate' | 'WaitForFirstConsumer' {
  return sc?.volumeBindingMode === 'WaitForFirstConsumer' ? 'WaitForFirstConsumer' : 'Immediate';
}

/** The claim reference is to this claim (name and namespace; the uid too once the volume carries one). */
export function isVolumeBoundToClaim(pv: PersistentVolume, pvc: PersistentVolumeClaim): boolean {
  const ref = pv.spec?.claimRef;
  if (!ref) return false;
  if (ref.name !== pvc.metadata?.name || (ref.namespace ?? '') !== (pvc.metadata?.namespace ?? '')) return false;
  return !ref.uid || ref.uid === pvc.metadata?.uid;
}

/**
 * FindMatchingVolume as upstream's binder and VolumeBinding use it: a volume
 * pre-bound to the claim wins at once; otherwise the smallest available volume
 * of the claim's class, volume mode, selector and access modes that holds the
 * request. With delayBinding and no node (the PV controller's view) only a
 * pre-bound volume is taken: the scheduler chooses for WaitForFirstConsumer
 * claims. fitsNode filters by the volume's node affinity (the scheduler's view).
 */
export function findMatchingVolume<T extends PersistentVolume>(
  pvc: PersistentVolumeClaim,
  volumes: readonly T[],
  opts: { delayBinding: boolean; fitsNode?: (pv: T) => boolean; excluded?: ReadonlySet<string> },
): T | undefined {
  const cls = claimStorageClass(pvc);
  const mode = pvc.spec?.volumeMode ?? 'Filesystem';
  let best: T | undefined;
  for (const pv of volumes) {
    const name = pv.metadata?.name ?? '';
    if (opts.excluded?.has(name)) continue;
    if ((pv.spec?.volumeMode ?? 'Filesystem') !== mode) continue;
    if (pv.metadata?.deletionTimestamp) continue;
    if (pv.spec?.claimRef) {
      if (isVolumeBoundToClaim(pv, pvc) && (!opts.fitsNode || opts.fitsNode(pv))) return pv;
      continue;
    }
    if (opts.fitsNode && !opts.fitsNode(pv)) continue;
    if (!opts.fitsNode && opts.delayBinding) continue;
    if (pv.status?.phase !== undefined && pv.status.phase !== 'Available' && pv.status.phase !== 'Pending') continue;
    if (volumeStorageClass(pv) !== cls) continue;
    if (pvc.spec?.selector && !labelSelectorMatches(pvc.spec.selector, pv.metadata?.labels)) continue;
    if (!accessModesContained(pvc.spec?.accessModes, pv.spec?.accessModes)) continue;
    if (!capacityFits(pvc, pv)) continue;
    if (!best || compareQuantities(volumeCapacity(pv) ?? '0', volumeCapacity(best) ?? '0') < 0) best = pv;
  }
  return best;
}

/** The provisioner every node agent runs for claims selected to its node, and the directory (under the agent's root dir) holding its volumes. */
export const LOCAL_PATH_PROVISIONER = 'mkube.io/local-path';
export const LOCAL_PATH_DIR = 'local-path';

/** The name of a claim's local-path volume directory: pvc-<uid>_<namespace>_<name>. */
export function localPathVolumeDirName(pvc: PersistentVolumeClaim): string {
  return `pvc-${pvc.metadata?.uid}_${pvc.metadata?.namespace}_${pvc.metadata?.name}`;
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * The one node a volume is pinned to: its required node affinity is exactly
 * one term of exactly one requirement `kubernetes.io/hostname In (node)` (as a
 * local volume for one node is written), or undefined for any other affinity.
 */
export function volumePinnedNode(pv: PersistentVolume): string | undefined {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!Array.isArray(terms) || terms.length !== 1) return undefined;
  const [term] = terms;
  const exprs = term?.matchExpressions;
  if (!Array.isArray(exprs) || exprs.length !== 1 || (Array.isArray(term.matchFields) && term.matchFields.length > 0)) return undefined;
  const [e] = exprs;
  if (e?.key !== HOSTNAME_LABEL || e.operator !== 'In' || !Array.isArray(e.values) || e.values.length !== 1) return undefined;
  const node = e.values[0];
  return typeof node === 'string' && node !== '' ? node : undefined;
}

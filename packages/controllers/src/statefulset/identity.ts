/**
 * A StatefulSet pod's identity and storage, after upstream's
 * stateful_set_utils.go: the ordinal in the name `<set>-<ordinal>`, the
 * stable labels (statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index,
 * controller-revision-hash), hostname/subdomain from spec.serviceName, the
 * claims of volumeClaimTemplates (`<template>-<set>-<ordinal>`) mounted in
 * place of same-named volumes, the claims' owner references of
 * persistentVolumeClaimRetentionPolicy, and the pod phases the controller
 * tells apart (created, running and ready, available, terminating, failed).
 */
import {
  getCondition,
  newControllerRef,
  parseTime,
  resourceFor,
  type OwnerReference,
  type PersistentVolumeClaim,
  type Pod,
  type PodTemplateSpec,
  type StatefulSet,
} from '@mkube/api';
import { R, typedRef, type Named, type ResourceRef } from '../types.js';
import { CONTROLLER_REVISION_HASH_LABEL } from '../history/revision.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

export const statefulSets: ResourceRef<StatefulSet> = typedRef<StatefulSet>(resourceFor('statefulsets', 'apps'));
export const STATEFUL_SET_KIND = { apiVersion: 'apps/v1', kind: 'StatefulSet' } as const;

/**
 * The claims' resource, once the API serves PersistentVolumeClaims (the
 * storage work adds them); until then volumeClaimTemplates are not acted on.
 */
export function claimsResource(): ResourceRef<PersistentVolumeClaim> | undefined {
  try {
    return typedRef<PersistentVolumeClaim>(resourceFor('persistentvolumeclaims'));
  } catch {
    return undefined;
  }
}

export type Sts = Named<StatefulSet>;
export type NamedPod = Named<Pod>;
export type Claim = Named<PersistentVolumeClaim>;

const ORDINAL = /^(.*)-(\d+)$/;

/** getParentNameAndOrdinal: the set's name and the ordinal, or undefined for a name of another shape. */
export function parentAndOrdinal(podName: string): { parent: string; ordinal: number } | undefined {
  const m = ORDINAL.exec(podName);
  if (!m) return undefined;
  return { parent: m[1]!, ordinal: Number(m[2]) };
}

export function ordinalOf(pod: NamedPod): number {
  return parentAndOrdinal(pod.metadata.name)?.ordinal ?? -1;
}

/** isMemberOf: named `<set>-<ordinal>`. */
export function isMemberOf(set: Sts, pod: NamedPod): boolean {
  return parentAndOrdinal(pod.metadata.name)?.parent === set.metadata.name;
}

export const podName = (set: Sts, ordinal: number): string => `${set.metadata.name}-${ordinal}`;
export const claimName = (set: Sts, template: string, ordinal: number): string => `${template}-${set.metadata.name}-${ordinal}`;
export const startOrdinal = (set: Sts): number => Number(set.spec?.ordinals?.start ?? 0);
export const replicasOf = (set: Sts): number => Number(set.spec?.replicas ?? 1);
export const revisionOfPod = (pod: Pod): string | undefined => pod.metadata?.labels?.[CONTROLLER_REVISION_HASH_LABEL];

/** getPersistentVolumeClaims: one claim per template for the ordinal, labelled with the set's matchLabels. */
export function claimsFor(set: Sts, ordinal: number): Claim[] {
  const selectorLabels = set.spec?.selector?.matchLabels ?? {};
  return (set.spec?.volumeClaimTemplates ?? []).map((tpl) => {
    const name = claimName(set, tpl.metadata?.name ?? '', ordinal);
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name,
        namespace: set.metadata.namespace,
        labels: { ...(tpl.metadata?.labels ?? {}), ...selectorLabels },
        ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
      },
      spec: structuredClone(tpl.spec ?? {}),
    };
  });
}

/**
 * newVersionedStatefulSetPod/newStatefulSetPod: the template's pod named for
 * the ordinal, with its identity, its claims mounted and the revision label.
 */
export function newPod(set: Sts, template: PodTemplateSpec, revisionName: string, ordinal: number): NamedPod {
  const tpl = structuredClone(template);
  const name = podName(set, ordinal);
  const spec = tpl.spec ?? { containers: [] };
  spec.hostname = name;
  spec.subdomain = set.spec?.serviceName ?? '';
  const claimVolumes = (set.spec?.volumeClaimTemplates ?? []).map((t) => ({
    name: t.metadata?.name ?? '',
    persistentVolumeClaim: { claimName: claimName(set, t.metadata?.name ?? '', ordinal) },
  }));
  if (claimVolumes.length) {
    const names = new Set(claimVolumes.map((v) => v.name));
    spec.volumes = [...claimVolumes, ...(spec.volumes ?? []).filter((v) => !names.has(v.name))];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: set.metadata.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}), [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal), [CONTROLLER_REVISION_HASH_LABEL]: revisionName },
      ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
      ownerReferences: [newControllerRef(set, STATEFUL_SET_KIND)],
    },
    spec,
  };
}

/** identityMatches (the labels part: a pod's hostname and subdomain cannot change once created). */
export function identityLabelsMatch(pod: NamedPod): boolean {
  const l = pod.metadata.labels ?? {};
  return l[POD_NAME_LABEL] === pod.metadata.name && l[POD_INDEX_LABEL] === String(ordinalOf(pod));
}

/** updateIdentity for the labels. */
export function withIdentityLabels(pod: NamedPod): NamedPod {
  const next = structuredClone(pod);
  next.metadata.labels = { ...(next.metadata.labels ?? {}), [POD_NAME_LABEL]: pod.metadata.name, [POD_INDEX_LABEL]: String(ordinalOf(pod)) };
  return next;
}

const hasOwner = (refs: OwnerReference[] | undefined, uid: string | undefined): boolean => (refs ?? []).some((r) => r.uid === uid);
const ownerRef = (o: { metadata?: { name?: string; uid?: string } }, apiVersion: string, kind: string): OwnerReference => ({
  apiVersion,
  kind,
  name: o.metadata?.name ?? '',
  uid: o.metadata?.uid ?? '',
});

/**
 * updateClaimOwnerRefForSetAndPod: whenDeleted=Delete makes the set an owner
 * of the claim (deleting the set deletes it); whenScaled=Delete makes the pod
 * an owner of a condemned ordinal's claim (scaling down deletes it with the
 * pod). Returns the claim with the owner references it should have, or
 * undefined when it already has them.
 */
export function claimWithRetentionOwners(set: Sts, claim: Claim, pod: NamedPod | undefined, condemned: boolean): Claim | undefined {
  const policy = set.spec?.persistentVolumeClaimRetentionPolicy ?? {};
  let refs = [...(claim.metadata.ownerReferences ?? [])];
  const before = JSON.stringify(refs);
  const setOwns = policy.whenDeleted === 'Delete';
  if (setOwns && !hasOwner(refs, set.metadata.uid)) refs.push(ownerRef(set, STATEFUL_SET_KIND.apiVersion, STATEFUL_SET_KIND.kind));
  if (!setOwns) refs = refs.filter((r) => r.uid !== set.metadata.uid);
  if (pod) {
    const podOwns = condemned && policy.whenScaled === 'Delete';
    if (podOwns && !hasOwner(refs, pod.metadata.uid)) refs.push(ownerRef(pod, 'v1', 'Pod'));
    if (!podOwns) refs = refs.filter((r) => r.uid !== pod.metadata.uid);
  }
  if (JSON.stringify(refs) === before) return undefined;
  const next = structuredClone(claim);
  if (refs.length) next.metadata.ownerReferences = refs;
  else delete next.metadata.ownerReferences;
  return next;
}

export const isCreated = (pod: Pod): boolean => !!pod.status?.phase;
export const isTerminating = (pod: Pod): boolean => !!pod.metadata?.deletionTimestamp;
export const isFailed = (pod: Pod): boolean => pod.status?.phase === 'Failed';
export const isSucceeded = (pod: Pod): boolean => pod.status?.phase === 'Succeeded';
export const isPending = (pod: Pod): boolean => !pod.status?.phase || pod.status.phase === 'Pending';
export const isRunningAndReady = (pod: Pod): boolean => pod.status?.phase === 'Running' && getCondition(pod.status.conditions, 'Ready')?.status === 'True';

/** isRunningAndAvailable: running and ready for minReadySeconds. */
export function isRunningAndAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  if (!isRunningAndReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = parseTime(getCondition(pod.status?.conditions, 'Ready')?.lastTransitionTime);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

/** isHealthy: running, ready, available and not being deleted. */
export const isHealthy = (pod: Pod, minReadySeconds: number, now: number): boolean => isRunningAndAvailable(pod, minReadySeconds, now) && !isTerminating(pod);

/** The pods' resource (re-exported for the reconcile's actions). */
export const pods = R.pods;

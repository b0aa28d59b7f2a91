/**
 * StatefulSet reconcile, free of I/O, after upstream's stateful_set_control.go:
 * revisions (current and update, collisions), the pods `<set>-<ordinal>` of
 * the ordinals [start, start+replicas) created in order (OrderedReady: one at
 * a time, each after the previous is Running and Ready for minReadySeconds;
 * Parallel: all at once), failed pods recreated, condemned ordinals deleted
 * highest first, claims of volumeClaimTemplates created before their pod and
 * owned as persistentVolumeClaimRetentionPolicy says, RollingUpdate from the
 * highest ordinal down to `partition` with at most maxUnavailable pods
 * unavailable (OnDelete: only missing pods get the new revision), status and
 * history truncation. Each call plans one step; events and the next call do
 * the rest.
 */
import { parseTime, getCondition, type Pod, type StatefulSetStatus } from '@mkube/api';
import type { Action } from '../types.js';
import type { EventSpec } from '../runtime/events.js';
import { scaledValue } from '../util/intstr.js';
import { claimObjects } from '../history/claim.js';
import {
  claimRevisions,
  sortRevisions,
  templateOf,
  truncateHistory,
  updateRevision as planUpdateRevision,
  type Revision,
} from '../history/revision.js';
import {
  STATEFUL_SET_KIND,
  claimWithRetentionOwners,
  claimsFor,
  identityLabelsMatch,
  isCreated,
  isFailed,
  isHealthy,
  isMemberOf,
  isPending,
  isRunningAndAvailable,
  isRunningAndReady,
  isSucceeded,
  isTerminating,
  newPod,
  ordinalOf,
  podName,
  pods as podsRef,
  replicasOf,
  revisionOfPod,
  startOrdinal,
  statefulSets,
  withIdentityLabels,
  type Claim,
  type NamedPod,
  type Sts,
} from './identity.js';
import type { ResourceRef } from '../types.js';
import type { PersistentVolumeClaim } from '@mkube/api';

export interface StatefulSetInput {
  set: Sts;
  /** Every pod in the set's namespace. */
  pods: NamedPod[];
  /** Every ControllerRevision in the namespace. */
  revisions: Revision[];
  /** Every claim in the namespace; undefined while the API does not serve PersistentVolumeClaims. */
  claims?: Claim[];
  /** The claims' resource (with `claims`). */
  claimsRef?: ResourceRef<PersistentVolumeClaim>;
  now: number;
}

/** One write of the plan with the events upstream records for it. */
export interface Step {
  action: Action;
  success?: EventSpec;
  failure?: (message: string) => EventSpec;
}

export interface StatefulSetPlan {
  /** Adopt/release pods and revisions. */
  claims: Action[];
  /** Create the update revision, or renumber an equal older one. */
  revisions: Action[];
  /** Pod and claim writes of this step, in order; stop at the first failure. */
  steps: Step[];
  /** Events not tied to a write (RecreatingFailedPod). */
  events: EventSpec[];
  status?: Action;
  /** Old revisions beyond revisionHistoryLimit (after the status). */
  history: Action[];
  requeueAfterMs?: number;
  currentRevision: string;
  updateRevision: string;
}

const podEvent = (verb: string, pod: string, set: string) => ({
  success: { type: 'Normal', reason: `Successful${verb}`, message: `${verb.toLowerCase()} Pod ${pod} in StatefulSet ${set} successful` } as EventSpec,
  failure: (err: string): EventSpec => ({ type: 'Warning', reason: `Failed${verb}`, message: `${verb.toLowerCase()} Pod ${pod} in StatefulSet ${set} failed error: ${err}` }),
});
const claimEvent = (verb: string, claim: string, pod: string, set: string) => ({
  success: { type: 'Normal', reason: `Successful${verb}`, message: `${verb.toLowerCase()} Claim ${claim} Pod ${pod} in StatefulSet ${set} success` } as EventSpec,
  failure: (err: string): EventSpec => ({ type: 'Warning', reason: `Failed${verb}`, message: `${verb.toLowerCase()} Claim ${claim} for Pod ${pod} in StatefulSet ${set} failed error: ${err}` }),
});

/** The set as it was at a revision: its template from the revision's data (ApplyRevision). */
function atRevision(set: Sts, rev: Revision): Sts {
  return { ...set, spec: { ...set.spec, selector: set.spec?.selector ?? {}, template: templateOf(rev) } };
}

export function reconcileStatefulSet(input: StatefulSetInput): StatefulSetPlan {
  const { set, now } = input;
  const ns = set.metadata.namespace;
  const minReady = Number(set.spec?.minReadySeconds ?? 0);
  const monotonic = (set.spec?.podManagementPolicy ?? 'OrderedReady') !== 'Parallel';

  // Pods: members of the set only (named <set>-<ordinal>), claimed by the selector.
  const members = input.pods.filter((p) => isMemberOf(set, p));
  const claimed = claimObjects(set, STATEFUL_SET_KIND, set.spec?.selector, members, podsRef);
  const owned = claimed.owned;

  // Revisions.
  const revClaim = claimRevisions(set, STATEFUL_SET_KIND, input.revisions);
  const collisionCount = Number(set.status?.collisionCount ?? 0);
  const up = planUpdateRevision(set, STATEFUL_SET_KIND, revClaim.owned, input.revisions, collisionCount);
  const plan: StatefulSetPlan = {
    claims: [...claimed.actions, ...revClaim.actions],
    revisions: up.actions,
    steps: [],
    events: [],
    history: [],
    currentRevision: '',
    updateRevision: up.update.metadata.name,
  };
  if (up.collision) {
    const status: StatefulSetStatus = { ...(set.status ?? { replicas: 0 }), collisionCount: collisionCount + 1 };
    const next: Sts = { ...structuredClone(set), status };
    plan.status = { verb: 'updateStatus', ref: statefulSets, namespace: ns, object: next };
    plan.requeueAfterMs = 0;
    return plan;
  }
  const update = up.update;
  const current = revClaim.owned.find((r) => r.metadata.name === set.status?.currentRevision) ?? update;
  plan.currentRevision = current.metadata.name;
  const currentSet = atRevision(set, current);
  const updateSet = atRevision(set, update);

  // Replicas [start, start+replicas) and condemned ordinals (highest first).
  const start = startOrdinal(set);
  const want = replicasOf(set);
  const replicas: Array<NamedPod | undefined> = new Array<NamedPod | undefined>(want).fill(undefined);
  const condemned: NamedPod[] = [];
  for (const p of owned) {
    const ord = ordinalOf(p);
    if (ord >= start && ord < start + want) replicas[ord - start] = p;
    else condemned.push(p);
  }
  condemned.sort((a, b) => ordinalOf(b) - ordinalOf(a));

  const strategy = set.spec?.updateStrategy?.type ?? 'RollingUpdate';
  const partition = Number(set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0);
  const versioned = (ordinal: number): NamedPod => {
    const useCurrent = strategy === 'RollingUpdate' && ordinal < start + partition;
    return useCurrent ? newPod(currentSet, currentSet.spec!.template, current.metadata.name, ordinal) : newPod(updateSet, updateSet.spec!.template, update.metadata.name, ordinal);
  };

  const claimsRef = input.claimsRef;
  const claimsByName = new Map((input.claims ?? []).map((c) => [c.metadata.name, c]));
  /** createPersistentVolumeClaims: the missing claims of an ordinal. */
  const createMissingClaims = (ordinal: number): void => {
    if (!input.claims || !claimsRef) return;
    for (const c of claimsFor(set, ordinal)) {
      if (claimsByName.has(c.metadata.name)) continue;
      const withOwners = claimWithRetentionOwners(set, c, undefined, false) ?? c;
      plan.steps.push({ action: { verb: 'create', ref: claimsRef, namespace: ns, object: withOwners }, ...claimEvent('Create', c.metadata.name, podName(set, ordinal), set.metadata.name) });
      claimsByName.set(c.metadata.name, withOwners);
    }
  };
  /** updateClaimOwnerRefs for the claims of an existing pod. */
  const fixClaimOwners = (pod: NamedPod, isCondemned: boolean): void => {
    if (!input.claims || !claimsRef) return;
    for (const c of claimsFor(set, ordinalOf(pod))) {
      const existing = claimsByName.get(c.metadata.name);
      if (!existing) continue;
      const next = claimWithRetentionOwners(set, existing, pod, isCondemned);
      if (next) plan.steps.push({ action: { verb: 'update', ref: claimsRef, namespace: ns, object: next }, ...claimEvent('Update', c.metadata.name, pod.metadata.name, set.metadata.name) });
    }
  };

  // The first unhealthy pod: replicas by ordinal, then the condemned highest first.
  const firstUnhealthy = [...replicas, ...condemned].find((p) => p && !isHealthy(p, minReady, now));

  const processReplicas = (): boolean => {
    if (set.metadata.deletionTimestamp) return false;
    for (let i = 0; i < replicas.length; i++) {
      const ordinal = start + i;
      let pod = replicas[i];
      if (pod && (isFailed(pod) || isSucceeded(pod)) && !isTerminating(pod)) {
        plan.events.push({ type: 'Warning', reason: 'RecreatingFailedPod', message: `StatefulSet ${ns}/${set.metadata.name} is recreating failed Pod ${pod.metadata.name}` });
        plan.steps.push({ action: { verb: 'delete', ref: podsRef, namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid, reason: 'failed' }, ...podEvent('Delete', pod.metadata.name, set.metadata.name) });
        if (monotonic) return false;
        continue;
      }
      if (!pod) {
        createMissingClaims(ordinal);
        pod = versioned(ordinal);
        plan.steps.push({ action: { verb: 'create', ref: podsRef, namespace: ns, object: pod }, ...podEvent('Create', pod.metadata.name, set.metadata.name) });
        if (monotonic) return false;
        continue;
      }
      if (isPending(pod) && !isTerminating(pod)) createMissingClaims(ordinal);
      if (isTerminating(pod)) {
        if (monotonic) return false;
        continue;
      }
      if (!isCreated(pod) || !isRunningAndReady(pod) || !isRunningAndAvailable(pod, minReady, now)) {
        if (monotonic) return false;
        continue;
      }
      if (!identityLabelsMatch(pod)) plan.steps.push({ action: { verb: 'update', ref: podsRef, namespace: ns, object: withIdentityLabels(pod) }, ...podEvent('Update', pod.metadata.name, set.metadata.name) });
      fixClaimOwners(pod, false);
    }
    return true;
  };

  const processCondemned = (): boolean => {
    for (const pod of condemned) {
      if (isTerminating(pod)) {
        if (monotonic) return false;
        continue;
      }
      if (monotonic && pod !== firstUnhealthy && (!isRunningAndReady(pod) || !isRunningAndAvailable(pod, minReady, now))) return false;
      fixClaimOwners(pod, true);
      plan.steps.push({ action: { verb: 'delete', ref: podsRef, namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid, reason: 'scale down' }, ...podEvent('Delete', pod.metadata.name, set.metadata.name) });
      if (monotonic) return false;
    }
    return true;
  };

  /** updateStatefulSetAfterInvariantEstablished with maxUnavailable: highest ordinals first, down to the partition. */
  const rollingUpdate = (): void => {
    if (strategy !== 'RollingUpdate' || set.metadata.deletionTimestamp) return;
    let maxUnavailable = 1;
    try {
      maxUnavailable = Math.max(scaledValue(set.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, want, true), 1);
    } catch {
      maxUnavailable = 1;
    }
    let unavailable = 0;
    for (const p of replicas) if (!p || !isHealthy(p, minReady, now)) unavailable++;
    if (unavailable >= maxUnavailable) return;
    let budget = maxUnavailable - unavailable;
    for (let i = replicas.length - 1; i >= partition && budget > 0; i--) {
      const p = replicas[i];
      if (!p || isTerminating(p) || revisionOfPod(p) === update.metadata.name) continue;
      plan.steps.push({ action: { verb: 'delete', ref: podsRef, namespace: ns, name: p.metadata.name, uid: p.metadata.uid, reason: 'rolling update' }, ...podEvent('Delete', p.metadata.name, set.metadata.name) });
      budget--;
    }
  };

  if (processReplicas() && processCondemned()) rollingUpdate();

  // Status from the pods as observed.
  const status = computeStatus(set, owned, current.metadata.name, update.metadata.name, collisionCount, now);
  if (!sameStatus(status, set.status)) {
    const next: Sts = { ...structuredClone(set), status };
    plan.status = { verb: 'updateStatus', ref: statefulSets, namespace: ns, object: next };
  }

  // History: keep the live revisions and revisionHistoryLimit others.
  const live = new Set<string>([status.currentRevision ?? '', status.updateRevision ?? '']);
  for (const p of owned) {
    const r = revisionOfPod(p);
    if (r) live.add(r);
  }
  const known = sortRevisions([...revClaim.owned.filter((r) => r.metadata.name !== update.metadata.name), update]);
  plan.history = truncateHistory(known.filter((r) => r.metadata.uid), live, Number(set.spec?.revisionHistoryLimit ?? 10));

  // A ready pod becomes available after minReadySeconds: come back then.
  if (minReady > 0) {
    let soonest: number | undefined;
    for (const p of owned) {
      if (!isRunningAndReady(p) || isRunningAndAvailable(p, minReady, now)) continue;
      const since = parseTime(getCondition(p.status?.conditions, 'Ready')?.lastTransitionTime) ?? now;
      const at = since + minReady * 1000 - now;
      soonest = soonest === undefined ? at : Math.min(soonest, at);
    }
    if (soonest !== undefined) plan.requeueAfterMs = Math.max(soonest, 0) + 1000;
  }
  return plan;
}

/** computeReplicaStatus and completeRollingUpdate. */
export function computeStatus(set: Sts, owned: readonly Pod[], currentRevision: string, updateRevision: string, collisionCount: number, now: number): StatefulSetStatus {
  const minReady = Number(set.spec?.minReadySeconds ?? 0);
  const status: StatefulSetStatus = {
    observedGeneration: Number(set.metadata.generation ?? 0),
    replicas: 0,
    readyReplicas: 0,
    currentReplicas: 0,
    updatedReplicas: 0,
    availableReplicas: 0,
    currentRevision,
    updateRevision,
    collisionCount,
  };
  for (const p of owned) {
    if (isCreated(p)) status.replicas++;
    if (isRunningAndReady(p)) {
      status.readyReplicas! += 1;
      if (isRunningAndAvailable(p, minReady, now)) status.availableReplicas! += 1;
    }
    if (isCreated(p) && !isTerminating(p)) {
      const r = revisionOfPod(p);
      if (r === currentRevision) status.currentReplicas! += 1;
      if (r === updateRevision) status.updatedReplicas! += 1;
    }
  }
  const strategy = set.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (strategy === 'RollingUpdate' && status.updatedReplicas === status.replicas && status.readyReplicas === status.replicas) {
    status.currentReplicas = status.updatedReplicas;
    status.currentRevision = updateRevision;
  }
  if (set.status?.conditions?.length) status.conditions = set.status.conditions;
  return status;
}

const KEYS = ['observedGeneration', 'replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas', 'currentRevision', 'updateRevision', 'collisionCount'] as const;
function sameStatus(a: StatefulSetStatus, b: StatefulSetStatus | undefined): boolean {
  if (!b) return false;
  return KEYS.every((k) => String(a[k] ?? '') === String(b[k] ?? '') || (typeof a[k] === 'number' && Number(a[k]) === Number(b[k] ?? 0)));
}

/**
 * ReplicaSet reconcile, free of I/O: from the set and the pods in its
 * namespace (both from caches) decide which pods to adopt, release, create
 * and delete, and what the status should be. The same reconcile runs
 * ReplicationControllers (flavor.ts: their resource and equality selector).
 */
import { controllerOf, labelSelectorMatches, newControllerRef, parseTime, type Pod, type ReplicaSetStatus } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { isPodActive, isPodAvailable, isPodReady, podCondition } from '../util/pod.js';
import { podsToDelete } from './ranking.js';
import { REPLICA_SET, type ReplicaSetLike, type SetFlavor } from './flavor.js';

/** At most this many creates or deletes per sync (Kubernetes' burstReplicas). */
export const BURST_REPLICAS = 500;

export interface ReplicaSetInput {
  rs: Named<ReplicaSetLike>;
  /** Every pod in the set's namespace. */
  pods: Named<Pod>[];
  now: number;
  /** False while the set's own earlier creates/deletes have not come back through the watch. */
  expectationsSatisfied: boolean;
  /** ReplicaSet (default) or ReplicationController. */
  flavor?: SetFlavor;
}

export interface ReplicaSetPlan {
  /** Ownership changes first (adopt/release), then status is computed from the claimed pods. */
  claims: Action[];
  /** Pods to create (each with generateName; the server picks the name). */
  creates: Action[];
  /** Pods to delete, ranked. */
  deletes: Array<Action & { verb: 'delete' }>;
  status?: Action;
  /** Come back after this long (a pod becomes available after minReadySeconds). */
  requeueAfterMs?: number;
  /** The claimed active pods. */
  owned: Named<Pod>[];
}

const clone = <T>(v: T): T => structuredClone(v);

/** ClaimPods: adopt matching orphans, release owned pods that no longer match. */
export function claimPods(rs: Named<ReplicaSetLike>, pods: Named<Pod>[], flavor: SetFlavor = REPLICA_SET): { owned: Named<Pod>[]; actions: Action[] } {
  const owned: Named<Pod>[] = [];
  const actions: Action[] = [];
  const deleting = !!rs.metadata.deletionTimestamp;
  for (const pod of pods) {
    const ref = controllerOf(pod);
    const matches = labelSelectorMatches(flavor.selector(rs), pod.metadata.labels);
    if (ref) {
      if (ref.uid !== rs.metadata.uid) continue;
      if (matches) {
        owned.push(pod);
        continue;
      }
      if (deleting || pod.metadata.deletionTimestamp) continue;
      const next = clone(pod);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid);
      actions.push({ verb: 'update', ref: R.pods, namespace: pod.metadata.namespace, object: next });
      continue;
    }
    if (!matches || deleting || pod.metadata.deletionTimestamp) continue;
    const next = clone(pod);
    next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), newControllerRef(rs, flavor.ref)];
    actions.push({ verb: 'update', ref: R.pods, namespace: pod.metadata.namespace, object: next });
    owned.push(next);
  }
  return { owned, actions };
}

export function podFromTemplate(rs: Named<ReplicaSetLike>, flavor: SetFlavor = REPLICA_SET): Pod {
  const tpl = clone(rs.spec?.template ?? {});
  const meta = tpl.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      labels: { ...(meta.labels ?? {}) },
      ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
      ownerReferences: [newControllerRef(rs, flavor.ref)],
    },
    spec: tpl.spec ?? { containers: [] },
  };
}

export function replicaSetStatus(rs: Named<ReplicaSetLike>, owned: Named<Pod>[], now: number): ReplicaSetStatus {
  const minReady = Number(rs.spec?.minReadySeconds ?? 0);
  const tplLabels = rs.spec?.template?.metadata?.labels ?? {};
  let fully = 0;
  let ready = 0;
  let available = 0;
  for (const p of owned) {
    const l = p.metadata.labels ?? {};
    if (Object.entries(tplLabels).every(([k, v]) => l[k] === v)) fully++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, minReady, now)) available++;
    }
  }
  const status: ReplicaSetStatus = {
    replicas: owned.length,
    fullyLabeledReplicas: fully,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata.generation ?? 0,
  };
  if (rs.status?.conditions?.length) status.conditions = rs.status.conditions;
  return status;
}

const COUNTS = ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const;
const sameStatus = (a: ReplicaSetStatus, b: ReplicaSetStatus | undefined): boolean => !!b && COUNTS.every((k) => Number(a[k] ?? 0) === Number(b[k] ?? 0));

export function reconcileReplicaSet(input: ReplicaSetInput): ReplicaSetPlan {
  const { rs, now } = input;
  const flavor = input.flavor ?? REPLICA_SET;
  const active = input.pods.filter(isPodActive);
  const { owned, actions: claims } = claimPods(rs, active, flavor);
  const plan: ReplicaSetPlan = { claims, creates: [], deletes: [], owned };
  const want = Number(rs.spec?.replicas ?? 1);
  if (input.expectationsSatisfied && !rs.metadata.deletionTimestamp) {
    const diff = owned.length - want;
    if (diff < 0) {
      for (let i = 0; i < Math.min(-diff, BURST_REPLICAS); i++) {
        plan.creates.push({ verb: 'create', ref: R.pods, namespace: rs.metadata.namespace, object: podFromTemplate(rs, flavor) });
      }
    } else if (diff > 0) {
      for (const p of podsToDelete(owned, Math.min(diff, BURST_REPLICAS))) {
        plan.deletes.push({ verb: 'delete', ref: R.pods, namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid, reason: 'scale down' });
      }
    }
  }
  const status = replicaSetStatus(rs, owned, now);
  if (!sameStatus(status, rs.status)) {
    const next: Named<ReplicaSetLike> = { ...clone(rs), status: { ...(rs.status ?? {}), ...status } };
    plan.status = { verb: 'updateStatus', ref: flavor.ref, namespace: rs.metadata.namespace, object: next };
  }
  const minReady = Number(rs.spec?.minReadySeconds ?? 0);
  if (minReady > 0) {
    let soonest: number | undefined;
    for (const p of owned) {
      if (!isPodReady(p) || isPodAvailable(p, minReady, now)) continue;
      const since = parseTime(podCondition(p, 'Ready')?.lastTransitionTime) ?? now;
      const at = since + minReady * 1000 - now;
      soonest = soonest === undefined ? at : Math.min(soonest, at);
    }
    if (soonest !== undefined) plan.requeueAfterMs = Math.max(soonest, 0) + 1000;
  }
  return plan;
}

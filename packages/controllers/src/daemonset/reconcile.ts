/**
 * DaemonSet reconcile, free of I/O, after upstream's daemon_controller.go
 * (manage, podsShouldBeOnNode, updateDaemonSetStatus) and update.go
 * (rollingUpdate with maxUnavailable or maxSurge, constructHistory,
 * cleanupHistory): one pod per node that should run it (created bound to the
 * node by node affinity for the scheduler to place), failed pods deleted,
 * duplicates and pods on nodes that may no longer keep them deleted; with
 * RollingUpdate, old pods replaced within maxUnavailable (delete, then the
 * next round creates) or maxSurge (the new pod first, the old one once the
 * new is available); OnDelete replaces only pods deleted by hand. Status
 * counts per node.
 */
import { getCondition, parseTime, type DaemonSetStatus, type Node, type Pod } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import type { EventSpec } from '../runtime/events.js';
import { isPodAvailable, isPodReady } from '../util/pod.js';
import { scaledValue } from '../util/intstr.js';
import { claimObjects } from '../history/claim.js';
import {
  CONTROLLER_REVISION_HASH_LABEL,
  REVISION_HASH_LABEL,
  claimRevisions,
  sortRevisions,
  templateOf,
  truncateHistory,
  updateRevision,
  type Revision,
} from '../history/revision.js';
import { DAEMON_SET_KIND, daemonSets, newDaemonPod, nodeShouldRunDaemonPod, podTemplate, targetNodeName, type Ds } from './placement.js';

type NamedPod = Named<Pod>;

/** Kubernetes' burstReplicas for daemon pods. */
export const BURST_REPLICAS = 250;

export interface DaemonSetInput {
  ds: Ds;
  nodes: Named<Node>[];
  /** Every pod in the set's namespace. */
  pods: NamedPod[];
  /** Every ControllerRevision in the namespace. */
  revisions: Revision[];
  now: number;
  /** False while this set's own earlier creates/deletes have not come back through the watch. */
  expectationsSatisfied: boolean;
}

export interface DaemonSetPlan {
  claims: Action[];
  revisions: Action[];
  /** Pods to create, each for a node (syncNodes). */
  creates: Array<{ action: Action & { verb: 'create' }; node: string }>;
  deletes: Array<Action & { verb: 'delete' }>;
  events: EventSpec[];
  status?: Action;
  history: Action[];
  requeueAfterMs?: number;
  hash: string;
}

const creation = (p: Pod): string => p.metadata?.creationTimestamp ?? '';
/** podByCreationTimestampAndPhase: oldest first, a Running pod before others of the same age. */
const byAge = (a: Pod, b: Pod): number => creation(a).localeCompare(creation(b)) || String(a.metadata?.name).localeCompare(String(b.metadata?.name));
const isDeletedTerminal = (p: Pod): boolean => !!p.metadata?.deletionTimestamp && (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');

export function reconcileDaemonSet(input: DaemonSetInput): DaemonSetPlan {
  const { ds, now } = input;
  const ns = ds.metadata.namespace;
  const minReady = Number(ds.spec?.minReadySeconds ?? 0);

  const podClaim = claimObjects(ds, DAEMON_SET_KIND, ds.spec?.selector, input.pods, R.pods);
  const revClaim = claimRevisions(ds, DAEMON_SET_KIND, input.revisions);
  const collisionCount = Number(ds.status?.collisionCount ?? 0);
  const up = updateRevision(ds, DAEMON_SET_KIND, revClaim.owned, input.revisions, collisionCount, (hash) => ({ [CONTROLLER_REVISION_HASH_LABEL]: hash }));
  const cur = up.update;
  const hash = cur.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? cur.metadata.labels?.[REVISION_HASH_LABEL] ?? '';
  const plan: DaemonSetPlan = { claims: [...podClaim.actions, ...revClaim.actions], revisions: up.actions, creates: [], deletes: [], events: [], history: [], hash };
  if (up.collision) {
    const status = { ...(ds.status ?? {}), collisionCount: collisionCount + 1 } as DaemonSetStatus;
    const next: Ds = { ...structuredClone(ds), status };
    plan.status = { verb: 'updateStatus', ref: daemonSets, namespace: ns, object: next };
    plan.requeueAfterMs = 0;
    return plan;
  }
  if (!ds.spec?.selector || (!ds.spec.selector.matchLabels && !ds.spec.selector.matchExpressions)) {
    plan.events.push({ type: 'Warning', reason: 'SelectingAll', message: 'This daemon set is selecting all pods. A non-empty selector is required.' });
    return plan;
  }

  // getNodesToDaemonPods: pods by the node they are for (deleted terminal pods left out).
  const byNode = new Map<string, NamedPod[]>();
  for (const p of podClaim.owned) {
    if (isDeletedTerminal(p)) continue;
    const node = targetNodeName(p);
    if (!node) continue;
    const list = byNode.get(node) ?? [];
    list.push(p);
    byNode.set(node, list);
  }
  for (const list of byNode.values()) list.sort(byAge);

  const isUpdated = (p: Pod): boolean => p.metadata?.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash;
  const strategy = ds.spec?.updateStrategy?.type ?? 'RollingUpdate';
  const rolling = ds.spec?.updateStrategy?.rollingUpdate;
  const placement = new Map(input.nodes.map((n) => [n.metadata.name, nodeShouldRunDaemonPod(n, ds)]));
  const desired = [...placement.values()].filter((p) => p.shouldRun).length;
  let maxSurge = 0;
  let maxUnavailable = 1;
  if (strategy === 'RollingUpdate') {
    try {
      maxSurge = scaledValue(rolling?.maxSurge ?? 0, desired, true);
      maxUnavailable = scaledValue(rolling?.maxUnavailable ?? 1, desired, true);
      if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    } catch {
      maxSurge = 0;
      maxUnavailable = 1;
    }
  }
  const surging = strategy === 'RollingUpdate' && maxSurge > 0;

  const toCreate: string[] = [];
  const toDelete = new Map<string, NamedPod>();
  const del = (p: NamedPod) => toDelete.set(p.metadata.name, p);

  // manage / podsShouldBeOnNode.
  if (!ds.metadata.deletionTimestamp) {
    for (const node of input.nodes) {
      const name = node.metadata.name;
      const { shouldRun, shouldContinueRunning } = placement.get(name)!;
      const daemonPods = byNode.get(name) ?? [];
      if (shouldRun && daemonPods.length === 0) {
        toCreate.push(name);
        continue;
      }
      if (shouldContinueRunning) {
        const running: NamedPod[] = [];
        for (const p of daemonPods) {
          if (p.metadata.deletionTimestamp) continue;
          if (p.status?.phase === 'Failed') {
            plan.events.push({ type: 'Warning', reason: 'FailedDaemonPod', message: `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${name}, will try to kill it` });
            del(p);
          } else if (p.status?.phase === 'Succeeded') del(p);
          else running.push(p);
        }
        if (!surging) {
          for (const p of running.slice(1)) del(p);
        } else {
          // Surging: keep the oldest updated and the oldest old pod, delete the rest.
          let keptNew = false;
          let keptOld = false;
          for (const p of running) {
            if (isUpdated(p) ? !keptNew : !keptOld) {
              if (isUpdated(p)) keptNew = true;
              else keptOld = true;
            } else del(p);
          }
        }
        continue;
      }
      if (daemonPods.length > 0) for (const p of daemonPods) if (!p.metadata.deletionTimestamp) del(p);
    }

    // rollingUpdate.
    if (strategy === 'RollingUpdate') {
      // As upstream, the nodes that have daemon pods (a node waiting for its first pod is manage's).
      const nodesOfSet = [...byNode.keys()];
      const split = (pods: NamedPod[]): { ok: boolean; newPod?: NamedPod; oldPod?: NamedPod } => {
        // findUpdatedPodsOnNode: at most one new and one old pod (terminating ones do not count).
        let newPod: NamedPod | undefined;
        let oldPod: NamedPod | undefined;
        for (const p of pods) {
          if (p.metadata.deletionTimestamp) continue;
          if (isUpdated(p)) {
            if (newPod) return { ok: false };
            newPod = p;
          } else {
            if (oldPod) return { ok: false };
            oldPod = p;
          }
        }
        return { ok: true, newPod, oldPod };
      };
      if (!surging) {
        let unavailable = 0;
        const allowed: NamedPod[] = [];
        const candidates: NamedPod[] = [];
        for (const name of nodesOfSet) {
          const { ok, newPod, oldPod } = split(byNode.get(name) ?? []);
          if (!ok) {
            unavailable++;
            continue;
          }
          if ((!oldPod && !newPod) || (oldPod && newPod)) unavailable++;
          else if (newPod) {
            if (!isPodAvailable(newPod, minReady, now)) unavailable++;
          } else if (oldPod) {
            if (!isPodAvailable(oldPod, minReady, now)) allowed.push(oldPod);
            else if (unavailable < maxUnavailable) candidates.push(oldPod);
          }
        }
        const remaining = Math.min(Math.max(maxUnavailable - unavailable, 0), candidates.length);
        for (const p of [...allowed, ...candidates.slice(0, remaining)]) del(p);
      } else {
        let surge = 0;
        const allowedNew: string[] = [];
        const candidateNew: string[] = [];
        for (const name of nodesOfSet) {
          const { ok, newPod, oldPod } = split(byNode.get(name) ?? []);
          if (!ok) {
            surge++;
            continue;
          }
          if (!placement.get(name)?.shouldRun) {
            if (oldPod) del(oldPod);
            continue;
          }
          if (!oldPod) continue;
          if (!newPod) {
            if (!isPodAvailable(oldPod, minReady, now)) allowedNew.push(name);
            else if (surge < maxSurge) candidateNew.push(name);
          } else if (!isPodAvailable(newPod, minReady, now)) surge++;
          else del(oldPod);
        }
        const remaining = Math.min(Math.max(maxSurge - surge, 0), candidateNew.length);
        for (const name of [...allowedNew, ...candidateNew.slice(0, remaining)]) if (!toCreate.includes(name)) toCreate.push(name);
      }
    }
  }

  if (input.expectationsSatisfied) {
    const template = podTemplate(ds, templateOf(cur), hash);
    for (const node of toCreate.slice(0, BURST_REPLICAS)) {
      plan.creates.push({ action: { verb: 'create', ref: R.pods, namespace: ns, object: newDaemonPod(ds, template, node) }, node });
    }
    for (const p of [...toDelete.values()].slice(0, BURST_REPLICAS)) {
      plan.deletes.push({ verb: 'delete', ref: R.pods, namespace: ns, name: p.metadata.name, uid: p.metadata.uid, reason: 'daemon set' });
    }
  }

  // updateDaemonSetStatus.
  const status: DaemonSetStatus = {
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    desiredNumberScheduled: 0,
    numberReady: 0,
    observedGeneration: Number(ds.metadata.generation ?? 0),
    updatedNumberScheduled: 0,
    numberAvailable: 0,
    numberUnavailable: 0,
    collisionCount,
  };
  let soonest: number | undefined;
  for (const node of input.nodes) {
    const { shouldRun } = placement.get(node.metadata.name)!;
    const daemonPods = byNode.get(node.metadata.name) ?? [];
    if (!shouldRun) {
      if (daemonPods.length) status.numberMisscheduled++;
      continue;
    }
    status.desiredNumberScheduled++;
    if (!daemonPods.length) continue;
    status.currentNumberScheduled++;
    const pod = daemonPods[0]!;
    if (isPodReady(pod)) {
      status.numberReady++;
      if (isPodAvailable(pod, minReady, now)) status.numberAvailable! += 1;
      else if (minReady > 0) {
        const since = parseTime(getCondition(pod.status?.conditions, 'Ready')?.lastTransitionTime) ?? now;
        const at = since + minReady * 1000 - now;
        soonest = soonest === undefined ? at : Math.min(soonest, at);
      }
    }
    if (isUpdated(pod)) status.updatedNumberScheduled! += 1;
  }
  status.numberUnavailable = status.desiredNumberScheduled - (status.numberAvailable ?? 0);
  if (ds.status?.conditions?.length) status.conditions = ds.status.conditions;
  if (!sameStatus(status, ds.status)) {
    const next: Ds = { ...structuredClone(ds), status };
    plan.status = { verb: 'updateStatus', ref: daemonSets, namespace: ns, object: next };
  }
  if (soonest !== undefined) plan.requeueAfterMs = Math.max(soonest, 0) + 1000;

  // cleanupHistory: revisions no live pod uses, beyond revisionHistoryLimit.
  const live = new Set<string>([cur.metadata.name]);
  const hashes = new Set(podClaim.owned.map((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL]).filter((h): h is string => !!h));
  for (const r of revClaim.owned) if (hashes.has(r.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? '')) live.add(r.metadata.name);
  plan.history = truncateHistory(sortRevisions(revClaim.owned).filter((r) => r.metadata.uid), live, Number(ds.spec?.revisionHistoryLimit ?? 10));
  return plan;
}

const KEYS = ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady', 'observedGeneration', 'updatedNumberScheduled', 'numberAvailable', 'numberUnavailable', 'collisionCount'] as const;
function sameStatus(a: DaemonSetStatus, b: DaemonSetStatus | undefined): boolean {
  return !!b && KEYS.every((k) => Number(a[k] ?? 0) === Number(b[k] ?? 0));
}

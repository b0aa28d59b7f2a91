/**
 * The disruption controller's math, as upstream's DisruptionController
 * (pkg/controller/disruption/disruption.go), pure: a PodDisruptionBudget's
 * status from the pods it selects and the scale of their controllers.
 *
 * - expectedPods / desiredHealthy: with an integer minAvailable, desired is that
 *   number and expected the pods selected; with a percentage or maxUnavailable,
 *   expected is the sum of the controllers' scales (Deployment over its
 *   ReplicaSet, ReplicaSet, ReplicationController, StatefulSet) and desired the
 *   percentage of it rounded up, or expected − maxUnavailable (rounded up);
 * - currentHealthy: ready pods that are not terminating and not in
 *   disruptedPods (recent evictions the controller has not seen go yet);
 * - disruptedPods: entries are dropped when the pod is gone or terminating, or
 *   after the 2-minute deletion timeout (then the status is recomputed);
 * - disruptionsAllowed = currentHealthy − desiredHealthy (never below 0, 0 with no
 *   expected pods), condition DisruptionAllowed SufficientPods/InsufficientPods;
 *   an error makes it fail safe: 0 allowed, condition False SyncFailed.
 */
import {
  controllerOf,
  labelSelectorAsSelector,
  parseTime,
  selectorMatches,
  setCondition,
  type Condition,
  type IntOrString,
  type Pod,
  type PodDisruptionBudget,
  type PodDisruptionBudgetStatus,
} from '@mkube/api';
import { isPodReady } from '../util/pod.js';
import { scaledValue } from '../util/intstr.js';
import { semanticEqual } from '../util/equal.js';

/** Upstream's DeletionTimeout: an eviction not followed by the pod's deletion within this is forgotten. */
export const DELETION_TIMEOUT_MS = 2 * 60 * 1000;

/** A controller of selected pods, by kind/namespace/name, with its scale (spec.replicas). */
export interface ScaleSource {
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  replicas: number;
  /** A ReplicaSet's controlling owner (the Deployment whose scale counts instead). */
  controller?: { kind: string; name: string; uid?: string };
}

export interface DisruptionInput {
  pdb: PodDisruptionBudget;
  /** Pods of the PDB's namespace (the selector is applied here). */
  pods: readonly Pod[];
  /** Finds a pod controller's scale: undefined when the controller does not exist. */
  scaleOf: (kind: string, namespace: string, name: string) => ScaleSource | undefined;
  now: number;
}

export interface DisruptionPlan {
  /** The new status (undefined: nothing to write). */
  status?: PodDisruptionBudgetStatus;
  /** Recompute at this time (an entry of disruptedPods expires). */
  recheckAtMs?: number;
  /** Warnings upstream records as events (reason, message). */
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
}

class DisruptionError extends Error {
  readonly code = 'DISRUPTION_CALCULATION_FAILED';
}

/** Pods the budget's selector selects (nil: none; empty: all of the namespace), as getPodsForPdb. */
export function podsForPdb(pdb: PodDisruptionBudget, pods: readonly Pod[]): Pod[] {
  let sel;
  try {
    sel = labelSelectorAsSelector(pdb.spec?.selector);
  } catch {
    return [];
  }
  return pods.filter((p) => p.metadata?.namespace === pdb.metadata?.namespace && selectorMatches(sel, p.metadata?.labels ?? {}));
}

const isPercent = (v: IntOrString | undefined): boolean => typeof v === 'string' && v.endsWith('%');

/** getExpectedScale: the sum of the scales of the pods' controllers, each counted once. */
function expectedScale(pods: readonly Pod[], scaleOf: DisruptionInput['scaleOf']): { expected: number; unmanaged: string[] } {
  const counted = new Map<string, number>();
  const unmanaged: string[] = [];
  for (const pod of pods) {
    const ref = controllerOf(pod);
    if (!ref) {
      unmanaged.push(pod.metadata?.name ?? '');
      continue;
    }
    const ns = pod.metadata?.namespace ?? '';
    let src = scaleOf(ref.kind, ns, ref.name);
    if (src && ref.uid && src.uid && src.uid !== ref.uid) src = undefined;
    // A ReplicaSet owned by a Deployment: the Deployment's scale (getPodDeployment).
    if (src && src.kind === 'ReplicaSet' && src.controller?.kind === 'Deployment') {
      const dep = scaleOf('Deployment', ns, src.controller.name);
      if (dep && (!src.controller.uid || !dep.uid || dep.uid === src.controller.uid)) src = dep;
    }
    if (!src) throw new DisruptionError(`found no controllers for pod "${pod.metadata?.name ?? ''}"`);
    counted.set(`${src.kind}/${src.uid ?? src.name}`, src.replicas);
  }
  let expected = 0;
  for (const n of counted.values()) expected += n;
  return { expected, unmanaged };
}

/** buildDisruptedPodMap: the still-pending evictions and when the first of them expires. */
function disruptedPodMap(status: PodDisruptionBudgetStatus | undefined, pods: readonly Pod[], now: number): { map: Record<string, string>; recheckAtMs?: number } {
  const byName = new Map(pods.map((p) => [p.metadata?.name ?? '', p]));
  const map: Record<string, string> = {};
  let recheckAtMs: number | undefined;
  for (const [name, at] of Object.entries(status?.disruptedPods ?? {})) {
    const pod = byName.get(name);
    if (!pod || pod.metadata?.deletionTimestamp) continue;
    const t = parseTime(at) ?? 0;
    const expires = t + DELETION_TIMEOUT_MS;
    if (expires < now) continue; // the eviction did not delete it: count the pod again
    map[name] = at;
    recheckAtMs = recheckAtMs === undefined ? expires : Math.min(recheckAtMs, expires);
  }
  return { map, recheckAtMs };
}

function withStatus(pdb: PodDisruptionBudget, s: { currentHealthy: number; desiredHealthy: number; expectedPods: number; disruptedPods: Record<string, string> }, now: number): PodDisruptionBudgetStatus {
  let allowed = s.currentHealthy - s.desiredHealthy;
  if (s.expectedPods <= 0 || allowed <= 0) allowed = 0;
  const generation = pdb.metadata?.generation ?? 0;
  const cond: Condition =
    allowed > 0
      ? { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', observedGeneration: generation, lastTransitionTime: '' }
      : { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', observedGeneration: generation, lastTransitionTime: '' };
  const status: PodDisruptionBudgetStatus = {
    observedGeneration: generation,
    disruptionsAllowed: allowed,
    currentHealthy: s.currentHealthy,
    desiredHealthy: s.desiredHealthy,
    expectedPods: s.expectedPods,
    conditions: setCondition(pdb.status?.conditions, cond, now),
  };
  if (Object.keys(s.disruptedPods).length > 0) status.disruptedPods = s.disruptedPods;
  return status;
}

/** failSafe: no disruption allowed, DisruptionAllowed=False SyncFailed with the error. */
export function failSafeStatus(pdb: PodDisruptionBudget, message: string, now: number): PodDisruptionBudgetStatus {
  const generation = pdb.metadata?.generation ?? 0;
  const cond: Condition = { type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message, observedGeneration: generation, lastTransitionTime: '' };
  return {
    ...(pdb.status ?? { currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptionsAllowed: 0 }),
    observedGeneration: generation,
    disruptionsAllowed: 0,
    conditions: setCondition(pdb.status?.conditions, cond, now),
  };
}

const sameStatus = (a: PodDisruptionBudgetStatus | undefined, b: PodDisruptionBudgetStatus): boolean => {
  const norm = (s: PodDisruptionBudgetStatus | undefined) => ({ ...s, disruptedPods: s?.disruptedPods && Object.keys(s.disruptedPods).length ? s.disruptedPods : undefined });
  return semanticEqual(norm(a), norm(b));
};

/** trySync: the status the budget should have. */
export function reconcileDisruption(input: DisruptionInput): DisruptionPlan {
  const { pdb, now } = input;
  const events: DisruptionPlan['events'] = [];
  const pods = podsForPdb(pdb, input.pods);
  if (pods.length === 0) events.push({ type: 'Normal', reason: 'NoPods', message: 'No matching pods found' });
  let status: PodDisruptionBudgetStatus;
  let recheckAtMs: number | undefined;
  try {
    const spec = pdb.spec ?? {};
    let expectedPods: number;
    let desiredHealthy: number;
    if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
      const { expected, unmanaged } = expectedScale(pods, input.scaleOf);
      if (unmanaged.length > 0) events.push(unmanagedEvent(pdb));
      expectedPods = expected;
      desiredHealthy = Math.max(0, expected - scaledValue(spec.maxUnavailable, expected, true));
    } else if (isPercent(spec.minAvailable)) {
      const { expected, unmanaged } = expectedScale(pods, input.scaleOf);
      if (unmanaged.length > 0) events.push(unmanagedEvent(pdb));
      expectedPods = expected;
      desiredHealthy = scaledValue(spec.minAvailable, expected, true);
    } else {
      expectedPods = pods.length;
      desiredHealthy = scaledValue(spec.minAvailable ?? 0, pods.length, true);
    }
    const disrupted = disruptedPodMap(pdb.status, pods, now);
    recheckAtMs = disrupted.recheckAtMs;
    const currentHealthy = pods.filter((p) => !p.metadata?.deletionTimestamp && !((p.metadata?.name ?? '') in disrupted.map) && isPodReady(p)).length;
    status = withStatus(pdb, { currentHealthy, desiredHealthy, expectedPods, disruptedPods: disrupted.map }, now);
  } catch (err) {
    const message = (err as Error).message;
    events.push({ type: 'Warning', reason: 'CalculateExpectedPodCountFailed', message: `Failed to calculate the number of expected pods: ${message}` });
    status = failSafeStatus(pdb, message, now);
  }
  return { status: sameStatus(pdb.status, status) ? undefined : status, recheckAtMs, events };
}

const unmanagedEvent = (pdb: PodDisruptionBudget) => ({
  type: 'Warning' as const,
  reason: 'UnmanagedPods',
  message: `Pods selected by this PodDisruptionBudget (selector: ${JSON.stringify(pdb.spec?.selector ?? null)}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.`,
});

/**
 * The pod garbage collector's decisions, as upstream's podgc (gc_controller.go),
 * pure over the pod and node caches: which pods to force-delete and why.
 *
 * - terminated (Succeeded/Failed) pods beyond the threshold, evicted ones first, then oldest;
 * - terminating pods on a NotReady node with the `node.kubernetes.io/out-of-service` taint;
 * - pods bound to a node that no longer exists (absence confirmed after a quarantine), marked
 *   Failed with DisruptionTarget (DeletionByPodGC, "PodGC: node no longer exists");
 * - terminating pods that were never scheduled.
 */
import { isConditionTrue, parseTime, type Node, type Pod, type PodCondition } from '@mkube/api';

export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';
/** Upstream's gcCheckPeriod and quarantineTime. */
export const GC_CHECK_PERIOD_MS = 20_000;
export const QUARANTINE_MS = 40_000;
/** --terminated-pod-gc-threshold's default. */
export const DEFAULT_TERMINATED_POD_GC_THRESHOLD = 12_500;

export type PodGcReason = 'terminated' | 'orphaned' | 'terminating_out_of_service' | 'unscheduled_terminating';

export interface PodGcDecision {
  pod: Pod;
  reason: PodGcReason;
  /** The condition added with phase Failed before the delete (non-terminal pods only). */
  condition?: PodCondition;
}

export interface PodGcInput {
  pods: readonly Pod[];
  nodes: readonly Node[];
  /** Nodes whose absence has been confirmed (quarantine over and a live GET said 404). */
  deletedNodes: ReadonlySet<string>;
  /** 0 or less disables the terminated-pod collection, as upstream. */
  terminatedPodThreshold: number;
}

export interface PodGcPlan {
  deletions: PodGcDecision[];
  /** Node names pods are bound to that are not in the cache: candidates for the quarantine. */
  missingNodes: string[];
}

const isTerminated = (p: Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const created = (p: Pod): number => parseTime(p.metadata?.creationTimestamp) ?? 0;

/** byEvictionAndCreationTimestamp: evicted pods first, then by creation time, then name. */
function byEvictionAndCreation(a: Pod, b: Pod): number {
  const ea = a.status?.reason === 'Evicted' ? 0 : 1;
  const eb = b.status?.reason === 'Evicted' ? 0 : 1;
  if (ea !== eb) return ea - eb;
  const d = created(a) - created(b);
  if (d !== 0) return d;
  return (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1;
}

export const nodeLostCondition = (): PodCondition => ({ type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists' });

export function planPodGc(input: PodGcInput): PodGcPlan {
  const deletions: PodGcDecision[] = [];
  const seen = new Set<string>();
  const add = (d: PodGcDecision) => {
    const k = `${d.pod.metadata?.namespace}/${d.pod.metadata?.name}`;
    if (seen.has(k)) return;
    seen.add(k);
    deletions.push(d);
  };

  // gcTerminated
  if (input.terminatedPodThreshold > 0) {
    const terminated = input.pods.filter(isTerminated);
    const excess = terminated.length - input.terminatedPodThreshold;
    if (excess > 0) for (const pod of [...terminated].sort(byEvictionAndCreation).slice(0, excess)) add({ pod, reason: 'terminated' });
  }

  // gcTerminating: terminating pods on out-of-service, not-ready nodes.
  const nodes = new Map(input.nodes.map((n) => [n.metadata?.name ?? '', n]));
  const outOfService = new Set(
    input.nodes
      .filter((n) => !isConditionTrue(n.status?.conditions, 'Ready') && (n.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT))
      .map((n) => n.metadata?.name ?? ''),
  );
  for (const pod of input.pods) {
    if (pod.metadata?.deletionTimestamp && pod.spec?.nodeName && outOfService.has(pod.spec.nodeName)) add({ pod, reason: 'terminating_out_of_service' });
  }

  // gcOrphaned
  const missing = new Set<string>();
  for (const pod of input.pods) {
    const node = pod.spec?.nodeName;
    if (!node || nodes.has(node)) continue;
    missing.add(node);
    if (input.deletedNodes.has(node)) add({ pod, reason: 'orphaned', condition: isTerminated(pod) ? undefined : nodeLostCondition() });
  }

  // gcUnscheduledTerminating
  for (const pod of input.pods) {
    if (pod.metadata?.deletionTimestamp && !pod.spec?.nodeName) add({ pod, reason: 'unscheduled_terminating' });
  }
  return { deletions, missingNodes: [...missing].sort() };
}

/**
 * The quarantine of missing nodes: a node first seen missing at t is a
 * candidate for the live check once t + quarantine has passed.
 */
export class NodeQuarantine {
  private readonly since = new Map<string, number>();
  constructor(private readonly quarantineMs = QUARANTINE_MS) {}

  /** Records the nodes missing now (forgetting ones that reappeared); returns those due for a live check. */
  due(missing: readonly string[], now: number): string[] {
    const cur = new Set(missing);
    for (const n of [...this.since.keys()]) if (!cur.has(n)) this.since.delete(n);
    const out: string[] = [];
    for (const n of missing) {
      const t = this.since.get(n);
      if (t === undefined) this.since.set(n, now);
      else if (now - t >= this.quarantineMs) out.push(n);
    }
    return out;
  }

  forget(node: string): void {
    this.since.delete(node);
  }
}

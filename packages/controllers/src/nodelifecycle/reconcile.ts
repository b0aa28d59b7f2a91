/**
 * Node lifecycle, free of I/O: a node whose kubelet stopped renewing its
 * Lease (kube-node-lease/<node>) for the grace period becomes Ready=Unknown
 * and gets the unreachable taints; its pods become Ready=False and, once their
 * toleration of the NoExecute taint runs out, are evicted. A renewed lease
 * lifts the taints.
 *
 * Health is judged by when this controller saw the lease (or the node's
 * heartbeat) change, on its own clock, as Kubernetes' nodeHealthMap does, so
 * clock skew between nodes and the control plane does not matter.
 */
import { formatTime, getCondition, matchingTolerations, parseTime, type Lease, type Node, type NodeCondition, type Pod, type PodCondition } from '@mkube/api';
import type { Action, Named, Taint } from '../types.js';
import { R } from '../types.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
const NODE_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeHealth {
  /** The lease renewTime and Ready heartbeat last seen. */
  renewTime?: string;
  heartbeat?: string;
  /** When (controller clock) one of them last changed. */
  probeAt: number;
}

export interface NodeLifecycleConfig {
  gracePeriodMs: number;
  /** Toleration seconds for pods without a toleration of the unreachable NoExecute taint. */
  defaultTolerationSeconds: number;
}

export interface NodeInput {
  node: Named<Node>;
  lease: Lease | undefined;
  /** Pods bound to the node. */
  pods: Named<Pod>[];
  health: NodeHealth | undefined;
  now: number;
  config: NodeLifecycleConfig;
}

export interface NodePlan {
  actions: Action[];
  health: NodeHealth;
  requeueAfterMs?: number;
  /** True while the node counts as unreachable. */
  unreachable: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

export function observeHealth(prev: NodeHealth | undefined, node: Node, lease: Lease | undefined, now: number): NodeHealth {
  const renewTime = lease?.spec?.renewTime;
  const ready = getCondition(node.status?.conditions, 'Ready');
  const heartbeat = ready?.lastHeartbeatTime;
  if (!prev) return { renewTime, heartbeat, probeAt: now };
  if (prev.renewTime !== renewTime || prev.heartbeat !== heartbeat) return { renewTime, heartbeat, probeAt: now };
  return prev;
}

/**
 * How long a pod may stay on a node with this NoExecute taint: undefined
 * means forever (a matching toleration without tolerationSeconds); pods with
 * no matching toleration get the default (the DefaultTolerationSeconds
 * admission plugin's 300 s in Kubernetes).
 */
export function tolerationSecondsFor(pod: Pod, taint: Taint, defaultSeconds: number): number | undefined {
  const matching = matchingTolerations(pod.spec?.tolerations, taint);
  if (matching.length === 0) return defaultSeconds;
  let min: number | undefined;
  for (const t of matching) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    const s = Math.max(0, Number(t.tolerationSeconds));
    min = min === undefined ? s : Math.min(min, s);
  }
  if (min === undefined) return undefined;
  return min;
}

export function reconcileNode(input: NodeInput): NodePlan {
  const { node, now, config } = input;
  const health = observeHealth(input.health, node, input.lease, now);
  const actions: Action[] = [];
  const unreachable = now - health.probeAt > config.gracePeriodMs;
  const taints = node.spec?.taints ?? [];
  const hasUnreachable = taints.some((t) => t.key === TAINT_UNREACHABLE);
  let requeueAfterMs: number | undefined;

  if (!unreachable) {
    if (hasUnreachable) {
      const next = clone(node);
      next.spec = { ...next.spec, taints: taints.filter((t) => t.key !== TAINT_UNREACHABLE) };
      actions.push({ verb: 'update', ref: R.nodes, object: next });
    }
    requeueAfterMs = health.probeAt + config.gracePeriodMs - now + 1000;
    return { actions, health, requeueAfterMs, unreachable };
  }

  // Conditions: everything the kubelet reports becomes Unknown.
  const conds: NodeCondition[] = clone(node.status?.conditions ?? []);
  let condsChanged = false;
  const nowStr = formatTime(now);
  for (const type of NODE_CONDITIONS) {
    const c = conds.find((x) => x.type === type);
    if (!c) {
      conds.push({ type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: nowStr, lastTransitionTime: nowStr });
      condsChanged = true;
    } else if (c.status !== 'Unknown') {
      c.status = 'Unknown';
      c.reason = 'NodeStatusUnknown';
      c.message = 'Kubelet stopped posting node status.';
      c.lastTransitionTime = nowStr;
      condsChanged = true;
    }
  }
  let taintTime = now;
  if (!hasUnreachable || !taints.some((t) => t.key === TAINT_UNREACHABLE && t.effect === 'NoExecute')) {
    const next = clone(node);
    const kept = taints.filter((t) => t.key !== TAINT_UNREACHABLE && t.key !== TAINT_NOT_READY);
    next.spec = { ...(next.spec ?? {}), taints: [...kept, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: nowStr }] };
    actions.push({ verb: 'update', ref: R.nodes, object: next });
  } else {
    const t = taints.find((x) => x.key === TAINT_UNREACHABLE && x.effect === 'NoExecute');
    taintTime = parseTime(t?.timeAdded) ?? now;
  }
  if (condsChanged) {
    const next = clone(node);
    next.status = { ...(next.status ?? {}), conditions: conds };
    actions.push({ verb: 'updateStatus', ref: R.nodes, object: next });
  }

  const noExecute: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute' };
  for (const pod of input.pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const seconds = tolerationSecondsFor(pod, noExecute, config.defaultTolerationSeconds);
    if (seconds !== undefined) {
      const due = taintTime + seconds * 1000;
      if (due <= now) {
        actions.push({ verb: 'delete', ref: R.pods, namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, reason: 'NodeUnreachable eviction' });
        continue;
      }
      requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, due - now);
    }
    const pconds: PodCondition[] = clone(pod.status?.conditions ?? []);
    const ready = pconds.find((c) => c.type === 'Ready');
    if (ready?.status === 'False') continue;
    if (ready) {
      ready.status = 'False';
      ready.reason = 'NodeNotReady';
      ready.message = `Node ${node.metadata.name} is unreachable`;
      ready.lastTransitionTime = nowStr;
    } else pconds.push({ type: 'Ready', status: 'False', reason: 'NodeNotReady', lastTransitionTime: nowStr });
    const next = clone(pod);
    next.status = { ...(next.status ?? {}), conditions: pconds };
    actions.push({ verb: 'updateStatus', ref: R.pods, namespace: pod.metadata.namespace, object: next });
  }
  // Check again for renewal at least every few seconds while unreachable.
  requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, 5000);
  return { actions, health, requeueAfterMs, unreachable };
}

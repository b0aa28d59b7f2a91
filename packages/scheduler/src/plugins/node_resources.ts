import { MAX_NODE_SCORE, Status, type FilterPlugin, type ScorePlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';

/**
 * The reasons a pod does not fit a node's allocatable, in upstream's order.
 * `unresolvable` is set when a request exceeds the node's whole allocatable:
 * evicting pods cannot help there.
 */
export function insufficientResources(pod: PodInfo, node: NodeInfo, out?: { unresolvable: boolean }): string[] {
  const reasons: string[] = [];
  const alloc = node.allocatable;
  const used = node.requested;
  if (node.pods.length + 1 > alloc.allowedPodNumber) reasons.push('Too many pods');
  const req = pod.requests;
  if (req.milliCPU === 0 && req.memory === 0 && req.ephemeralStorage === 0 && !req.scalar) return reasons;
  let unresolvable = false;
  if (req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - used.milliCPU) {
    reasons.push('Insufficient cpu');
    unresolvable ||= req.milliCPU > alloc.milliCPU;
  }
  if (req.memory > 0 && req.memory > alloc.memory - used.memory) {
    reasons.push('Insufficient memory');
    unresolvable ||= req.memory > alloc.memory;
  }
  if (req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage) {
    reasons.push('Insufficient ephemeral-storage');
    unresolvable ||= req.ephemeralStorage > alloc.ephemeralStorage;
  }
  if (req.scalar) {
    for (const [name, v] of req.scalar) {
      if (v > 0 && v > alloc.getScalar(name) - used.getScalar(name)) {
        reasons.push(`Insufficient ${name}`);
        unresolvable ||= v > alloc.getScalar(name);
      }
    }
  }
  if (out) out.unresolvable = unresolvable;
  return reasons;
}

/** Allocation-free check of the common case. */
function fits(pod: PodInfo, node: NodeInfo): boolean {
  const alloc = node.allocatable;
  const used = node.requested;
  const req = pod.requests;
  if (node.pods.length + 1 > alloc.allowedPodNumber) return false;
  if (req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - used.milliCPU) return false;
  if (req.memory > 0 && req.memory > alloc.memory - used.memory) return false;
  if (req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage) return false;
  if (req.scalar) {
    for (const [name, v] of req.scalar) if (v > 0 && v > alloc.getScalar(name) - used.getScalar(name)) return false;
  }
  return true;
}

/** NodeResourcesFit: requests must fit allocatable; scores LeastAllocated (cpu and memory, weight 1 each). */
export class NodeResourcesFit implements FilterPlugin, ScorePlugin {
  readonly name = 'NodeResourcesFit';
  events() { return ['NodeAdd', 'NodeUpdate', 'AssignedPodDelete', 'AssignedPodUpdate'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (fits(pod, node)) return null;
    const out = { unresolvable: false };
    const reasons = insufficientResources(pod, node, out);
    if (reasons.length === 0) return null;
    return out.unresolvable ? Status.unresolvable(...reasons) : Status.unschedulable(...reasons);
  }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const a = node.allocatable;
    const cpu = leastAllocated(node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU, a.milliCPU);
    const mem = leastAllocated(node.nonZeroRequested.memory + pod.nonZero.memory, a.memory);
    return Math.trunc((cpu + mem) / 2);
  }
}

function leastAllocated(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** NodeResourcesBalancedAllocation: favours nodes whose cpu and memory use stay balanced. */
export class NodeResourcesBalancedAllocation implements ScorePlugin {
  readonly name = 'NodeResourcesBalancedAllocation';

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const a = node.allocatable;
    const fractions: number[] = [];
    if (a.milliCPU > 0) fractions.push(Math.min(1, (node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU) / a.milliCPU));
    if (a.memory > 0) fractions.push(Math.min(1, (node.nonZeroRequested.memory + pod.nonZero.memory) / a.memory));
    let std = 0;
    if (fractions.length === 2) {
      std = Math.abs(fractions[0]! - fractions[1]!) / 2;
    } else if (fractions.length > 2) {
      const mean = fractions.reduce((x, y) => x + y, 0) / fractions.length;
      std = Math.sqrt(fractions.reduce((x, f) => x + (f - mean) ** 2, 0) / fractions.length);
    }
    return Math.trunc((1 - std) * MAX_NODE_SCORE);
  }
}

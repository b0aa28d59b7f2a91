import {
  MAX_CUSTOM_PRIORITY_SCORE, type NodeResourcesBalancedAllocationArgs, type NodeResourcesFitArgs, type ResourceSpec, type UtilizationShapePoint,
} from '../config/plugin_args.js';
import { MAX_NODE_SCORE, Status, type EnqueueExtensions, type FilterPlugin, type ScorePlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';

/**
 * The reasons a pod does not fit a node's allocatable, in upstream's order.
 * `unresolvable` is set when a request exceeds the node's whole allocatable:
 * evicting pods cannot help there.
 */
export function insufficientResources(pod: PodInfo, node: NodeInfo, out?: { unresolvable: boolean }, ignored: (name: string) => boolean = () => false): string[] {
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
      if (v > 0 && !ignored(name) && v > alloc.getScalar(name) - used.getScalar(name)) {
        reasons.push(`Insufficient ${name}`);
        unresolvable ||= v > alloc.getScalar(name);
      }
    }
  }
  if (out) out.unresolvable = unresolvable;
  return reasons;
}

/** Allocation-free check of the common case. */
function fits(pod: PodInfo, node: NodeInfo, ignored: (name: string) => boolean): boolean {
  const alloc = node.allocatable;
  const used = node.requested;
  const req = pod.requests;
  if (node.pods.length + 1 > alloc.allowedPodNumber) return false;
  if (req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - used.milliCPU) return false;
  if (req.memory > 0 && req.memory > alloc.memory - used.memory) return false;
  if (req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage) return false;
  if (req.scalar) {
    for (const [name, v] of req.scalar) if (v > 0 && !ignored(name) && v > alloc.getScalar(name) - used.getScalar(name)) return false;
  }
  return true;
}

/**
 * What a node would have requested of a resource with the pod on it, and its
 * allocatable (upstream's calculateResourceAllocatableRequest): cpu and memory
 * count non-zero defaults; an extended resource the pod does not request is
 * left out (allocatable 0).
 */
function requestedAndAllocatable(name: string, pod: PodInfo, node: NodeInfo): [number, number] {
  const a = node.allocatable;
  switch (name) {
    case 'cpu': return [node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU, a.milliCPU];
    case 'memory': return [node.nonZeroRequested.memory + pod.nonZero.memory, a.memory];
    case 'ephemeral-storage': return [node.requested.ephemeralStorage + pod.requests.ephemeralStorage, a.ephemeralStorage];
    default: {
      const want = pod.requests.getScalar(name);
      if (want === 0) return [0, 0];
      return [node.requested.getScalar(name) + want, a.getScalar(name)];
    }
  }
}

function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

function mostRequested(requested: number, capacity: number): number {
  if (capacity === 0) return 0;
  return Math.trunc((Math.min(requested, capacity) * MAX_NODE_SCORE) / capacity);
}

/** A piecewise-linear function of utilization (0-100) through the shape's points, scores scaled to 0-100. */
function brokenLinear(shape: readonly UtilizationShapePoint[]): (utilization: number) => number {
  const pts = shape.map((p) => ({ u: p.utilization, s: (p.score * MAX_NODE_SCORE) / MAX_CUSTOM_PRIORITY_SCORE }));
  return (u) => {
    for (let i = 0; i < pts.length; i++) {
      if (u <= pts[i]!.u) {
        if (i === 0) return pts[0]!.s;
        const a = pts[i - 1]!;
        const b = pts[i]!;
        return a.s + Math.trunc(((b.s - a.s) * (u - a.u)) / (b.u - a.u));
      }
    }
    return pts[pts.length - 1]!.s;
  };
}

/** NodeResourcesFit: requests must fit allocatable; scores by the configured strategy (default LeastAllocated over cpu and memory). */
export class NodeResourcesFit implements FilterPlugin, ScorePlugin, EnqueueExtensions {
  readonly name = 'NodeResourcesFit';
  private readonly ignored: (name: string) => boolean;
  private readonly resources: readonly ResourceSpec[];
  private readonly scorer: (requested: number, capacity: number) => number;
  private readonly rounded: boolean;

  constructor(args: Partial<NodeResourcesFitArgs> = {}) {
    const ignoredNames = new Set(args.ignoredResources ?? []);
    const ignoredGroups = new Set(args.ignoredResourceGroups ?? []);
    this.ignored = (n) => ignoredNames.has(n) || ignoredGroups.has(n.split('/')[0]!);
    const strategy = args.scoringStrategy ?? { type: 'LeastAllocated', resources: [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }] };
    this.resources = strategy.resources;
    this.rounded = strategy.type === 'RequestedToCapacityRatio';
    if (strategy.type === 'MostAllocated') this.scorer = mostRequested;
    else if (strategy.type === 'RequestedToCapacityRatio') {
      const f = brokenLinear(strategy.requestedToCapacityRatio?.shape ?? [{ utilization: 0, score: 10 }, { utilization: 100, score: 0 }]);
      this.scorer = (req, cap) => (cap === 0 || req > cap ? f(100) : f(Math.trunc((req * 100) / cap)));
    } else this.scorer = leastRequested;
  }

  eventsToRegister() { return ['NodeAdd', 'NodeUpdate', 'AssignedPodDelete', 'AssignedPodUpdate'] as const; }
  scoreExtensions(): null { return null; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (fits(pod, node, this.ignored)) return null;
    const out = { unresolvable: false };
    const reasons = insufficientResources(pod, node, out, this.ignored);
    if (reasons.length === 0) return null;
    return out.unresolvable ? Status.unresolvable(...reasons) : Status.unschedulable(...reasons);
  }

  /** The weighted mean of the per-resource scores over the resources the node has. */
  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    let total = 0;
    let weights = 0;
    for (const r of this.resources) {
      const [req, alloc] = requestedAndAllocatable(r.name, pod, node);
      if (alloc === 0) continue;
      total += this.scorer(req, alloc) * r.weight;
      weights += r.weight;
    }
    if (weights === 0) return 0;
    return this.rounded ? Math.round(total / weights) : Math.trunc(total / weights);
  }
}

/** NodeResourcesBalancedAllocation: favours nodes whose use of the configured resources (default cpu and memory) stays balanced. */
export class NodeResourcesBalancedAllocation implements ScorePlugin {
  readonly name = 'NodeResourcesBalancedAllocation';
  private readonly resources: readonly string[];

  constructor(args: Partial<NodeResourcesBalancedAllocationArgs> = {}) {
    this.resources = (args.resources ?? [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }]).map((r) => r.name);
  }

  scoreExtensions(): null { return null; }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const fractions: number[] = [];
    for (const name of this.resources) {
      const [req, alloc] = requestedAndAllocatable(name, pod, node);
      if (alloc > 0) fractions.push(Math.min(1, req / alloc));
    }
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

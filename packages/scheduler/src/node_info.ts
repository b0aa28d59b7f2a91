/**
 * PodInfo (a pod with its parsed requests and affinity terms, computed once)
 * and NodeInfo (a node with the pods on it, their summed requests and used
 * host ports) — the scheduler cache's unit, cloned into each cycle's snapshot.
 */
import { compileLabelSelector, type LabelMatcher } from './selectors.js';
import { computePodResources, nodeAllocatable, Resource } from './resources.js';
import type { SchedulerNode, SchedulerPod, PodAffinityTerm, WeightedPodAffinityTerm } from './types.js';
import { podId, podKey, podPriority } from './types.js';

export interface AffinityTerm {
  /** Namespaces the term selects; `null` means every namespace. */
  namespaces: Set<string> | null;
  /** A non-empty namespaceSelector: namespaces whose labels it matches are selected too. */
  namespaceSelector: LabelMatcher | null;
  selector: LabelMatcher;
  topologyKey: string;
}

export interface WeightedAffinityTerm extends AffinityTerm {
  weight: number;
}

function compileTerm(pod: SchedulerPod, t: PodAffinityTerm): AffinityTerm {
  let namespaces: Set<string> | null = new Set(t.namespaces ?? []);
  const nsSel = t.namespaceSelector;
  let namespaceSelector: LabelMatcher | null = null;
  if (nsSel && Object.keys(nsSel.matchLabels ?? {}).length === 0 && (nsSel.matchExpressions ?? []).length === 0) {
    namespaces = null; // an empty namespaceSelector selects all namespaces
  } else if (nsSel) {
    namespaceSelector = compileLabelSelector(nsSel);
  } else if (namespaces.size === 0) {
    namespaces.add(pod.metadata.namespace ?? 'default');
  }
  // matchLabelKeys/mismatchLabelKeys are already in the selector: the API server merges them into
  // it when the pod is created (upstream's pod strategy), so the scheduler reads the selector alone.
  return { namespaces, namespaceSelector, selector: compileLabelSelector(t.labelSelector), topologyKey: t.topologyKey };
}

function compileWeighted(pod: SchedulerPod, ts: WeightedPodAffinityTerm[] | undefined): WeightedAffinityTerm[] {
  return (ts ?? []).map((w) => ({ ...compileTerm(pod, w.podAffinityTerm), weight: w.weight }));
}

/** Labels of a namespace, for namespaceSelector; undefined when unknown. */
export type NamespaceLabels = (namespace: string) => Record<string, string> | undefined;

export function termMatches(term: AffinityTerm, pod: SchedulerPod, nsLabels?: NamespaceLabels): boolean {
  if (term.namespaces) {
    const ns = pod.metadata.namespace ?? 'default';
    if (!term.namespaces.has(ns)) {
      if (!term.namespaceSelector || !nsLabels) return false;
      const labels = nsLabels(ns);
      if (!labels || !term.namespaceSelector(labels)) return false;
    }
  }
  return term.selector(pod.metadata.labels);
}

export class PodInfo {
  readonly key: string;
  readonly id: string;
  readonly priority: number;
  readonly requests: Resource;
  readonly nonZero: Resource;
  readonly requiredAffinityTerms: AffinityTerm[];
  readonly requiredAntiAffinityTerms: AffinityTerm[];
  readonly preferredAffinityTerms: WeightedAffinityTerm[];
  readonly preferredAntiAffinityTerms: WeightedAffinityTerm[];
  /** "proto/hostIP/hostPort" of every host port the pod asks for. */
  readonly hostPorts: string[];

  constructor(readonly pod: SchedulerPod) {
    this.key = podKey(pod);
    this.id = podId(pod);
    this.priority = podPriority(pod);
    const r = computePodResources(pod);
    this.requests = r.requests;
    this.nonZero = r.nonZero;
    const pa = pod.spec.affinity?.podAffinity;
    const paa = pod.spec.affinity?.podAntiAffinity;
    this.requiredAffinityTerms = (pa?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(pod, t));
    this.requiredAntiAffinityTerms = (paa?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(pod, t));
    this.preferredAffinityTerms = compileWeighted(pod, pa?.preferredDuringSchedulingIgnoredDuringExecution);
    this.preferredAntiAffinityTerms = compileWeighted(pod, paa?.preferredDuringSchedulingIgnoredDuringExecution);
    this.hostPorts = [];
    for (const c of pod.spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        this.hostPorts.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
      }
    }
  }

  get hasAffinity(): boolean {
    return this.requiredAffinityTerms.length + this.requiredAntiAffinityTerms.length +
      this.preferredAffinityTerms.length + this.preferredAntiAffinityTerms.length > 0;
  }

  get hasRequiredAntiAffinity(): boolean {
    return this.requiredAntiAffinityTerms.length > 0;
  }
}

const podInfoCache = new WeakMap<SchedulerPod, PodInfo>();

/** The PodInfo of a pod object, memoized per object (objects from the watch are immutable). */
export function podInfoOf(pod: SchedulerPod): PodInfo {
  let pi = podInfoCache.get(pod);
  if (!pi) {
    pi = new PodInfo(pod);
    podInfoCache.set(pod, pi);
  }
  return pi;
}

function portConflicts(used: Map<string, number>, port: string): boolean {
  const [proto, ip, num] = port.split('/') as [string, string, string];
  if (ip === '0.0.0.0') {
    for (const k of used.keys()) {
      const [p2, , n2] = k.split('/');
      if (p2 === proto && n2 === num) return true;
    }
    return false;
  }
  return used.has(port) || used.has(`${proto}/0.0.0.0/${num}`);
}

export class NodeInfo {
  node: SchedulerNode | null = null;
  allocatable = new Resource();
  readonly requested = new Resource();
  readonly nonZeroRequested = new Resource();
  pods: PodInfo[] = [];
  podsWithAffinity: PodInfo[] = [];
  podsWithRequiredAntiAffinity: PodInfo[] = [];
  /** host port key → number of pods using it. */
  usedPorts = new Map<string, number>();
  generation = 0;

  constructor(readonly name: string, node?: SchedulerNode) {
    if (node) this.setNode(node);
  }

  setNode(node: SchedulerNode): void {
    this.node = node;
    this.allocatable = nodeAllocatable(node);
  }

  get labels(): Record<string, string> {
    return this.node?.metadata.labels ?? {};
  }

  addPod(pi: PodInfo): void {
    this.pods.push(pi);
    if (pi.hasAffinity) this.podsWithAffinity.push(pi);
    if (pi.hasRequiredAntiAffinity) this.podsWithRequiredAntiAffinity.push(pi);
    this.requested.add(pi.requests);
    this.nonZeroRequested.add(pi.nonZero);
    for (const p of pi.hostPorts) this.usedPorts.set(p, (this.usedPorts.get(p) ?? 0) + 1);
  }

  removePod(id: string): PodInfo | undefined {
    const i = this.pods.findIndex((p) => p.id === id);
    if (i < 0) return undefined;
    const pi = this.pods[i]!;
    this.pods.splice(i, 1);
    if (pi.hasAffinity) this.podsWithAffinity = this.podsWithAffinity.filter((p) => p.id !== id);
    if (pi.hasRequiredAntiAffinity) this.podsWithRequiredAntiAffinity = this.podsWithRequiredAntiAffinity.filter((p) => p.id !== id);
    this.requested.add(pi.requests, -1);
    this.nonZeroRequested.add(pi.nonZero, -1);
    for (const p of pi.hostPorts) {
      const n = (this.usedPorts.get(p) ?? 0) - 1;
      if (n <= 0) this.usedPorts.delete(p);
      else this.usedPorts.set(p, n);
    }
    return pi;
  }

  /** Whether any of the pod's host ports is taken on this node. */
  hasPortConflict(pi: PodInfo): boolean {
    for (const p of pi.hostPorts) if (portConflicts(this.usedPorts, p)) return true;
    return false;
  }

  clone(): NodeInfo {
    const c = new NodeInfo(this.name);
    c.node = this.node;
    c.allocatable = this.allocatable;
    c.requested.add(this.requested);
    c.nonZeroRequested.add(this.nonZeroRequested);
    c.pods = this.pods.slice();
    c.podsWithAffinity = this.podsWithAffinity.slice();
    c.podsWithRequiredAntiAffinity = this.podsWithRequiredAntiAffinity.slice();
    c.usedPorts = new Map(this.usedPorts);
    c.generation = this.generation;
    return c;
  }
}

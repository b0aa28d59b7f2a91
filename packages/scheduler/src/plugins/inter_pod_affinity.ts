import {
  MAX_NODE_SCORE, Status, type CycleState, type FilterPlugin, type NodeScore, type PreFilterPlugin,
  type PreScorePlugin, type ScorePlugin, type SnapshotLister, type StateData, type EnqueueExtensions,
  type PreFilterExtensions, type ScoreExtensions,
} from '../framework/interface.js';
import { termMatches, type AffinityTerm, type NamespaceLabels, type NodeInfo, type PodInfo } from '../node_info.js';
import type { InterPodAffinityArgs } from '../config/plugin_args.js';
import type { SchedulerPod } from '../types.js';

type Matcher = (t: AffinityTerm, pod: SchedulerPod) => boolean;

export const ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";
export const ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules";
export const ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";

const PRE_FILTER_KEY = 'PreFilterInterPodAffinity';
const PRE_SCORE_KEY = 'PreScoreInterPodAffinity';

/** Counts per topology pair "key\0value". */
class Counts {
  constructor(readonly m = new Map<string, number>()) {}
  add(key: string, value: string | undefined, n: number): void {
    if (value === undefined) return;
    const k = `${key}\0${value}`;
    const v = (this.m.get(k) ?? 0) + n;
    if (v === 0) this.m.delete(k);
    else this.m.set(k, v);
  }
  get(key: string, value: string): number {
    return this.m.get(`${key}\0${value}`) ?? 0;
  }
  clone(): Counts {
    return new Counts(new Map(this.m));
  }
}

class PreFilterState implements StateData {
  constructor(
    /** Topology pairs where an existing pod's required anti-affinity matches the incoming pod. */
    readonly existingAntiAffinity: Counts,
    /** Topology pairs holding pods that match all of the incoming pod's affinity terms. */
    readonly affinity: Counts,
    /** Topology pairs holding pods matching one of its anti-affinity terms. */
    readonly antiAffinity: Counts,
  ) {}
  clone(): PreFilterState {
    return new PreFilterState(this.existingAntiAffinity.clone(), this.affinity.clone(), this.antiAffinity.clone());
  }
}

function matchesAll(terms: readonly AffinityTerm[], pod: PodInfo, match: Matcher): boolean {
  return terms.length > 0 && terms.every((t) => match(t, pod.pod));
}

function update(s: PreFilterState, pod: PodInfo, other: PodInfo, node: NodeInfo, n: number, match: Matcher): void {
  const labels = node.labels;
  for (const t of other.requiredAntiAffinityTerms) {
    if (match(t, pod.pod)) s.existingAntiAffinity.add(t.topologyKey, labels[t.topologyKey], n);
  }
  if (matchesAll(pod.requiredAffinityTerms, other, match)) {
    for (const t of pod.requiredAffinityTerms) s.affinity.add(t.topologyKey, labels[t.topologyKey], n);
  }
  for (const t of pod.requiredAntiAffinityTerms) {
    if (match(t, other.pod)) s.antiAffinity.add(t.topologyKey, labels[t.topologyKey], n);
  }
}

class PreScoreState implements StateData {
  constructor(readonly scores: Map<string, Map<string, number>>) {}
  clone(): PreScoreState { return this; }
}

/** InterPodAffinity: required (anti-)affinity filters, including existing pods' anti-affinity; preferred terms score. */
export class InterPodAffinity implements PreFilterPlugin, PreFilterExtensions, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions, EnqueueExtensions {
  readonly name = 'InterPodAffinity';
  private readonly match: Matcher;
  readonly hardPodAffinityWeight: number;
  private readonly ignorePreferredTermsOfExistingPods: boolean;
  /** `nsLabels` resolves namespace labels for terms with a namespaceSelector. */
  constructor(args: Partial<InterPodAffinityArgs> = {}, nsLabels?: NamespaceLabels) {
    this.hardPodAffinityWeight = args.hardPodAffinityWeight ?? 1;
    this.ignorePreferredTermsOfExistingPods = args.ignorePreferredTermsOfExistingPods ?? false;
    this.match = (t, pod) => termMatches(t, pod, nsLabels);
  }

  preFilterExtensions(): PreFilterExtensions { return this; }
  scoreExtensions(): ScoreExtensions { return this; }
  eventsToRegister() { return ['AssignedPodAdd', 'AssignedPodUpdate', 'AssignedPodDelete', 'NodeAdd', 'NodeUpdate'] as const; }

  preFilter(state: CycleState, pod: PodInfo, snapshot: SnapshotLister) {
    const hasOwn = pod.requiredAffinityTerms.length + pod.requiredAntiAffinityTerms.length > 0;
    const withAnti = snapshot.havePodsWithRequiredAntiAffinity();
    if (!hasOwn && withAnti.length === 0) {
      state.skipFilterPlugins.add(this.name);
      return null;
    }
    const s = new PreFilterState(new Counts(), new Counts(), new Counts());
    const nodes = hasOwn ? snapshot.list() : withAnti;
    for (const node of nodes) {
      const others = hasOwn ? node.pods : node.podsWithRequiredAntiAffinity;
      for (const other of others) if (other.id !== pod.id) update(s, pod, other, node, 1, this.match);
    }
    state.write(PRE_FILTER_KEY, s);
    return null;
  }

  addPod(state: CycleState, pod: PodInfo, toAdd: PodInfo, node: NodeInfo): void {
    const s = state.read<PreFilterState>(PRE_FILTER_KEY);
    if (s) update(s, pod, toAdd, node, 1, this.match);
  }

  removePod(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void {
    const s = state.read<PreFilterState>(PRE_FILTER_KEY);
    if (s) update(s, pod, toRemove, node, -1, this.match);
  }

  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | null {
    const s = state.read<PreFilterState>(PRE_FILTER_KEY);
    if (!s) return null;
    const labels = node.labels;
    // Same order as upstream: own affinity, own anti-affinity, existing pods' anti-affinity.
    if (pod.requiredAffinityTerms.length > 0) {
      let podsExist = true;
      for (const t of pod.requiredAffinityTerms) {
        const v = labels[t.topologyKey];
        if (v === undefined) return Status.unresolvable(ERR_REASON_AFFINITY);
        if (s.affinity.get(t.topologyKey, v) <= 0) podsExist = false;
      }
      // The first pod of a group with affinity to itself may go anywhere that has the topology labels.
      if (!podsExist && !(s.affinity.m.size === 0 && matchesAll(pod.requiredAffinityTerms, pod, this.match))) {
        return Status.unresolvable(ERR_REASON_AFFINITY);
      }
    }
    for (const t of pod.requiredAntiAffinityTerms) {
      const v = labels[t.topologyKey];
      if (v !== undefined && s.antiAffinity.get(t.topologyKey, v) > 0) return Status.unschedulable(ERR_REASON_ANTI_AFFINITY);
    }
    if (s.existingAntiAffinity.m.size > 0) {
      for (const [k, v] of Object.entries(labels)) {
        if (s.existingAntiAffinity.get(k, v) > 0) return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY);
      }
    }
    return null;
  }

  preScore(state: CycleState, pod: PodInfo, _nodes: readonly NodeInfo[], snapshot: SnapshotLister): Status | null {
    const hasPreferred = pod.preferredAffinityTerms.length + pod.preferredAntiAffinityTerms.length > 0;
    const nodes = hasPreferred ? snapshot.list() : snapshot.havePodsWithAffinity();
    const scores = new Map<string, Map<string, number>>();
    const add = (key: string, value: string | undefined, w: number) => {
      if (value === undefined || w === 0) return;
      let m = scores.get(key);
      if (!m) scores.set(key, (m = new Map()));
      m.set(value, (m.get(value) ?? 0) + w);
    };
    for (const node of nodes) {
      const labels = node.labels;
      for (const other of hasPreferred ? node.pods : node.podsWithAffinity) {
        if (other.id === pod.id) continue;
        for (const t of pod.preferredAffinityTerms) if (this.match(t, other.pod)) add(t.topologyKey, labels[t.topologyKey], t.weight);
        for (const t of pod.preferredAntiAffinityTerms) if (this.match(t, other.pod)) add(t.topologyKey, labels[t.topologyKey], -t.weight);
        if (this.hardPodAffinityWeight > 0) {
          for (const t of other.requiredAffinityTerms) if (this.match(t, pod.pod)) add(t.topologyKey, labels[t.topologyKey], this.hardPodAffinityWeight);
        }
        if (this.ignorePreferredTermsOfExistingPods) continue;
        for (const t of other.preferredAffinityTerms) if (this.match(t, pod.pod)) add(t.topologyKey, labels[t.topologyKey], t.weight);
        for (const t of other.preferredAntiAffinityTerms) if (this.match(t, pod.pod)) add(t.topologyKey, labels[t.topologyKey], -t.weight);
      }
    }
    if (scores.size === 0) {
      state.skipScorePlugins.add(this.name);
      return null;
    }
    state.write(PRE_SCORE_KEY, new PreScoreState(scores));
    return null;
  }

  score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
    const s = state.read<PreScoreState>(PRE_SCORE_KEY);
    if (!s) return 0;
    let total = 0;
    for (const [key, byValue] of s.scores) {
      const v = node.labels[key];
      if (v !== undefined) total += byValue.get(v) ?? 0;
    }
    return total;
  }

  normalizeScore(_s: CycleState, _pod: PodInfo, scores: NodeScore[]): void {
    if (scores.length === 0) return;
    let min = Infinity;
    let max = -Infinity;
    for (const s of scores) {
      min = Math.min(min, s.score);
      max = Math.max(max, s.score);
    }
    const diff = max - min;
    for (const s of scores) s.score = diff > 0 ? Math.trunc((MAX_NODE_SCORE * (s.score - min)) / diff) : 0;
  }
}

import {
  MAX_NODE_SCORE, Status, type CycleState, type FilterPlugin, type NodeScore, type PreFilterPlugin,
  type PreScorePlugin, type ScorePlugin, type SnapshotLister, type StateData, type EnqueueExtensions,
  type PreFilterExtensions, type ScoreExtensions,
} from '../framework/interface.js';
import { compileLabelSelector, type LabelMatcher } from '../selectors.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { PodTopologySpreadArgs } from '../config/plugin_args.js';
import type { LabelSelector, SchedulerPod, TopologySpreadConstraint } from '../types.js';
import { podMatchesNodeSelectorAndAffinity } from './node_affinity.js';
import { findUntoleratedTaint } from '@mkube/api';
import { hardEffect } from './taint_toleration.js';

export const ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints";
export const ERR_REASON_NODE_LABEL_NOT_MATCH = `${ERR_REASON_CONSTRAINTS_NOT_MATCH} (missing required label)`;

const PRE_FILTER_KEY = 'PreFilterPodTopologySpread';

/** Upstream's system defaults (defaultingType System): spread by hostname (skew 3) and zone (skew 5), softly. */
export const SYSTEM_DEFAULT_CONSTRAINTS: readonly TopologySpreadConstraint[] = [
  { topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', maxSkew: 3 },
  { topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', maxSkew: 5 },
];
const PRE_SCORE_KEY = 'PreScorePodTopologySpread';

interface Constraint {
  maxSkew: number;
  topologyKey: string;
  minDomains: number;
  selector: LabelMatcher;
  honorAffinity: boolean;
  honorTaints: boolean;
}

function compile(pod: SchedulerPod, c: TopologySpreadConstraint): Constraint {
  let sel = c.labelSelector;
  if (sel && c.matchLabelKeys?.length) {
    const extra = c.matchLabelKeys.filter((k) => pod.metadata.labels?.[k] !== undefined)
      .map((k) => ({ key: k, operator: 'In', values: [pod.metadata.labels![k]!] }));
    sel = { ...sel, matchExpressions: [...(sel.matchExpressions ?? []), ...extra] };
  }
  return {
    maxSkew: c.maxSkew,
    topologyKey: c.topologyKey,
    minDomains: c.minDomains ?? 1,
    selector: compileLabelSelector(sel),
    honorAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
    honorTaints: c.nodeTaintsPolicy === 'Honor',
  };
}

function constraintsOf(pod: SchedulerPod, when: string): Constraint[] {
  return (pod.spec.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === when).map((c) => compile(pod, c));
}

function hasAllKeys(node: NodeInfo, cs: readonly Constraint[]): boolean {
  const l = node.labels;
  return cs.every((c) => l[c.topologyKey] !== undefined);
}

function eligible(pod: PodInfo, node: NodeInfo, c: Constraint): boolean {
  if (!node.node) return false;
  if (c.honorAffinity && !podMatchesNodeSelectorAndAffinity(pod.pod, node.node)) return false;
  if (c.honorTaints && findUntoleratedTaint(node.node.spec?.taints, pod.pod.spec.tolerations, hardEffect)) return false;
  return true;
}

function countMatching(pod: PodInfo, node: NodeInfo, c: Constraint): number {
  const ns = pod.pod.metadata.namespace ?? 'default';
  let n = 0;
  for (const other of node.pods) {
    if (other.pod.metadata.deletionTimestamp) continue;
    if ((other.pod.metadata.namespace ?? 'default') !== ns) continue;
    if (c.selector(other.pod.metadata.labels)) n++;
  }
  return n;
}

class PreFilterState implements StateData {
  private mins: (number | null)[];
  constructor(readonly constraints: Constraint[], readonly counts: Map<string, number>[]) {
    this.mins = constraints.map(() => null);
  }
  minMatch(i: number): number {
    let m = this.mins[i];
    if (m === null || m === undefined) {
      m = Infinity;
      for (const v of this.counts[i]!.values()) m = Math.min(m, v);
      this.mins[i] = m;
    }
    const c = this.constraints[i]!;
    if (this.counts[i]!.size < c.minDomains) return 0;
    return m === Infinity ? 0 : m;
  }
  adjust(i: number, value: string, n: number): void {
    const m = this.counts[i]!;
    if (!m.has(value)) return; // not an eligible domain
    m.set(value, m.get(value)! + n);
    this.mins[i] = null;
  }
  clone(): PreFilterState {
    return new PreFilterState(this.constraints, this.counts.map((m) => new Map(m)));
  }
}

/** PodTopologySpread: maxSkew across topology domains, hard (DoNotSchedule) as a filter, soft (ScheduleAnyway) as a score. */
export class PodTopologySpread implements PreFilterPlugin, PreFilterExtensions, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions, EnqueueExtensions {
  readonly name = 'PodTopologySpread';
  private readonly defaults: readonly TopologySpreadConstraint[];

  /**
   * Default constraints (args) apply to pods without constraints of their own,
   * with the selector `defaultSelector` derives for the pod (upstream: the
   * Services, ReplicaSets, ... selecting it); none or an empty one skips them.
   */
  constructor(args: Partial<PodTopologySpreadArgs> = {}, private readonly defaultSelector?: (pod: SchedulerPod) => LabelSelector | undefined) {
    this.defaults = args.defaultingType === 'List' ? (args.defaultConstraints ?? []) : SYSTEM_DEFAULT_CONSTRAINTS;
  }

  preFilterExtensions(): PreFilterExtensions { return this; }
  scoreExtensions(): ScoreExtensions { return this; }

  private constraintsOf(pod: SchedulerPod, when: string): Constraint[] {
    const own = pod.spec.topologySpreadConstraints ?? [];
    if (own.length > 0 || this.defaults.length === 0) return constraintsOf(pod, when);
    const sel = this.defaultSelector?.(pod);
    if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length)) return [];
    return this.defaults.filter((c) => c.whenUnsatisfiable === when).map((c) => compile(pod, { ...c, labelSelector: sel }));
  }
  eventsToRegister() { return ['AssignedPodAdd', 'AssignedPodUpdate', 'AssignedPodDelete', 'NodeAdd', 'NodeUpdate', 'NodeDelete'] as const; }

  preFilter(state: CycleState, pod: PodInfo, snapshot: SnapshotLister) {
    const cs = this.constraintsOf(pod.pod, 'DoNotSchedule');
    if (cs.length === 0) {
      state.skipFilterPlugins.add(this.name);
      return null;
    }
    const counts = cs.map(() => new Map<string, number>());
    for (const node of snapshot.list()) {
      if (!hasAllKeys(node, cs)) continue;
      cs.forEach((c, i) => {
        if (!eligible(pod, node, c)) return;
        const v = node.labels[c.topologyKey]!;
        counts[i]!.set(v, (counts[i]!.get(v) ?? 0) + countMatching(pod, node, c));
      });
    }
    state.write(PRE_FILTER_KEY, new PreFilterState(cs, counts));
    return null;
  }

  private change(state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, n: number): void {
    const s = state.read<PreFilterState>(PRE_FILTER_KEY);
    if (!s || !hasAllKeys(node, s.constraints)) return;
    if ((other.pod.metadata.namespace ?? 'default') !== (pod.pod.metadata.namespace ?? 'default')) return;
    s.constraints.forEach((c, i) => {
      if (c.selector(other.pod.metadata.labels)) s.adjust(i, node.labels[c.topologyKey]!, n);
    });
  }

  addPod(state: CycleState, pod: PodInfo, toAdd: PodInfo, node: NodeInfo): void {
    this.change(state, pod, toAdd, node, 1);
  }

  removePod(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void {
    this.change(state, pod, toRemove, node, -1);
  }

  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | null {
    const s = state.read<PreFilterState>(PRE_FILTER_KEY);
    if (!s) return null;
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i]!;
      const v = node.labels[c.topologyKey];
      if (v === undefined) return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
      const self = c.selector(pod.pod.metadata.labels) ? 1 : 0;
      const skew = (s.counts[i]!.get(v) ?? 0) + self - s.minMatch(i);
      if (skew > c.maxSkew) return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
    }
    return null;
  }

  preScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], snapshot: SnapshotLister): Status | null {
    const cs = this.constraintsOf(pod.pod, 'ScheduleAnyway');
    if (cs.length === 0) {
      state.skipScorePlugins.add(this.name);
      return null;
    }
    const counts = cs.map(() => new Map<string, number>());
    const domains = cs.map(() => new Set<string>());
    for (const n of nodes) {
      if (hasAllKeys(n, cs)) cs.forEach((c, i) => domains[i]!.add(n.labels[c.topologyKey]!));
    }
    for (const node of snapshot.list()) {
      if (!hasAllKeys(node, cs)) continue;
      cs.forEach((c, i) => {
        const v = node.labels[c.topologyKey]!;
        if (!domains[i]!.has(v) || !eligible(pod, node, c)) return;
        counts[i]!.set(v, (counts[i]!.get(v) ?? 0) + countMatching(pod, node, c));
      });
    }
    const weights = domains.map((d) => Math.log(d.size + 2));
    state.write(PRE_SCORE_KEY, new ScoreState(cs, counts, weights));
    return null;
  }

  score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
    const s = state.read<ScoreState>(PRE_SCORE_KEY);
    if (!s) return 0;
    if (!hasAllKeys(node, s.constraints)) return -1; // ignored node, zeroed by normalize
    let score = 0;
    s.constraints.forEach((c, i) => {
      score += (s.counts[i]!.get(node.labels[c.topologyKey]!) ?? 0) * s.weights[i]! + (c.maxSkew - 1);
    });
    return Math.round(score);
  }

  normalizeScore(_s: CycleState, _pod: PodInfo, scores: NodeScore[]): void {
    let min = Infinity;
    let max = 0;
    for (const s of scores) {
      if (s.score < 0) continue;
      min = Math.min(min, s.score);
      max = Math.max(max, s.score);
    }
    for (const s of scores) {
      if (s.score < 0) s.score = 0;
      else if (max === 0) s.score = MAX_NODE_SCORE;
      else s.score = Math.trunc((MAX_NODE_SCORE * (max + min - s.score)) / max);
    }
  }
}

class ScoreState implements StateData {
  constructor(readonly constraints: Constraint[], readonly counts: Map<string, number>[], readonly weights: number[]) {}
  clone(): ScoreState { return this; }
}

/**
 * The scheduling framework's contracts, after kube-scheduler's
 * framework/interface.go: a Status per plugin call, a CycleState shared by
 * the plugins within one cycle, and one small interface per extension point.
 * A plugin implements only the extension points it needs.
 */
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { Pod } from '../types.js';

export enum Code {
  Success = 0,
  Error = 1,
  /** The pod does not fit now; preemption or cluster changes may help. */
  Unschedulable = 2,
  /** Preemption would not help on this node (taints, affinity, selectors). */
  UnschedulableAndUnresolvable = 3,
  /** PreFilter/PreScore: the plugin has nothing to do for this pod. */
  Skip = 4,
}

export class Status {
  constructor(readonly code: Code, readonly reasons: string[] = [], public plugin = '') {}

  static unschedulable(...reasons: string[]): Status {
    return new Status(Code.Unschedulable, reasons);
  }

  static unresolvable(...reasons: string[]): Status {
    return new Status(Code.UnschedulableAndUnresolvable, reasons);
  }

  static error(message: string): Status {
    return new Status(Code.Error, [message]);
  }

  isSuccess(): boolean {
    return this.code === Code.Success;
  }

  isRejected(): boolean {
    return this.code === Code.Unschedulable || this.code === Code.UnschedulableAndUnresolvable;
  }

  message(): string {
    return this.reasons.join(', ');
  }

  withPlugin(name: string): Status {
    this.plugin = name;
    return this;
  }
}

/** `null` / `undefined` from a plugin means success. */
export type MaybeStatus = Status | null | undefined;

/** Per-cycle scratch space, keyed by plugin; cloned for preemption's what-if runs. */
export class CycleState {
  private data = new Map<string, StateData>();
  skipFilterPlugins = new Set<string>();
  skipScorePlugins = new Set<string>();
  /** The filter plugins left after PreFilter's skips (computed once per cycle by the framework). */
  activeFilters: FilterPlugin[] | null = null;

  read<T extends StateData>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }

  write(key: string, value: StateData): void {
    this.data.set(key, value);
  }

  clone(): CycleState {
    const c = new CycleState();
    for (const [k, v] of this.data) c.data.set(k, v.clone());
    c.skipFilterPlugins = new Set(this.skipFilterPlugins);
    c.skipScorePlugins = new Set(this.skipScorePlugins);
    c.activeFilters = this.activeFilters;
    return c;
  }
}

export interface StateData {
  clone(): StateData;
}

/** Cluster events that can make an unschedulable pod schedulable. */
export type ClusterEvent =
  | 'NodeAdd' | 'NodeUpdate' | 'NodeDelete'
  | 'AssignedPodAdd' | 'AssignedPodUpdate' | 'AssignedPodDelete'
  | 'UnscheduledPodUpdate';

export const ALL_EVENTS: readonly ClusterEvent[] = [
  'NodeAdd', 'NodeUpdate', 'NodeDelete', 'AssignedPodAdd', 'AssignedPodUpdate', 'AssignedPodDelete', 'UnscheduledPodUpdate',
];

export interface Plugin {
  readonly name: string;
  /** Events after which pods this plugin rejected are worth retrying. */
  events?(): readonly ClusterEvent[];
}

/** The read-only view of the cluster plugins see during a cycle. */
export interface SnapshotLister {
  list(): readonly NodeInfo[];
  get(nodeName: string): NodeInfo | undefined;
  havePodsWithAffinity(): readonly NodeInfo[];
  havePodsWithRequiredAntiAffinity(): readonly NodeInfo[];
}

export interface PreFilterResult {
  /** Restricts evaluation to these nodes; undefined means all. */
  nodeNames?: Set<string>;
}

export interface PreFilterPlugin extends Plugin {
  preFilter(state: CycleState, pod: PodInfo, snapshot: SnapshotLister): { result?: PreFilterResult; status?: MaybeStatus } | MaybeStatus;
  /** Incremental updates of this plugin's state when pods are added to / removed from a node (preemption, nominated pods). */
  addPod?(state: CycleState, pod: PodInfo, toAdd: PodInfo, node: NodeInfo): void;
  removePod?(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void;
}

export interface FilterPlugin extends Plugin {
  filter(state: CycleState, pod: PodInfo, node: NodeInfo): MaybeStatus;
}

export interface PostFilterResult {
  /** A node for the pod; '' clears an earlier nomination; undefined leaves it as it is. */
  nominatedNodeName?: string;
}

export interface PostFilterPlugin extends Plugin {
  postFilter(state: CycleState, pod: PodInfo, statuses: Map<string, Status>): Promise<{ result?: PostFilterResult; status: Status }>;
}

export interface PreScorePlugin extends Plugin {
  preScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], snapshot: SnapshotLister): MaybeStatus;
}

export interface NodeScore {
  name: string;
  score: number;
}

export const MAX_NODE_SCORE = 100;

export interface ScorePlugin extends Plugin {
  score(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** Rescales raw scores into [0, MAX_NODE_SCORE] in place. */
  normalizeScore?(state: CycleState, pod: PodInfo, scores: NodeScore[]): void;
}

export interface ReservePlugin extends Plugin {
  reserve(state: CycleState, pod: PodInfo, nodeName: string): MaybeStatus;
  unreserve(state: CycleState, pod: PodInfo, nodeName: string): void;
}

export interface BindPlugin extends Plugin {
  /** Skip-status lets the next binder try. */
  bind(state: CycleState, pod: Pod, nodeName: string): Promise<MaybeStatus>;
}

export function isPreFilter(p: Plugin): p is PreFilterPlugin { return typeof (p as PreFilterPlugin).preFilter === 'function'; }
export function isFilter(p: Plugin): p is FilterPlugin { return typeof (p as FilterPlugin).filter === 'function'; }
export function isPostFilter(p: Plugin): p is PostFilterPlugin { return typeof (p as PostFilterPlugin).postFilter === 'function'; }
export function isPreScore(p: Plugin): p is PreScorePlugin { return typeof (p as PreScorePlugin).preScore === 'function'; }
export function isScore(p: Plugin): p is ScorePlugin { return typeof (p as ScorePlugin).score === 'function'; }
export function isReserve(p: Plugin): p is ReservePlugin { return typeof (p as ReservePlugin).reserve === 'function'; }
export function isBind(p: Plugin): p is BindPlugin { return typeof (p as BindPlugin).bind === 'function'; }

/**
 * FitError's message, as kube-scheduler prints it:
 * "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: ..."
 */
export function fitErrorMessage(numAllNodes: number, statuses: Map<string, Status>, preFilterMsg = '', postFilterMsg = ''): string {
  let msg = `0/${numAllNodes} nodes are available:`;
  if (preFilterMsg) {
    msg += ` ${preFilterMsg}.`;
  } else {
    const counts = new Map<string, number>();
    for (const st of statuses.values()) for (const r of st.reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    const parts = [...counts].map(([r, n]) => `${n} ${r}`).sort();
    if (parts.length) msg += ` ${parts.join(', ')}.`;
  }
  if (postFilterMsg) msg += ` ${postFilterMsg}`;
  return msg;
}

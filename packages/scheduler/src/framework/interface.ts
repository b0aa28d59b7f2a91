/**
 * The scheduling framework's contracts, after kube-scheduler's
 * framework/interface.go: a Status per plugin call, a CycleState shared by
 * the plugins within one cycle, and one small interface per extension point.
 * A plugin implements only the extension points it needs.
 */
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { SchedulerPod } from '../types.js';

export enum Code {
  Success = 0,
  Error = 1,
  /** The pod does not fit now; preemption or cluster changes may help. */
  Unschedulable = 2,
  /** Preemption would not help on this node (taints, affinity, selectors). */
  UnschedulableAndUnresolvable = 3,
  /** PreFilter/PreScore: the plugin has nothing to do for this pod. */
  Skip = 4,
  /** Permit: hold the pod until a plugin allows or rejects it, or the timeout passes. */
  Wait = 5,
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
  | 'UnscheduledPodUpdate'
  | 'PersistentVolumeClaimAddOrUpdate' | 'PersistentVolumeAddOrUpdate' | 'StorageClassAdd';

export const ALL_EVENTS: readonly ClusterEvent[] = [
  'NodeAdd', 'NodeUpdate', 'NodeDelete', 'AssignedPodAdd', 'AssignedPodUpdate', 'AssignedPodDelete', 'UnscheduledPodUpdate',
  'PersistentVolumeClaimAddOrUpdate', 'PersistentVolumeAddOrUpdate', 'StorageClassAdd',
];

/**
 * Every plugin has a name; what else it does is the extension-point
 * interfaces it declares with `implements`. Each interface has only required
 * methods (optional behaviour is a separate interface returned by a required
 * method, as upstream's PreFilterExtensions/ScoreExtensions), so a misspelled
 * hook is a compile error in the class that declares the interface.
 */
export interface Plugin {
  readonly name: string;
}

/** Events after which pods this plugin rejected are worth retrying (upstream's EnqueueExtensions). */
export interface EnqueueExtensions extends Plugin {
  eventsToRegister(): readonly ClusterEvent[];
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

/** Incremental updates of a PreFilter plugin's state when pods are added to / removed from a node (preemption, nominated pods). */
export interface PreFilterExtensions {
  addPod(state: CycleState, pod: PodInfo, toAdd: PodInfo, node: NodeInfo): void;
  removePod(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void;
}

export interface PreFilterPlugin extends Plugin {
  preFilter(state: CycleState, pod: PodInfo, snapshot: SnapshotLister): { result?: PreFilterResult; status?: MaybeStatus } | MaybeStatus;
  /** null when the plugin keeps no state that pods added or removed would change. */
  preFilterExtensions(): PreFilterExtensions | null;
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

/** Rescales a Score plugin's raw scores into [0, MAX_NODE_SCORE] in place. */
export interface ScoreExtensions {
  normalizeScore(state: CycleState, pod: PodInfo, scores: NodeScore[]): void;
}

export interface ScorePlugin extends Plugin {
  score(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** null when raw scores are already in [0, MAX_NODE_SCORE]. */
  scoreExtensions(): ScoreExtensions | null;
}

export interface ReservePlugin extends Plugin {
  reserve(state: CycleState, pod: PodInfo, nodeName: string): MaybeStatus;
  unreserve(state: CycleState, pod: PodInfo, nodeName: string): void;
}

/** Permit's answer: Success, a rejection, or Wait (code Wait) for at most timeoutMs until allowed or rejected through the handle. */
export interface PermitResult {
  status: MaybeStatus;
  timeoutMs?: number;
}

export interface PermitPlugin extends Plugin {
  permit(state: CycleState, pod: PodInfo, nodeName: string): PermitResult;
}

export interface PreBindPlugin extends Plugin {
  preBind(state: CycleState, pod: SchedulerPod, nodeName: string): Promise<MaybeStatus>;
}

export interface BindPlugin extends Plugin {
  /** Skip-status lets the next binder try. */
  bind(state: CycleState, pod: SchedulerPod, nodeName: string): Promise<MaybeStatus>;
}

/** Informational, after a successful bind. */
export interface PostBindPlugin extends Plugin {
  postBind(state: CycleState, pod: SchedulerPod, nodeName: string): void;
}

/** The extension points of a profile, named as in KubeSchedulerConfiguration's `plugins`. */
export type ExtensionPoint = 'preFilter' | 'filter' | 'postFilter' | 'preScore' | 'score' | 'reserve' | 'permit' | 'preBind' | 'bind' | 'postBind';

/** Each extension point's plugin type. */
export interface ExtensionPointPlugins {
  preFilter: PreFilterPlugin;
  filter: FilterPlugin;
  postFilter: PostFilterPlugin;
  preScore: PreScorePlugin;
  score: ScorePlugin;
  reserve: ReservePlugin;
  permit: PermitPlugin;
  preBind: PreBindPlugin;
  bind: BindPlugin;
  postBind: PostBindPlugin;
}

type Guards = { [P in ExtensionPoint]: { typeName: string; is(p: Plugin): p is ExtensionPointPlugins[P] } };

function hasMethod(p: Plugin, name: string): boolean {
  return typeof (p as unknown as Record<string, unknown>)[name] === 'function';
}

/**
 * The runtime check per extension point (a class's `implements` is gone at
 * run time) and upstream's interface name for error messages, in the order
 * the framework fills them.
 */
export const EXTENSION_POINTS: Guards = {
  preFilter: { typeName: 'PreFilterPlugin', is: (p): p is PreFilterPlugin => hasMethod(p, 'preFilter') && hasMethod(p, 'preFilterExtensions') },
  filter: { typeName: 'FilterPlugin', is: (p): p is FilterPlugin => hasMethod(p, 'filter') },
  postFilter: { typeName: 'PostFilterPlugin', is: (p): p is PostFilterPlugin => hasMethod(p, 'postFilter') },
  reserve: { typeName: 'ReservePlugin', is: (p): p is ReservePlugin => hasMethod(p, 'reserve') && hasMethod(p, 'unreserve') },
  preScore: { typeName: 'PreScorePlugin', is: (p): p is PreScorePlugin => hasMethod(p, 'preScore') },
  score: { typeName: 'ScorePlugin', is: (p): p is ScorePlugin => hasMethod(p, 'score') && hasMethod(p, 'scoreExtensions') },
  preBind: { typeName: 'PreBindPlugin', is: (p): p is PreBindPlugin => hasMethod(p, 'preBind') },
  bind: { typeName: 'BindPlugin', is: (p): p is BindPlugin => hasMethod(p, 'bind') },
  postBind: { typeName: 'PostBindPlugin', is: (p): p is PostBindPlugin => hasMethod(p, 'postBind') },
  permit: { typeName: 'PermitPlugin', is: (p): p is PermitPlugin => hasMethod(p, 'permit') },
};

export function isEnqueueExtensions(p: Plugin): p is EnqueueExtensions {
  return hasMethod(p, 'eventsToRegister');
}

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

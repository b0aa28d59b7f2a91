/**
 * The scheduling loop, free of I/O: one scheduling cycle at a time (pop a
 * pod, pick its profile's framework by spec.schedulerName, snapshot,
 * PreFilter, Filter over nodes in batches, PostFilter on failure,
 * PreScore/Score, pick a host, assume + Reserve + Permit) and an asynchronous
 * binding cycle per pod (wait on Permit, PreBind, Bind, PostBind) that the
 * next scheduling cycle does not wait for. One queue and one cache serve all
 * profiles. Everything outside (API calls, events, clock, randomness) is
 * injected.
 */
import { formatTime } from '@mkube/api';
import { SchedulerCache, Snapshot } from './cache.js';
import { defaultConfiguration } from './config/defaults.js';
import type { SchedulerConfig } from './config/load.js';
import { Framework } from './framework/framework.js';
import type { HandleDeps } from './framework/handle.js';
import { Code, CycleState, Status, fitErrorMessage, type ClusterEvent, type NodeScore } from './framework/interface.js';
import type { Registry } from './framework/registry.js';
import { WaitingPods } from './framework/waiting_pods.js';
import type { NamespaceLabels, NodeInfo, PodInfo } from './node_info.js';
import { inTreeRegistry } from './plugins/registry.js';
import type { VolumeBindingDeps } from './plugins/volume_binding.js';
import { SchedulingQueue, type QueuedPodInfo } from './queue.js';
import type { LabelSelector, SchedulerNode, SchedulerPod, WrittenPodCondition } from './types.js';
import { DEFAULT_SCHEDULER_NAME, podKey } from './types.js';

/** What the scheduler does to the outside world. */
export interface SchedulerEffects {
  /** POST pods/<name>/binding. */
  bind(pod: SchedulerPod, nodeName: string): Promise<void>;
  /** Sets a condition (null: none) and status.nominatedNodeName when given (null clears it). */
  updatePodStatus(pod: SchedulerPod, condition: WrittenPodCondition | null, nominatedNodeName?: string | null): Promise<void>;
  recordEvent(pod: SchedulerPod, type: 'Normal' | 'Warning', reason: string, message: string): void;
  deletePod(pod: SchedulerPod): Promise<void>;
}

export type AttemptResult = 'scheduled' | 'unschedulable' | 'error';

export interface SchedulerObserver {
  attempt?(result: AttemptResult, durationMs: number): void;
  /** First enqueue → bound. */
  podScheduled?(pod: SchedulerPod, nodeName: string, e2eMs: number, attempts: number): void;
  /** A failed attempt, with the message written to the pod. */
  podFailed?(pod: SchedulerPod, message: string): void;
  bindFailed?(pod: SchedulerPod, err: Error): void;
}

export interface CoreOptions {
  effects: SchedulerEffects;
  now?: () => number;
  /** Uniform [0, 1): breaks score ties. */
  random?: () => number;
  /** 0 = adaptive (50% − nodes/125, at least 5%, at least 100 nodes); a profile's own value wins; overrides the config's. */
  percentageOfNodesToScore?: number;
  /** Nodes per filter batch. */
  parallelChunkSize?: number;
  /** Namespace labels, for pod (anti-)affinity terms with a namespaceSelector. */
  namespaceLabels?: NamespaceLabels;
  /** Selector of the workloads selecting a pod (PodTopologySpread's default constraints). */
  defaultSelector?: (pod: SchedulerPod) => LabelSelector | undefined;
  /** Claims, volumes and classes for VolumeBinding (plugins/volume_binding.ts); without them VolumeBinding skips every pod. */
  volumes?: VolumeBindingDeps;
  /** Profiles and plugin args (config/load.ts); default: one default profile named `schedulerName`. */
  config?: SchedulerConfig;
  /** Where the profiles' plugins come from (default: the in-tree registry). */
  registry?: Registry;
  /** The default profile's name when no config is given. */
  schedulerName?: string;
  /** One observer for all profiles, or one per profile name. */
  observer?: SchedulerObserver | ((profile: string) => SchedulerObserver);
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  assumedPodTtlMs?: number;
}

export const MIN_FEASIBLE_NODES_TO_FIND = 100;
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

/** How many feasible nodes a cycle looks for before it stops filtering (numFeasibleNodesToFind). */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  let p = percentage;
  if (p <= 0) {
    p = 50 - Math.trunc(numAllNodes / 125);
    if (p < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) p = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  if (p >= 100) return numAllNodes;
  const n = Math.trunc((numAllNodes * p) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

export interface ScheduleResult {
  nodeName: string;
  evaluatedNodes: number;
  feasibleNodes: number;
}

/** A pod fits nowhere: carries per-node statuses for the message. */
export class FitError extends Error {
  readonly code = 'UNSCHEDULABLE';
  postFilterMsg = '';
  /** Set by PostFilter: the node preemption made room on, or '' to clear a nomination. */
  nominatedNodeName?: string;
  constructor(readonly pod: SchedulerPod, readonly numAllNodes: number, readonly statuses: Map<string, Status>, readonly preFilterMsg = '') {
    super('');
    this.name = 'FitError';
  }
  /** The message as kube-scheduler writes it into the condition and event. */
  describe(): string {
    return fitErrorMessage(this.numAllNodes, this.statuses, this.preFilterMsg, this.postFilterMsg);
  }
  unschedulablePlugins(): Set<string> {
    const s = new Set<string>();
    for (const st of this.statuses.values()) if (st.plugin) s.add(st.plugin);
    return s;
  }
}

/** A Reserve or Permit plugin rejected the pod (or a waiting pod timed out). */
export class PluginRejectedError extends Error {
  readonly code = 'UNSCHEDULABLE';
  constructor(readonly status: Status) {
    super(status.message());
    this.name = 'PluginRejectedError';
  }
}

/** The cluster has no nodes at all (upstream's ErrNoNodesAvailable). */
export class NoNodesAvailableError extends Error {
  readonly code = 'NO_NODES_AVAILABLE';
  constructor() {
    super('no nodes available to schedule pods');
    this.name = 'NoNodesAvailableError';
  }
}

export class SchedulerCore {
  readonly cache: SchedulerCache;
  readonly queue: SchedulingQueue;
  /** Profile name (spec.schedulerName) → its framework, in configuration order. */
  readonly frameworks = new Map<string, Framework>();
  readonly snapshot = new Snapshot();
  /** The first profile's name. */
  readonly schedulerName: string;
  readonly waitingPods = new WaitingPods();
  private readonly effects: SchedulerEffects;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly percentage: number;
  private readonly chunkSize: number;
  private readonly parallelism: number;
  private readonly observers = new Map<string, SchedulerObserver>();
  private nextStartNodeIndex = 0;
  private readonly bindings = new Set<Promise<void>>();
  private stopped = false;

  constructor(opts: CoreOptions) {
    this.effects = opts.effects;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const { config, args } = opts.config ?? { config: defaultConfiguration(opts.schedulerName ?? DEFAULT_SCHEDULER_NAME), args: new Map<string, Map<string, unknown>>() };
    this.percentage = opts.percentageOfNodesToScore ?? config.percentageOfNodesToScore ?? 0;
    this.chunkSize = opts.parallelChunkSize ?? 64;
    this.parallelism = config.parallelism;
    this.schedulerName = config.profiles[0]!.schedulerName;
    this.cache = new SchedulerCache({ now: this.now, assumedPodTtlMs: opts.assumedPodTtlMs });
    const deps: HandleDeps = {
      snapshot: () => this.snapshot,
      nominatedPodsForNode: (n) => this.queue.nominatedPodsForNode(n),
      bind: (pod, node) => this.effects.bind(pod, node),
      namespaceLabels: opts.namespaceLabels,
      defaultSelector: opts.defaultSelector,
      volumes: opts.volumes,
      evict: async (victim, preemptor, nodeName) => {
        this.effects.recordEvent(victim, 'Normal', 'Preempted', `Preempted by pod ${preemptor.metadata.uid ?? podKey(preemptor)} on node ${nodeName}`);
        await this.effects.deletePod(victim);
      },
      clearNomination: async (pod) => {
        this.queue.deleteNominated(pod.metadata.uid ?? podKey(pod));
        await this.effects.updatePodStatus(pod, null, null);
      },
    };
    const registry = opts.registry ?? inTreeRegistry();
    const pluginEvents = new Map<string, Set<ClusterEvent>>();
    for (const profile of config.profiles) {
      const fw = new Framework(registry, profile, deps, args.get(profile.schedulerName), this.waitingPods);
      this.frameworks.set(profile.schedulerName, fw);
      const o = opts.observer;
      this.observers.set(profile.schedulerName, typeof o === 'function' ? o(profile.schedulerName) : (o ?? {}));
      for (const [plugin, evs] of fw.pluginEvents()) {
        const s = pluginEvents.get(plugin) ?? new Set();
        for (const e of evs) s.add(e);
        pluginEvents.set(plugin, s);
      }
    }
    this.queue = new SchedulingQueue({
      now: this.now,
      initialBackoffMs: opts.initialBackoffMs ?? config.podInitialBackoffSeconds * 1000,
      maxBackoffMs: opts.maxBackoffMs ?? config.podMaxBackoffSeconds * 1000,
      pluginEvents,
    });
  }

  /** The first profile's framework. */
  get framework(): Framework {
    return this.frameworks.get(this.schedulerName)!;
  }

  /** The framework of the profile a pod names (spec.schedulerName, default-scheduler when unset). */
  frameworkFor(pod: SchedulerPod): Framework | undefined {
    return this.frameworks.get(pod.spec.schedulerName || DEFAULT_SCHEDULER_NAME);
  }

  private observerFor(pod: SchedulerPod): SchedulerObserver {
    return this.observers.get(pod.spec.schedulerName || DEFAULT_SCHEDULER_NAME) ?? {};
  }

  /** Whether one of this scheduler's profiles is responsible for an unassigned pod. */
  responsibleFor(pod: SchedulerPod): boolean {
    return !pod.spec.nodeName && this.frameworkFor(pod) !== undefined;
  }

  /** Pods with scheduling gates wait outside the queue until the gates are removed. */
  private gated(pod: SchedulerPod): boolean {
    const gates = (pod.spec as { schedulingGates?: unknown[] }).schedulingGates;
    return Array.isArray(gates) && gates.length > 0;
  }

  /** Pops one pod (waiting if needed) and runs its scheduling cycle; binding continues in the background. False once `signal` aborted. */
  async scheduleOne(signal?: AbortSignal): Promise<boolean> {
    const q = await this.queue.pop(signal);
    if (!q) return false;
    await this.runCycle(q);
    return true;
  }

  /** Runs cycles until the active queue is empty (tests, benchmarks). */
  async scheduleAllPending(): Promise<number> {
    let n = 0;
    for (;;) {
      const q = this.queue.tryPop();
      if (!q) return n;
      await this.runCycle(q);
      n++;
    }
  }

  /** Waits for all in-flight bindings. */
  async waitForBindings(): Promise<void> {
    while (this.bindings.size) await Promise.all([...this.bindings]);
  }

  stop(): void {
    this.stopped = true;
    this.queue.close();
    this.waitingPods.forEach((wp) => wp.reject('', 'scheduler stopped'));
  }

  async runCycle(q: QueuedPodInfo): Promise<void> {
    const start = this.now();
    const cycle = this.queue.schedulingCycle;
    const pod = q.pod;
    const fw = this.frameworkFor(pod);
    if (!fw || pod.metadata.deletionTimestamp || this.cache.isAssumed(pod)) {
      this.queue.done(q.id);
      return;
    }
    const observer = this.observerFor(pod);
    const state = new CycleState();
    let result: ScheduleResult;
    try {
      result = await this.schedulePod(state, q.info, fw);
    } catch (err) {
      await this.handleFailure(q, cycle, err as Error, state, start);
      return;
    }
    // Assume: count the pod on the node now, so the next cycle sees it.
    const assumed: SchedulerPod = { ...pod, spec: { ...pod.spec, nodeName: result.nodeName } };
    try {
      this.cache.assumePod(assumed);
    } catch (err) {
      await this.handleFailure(q, cycle, err as Error, state, start);
      return;
    }
    const reserveStatus = fw.runReserve(state, q.info, result.nodeName);
    const permitStatus = reserveStatus ?? fw.runPermit(state, q.info, result.nodeName, this.now());
    if (permitStatus && permitStatus.code !== Code.Wait) {
      fw.runUnreserve(state, q.info, result.nodeName);
      this.cache.forgetPod(assumed);
      const err = permitStatus.isRejected() ? new PluginRejectedError(permitStatus) : new Error(permitStatus.message());
      await this.handleFailure(q, cycle, err, state, start);
      return;
    }
    this.queue.deleteNominated(q.id);
    observer.attempt?.('scheduled', this.now() - start);
    const binding = this.bindingCycle(fw, q, state, assumed, result.nodeName, cycle).finally(() => this.bindings.delete(binding));
    this.bindings.add(binding);
  }

  private async bindingCycle(fw: Framework, q: QueuedPodInfo, state: CycleState, assumed: SchedulerPod, nodeName: string, cycle: number): Promise<void> {
    const permit = await fw.waitOnPermit(q.info);
    const st = permit ?? (await fw.runPreBind(state, assumed, nodeName)) ?? (await fw.runBind(state, assumed, nodeName));
    if (st) {
      fw.runUnreserve(state, q.info, nodeName);
      try {
        this.cache.forgetPod(assumed);
      } catch {
        // the bound pod already arrived through the watch
      }
      // The node's resources are free again: parked pods may fit there now.
      this.queue.moveAllToActiveOrBackoff('AssignedPodDelete');
      if (permit && permit.isRejected()) {
        await this.handleFailure(q, cycle, new PluginRejectedError(permit), state, this.now());
        return;
      }
      const err = new Error(`binding rejected: ${st.message()}`);
      this.observerFor(q.pod).bindFailed?.(q.pod, err);
      this.queue.addUnschedulable(q, cycle, true);
      this.effects.recordEvent(q.pod, 'Warning', 'FailedScheduling', err.message);
      return;
    }
    this.cache.finishBinding(assumed);
    this.queue.done(q.id);
    this.observerFor(q.pod).podScheduled?.(q.pod, nodeName, this.now() - q.initialAttemptTimestamp, q.attempts);
    this.effects.recordEvent(q.pod, 'Normal', 'Scheduled', `Successfully assigned ${podKey(q.pod)} to ${nodeName}`);
    fw.runPostBind(state, assumed, nodeName);
  }

  private async handleFailure(q: QueuedPodInfo, cycle: number, err: Error, _state: CycleState, start: number): Promise<void> {
    const isFit = err instanceof FitError;
    const unschedulable = isFit || err instanceof NoNodesAvailableError || err instanceof PluginRejectedError;
    const observer = this.observerFor(q.pod);
    observer.attempt?.(unschedulable ? 'unschedulable' : 'error', this.now() - start);
    const message = isFit ? err.describe() : err.message;
    let nominatedNodeName: string | null | undefined;
    if (err instanceof PluginRejectedError && err.status.plugin) q.unschedulablePlugins = new Set([err.status.plugin]);
    if (isFit) {
      q.unschedulablePlugins = err.unschedulablePlugins();
      if (err.nominatedNodeName) {
        nominatedNodeName = err.nominatedNodeName;
        this.queue.addNominated(q.info, nominatedNodeName);
      } else if (err.nominatedNodeName === '') {
        nominatedNodeName = null;
        this.queue.deleteNominated(q.id);
      }
    }
    this.queue.addUnschedulable(q, cycle, !unschedulable);
    observer.podFailed?.(q.pod, message);
    if (this.stopped) return;
    this.effects.recordEvent(q.pod, 'Warning', 'FailedScheduling', message);
    const condition = podScheduledFalse(unschedulable ? 'Unschedulable' : 'SchedulerError', message, this.now());
    try {
      await this.effects.updatePodStatus(q.pod, condition, nominatedNodeName);
    } catch {
      // the pod may be gone; the next attempt or the watch sorts it out
    }
  }

  /** One pod's scheduling algorithm against the current snapshot; throws FitError. */
  async schedulePod(state: CycleState, pod: PodInfo, fw: Framework = this.frameworkFor(pod.pod) ?? this.framework): Promise<ScheduleResult> {
    this.cache.updateSnapshot(this.snapshot);
    const all = this.snapshot.list();
    if (all.length === 0) throw new NoNodesAvailableError();
    const { feasible, statuses, evaluated } = await this.findNodesThatFit(fw, state, pod, all);
    if (feasible.length === 0) {
      const fitErr = statuses instanceof FitError ? statuses : new FitError(pod.pod, all.length, statuses);
      const post = await this.runPostFilter(fw, state, pod, fitErr);
      throw post;
    }
    if (feasible.length === 1) {
      return { nodeName: feasible[0]!.name, evaluatedNodes: evaluated, feasibleNodes: 1 };
    }
    const pre = fw.runPreScore(state, pod, feasible, this.snapshot);
    if (pre) throw new Error(`running PreScore plugin "${pre.plugin}": ${pre.message()}`);
    const scores = fw.runScore(state, pod, feasible);
    return { nodeName: this.selectHost(scores), evaluatedNodes: evaluated, feasibleNodes: feasible.length };
  }

  private async runPostFilter(fw: Framework, state: CycleState, pod: PodInfo, fitErr: FitError): Promise<FitError> {
    if (fw.postFilter.length === 0) return fitErr;
    // Preemption only makes sense for Unschedulable (not unresolvable or error) outcomes.
    const { result, status } = await fw.runPostFilter(state, pod, fitErr.statuses);
    if (status.code === Code.Error) throw new Error(status.message());
    fitErr.postFilterMsg = status.isSuccess() ? '' : status.message();
    if (result?.nominatedNodeName !== undefined) fitErr.nominatedNodeName = result.nominatedNodeName;
    fitErr.message = fitErr.describe();
    return fitErr;
  }

  private async findNodesThatFit(fw: Framework, state: CycleState, pod: PodInfo, all: readonly NodeInfo[]): Promise<{ feasible: NodeInfo[]; statuses: Map<string, Status> | FitError; evaluated: number }> {
    const pre = fw.runPreFilter(state, pod, this.snapshot);
    if (!pre.status.isSuccess()) {
      if (pre.status.code === Code.Error) throw new Error(pre.status.message());
      const statuses = new Map<string, Status>();
      for (const n of all) statuses.set(n.name, pre.status);
      const err = new FitError(pod.pod, all.length, statuses, pre.status.message());
      return { feasible: [], statuses: err, evaluated: 0 };
    }
    let nodes = all;
    if (pre.result?.nodeNames) nodes = all.filter((n) => pre.result!.nodeNames!.has(n.name));
    // A pod nominated by an earlier preemption tries its nominated node first.
    const nominatedName = pod.pod.status?.nominatedNodeName ?? this.queue.nominatedNodeFor(pod.id);
    if (nominatedName) {
      const ni = this.snapshot.get(nominatedName);
      if (ni && !fw.runFilterWithNominatedPods(state, pod, ni, this.queue.nominatedPodsForNode(ni.name))) {
        return { feasible: [ni], statuses: new Map(), evaluated: 1 };
      }
    }
    const numToFind = numFeasibleNodesToFind(nodes.length, fw.percentageOfNodesToScore ?? this.percentage);
    const statuses = new Map<string, Status>();
    const feasible: NodeInfo[] = [];
    const n = nodes.length;
    const startAt = this.nextStartNodeIndex % n;
    let processed = 0;
    let firstError: Status | null = null;
    const checkOne = (i: number) => {
      const ni = nodes[(startAt + i) % n]!;
      const nominated = this.queue.nominatedPodsForNode(ni.name);
      const st = nominated.length
        ? fw.runFilterWithNominatedPods(state, pod, ni, nominated)
        : fw.runFilter(state, pod, ni);
      if (!st) feasible.push(ni);
      else if (st.code === Code.Error) firstError ??= st;
      else statuses.set(ni.name, st);
    };
    // Batches of nodes, interleaved as promises (the event loop gets a turn between batches);
    // stops once enough feasible nodes were found, like upstream's parallelizer with cancel.
    const chunks = Math.ceil(n / this.chunkSize);
    let nextChunk = 0;
    const worker = async () => {
      while (feasible.length < numToFind && nextChunk < chunks) {
        const c = nextChunk++;
        const end = Math.min(n, (c + 1) * this.chunkSize);
        for (let i = c * this.chunkSize; i < end; i++) {
          if (feasible.length >= numToFind) break;
          checkOne(i);
          processed++;
        }
        if (chunks > 1) await Promise.resolve();
      }
    };
    const workers = Math.min(chunks, this.parallelism);
    if (workers <= 1) await worker();
    else await Promise.all(Array.from({ length: workers }, worker));
    if (firstError) throw new Error((firstError as Status).message());
    this.nextStartNodeIndex = (startAt + processed) % n;
    return { feasible, statuses, evaluated: processed };
  }

  /** Highest total score; ties broken uniformly at random (reservoir sampling). */
  private selectHost(scores: NodeScore[]): string {
    let best = scores[0]!;
    let ties = 1;
    for (let i = 1; i < scores.length; i++) {
      const s = scores[i]!;
      if (s.score > best.score) {
        best = s;
        ties = 1;
      } else if (s.score === best.score) {
        ties++;
        if (this.random() * ties < 1) best = s;
      }
    }
    return best.name;
  }

  // ---- cluster events from the watch (the wiring calls these) ----

  onPodAdd(pod: SchedulerPod): void {
    if (isTerminal(pod)) {
      this.onPodDelete(pod);
      return;
    }
    if (pod.spec.nodeName) {
      this.cache.addPod(pod);
      this.queue.moveAllToActiveOrBackoff('AssignedPodAdd');
    } else if (this.responsibleFor(pod) && !pod.metadata.deletionTimestamp && !this.gated(pod)) {
      this.queue.add(pod);
    }
  }

  onPodUpdate(old: SchedulerPod | undefined, pod: SchedulerPod): void {
    if (isTerminal(pod)) {
      this.onPodDelete(pod);
      return;
    }
    if (pod.spec.nodeName) {
      const newlyAssigned = !old?.spec.nodeName;
      if (newlyAssigned) {
        // Unassigned → assigned (our bind came back, or someone else bound it).
        this.queue.delete(pod);
        this.queue.done(pod.metadata.uid ?? podKey(pod));
      }
      this.cache.updatePod(pod);
      // Status-only updates (the node agent reporting) cannot help a parked pod.
      if (newlyAssigned) this.queue.moveAllToActiveOrBackoff('AssignedPodAdd');
      else if (assignedPodChanged(old!, pod)) this.queue.moveAllToActiveOrBackoff('AssignedPodUpdate');
    } else if (this.responsibleFor(pod)) {
      if (pod.metadata.deletionTimestamp) this.queue.delete(pod);
      else if (!this.gated(pod)) this.queue.update(pod);
    }
  }

  onPodDelete(pod: SchedulerPod): void {
    if (pod.spec.nodeName || this.cache.getPod(pod)) {
      this.cache.removePod(pod);
      this.queue.moveAllToActiveOrBackoff('AssignedPodDelete');
    }
    this.queue.delete(pod);
  }

  onNodeAdd(node: SchedulerNode): void {
    this.cache.addNode(node);
    this.queue.moveAllToActiveOrBackoff('NodeAdd');
  }

  onNodeUpdate(node: SchedulerNode, old?: SchedulerNode): void {
    this.cache.updateNode(node);
    // Heartbeats and condition changes do not matter to scheduling; allocatable, labels, taints and cordons do.
    if (!old || nodeSchedulingPropertiesChanged(old, node)) this.queue.moveAllToActiveOrBackoff('NodeUpdate');
  }

  onNodeDelete(node: SchedulerNode): void {
    this.cache.removeNode(node.metadata.name!);
  }

  /** Periodic housekeeping: backoff flush, parked-pod flush, assumed-pod expiry. */
  housekeeping(): void {
    this.waitingPods.expire(this.now());
    this.queue.flush();
    const expired = this.cache.cleanupExpiredAssumedPods();
    if (expired.length) this.queue.moveAllToActiveOrBackoff('AssignedPodDelete');
  }
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Changes of an assigned pod that may make room or change affinity/spread outcomes. */
function assignedPodChanged(old: SchedulerPod, cur: SchedulerPod): boolean {
  if (!sameJSON(old.metadata.labels, cur.metadata.labels)) return true;
  if (old.spec.nodeName !== cur.spec.nodeName) return true;
  return !sameJSON(old.spec.containers?.map((c) => c.resources), cur.spec.containers?.map((c) => c.resources));
}

function nodeSchedulingPropertiesChanged(old: SchedulerNode, cur: SchedulerNode): boolean {
  return !sameJSON(old.status?.allocatable, cur.status?.allocatable) ||
    !sameJSON(old.metadata.labels, cur.metadata.labels) ||
    !sameJSON(old.spec?.taints, cur.spec?.taints) ||
    !!old.spec?.unschedulable !== !!cur.spec?.unschedulable ||
    !sameJSON(old.status?.images, cur.status?.images);
}

/** Succeeded and Failed pods hold no resources. */
function isTerminal(pod: SchedulerPod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

export function podScheduledFalse(reason: string, message: string, now: number): WrittenPodCondition {
  return { type: 'PodScheduled', status: 'False', reason, message, lastProbeTime: null, lastTransitionTime: formatTime(now) };
}

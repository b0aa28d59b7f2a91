/**
 * A profile's framework (kube-scheduler's frameworkImpl): built from a
 * plugin registry and a KubeSchedulerProfile — plugins instantiated from
 * their factories with their args, each extension point filled from its
 * enabled/disabled sets and the multiPoint expansion, score weights — and
 * running the plugins of each extension point in order: the first rejecting
 * filter decides a node's status, scores are normalized per plugin then
 * weighted and summed.
 */
import type { FieldError } from '../config/field_errors.js';
import type { KubeSchedulerProfile, PluginSet } from '../config/types.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { SchedulerPod } from '../types.js';
import type { FrameworkHandle, HandleDeps } from './handle.js';
import {
  Code, CycleState, EXTENSION_POINTS, MAX_NODE_SCORE, Status, isEnqueueExtensions,
  type BindPlugin, type ClusterEvent, type ExtensionPoint, type ExtensionPointPlugins, type FilterPlugin, type NodeScore,
  type PermitPlugin, type Plugin, type PostBindPlugin, type PostFilterPlugin, type PostFilterResult, type PreBindPlugin,
  type PreFilterPlugin, type PreFilterResult, type PreScorePlugin, type ReservePlugin, type ScorePlugin, type SnapshotLister,
} from './interface.js';
import type { Registry } from './registry.js';
import { WaitingPod, WaitingPods } from './waiting_pods.js';

/** A profile that cannot be built; the message is upstream's. */
export class FrameworkError extends Error {
  readonly code = 'INVALID_PROFILE';
  constructor(message: string) {
    super(message);
    this.name = 'FrameworkError';
  }
}

const MAX_TOTAL_SCORE = 2n ** 63n - 1n;

type PluginLists = { [P in ExtensionPoint]: ExtensionPointPlugins[P][] };

/** The extension points in the order upstream fills them (and reports the first missing plugin). */
const FILL_ORDER: readonly ExtensionPoint[] = ['preFilter', 'filter', 'postFilter', 'reserve', 'preScore', 'score', 'preBind', 'bind', 'postBind', 'permit'];

/** Plugin names every enabled set of the profile mentions. */
function pluginsNeeded(profile: KubeSchedulerProfile): Set<string> {
  const s = new Set<string>();
  for (const set of Object.values(profile.plugins ?? {})) for (const p of set?.enabled ?? []) s.add(p.name);
  return s;
}

export class Framework {
  readonly profileName: string;
  readonly percentageOfNodesToScore: number | undefined;
  readonly handle: FrameworkHandle;
  /** Every instantiated plugin by name. */
  readonly plugins = new Map<string, Plugin>();
  readonly preFilter: PreFilterPlugin[];
  readonly filter: FilterPlugin[];
  readonly postFilter: PostFilterPlugin[];
  readonly preScore: PreScorePlugin[];
  readonly score: { plugin: ScorePlugin; weight: number }[];
  readonly reserve: ReservePlugin[];
  readonly permit: PermitPlugin[];
  readonly preBind: PreBindPlugin[];
  readonly bind: BindPlugin[];
  readonly postBind: PostBindPlugin[];
  readonly waitingPods: WaitingPods;

  /**
   * `profile.plugins` is the merged set (defaults applied, see config/defaults.ts);
   * `decodedArgs` holds each plugin's args as its registry entry decoded them.
   */
  constructor(registry: Registry, profile: KubeSchedulerProfile, deps: HandleDeps, decodedArgs: ReadonlyMap<string, unknown> = new Map(), waitingPods = new WaitingPods()) {
    this.profileName = profile.schedulerName;
    this.percentageOfNodesToScore = profile.percentageOfNodesToScore;
    this.waitingPods = waitingPods;
    this.handle = {
      ...deps,
      profileName: profile.schedulerName,
      framework: () => this,
      getWaitingPod: (id) => waitingPods.get(id),
      iterateOverWaitingPods: (fn) => waitingPods.forEach(fn),
    };
    const seenConfig = new Set<string>();
    for (const pc of profile.pluginConfig ?? []) {
      if (seenConfig.has(pc.name)) throw new FrameworkError(`repeated config for plugin ${pc.name}`);
      seenConfig.add(pc.name);
    }
    const needed = pluginsNeeded(profile);
    for (const name of needed) {
      const e = registry.get(name);
      if (!e) continue; // reported below with the extension point that names it
      let args = decodedArgs.get(name);
      if (!decodedArgs.has(name)) {
        const errs: FieldError[] = [];
        args = e.decodeArgs(profile.pluginConfig?.find((c) => c.name === name)?.args, `pluginConfig[${name}].args`, errs);
        if (errs.length) throw new FrameworkError(`initializing plugin "${name}": ${errs.map(String).join(', ')}`);
      }
      try {
        this.plugins.set(name, e.build(args, this.handle));
      } catch (err) {
        throw new FrameworkError(`initializing plugin "${name}": ${(err as Error).message}`);
      }
    }
    const lists = this.fill(profile);
    this.preFilter = lists.preFilter;
    this.filter = lists.filter;
    this.postFilter = lists.postFilter;
    this.preScore = lists.preScore;
    this.reserve = lists.reserve;
    this.permit = lists.permit;
    this.preBind = lists.preBind;
    this.bind = lists.bind;
    this.postBind = lists.postBind;
    if (this.bind.length === 0) throw new FrameworkError(`at least one bind plugin is needed for profile with scheduler name "${profile.schedulerName}"`);
    this.score = this.scoreWeights(profile, lists.score);
  }

  private fill(profile: KubeSchedulerProfile): PluginLists {
    const plugins = profile.plugins ?? {};
    const out = {} as PluginLists;
    for (const point of FILL_ORDER) out[point] = this.fillPoint(point, plugins[point], plugins.multiPoint) as never;
    return out;
  }

  /** One extension point: its own enabled list, then the multiPoint expansion (upstream's updatePluginList + expandMultiPointPlugins). */
  private fillPoint<P extends ExtensionPoint>(point: P, set: PluginSet | undefined, multi: PluginSet | undefined): ExtensionPointPlugins[P][] {
    const { typeName, is } = EXTENSION_POINTS[point];
    const enabled: string[] = [];
    for (const ref of set?.enabled ?? []) {
      const p = this.plugins.get(ref.name);
      if (!p) throw new FrameworkError(`${typeName} "${ref.name}" does not exist`);
      if (!is(p)) throw new FrameworkError(`plugin "${ref.name}" does not extend ${typeName} plugin`);
      if (enabled.includes(ref.name)) throw new FrameworkError(`plugin "${ref.name}" already registered as "${typeName}"`);
      enabled.push(ref.name);
    }
    const disabled = new Set((set?.disabled ?? []).map((p) => p.name));
    const overrides: string[] = [];
    const fromMulti: string[] = [];
    if (!disabled.has('*')) {
      for (const ref of multi?.enabled ?? []) {
        const p = this.plugins.get(ref.name);
        if (!p) throw new FrameworkError(`${typeName} "${ref.name}" does not exist`);
        if (!is(p) || disabled.has(ref.name)) continue;
        if (enabled.includes(ref.name)) {
          overrides.push(ref.name);
          continue;
        }
        if (fromMulti.includes(ref.name)) throw new FrameworkError(`plugin "${ref.name}" already registered as "${typeName}"`);
        fromMulti.push(ref.name);
      }
    }
    // Order: point-specific overrides of multiPoint plugins, then multiPoint, then the rest of the point's own list.
    const ordered = [...enabled.filter((n) => overrides.includes(n)), ...fromMulti, ...enabled.filter((n) => !overrides.includes(n))];
    return ordered.map((n) => this.plugins.get(n)).filter((p): p is ExtensionPointPlugins[P] => p !== undefined && is(p));
  }

  /** Weights from score.enabled then multiPoint.enabled (first wins, 0 means 1), checked against overflow. */
  private scoreWeights(profile: KubeSchedulerProfile, plugins: ScorePlugin[]): { plugin: ScorePlugin; weight: number }[] {
    const weights = new Map<string, number>();
    let total = 0n;
    for (const ref of [...(profile.plugins?.score?.enabled ?? []), ...(profile.plugins?.multiPoint?.enabled ?? [])]) {
      const p = this.plugins.get(ref.name);
      if (!p || !EXTENSION_POINTS.score.is(p) || weights.has(ref.name)) continue;
      const w = ref.weight || 1;
      weights.set(ref.name, w);
      if (BigInt(w) * BigInt(MAX_NODE_SCORE) > MAX_TOTAL_SCORE - total) throw new FrameworkError('total score of Score plugins could overflow');
      total += BigInt(w) * BigInt(MAX_NODE_SCORE);
    }
    return plugins.map((plugin) => {
      const weight = weights.get(plugin.name);
      if (!weight) throw new FrameworkError(`score plugin "${plugin.name}" is not configured with weight`);
      return { plugin, weight };
    });
  }

  /** The extension points a plugin runs at in this profile (for listings and tests). */
  pointsOf(name: string): ExtensionPoint[] {
    const p = this.plugins.get(name);
    if (!p) return [];
    const lists: { [P in ExtensionPoint]: readonly Plugin[] } = {
      preFilter: this.preFilter, filter: this.filter, postFilter: this.postFilter, preScore: this.preScore,
      score: this.score.map((s) => s.plugin), reserve: this.reserve, permit: this.permit, preBind: this.preBind,
      bind: this.bind, postBind: this.postBind,
    };
    return FILL_ORDER.filter((pt) => lists[pt].includes(p));
  }

  /** plugin name → the cluster events it registered (for the queue). */
  pluginEvents(): Map<string, ReadonlySet<ClusterEvent>> {
    const m = new Map<string, ReadonlySet<ClusterEvent>>();
    for (const p of this.plugins.values()) if (isEnqueueExtensions(p)) m.set(p.name, new Set(p.eventsToRegister()));
    return m;
  }

  runPreFilter(state: CycleState, pod: PodInfo, snapshot: SnapshotLister): { result?: PreFilterResult; status: Status } {
    let result: PreFilterResult | undefined;
    for (const p of this.preFilter) {
      let out: ReturnType<PreFilterPlugin['preFilter']>;
      try {
        out = p.preFilter(state, pod, snapshot);
      } catch (err) {
        return { status: Status.error(`running PreFilter plugin "${p.name}": ${(err as Error).message}`).withPlugin(p.name) };
      }
      let st: Status | null | undefined;
      let r: PreFilterResult | undefined;
      if (out instanceof Status || out == null) st = out;
      else ({ status: st, result: r } = out);
      if (st && st.code === Code.Skip) {
        state.skipFilterPlugins.add(p.name);
        continue;
      }
      if (st && !st.isSuccess()) return { status: st.withPlugin(p.name) };
      if (r?.nodeNames) {
        result = { nodeNames: result?.nodeNames ? new Set([...r.nodeNames].filter((n) => result!.nodeNames!.has(n))) : r.nodeNames };
        if (result.nodeNames!.size === 0) {
          return { status: Status.unresolvable('node(s) didn\'t satisfy plugin(s) [' + p.name + '] simultaneously').withPlugin(p.name) };
        }
      }
    }
    return { result, status: new Status(Code.Success) };
  }

  runPreFilterAddPod(state: CycleState, pod: PodInfo, toAdd: PodInfo, node: NodeInfo): void {
    for (const p of this.preFilter) {
      if (!state.skipFilterPlugins.has(p.name)) p.preFilterExtensions()?.addPod(state, pod, toAdd, node);
    }
  }

  runPreFilterRemovePod(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void {
    for (const p of this.preFilter) {
      if (!state.skipFilterPlugins.has(p.name)) p.preFilterExtensions()?.removePod(state, pod, toRemove, node);
    }
  }

  /** The first rejecting filter's status, or null when the node fits. */
  runFilter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | null {
    const filters = (state.activeFilters ??= this.filter.filter((p) => !state.skipFilterPlugins.has(p.name)));
    for (let i = 0; i < filters.length; i++) {
      const p = filters[i]!;
      let st;
      try {
        st = p.filter(state, pod, node);
      } catch (err) {
        return Status.error(`running Filter plugin "${p.name}": ${(err as Error).message}`).withPlugin(p.name);
      }
      if (st && !st.isSuccess()) return st.withPlugin(p.name);
    }
    return null;
  }

  /**
   * Filters with the node's nominated pods of equal or higher priority added
   * first (they will land there), then without them (they may not).
   */
  runFilterWithNominatedPods(state: CycleState, pod: PodInfo, node: NodeInfo, nominated: readonly PodInfo[]): Status | null {
    const relevant = nominated.filter((n) => n.id !== pod.id && n.priority >= pod.priority);
    if (relevant.length > 0) {
      const s2 = state.clone();
      const n2 = node.clone();
      for (const n of relevant) {
        n2.addPod(n);
        this.runPreFilterAddPod(s2, pod, n, n2);
      }
      const st = this.runFilter(s2, pod, n2);
      if (st) return st;
    }
    return this.runFilter(state, pod, node);
  }

  async runPostFilter(state: CycleState, pod: PodInfo, statuses: Map<string, Status>): Promise<{ result?: PostFilterResult; status: Status }> {
    const msgs: string[] = [];
    let result: PostFilterResult | undefined;
    for (const p of this.postFilter) {
      const out = await p.postFilter(state, pod, statuses);
      if (out.status.isSuccess()) return out;
      if (out.status.code === Code.Error) return { status: out.status.withPlugin(p.name) };
      if (out.status.message()) msgs.push(out.status.message());
      result ??= out.result;
    }
    return { result, status: Status.unschedulable(...msgs) };
  }

  runPreScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], snapshot: SnapshotLister): Status | null {
    for (const p of this.preScore) {
      const st = p.preScore(state, pod, nodes, snapshot);
      if (st && st.code === Code.Skip) {
        state.skipScorePlugins.add(p.name);
        continue;
      }
      if (st && !st.isSuccess()) return st.withPlugin(p.name);
    }
    return null;
  }

  /** Weighted sum of normalized scores, one entry per node in `nodes` order. */
  runScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[]): NodeScore[] {
    const n = nodes.length;
    const totals: NodeScore[] = new Array(n);
    const scores: NodeScore[] = new Array(n);
    for (let i = 0; i < n; i++) {
      totals[i] = { name: nodes[i]!.name, score: 0 };
      scores[i] = { name: nodes[i]!.name, score: 0 };
    }
    for (const { plugin, weight } of this.score) {
      if (state.skipScorePlugins.has(plugin.name)) continue;
      for (let i = 0; i < n; i++) scores[i]!.score = plugin.score(state, pod, nodes[i]!);
      plugin.scoreExtensions()?.normalizeScore(state, pod, scores);
      for (let i = 0; i < n; i++) totals[i]!.score += scores[i]!.score * weight;
    }
    return totals;
  }

  runReserve(state: CycleState, pod: PodInfo, nodeName: string): Status | null {
    for (const p of this.reserve) {
      const st = p.reserve(state, pod, nodeName);
      if (st && !st.isSuccess()) return st.withPlugin(p.name);
    }
    return null;
  }

  runUnreserve(state: CycleState, pod: PodInfo, nodeName: string): void {
    for (const p of [...this.reserve].reverse()) p.unreserve(state, pod, nodeName);
  }

  /**
   * Permit plugins in order: a rejection or error ends it; Wait answers put
   * the pod among the waiting pods (waitOnPermit then waits for it).
   */
  runPermit(state: CycleState, pod: PodInfo, nodeName: string, now: number): Status | null {
    const waits = new Map<string, number>();
    for (const p of this.permit) {
      let out;
      try {
        out = p.permit(state, pod, nodeName);
      } catch (err) {
        return Status.error(`running Permit plugin "${p.name}": ${(err as Error).message}`).withPlugin(p.name);
      }
      const st = out.status;
      if (!st || st.isSuccess()) continue;
      if (st.code === Code.Wait) {
        waits.set(p.name, Math.min(out.timeoutMs ?? 0, 15 * 60_000));
        continue;
      }
      if (st.isRejected()) return st.withPlugin(p.name);
      return Status.error(`running Permit plugin "${p.name}": ${st.message()}`).withPlugin(p.name);
    }
    if (waits.size > 0) {
      this.waitingPods.add(new WaitingPod(pod.id, pod.pod, nodeName, waits, now));
      return new Status(Code.Wait);
    }
    return null;
  }

  /** Resolves when a waiting pod is allowed (null) or rejected (its status); null at once when it does not wait. */
  async waitOnPermit(pod: PodInfo): Promise<Status | null> {
    const wp = this.waitingPods.get(pod.id);
    if (!wp) return null;
    const st = await wp.done;
    this.waitingPods.remove(pod.id);
    return st.isSuccess() ? null : st;
  }

  async runPreBind(state: CycleState, pod: SchedulerPod, nodeName: string): Promise<Status | null> {
    for (const p of this.preBind) {
      let st;
      try {
        st = await p.preBind(state, pod, nodeName);
      } catch (err) {
        return Status.error(`running PreBind plugin "${p.name}": ${(err as Error).message}`).withPlugin(p.name);
      }
      if (st && !st.isSuccess()) {
        return st.isRejected() ? st.withPlugin(p.name) : Status.error(`running PreBind plugin "${p.name}": ${st.message()}`).withPlugin(p.name);
      }
    }
    return null;
  }

  async runBind(state: CycleState, pod: SchedulerPod, nodeName: string): Promise<Status | null> {
    for (const p of this.bind) {
      let st;
      try {
        st = await p.bind(state, pod, nodeName);
      } catch (err) {
        return Status.error((err as Error).message).withPlugin(p.name);
      }
      if (st && st.code === Code.Skip) continue;
      return st && !st.isSuccess() ? st.withPlugin(p.name) : null;
    }
    return Status.error('no bind plugin bound the pod');
  }

  runPostBind(state: CycleState, pod: SchedulerPod, nodeName: string): void {
    for (const p of this.postBind) p.postBind(state, pod, nodeName);
  }
}

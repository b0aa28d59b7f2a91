/**
 * Runs the plugins of a profile at each extension point, in order, the way
 * kube-scheduler's frameworkImpl does: the first rejecting filter decides a
 * node's status, scores are normalized per plugin then weighted and summed.
 */
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { Pod } from '../types.js';
import {
  Code, CycleState, Status, isBind, isFilter, isPostFilter, isPreFilter, isPreScore, isReserve, isScore,
  type BindPlugin, type ClusterEvent, type FilterPlugin, type NodeScore, type Plugin, type PostFilterPlugin,
  type PostFilterResult, type PreFilterPlugin, type PreFilterResult, type PreScorePlugin, type ReservePlugin,
  type ScorePlugin, type SnapshotLister,
} from './interface.js';

export interface PluginWithWeight {
  plugin: Plugin;
  /** Score weight (default 1). */
  weight?: number;
}

export class Framework {
  readonly preFilter: PreFilterPlugin[] = [];
  readonly filter: FilterPlugin[] = [];
  readonly postFilter: PostFilterPlugin[] = [];
  readonly preScore: PreScorePlugin[] = [];
  readonly score: { plugin: ScorePlugin; weight: number }[] = [];
  readonly reserve: ReservePlugin[] = [];
  readonly bind: BindPlugin[] = [];
  readonly plugins: Plugin[] = [];

  constructor(plugins: PluginWithWeight[]) {
    for (const { plugin, weight } of plugins) {
      this.plugins.push(plugin);
      if (isPreFilter(plugin)) this.preFilter.push(plugin);
      if (isFilter(plugin)) this.filter.push(plugin);
      if (isPostFilter(plugin)) this.postFilter.push(plugin);
      if (isPreScore(plugin)) this.preScore.push(plugin);
      if (isScore(plugin)) this.score.push({ plugin, weight: weight ?? 1 });
      if (isReserve(plugin)) this.reserve.push(plugin);
      if (isBind(plugin)) this.bind.push(plugin);
    }
  }

  /** plugin name → the cluster events it registered (for the queue). */
  pluginEvents(): Map<string, ReadonlySet<ClusterEvent>> {
    const m = new Map<string, ReadonlySet<ClusterEvent>>();
    for (const p of this.plugins) if (p.events) m.set(p.name, new Set(p.events()));
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
    for (const p of this.preFilter) if (p.addPod && !state.skipFilterPlugins.has(p.name)) p.addPod(state, pod, toAdd, node);
  }

  runPreFilterRemovePod(state: CycleState, pod: PodInfo, toRemove: PodInfo, node: NodeInfo): void {
    for (const p of this.preFilter) if (p.removePod && !state.skipFilterPlugins.has(p.name)) p.removePod(state, pod, toRemove, node);
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
      plugin.normalizeScore?.(state, pod, scores);
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

  async runBind(state: CycleState, pod: Pod, nodeName: string): Promise<Status | null> {
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
}

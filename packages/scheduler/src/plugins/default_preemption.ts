/**
 * DefaultPreemption (PostFilter): when no node fits, look for a node where
 * evicting lower-priority pods makes the pod fit, with as few and as
 * unimportant victims as possible; delete them and nominate the node.
 */
import {
  Code, Status, fitErrorMessage, type CycleState, type PostFilterPlugin, type PostFilterResult, type SnapshotLister,
} from '../framework/interface.js';
import type { DefaultPreemptionArgs } from '../config/plugin_args.js';
import type { Framework } from '../framework/framework.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { SchedulerPod } from '../types.js';

export const MSG_PREEMPTION_NOT_HELPFUL = 'Preemption is not helpful for scheduling';
export const MSG_NO_VICTIMS = 'No preemption victims found for incoming pod';
export const MSG_POLICY_NEVER = 'not eligible due to preemptionPolicy=Never.';
export const MSG_TERMINATING_ON_NOMINATED = 'not eligible due to a terminating pod on the nominated node.';

export interface PreemptionHandle {
  snapshot(): SnapshotLister;
  framework(): Framework;
  nominatedPodsForNode(nodeName: string): PodInfo[];
  /** Deletes a victim through the API (records the Preempted event). */
  evict(victim: SchedulerPod, preemptor: SchedulerPod, nodeName: string): Promise<void>;
  /** Clears status.nominatedNodeName of a lower-priority pod that lost its place. */
  clearNomination(pod: SchedulerPod): Promise<void>;
}

export interface Candidate {
  nodeName: string;
  victims: PodInfo[];
}

function startTime(p: PodInfo): number {
  const s = p.pod.status?.startTime ?? p.pod.metadata.creationTimestamp;
  return s ? Date.parse(s) : 0;
}

/** Higher priority first, then the one running longer. */
function moreImportant(a: PodInfo, b: PodInfo): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  return startTime(a) - startTime(b);
}

export class DefaultPreemption implements PostFilterPlugin {
  readonly name = 'DefaultPreemption';
  /** Dry-run at most max(minCandidateNodesAbsolute, minCandidateNodesPercentage% of nodes) nodes. */
  private readonly minCandidateNodesPercentage: number;
  private readonly minCandidateNodesAbsolute: number;
  constructor(private readonly handle: PreemptionHandle, args: Partial<DefaultPreemptionArgs> = {}) {
    this.minCandidateNodesPercentage = args.minCandidateNodesPercentage ?? 10;
    this.minCandidateNodesAbsolute = args.minCandidateNodesAbsolute ?? 100;
  }

  async postFilter(state: CycleState, pod: PodInfo, statuses: Map<string, Status>): Promise<{ result?: PostFilterResult; status: Status }> {
    const eligible = this.eligibility(pod, statuses);
    if (eligible) return { status: Status.unschedulable(eligible) };
    const snapshot = this.handle.snapshot();
    const all = snapshot.list();
    const { candidates, nodeStatuses } = this.findCandidates(state, pod, all, statuses);
    if (candidates.length === 0) {
      // An empty nomination clears one from an earlier attempt.
      return { result: { nominatedNodeName: '' }, status: Status.unschedulable(`preemption: ${fitErrorMessage(all.length, nodeStatuses)}`) };
    }
    const best = this.pickOne(candidates);
    await this.prepare(best, pod);
    return { result: { nominatedNodeName: best.nodeName }, status: new Status(Code.Success) };
  }

  /** A reason the pod may not preempt, or '' when it may. */
  private eligibility(pod: PodInfo, statuses: Map<string, Status>): string {
    if (pod.pod.spec.preemptionPolicy === 'Never') return MSG_POLICY_NEVER;
    const nominated = pod.pod.status?.nominatedNodeName;
    if (nominated) {
      const st = statuses.get(nominated);
      if (st?.code === Code.UnschedulableAndUnresolvable) return '';
      const ni = this.handle.snapshot().get(nominated);
      if (ni?.pods.some((p) => p.pod.metadata.deletionTimestamp && p.priority < pod.priority)) return MSG_TERMINATING_ON_NOMINATED;
    }
    return '';
  }

  findCandidates(state: CycleState, pod: PodInfo, all: readonly NodeInfo[], statuses: Map<string, Status>): { candidates: Candidate[]; nodeStatuses: Map<string, Status> } {
    const nodeStatuses = new Map<string, Status>();
    const potential: NodeInfo[] = [];
    for (const ni of all) {
      const st = statuses.get(ni.name);
      if (st?.code === Code.UnschedulableAndUnresolvable) nodeStatuses.set(ni.name, Status.unresolvable(MSG_PREEMPTION_NOT_HELPFUL));
      else potential.push(ni);
    }
    const limit = Math.max(this.minCandidateNodesAbsolute, Math.trunc((all.length * this.minCandidateNodesPercentage) / 100));
    const candidates: Candidate[] = [];
    for (const ni of potential) {
      if (candidates.length >= limit) break;
      const { victims, status } = this.selectVictimsOnNode(state, pod, ni);
      if (status) nodeStatuses.set(ni.name, status);
      else candidates.push({ nodeName: ni.name, victims });
    }
    return { candidates, nodeStatuses };
  }

  /** The fewest lower-priority pods whose removal lets the pod fit on the node (most important reprieved first). */
  selectVictimsOnNode(state: CycleState, pod: PodInfo, node: NodeInfo): { victims: PodInfo[]; status?: Status } {
    const fw = this.handle.framework();
    const nominated = this.handle.nominatedPodsForNode(node.name);
    const s = state.clone();
    const n = node.clone();
    const lower = n.pods.filter((p) => p.priority < pod.priority);
    if (lower.length === 0) return { victims: [], status: Status.unresolvable(MSG_NO_VICTIMS) };
    for (const v of lower) {
      n.removePod(v.id);
      fw.runPreFilterRemovePod(s, pod, v, n);
    }
    const st = fw.runFilterWithNominatedPods(s, pod, n, nominated);
    if (st) return { victims: [], status: st };
    const victims: PodInfo[] = [];
    for (const v of [...lower].sort(moreImportant)) {
      n.addPod(v);
      fw.runPreFilterAddPod(s, pod, v, n);
      if (fw.runFilterWithNominatedPods(s, pod, n, nominated)) {
        n.removePod(v.id);
        fw.runPreFilterRemovePod(s, pod, v, n);
        victims.push(v);
      }
    }
    if (victims.length === 0) return { victims, status: Status.error(`expected at least one victim pod on node "${node.name}"`) };
    return { victims };
  }

  pickOne(candidates: Candidate[]): Candidate {
    const OFFSET = 2 ** 31;
    const key = (c: Candidate) => {
      const highest = Math.max(...c.victims.map((v) => v.priority));
      const sum = c.victims.reduce((acc, v) => acc + v.priority + OFFSET, 0);
      const earliestOfHighest = Math.min(...c.victims.filter((v) => v.priority === highest).map(startTime));
      return [highest, sum, c.victims.length, -earliestOfHighest];
    };
    let best = candidates[0]!;
    let bestKey = key(best);
    for (const c of candidates.slice(1)) {
      const k = key(c);
      for (let i = 0; i < k.length; i++) {
        if (k[i]! < bestKey[i]!) {
          best = c;
          bestKey = k;
          break;
        }
        if (k[i]! > bestKey[i]!) break;
      }
    }
    return best;
  }

  private async prepare(c: Candidate, preemptor: PodInfo): Promise<void> {
    await Promise.all(c.victims.map((v) => this.handle.evict(v.pod, preemptor.pod, c.nodeName)));
    // Lower-priority pods nominated here lose their place to the preemptor.
    const losers = this.handle.nominatedPodsForNode(c.nodeName).filter((p) => p.priority < preemptor.priority && p.id !== preemptor.id);
    await Promise.all(losers.map((p) => this.handle.clearNomination(p.pod)));
  }
}


import type { NodeAffinityArgs } from '../config/plugin_args.js';
import { Status, type EnqueueExtensions, type FilterPlugin, type NodeScore, type ScoreExtensions, type ScorePlugin } from '../framework/interface.js';
import { nodeSelectorTermMatches, nodeSelectorTermsMatch } from '../selectors.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { SchedulerNode, SchedulerPod } from '../types.js';
import { defaultNormalize } from './taint_toleration.js';

export const ERR_REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
/** A node outside the profile's addedAffinity (upstream's errReasonEnforced). */
export const ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity";

/** spec.nodeSelector and required node affinity together (upstream's RequiredNodeAffinity). */
export function podMatchesNodeSelectorAndAffinity(pod: SchedulerPod, node: SchedulerNode): boolean {
  if (!pod.spec.nodeSelector && !pod.spec.affinity?.nodeAffinity) return true;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) {
    if (labels[k] !== v) return false;
  }
  const req = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req && !nodeSelectorTermsMatch(req.nodeSelectorTerms ?? [], node)) return false;
  return true;
}

/** NodeAffinity (with NodeSelector): required terms filter, preferred terms score by weight. */
export class NodeAffinity implements FilterPlugin, ScorePlugin, ScoreExtensions, EnqueueExtensions {
  readonly name = 'NodeAffinity';
  private readonly added: NodeAffinityArgs['addedAffinity'];

  /** `addedAffinity` (args) applies to every pod of the profile on top of its own. */
  constructor(args: NodeAffinityArgs = {}) {
    this.added = args.addedAffinity;
  }

  scoreExtensions(): ScoreExtensions { return this; }
  eventsToRegister() { return ['NodeAdd', 'NodeUpdate'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (!node.node) return Status.unresolvable('node not found');
    const addedReq = this.added?.requiredDuringSchedulingIgnoredDuringExecution;
    if (addedReq && !nodeSelectorTermsMatch(addedReq.nodeSelectorTerms ?? [], node.node)) return Status.unresolvable(ERR_REASON_ENFORCED);
    return podMatchesNodeSelectorAndAffinity(pod.pod, node.node) ? null : Status.unresolvable(ERR_REASON_NODE_AFFINITY);
  }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const own = pod.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const prefs = [...(this.added?.preferredDuringSchedulingIgnoredDuringExecution ?? []), ...own];
    if (!prefs.length || !node.node) return 0;
    let total = 0;
    for (const p of prefs) {
      if (p.weight !== 0 && nodeSelectorTermMatches(p.preference, node.node)) total += p.weight;
    }
    return total;
  }

  normalizeScore(_s: unknown, _pod: PodInfo, scores: NodeScore[]): void {
    defaultNormalize(scores, false);
  }
}

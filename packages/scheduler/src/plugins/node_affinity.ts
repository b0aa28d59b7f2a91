import { Status, type FilterPlugin, type NodeScore, type ScorePlugin } from '../framework/interface.js';
import { nodeSelectorTermMatches, nodeSelectorTermsMatch } from '../labels.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import type { Node, Pod } from '../types.js';
import { defaultNormalize } from './taint_toleration.js';

export const ERR_REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

/** spec.nodeSelector and required node affinity together (upstream's RequiredNodeAffinity). */
export function podMatchesNodeSelectorAndAffinity(pod: Pod, node: Node): boolean {
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
export class NodeAffinity implements FilterPlugin, ScorePlugin {
  readonly name = 'NodeAffinity';
  events() { return ['NodeAdd', 'NodeUpdate'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (!node.node) return Status.unresolvable('node not found');
    return podMatchesNodeSelectorAndAffinity(pod.pod, node.node) ? null : Status.unresolvable(ERR_REASON_NODE_AFFINITY);
  }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    const prefs = pod.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    if (!prefs || !node.node) return 0;
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

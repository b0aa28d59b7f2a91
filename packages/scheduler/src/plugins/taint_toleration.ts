import { MAX_NODE_SCORE, Status, type EnqueueExtensions, type FilterPlugin, type NodeScore, type ScoreExtensions, type ScorePlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import { findUntoleratedTaint, tolerationsTolerateTaint } from '@mkube/api';

/** NoSchedule and NoExecute taints keep pods off; PreferNoSchedule only scores. */
export const hardEffect = (t: { effect: string }) => t.effect === 'NoSchedule' || t.effect === 'NoExecute';

/** TaintToleration: NoSchedule/NoExecute taints filter, PreferNoSchedule taints lower the score. */
export class TaintToleration implements FilterPlugin, ScorePlugin, ScoreExtensions, EnqueueExtensions {
  readonly name = 'TaintToleration';
  eventsToRegister() { return ['NodeAdd', 'NodeUpdate'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (!node.node?.spec?.taints?.length) return null;
    const taint = findUntoleratedTaint(node.node?.spec?.taints, pod.pod.spec.tolerations, hardEffect);
    if (!taint) return null;
    return Status.unresolvable(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`);
  }

  score(_s: unknown, pod: PodInfo, node: NodeInfo): number {
    if (!node.node?.spec?.taints?.length) return 0;
    const tolerations = (pod.pod.spec.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
    let n = 0;
    for (const taint of node.node?.spec?.taints ?? []) {
      if (taint.effect === 'PreferNoSchedule' && !tolerationsTolerateTaint(tolerations, taint)) n++;
    }
    return n;
  }

  scoreExtensions(): ScoreExtensions { return this; }

  /** Fewer intolerable taints is better: reverse-normalize to [0, 100]. */
  normalizeScore(_s: unknown, _pod: PodInfo, scores: NodeScore[]): void {
    defaultNormalize(scores, true);
  }
}

/** helper.DefaultNormalizeScore. */
export function defaultNormalize(scores: NodeScore[], reverse: boolean): void {
  let max = 0;
  for (const s of scores) max = Math.max(max, s.score);
  if (max === 0) {
    if (reverse) for (const s of scores) s.score = MAX_NODE_SCORE;
    return;
  }
  for (const s of scores) {
    let v = Math.trunc((MAX_NODE_SCORE * s.score) / max);
    if (reverse) v = MAX_NODE_SCORE - v;
    s.score = v;
  }
}

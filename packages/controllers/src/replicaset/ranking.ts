/**
 * Which pods a ReplicaSet deletes first when it scales down, in Kubernetes'
 * order (controller.ActivePodsWithRanks): unscheduled before scheduled,
 * Pending before Unknown before Running, not ready before ready, more
 * replicas of the same set on the node before fewer, ready for a shorter time
 * before longer, more restarts before fewer, newer before older.
 */
import { parseTime, type Pod } from '@mkube/api';
import { isPodReady, podCondition } from '../util/pod.js';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function restarts(pod: Pod): number {
  let max = 0;
  for (const s of pod.status?.containerStatuses ?? []) max = Math.max(max, s.restartCount ?? 0);
  return max;
}

/** Negative when `a` should be deleted before `b`. */
export function comparePodsForDeletion(a: Pod, b: Pod, rankA = 0, rankB = 0): number {
  const na = a.spec?.nodeName ? 1 : 0;
  const nb = b.spec?.nodeName ? 1 : 0;
  if (na !== nb) return na - nb;
  const pa = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const pb = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a) ? 1 : 0;
  const rb = isPodReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  if (rankA !== rankB) return rankB - rankA;
  if (ra && rb) {
    const ta = parseTime(podCondition(a, 'Ready')?.lastTransitionTime) ?? 0;
    const tb = parseTime(podCondition(b, 'Ready')?.lastTransitionTime) ?? 0;
    if (ta !== tb) return tb - ta;
  }
  const xa = restarts(a);
  const xb = restarts(b);
  if (xa !== xb) return xb - xa;
  const ca = parseTime(a.metadata?.creationTimestamp) ?? 0;
  const cb = parseTime(b.metadata?.creationTimestamp) ?? 0;
  if (ca !== cb) return cb - ca;
  return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

/**
 * The `count` pods to delete from `pods` (the set's own active pods);
 * `related` are the active pods of the set and its siblings, used to rank
 * pods on crowded nodes first.
 */
export function podsToDelete<P extends Pod>(pods: P[], count: number, related: Pod[] = pods): P[] {
  if (count <= 0) return [];
  const onNode = new Map<string, number>();
  for (const p of related) {
    const n = p.spec?.nodeName;
    if (n) onNode.set(n, (onNode.get(n) ?? 0) + 1);
  }
  const rank = (p: Pod) => (p.spec?.nodeName ? onNode.get(p.spec.nodeName) ?? 0 : 0);
  return [...pods].sort((a, b) => comparePodsForDeletion(a, b, rank(a), rank(b))).slice(0, count);
}

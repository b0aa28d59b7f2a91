/** Pod readiness and availability as Kubernetes' podutil computes them. */
import { getCondition, parseTime, type Pod, type PodCondition } from '@mkube/api';

export function podCondition(pod: Pod, type: string): PodCondition | undefined {
  return getCondition(pod.status?.conditions, type);
}

export function isPodReady(pod: Pod): boolean {
  return podCondition(pod, 'Ready')?.status === 'True';
}

/** Ready for at least minReadySeconds (by the Ready condition's lastTransitionTime). */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  const ready = podCondition(pod, 'Ready');
  if (ready?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const since = parseTime(ready.lastTransitionTime);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

/** Not terminal and not being deleted (controller.IsPodActive). */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

export function podIP(pod: Pod): string | undefined {
  const ip = pod.status?.podIP;
  if (ip) return ip;
  return pod.status?.podIPs?.[0]?.ip || undefined;
}

/** Pod readiness and availability as Kubernetes' podutil computes them. */
import type { Condition, KObject } from '../types.js';
import { parseTime } from './time.js';

export function podCondition(pod: KObject, type: string): Condition | undefined {
  return ((pod.status?.conditions ?? []) as Condition[]).find((c) => c.type === type);
}

export function isPodReady(pod: KObject): boolean {
  return podCondition(pod, 'Ready')?.status === 'True';
}

/** Ready for at least minReadySeconds (by the Ready condition's lastTransitionTime). */
export function isPodAvailable(pod: KObject, minReadySeconds: number, now: number): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = parseTime(podCondition(pod, 'Ready')!.lastTransitionTime);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

/** Not terminal and not being deleted (controller.IsPodActive). */
export function isPodActive(pod: KObject): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

export function podIP(pod: KObject): string | undefined {
  const ip = pod.status?.podIP as string | undefined;
  if (ip) return ip;
  const ips = (pod.status?.podIPs ?? []) as Array<{ ip?: string }>;
  return ips[0]?.ip || undefined;
}

/**
 * Status conditions: find one by type, and set one with upstream's
 * lastTransitionTime rule (meta.SetStatusCondition) — the time moves only
 * when the status changes; a new condition without a time gets `now`.
 */
import { formatTime } from './time.js';

/** The fields every condition kind shares (PodCondition, NodeCondition, DeploymentCondition, metav1.Condition...). */
export interface ConditionLike {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export function getCondition<C extends { type: string }>(conditions: readonly C[] | undefined | null, type: string): C | undefined {
  return (conditions ?? []).find((c) => c.type === type);
}

/** Is the condition of this type present with status "True"? */
export function isConditionTrue(conditions: readonly ConditionLike[] | undefined | null, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/**
 * Returns the conditions with `next` set in place of the one of its type
 * (or appended). When the status is unchanged the existing
 * lastTransitionTime is kept; when it changes (or the condition is new) the
 * time is next's own or else `nowMs` formatted. The input is not modified.
 */
export function setCondition<C extends ConditionLike>(conditions: readonly C[] | undefined | null, next: C, nowMs: number): C[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const cur = i < 0 ? undefined : list[i];
  const out: C = { ...next };
  if (cur && cur.status === next.status && cur.lastTransitionTime) out.lastTransitionTime = cur.lastTransitionTime;
  else if (!out.lastTransitionTime) out.lastTransitionTime = formatTime(nowMs);
  if (i < 0) list.push(out);
  else list[i] = out;
  return list;
}

/** The conditions without the one of this type. */
export function removeCondition<C extends { type: string }>(conditions: readonly C[] | undefined | null, type: string): C[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

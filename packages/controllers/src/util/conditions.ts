import type { Condition } from '../types.js';

/**
 * Sets (or replaces) a condition; lastTransitionTime moves only when the
 * status changes, as Kubernetes' condition helpers do.
 */
export function setCondition(conds: Condition[], c: Condition): Condition[] {
  const cur = conds.find((x) => x.type === c.type);
  const next: Condition = { ...c };
  if (cur && cur.status === c.status && cur.lastTransitionTime) next.lastTransitionTime = cur.lastTransitionTime;
  return [...conds.filter((x) => x.type !== c.type), next];
}

export const getCondition = (conds: Condition[] | undefined, type: string): Condition | undefined => (conds ?? []).find((c) => c.type === type);

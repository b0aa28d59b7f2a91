/** IntOrString values (maxSurge, maxUnavailable) scaled against a total. */
import type { IntOrString } from '@mkube/api';

export class IntOrStringError extends Error {
  readonly code = 'INVALID_INT_OR_STRING';
}

/**
 * intstr.GetScaledValueFromIntOrPercent: an int is taken as is; "N%" is N% of
 * total, rounded up or down.
 */
export function scaledValue(v: IntOrString | undefined | null, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) {
    if (/^\d+$/.test(v)) return Number(v);
    throw new IntOrStringError(`invalid value for IntOrString: invalid value "${v}": must be an integer or a percentage`);
  }
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

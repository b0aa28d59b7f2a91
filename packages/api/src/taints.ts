/**
 * Taints and tolerations with upstream's matching (core/v1
 * Toleration.ToleratesTaint, component-helpers TolerationsTolerateTaint and
 * FindMatchingUntoleratedTaint): an empty effect matches every effect, an
 * empty key every key; operator Exists matches any value, Equal (or empty)
 * needs the same value; any other operator matches nothing.
 */
import type { Taint, Toleration } from './types/generated.js';

export const TAINT_EFFECT_NO_SCHEDULE = 'NoSchedule';
export const TAINT_EFFECT_PREFER_NO_SCHEDULE = 'PreferNoSchedule';
export const TAINT_EFFECT_NO_EXECUTE = 'NoExecute';

/** Does the toleration tolerate the taint? */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** Is the taint tolerated by any of the tolerations? */
export function tolerationsTolerateTaint(tolerations: readonly Toleration[] | undefined | null, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/** The first taint (passing `filter`, if given) no toleration tolerates, or undefined when all are tolerated. */
export function findUntoleratedTaint(
  taints: readonly Taint[] | undefined | null,
  tolerations: readonly Toleration[] | undefined | null,
  filter?: (taint: Taint) => boolean,
): Taint | undefined {
  for (const taint of taints ?? []) {
    if (filter && !filter(taint)) continue;
    if (!tolerationsTolerateTaint(tolerations, taint)) return taint;
  }
  return undefined;
}

/** The tolerations that tolerate the taint. */
export function matchingTolerations(tolerations: readonly Toleration[] | undefined | null, taint: Taint): Toleration[] {
  return (tolerations ?? []).filter((t) => toleratesTaint(t, taint));
}

/**
 * Semantic equality of JSON values, as Go compares the decoded structs: null, missing, empty maps,
 * empty lists and the zero scalars (0, false, "") are the same — the API server's JSON omits zero
 * omitempty fields as upstream does, so a status computed with `readyReplicas: 0` equals the stored
 * one without it (comparing them as text rewrote every Deployment's status in a loop).
 */
const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === 0 || v === false || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

export function semanticEqual(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => semanticEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) if (!semanticEqual(ao[k], bo[k])) return false;
  return true;
}

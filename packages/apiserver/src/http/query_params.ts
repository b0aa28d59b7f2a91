/**
 * Query parameters as kube-apiserver's parameter codec converts them: the
 * integer options (limit, timeoutSeconds, gracePeriodSeconds) go through Go's
 * strconv.ParseInt(s, 10, 64) and a value it refuses is a 400 BadRequest
 * with Go's message; booleans follow apimachinery's
 * Convert_Slice_string_To_bool (absent, "0" or "false" in any case are false,
 * anything else — the empty string too — is true), so they never fail.
 */
import { errors } from '../errors.js';

/** The integer query parameters by the options they belong to (ListOptions for reads, DeleteOptions for deletes). */
const INT_PARAMS: Record<string, readonly string[]> = {
  GET: ['limit', 'timeoutSeconds'],
  HEAD: ['limit', 'timeoutSeconds'],
  DELETE: ['gracePeriodSeconds', 'limit', 'timeoutSeconds'],
};

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Go's strconv.ParseInt(text, 10, 64), throwing its error message. */
export function parseGoInt64(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  const v = BigInt(text);
  if (v > INT64_MAX || v < INT64_MIN) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  return Number(v);
}

/** apimachinery's query boolean: only absence, "0" and "false" (any case) are false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !(v === '0' || v.toLowerCase() === 'false');
}

/** Throws a 400 for an integer parameter of `method`'s options that Go would not parse (the first value counts, as upstream). */
export function checkQueryParams(method: string, q: URLSearchParams): void {
  for (const name of INT_PARAMS[method] ?? []) {
    const v = q.get(name);
    if (v === null) continue;
    try {
      parseGoInt64(v);
    } catch (err) {
      throw errors.badRequest((err as Error).message);
    }
  }
}

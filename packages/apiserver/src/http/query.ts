/**
 * Query parameters as upstream's parameter codec reads them
 * (k8s.io/apimachinery/pkg/runtime/conversion.go DefaultStringConversions and
 * the generated url.Values conversions of ListOptions, DeleteOptions,
 * CreateOptions, UpdateOptions and PatchOptions), then checked as
 * apimachinery's option validation does:
 * - booleans: only "false" and "0" (any case) are false, any other value is
 *   true, an absent parameter false (Convert_Slice_string_To_bool; the request
 *   info reads `watch` the same way), so `watch=True` from the Python client is
 *   a watch;
 * - integers: Go's strconv.ParseInt (base 10, 64 bits); anything else is 400
 *   BadRequest with strconv's message (`strconv.ParseInt: parsing "x": invalid syntax`);
 * - enumerations (resourceVersionMatch, fieldValidation, propagationPolicy,
 *   dryRun): 422 Invalid on the options kind in meta.k8s.io, with upstream's
 *   field paths and supported values.
 */
import { ApiError, errors, fieldErrorBody, type FieldError } from '../errors.js';

/** The first value of a parameter, as upstream's conversions take it. */
function first(q: URLSearchParams, name: string): string | null {
  return q.get(name);
}

/** A boolean parameter: absent → undefined; "false"/"0" in any case → false; anything else → true. */
export function queryBool(q: URLSearchParams, name: string): boolean | undefined {
  const v = first(q, name);
  if (v === null) return undefined;
  const lower = v.toLowerCase();
  return !(lower === 'false' || lower === '0');
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Go's strconv.ParseInt(text, 10, 64), throwing its error message. */
export function parseInt64(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  const v = BigInt(text);
  if (v > INT64_MAX || v < INT64_MIN) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  return Number(v);
}

/** The integer query parameters by the options they belong to (ListOptions for reads, DeleteOptions for deletes). */
const INT_PARAMS: Record<string, readonly string[]> = {
  GET: ['limit', 'timeoutSeconds'],
  HEAD: ['limit', 'timeoutSeconds'],
  DELETE: ['gracePeriodSeconds', 'limit', 'timeoutSeconds'],
};

/** Throws a 400 for an integer parameter of `method`'s options that Go would not parse (checked after authorization, as upstream). */
export function checkQueryParams(method: string, q: URLSearchParams): void {
  for (const name of INT_PARAMS[method] ?? []) queryInt(q, name);
}

/** An integer parameter: absent → undefined; not an int64 → 400 with strconv's message. */
export function queryInt(q: URLSearchParams, name: string): number | undefined {
  const v = first(q, name);
  if (v === null) return undefined;
  try {
    return parseInt64(v);
  } catch (err) {
    throw errors.badRequest((err as Error).message);
  }
}

/** The list/watch options of a collection GET. */
export interface ListQuery {
  watch: boolean;
  limit?: number;
  timeoutSeconds?: number;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
  resourceVersion?: string;
  resourceVersionMatch?: string;
  continueToken?: string;
}

/** Decodes and validates ListOptions (metainternalversion validation.ValidateListOptions). */
export function listQuery(q: URLSearchParams): ListQuery {
  const out: ListQuery = {
    watch: queryBool(q, 'watch') ?? false,
    allowWatchBookmarks: queryBool(q, 'allowWatchBookmarks') ?? false,
    sendInitialEvents: queryBool(q, 'sendInitialEvents'),
    resourceVersion: q.get('resourceVersion') ?? undefined,
    resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
    continueToken: q.get('continue') ?? undefined,
  };
  const limit = queryInt(q, 'limit');
  if (limit !== undefined) out.limit = limit;
  const timeoutSeconds = queryInt(q, 'timeoutSeconds');
  if (timeoutSeconds !== undefined) out.timeoutSeconds = timeoutSeconds;
  const errs: OptionError[] = [];
  const match = out.resourceVersionMatch ?? '';
  if (out.watch) {
    if (match) errs.push({ type: 'FieldValueForbidden', field: 'resourceVersionMatch', detail: 'resourceVersionMatch is forbidden for watch' });
  } else {
    if (match) {
      if (!out.resourceVersion) errs.push({ type: 'FieldValueForbidden', field: 'resourceVersionMatch', detail: 'resourceVersionMatch is forbidden unless resourceVersion is provided' });
      if (out.continueToken) errs.push({ type: 'FieldValueForbidden', field: 'resourceVersionMatch', detail: 'resourceVersionMatch is forbidden when continue is provided' });
      if (match !== 'Exact' && match !== 'NotOlderThan') errs.push({ type: 'FieldValueNotSupported', field: 'resourceVersionMatch', value: match, supported: ['Exact', 'NotOlderThan', ''] });
      if (match === 'Exact' && out.resourceVersion === '0') errs.push({ type: 'FieldValueForbidden', field: 'resourceVersionMatch', detail: 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"' });
    }
    if (out.sendInitialEvents) errs.push({ type: 'FieldValueForbidden', field: 'sendInitialEvents', detail: 'sendInitialEvents is forbidden for list' });
  }
  if (errs.length > 0) throw optionsInvalid('ListOptions', errs);
  return out;
}

/** Go's %#v of a []string (how a dryRun field error prints its value). */
function goStringSlice(values: string[]): string {
  return `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
}

/** A field error with its body already rendered (the dryRun value prints as Go's %#v, not as a quoted string). */
type OptionError = FieldError | { type: 'FieldValueNotSupported'; field: string; body: string };

function dryRunErrors(values: string[]): OptionError[] {
  if (values.every((v) => v === 'All')) return [];
  return [{ type: 'FieldValueNotSupported', field: 'dryRun', body: `Unsupported value: ${goStringSlice(values)}: supported values: "All"` }];
}

/** errors.NewInvalid(GroupKind{meta.k8s.io, kind}, "", errs): 422 with one cause per field error. */
function optionsInvalid(kind: string, errs: OptionError[]): ApiError {
  const body = (e: OptionError) => ('body' in e ? e.body : fieldErrorBody(e));
  const parts = errs.map((e) => `${e.field}: ${body(e)}`);
  const summary = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${summary}`, {
    group: 'meta.k8s.io',
    kind,
    causes: errs.map((e) => ({ reason: e.type, message: body(e), field: e.field })),
  });
}

/** The options of a create, update or patch: dryRun, fieldManager, fieldValidation (and force for patches). */
export interface WriteQuery {
  dryRun: boolean;
  fieldValidation: 'Ignore' | 'Warn' | 'Strict';
  force?: boolean;
}

/**
 * Decodes and validates CreateOptions/UpdateOptions/PatchOptions
 * (ValidateCreateOptions and its siblings). `apply` is true for
 * application/apply-patch requests (force is only allowed there).
 */
export function writeQuery(q: URLSearchParams, kind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions', apply = false): WriteQuery {
  const errs: OptionError[] = [];
  const force = queryBool(q, 'force');
  if (kind === 'PatchOptions') {
    if (!apply && force !== undefined) errs.push({ type: 'FieldValueForbidden', field: 'force', detail: 'may not be specified for non-apply patch' });
    if (apply && !q.get('fieldManager')) errs.push({ type: 'FieldValueRequired', field: 'fieldManager', detail: 'is required for apply patch' });
  }
  const manager = q.get('fieldManager') ?? '';
  if (manager.length > 128) errs.push({ type: 'FieldValueTooLong', field: 'fieldManager', detail: 'must have at most 128 bytes' });
  const dryRun = q.getAll('dryRun');
  errs.push(...dryRunErrors(dryRun));
  const validation = q.get('fieldValidation') ?? '';
  if (!['', 'Ignore', 'Strict', 'Warn'].includes(validation)) {
    errs.push({ type: 'FieldValueNotSupported', field: 'fieldValidation', value: validation, supported: ['', 'Ignore', 'Strict', 'Warn'] });
  }
  if (errs.length > 0) throw optionsInvalid(kind, errs);
  return { dryRun: dryRun.length > 0, fieldValidation: (validation || 'Warn') as WriteQuery['fieldValidation'], force };
}

/** DeleteOptions fields carried by the query. */
export interface DeleteQuery {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  orphanDependents?: boolean;
  dryRun?: string[];
}

/** Decodes the DeleteOptions parameters of a query (400 on a malformed integer). */
export function deleteQuery(q: URLSearchParams): DeleteQuery {
  const out: DeleteQuery = {};
  const grace = queryInt(q, 'gracePeriodSeconds');
  if (grace !== undefined) out.gracePeriodSeconds = grace;
  const policy = q.get('propagationPolicy');
  if (policy !== null) out.propagationPolicy = policy;
  const orphan = queryBool(q, 'orphanDependents');
  if (orphan !== undefined) out.orphanDependents = orphan;
  if (q.has('dryRun')) out.dryRun = q.getAll('dryRun');
  return out;
}

/** ValidateDeleteOptions over the merged options (body and query): 422 DeleteOptions.meta.k8s.io. */
export function validateDeleteOptions(opts: { propagationPolicy?: unknown; orphanDependents?: unknown; dryRun?: unknown }): void {
  const errs: OptionError[] = [];
  const policy = opts.propagationPolicy;
  if (opts.orphanDependents !== undefined && opts.orphanDependents !== null && policy !== undefined && policy !== null) {
    errs.push({ type: 'FieldValueInvalid', field: 'propagationPolicy', value: policy, detail: 'orphanDependents and deletionPropagation cannot be both set' });
  }
  if (policy !== undefined && policy !== null && policy !== 'Foreground' && policy !== 'Background' && policy !== 'Orphan') {
    errs.push({ type: 'FieldValueNotSupported', field: 'propagationPolicy', value: policy, supported: ['Foreground', 'Background', 'Orphan', 'nil'] });
  }
  if (Array.isArray(opts.dryRun)) errs.push(...dryRunErrors(opts.dryRun.map(String)));
  if (errs.length > 0) throw optionsInvalid('DeleteOptions', errs);
}

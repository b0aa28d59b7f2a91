/**
 * The guard against prototype pollution and runaway nesting in decoded
 * request bodies: field names that reach JavaScript object internals
 * (`__proto__`, `constructor`, `prototype`) are refused anywhere in a body,
 * a JSON-patch path or `from`, as a 422 Invalid naming the field; bodies
 * nested deeper than MAX_DEPTH are a 400 with Go's "exceeded max depth".
 * Upstream's limit is 10000 (Go's encoding/json); ours is lower because the
 * patch engines, the codec and the yaml parser recurse per level and a
 * JavaScript stack overflow there would be a 500 (or, inside V8's regexp
 * compiler, a fatal error). Called at the decode boundary of
 * REST and gRPC; the patch engines call it again as defence in depth.
 */
import type { JsonObject } from '@mkube/api';
import { ApiError } from '../errors.js';

/** Keys that read or write JavaScript object internals when used as property names. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The deepest nesting of a JSON body (upstream: 10000; see the top of the file). */
export const MAX_DEPTH = 1000;
/** The deepest estimated nesting of a YAML body: the yaml parser recurses per level. */
export const MAX_YAML_DEPTH = 500;

export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/** Who a body is about, for the "Kind "name" is invalid" message. */
export interface BodySubject {
  kind?: string;
  group?: string;
  name?: string;
}

const FORBIDDEN_DETAIL = 'field name is reserved and may not be used';

/** A field path as Kubernetes prints it: "metadata.labels.x", "spec.containers[0].__proto__". */
export function fieldPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

/** 422 Invalid for a forbidden field name, as field.Forbidden(path, detail) in upstream's NewInvalid. */
export function forbiddenFieldError(field: string, subject: BodySubject = {}): ApiError {
  const body = `Forbidden: ${FORBIDDEN_DETAIL}`;
  const kind = subject.kind ?? '';
  const name = subject.name ?? '';
  return new ApiError(422, 'Invalid', `${kind ? `${kind} ` : ''}"${name}" is invalid: ${field}: ${body}`, {
    name: name || undefined,
    group: subject.group || undefined,
    kind: kind || undefined,
    causes: [{ reason: 'FieldValueForbidden', message: body, field }],
  });
}

/** 400 for a body nested deeper than MAX_DEPTH, with the message Go's JSON decoder gives. */
export function maxDepthError(): ApiError {
  return new ApiError(400, 'BadRequest', "couldn't get version/kind; json parse error: exceeded max depth");
}

/**
 * The deepest nesting of arrays and objects in JSON text, counted without
 * parsing (so that no recursive parser or walker ever sees a body deeper
 * than MAX_DEPTH). Stops counting past `limit`.
 */
export function jsonDepth(text: string, limit = MAX_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * An upper bound of the nesting of YAML text without parsing it: flow
 * brackets open so far plus, per line, the block indentation levels open and
 * the compact indicators ("- ", "? ", ": ") on the line.
 */
export function yamlDepth(text: string, limit = MAX_YAML_DEPTH): number {
  let flow = 0;
  let max = 0;
  const indents: number[] = [];
  for (const line of text.split('\n')) {
    let indent = 0;
    while (indent < line.length && (line[indent] === ' ' || line[indent] === '\t')) indent++;
    const rest = line.slice(indent);
    if (rest === '' || rest.startsWith('#')) continue;
    while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
    indents.push(indent);
    let inline = 0;
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i];
      if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      else if ((c === '-' || c === '?' || c === ':') && (i + 1 === rest.length || rest[i + 1] === ' ')) inline++;
      else continue;
      const d = flow + indents.length + inline;
      if (d > max) {
        max = d;
        if (max > limit) return max;
      }
    }
    max = Math.max(max, indents.length);
    if (max > limit) return max;
  }
  return max;
}

interface Found {
  path: (string | number)[];
}

interface Frame {
  v: unknown;
  parent: Frame | undefined;
  key: string | number;
  depth: number;
}

function pathOf(f: Frame | undefined, last: string | number): (string | number)[] {
  const out: (string | number)[] = [last];
  for (let cur = f; cur && cur.parent !== undefined; cur = cur.parent) out.unshift(cur.key);
  return out;
}

/**
 * The first forbidden key (own property, at any depth) in a decoded value,
 * or a depth overflow. Iterative (no recursion, and a frame links to its
 * parent rather than copying the path), so no value can exhaust the stack.
 */
export function findForbidden(value: unknown, maxDepth = MAX_DEPTH): { forbidden?: Found; tooDeep?: boolean } {
  const stack: Frame[] = [{ v: value, parent: undefined, key: '', depth: 0 }];
  while (stack.length > 0) {
    const f = stack.pop()!;
    const v = f.v;
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) continue;
    if (f.depth >= maxDepth) return { tooDeep: true };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], parent: f, key: i, depth: f.depth + 1 });
      continue;
    }
    // Own keys only (JSON.parse and yaml make "__proto__" an own property).
    const keys = Object.keys(v);
    for (const k of keys) if (isForbiddenKey(k)) return { forbidden: { path: pathOf(f, k) } };
    for (let i = keys.length - 1; i >= 0; i--) stack.push({ v: (v as Record<string, unknown>)[keys[i]!], parent: f, key: keys[i]!, depth: f.depth + 1 });
  }
  return {};
}

/** The subject a decoded object names itself: its kind and metadata.name. */
export function subjectOf(body: unknown): BodySubject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const o = body as JsonObject;
  const kind = Object.hasOwn(o, 'kind') && typeof o.kind === 'string' ? o.kind : undefined;
  const meta = Object.hasOwn(o, 'metadata') ? o.metadata : undefined;
  const name = typeof meta === 'object' && meta !== null && !Array.isArray(meta) && Object.hasOwn(meta, 'name') && typeof meta.name === 'string' ? meta.name : undefined;
  const apiVersion = Object.hasOwn(o, 'apiVersion') && typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : undefined;
  return { kind, name, group };
}

/**
 * Throws unless `value` is free of forbidden keys and not nested deeper than
 * MAX_DEPTH. `subject` names the object in the message (default: the body's
 * own kind and name).
 */
export function assertSafeDecoded(value: unknown, subject?: BodySubject): void {
  const found = findForbidden(value);
  if (found.tooDeep) throw maxDepthError();
  if (found.forbidden) throw forbiddenFieldError(fieldPath(found.forbidden.path), subject ?? subjectOf(value));
}

/** The field path of a JSON pointer's tokens (array indexes printed as [i] when numeric). */
export function pointerField(tokens: readonly string[]): string {
  return fieldPath(tokens.map((t) => (/^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : t)));
}

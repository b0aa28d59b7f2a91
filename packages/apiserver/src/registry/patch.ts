/**
 * PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * Kubernetes strategic merge patch (merge keys per list, directives $patch,
 * $setElementOrder, $retainKeys, $deleteFromPrimitiveList).
 */
import type { JsonObject, JsonValue } from '@mkube/api';
import { ApiError, errors } from '../errors.js';
import { assertSafeDecoded, forbiddenFieldError, isForbiddenKey, pointerField, subjectOf, type BodySubject } from '../http/safe_keys.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export const PRIMITIVE_MERGE = Symbol('primitive-merge');
export type MergeKey = string | typeof PRIMITIVE_MERGE | undefined;

/** Merge keys of list fields (patchMergeKey / patchStrategy=merge in the Kubernetes types). */
const MERGE_KEYS: Record<string, MergeKey> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  addresses: 'type',
  taints: 'key',
  finalizers: PRIMITIVE_MERGE,
};

/** The merge key of the list at `path` (field names from the object root). */
export function mergeKeyFor(path: readonly string[], kind?: string): MergeKey {
  const field = path[path.length - 1];
  if (field === undefined) return undefined;
  if (field === 'ports') {
    if (kind === 'Service' && path.length === 2 && path[0] === 'spec') return 'port';
    if (path.includes('containers') || path.includes('initContainers')) return 'containerPort';
    return undefined;
  }
  if (field === 'conditions' || field === 'addresses' || field === 'taints') return path[0] === 'status' || field === 'taints' ? MERGE_KEYS[field] : undefined;
  if (field === 'finalizers') return path[0] === 'metadata' ? PRIMITIVE_MERGE : undefined;
  return MERGE_KEYS[field];
}

// ---------------------------------------------------------------- own-property access

/** The own property `k` of `o` (never an inherited one such as `constructor`). */
function own(o: Obj, k: string): JsonValue | undefined {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

/** Sets the own property `k`; a forbidden key never reaches an assignment (defence in depth). */
function setOwn(o: Obj, k: string, v: JsonValue): void {
  if (isForbiddenKey(k)) throw forbiddenFieldError(k);
  o[k] = v;
}

// ---------------------------------------------------------------- merge patch

/** RFC 7386 merge patch; `subject` names the object in errors (default: `target`'s kind and name). */
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue, subject: BodySubject = subjectOf(target)): JsonValue {
  assertSafeDecoded(patch, subject);
  return mergePatch(target, patch);
}

function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const k of Object.keys(patch)) {
    const v = patch[k]!;
    if (v === null) delete out[k];
    else setOwn(out, k, mergePatch(own(out, k), v));
  }
  return out;
}

// ---------------------------------------------------------------- JSON patch

/** A JSON patch failure: 422 as upstream's NewGenericServerResponse, with the json-patch detail. */
function patchError(detail: string): ApiError {
  return new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${detail}`);
}

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(ptr: unknown, subject: BodySubject): string[] {
  if (typeof ptr !== 'string') throw errors.badRequest(`json: cannot unmarshal ${ptr === null ? 'null' : Array.isArray(ptr) ? 'array' : typeof ptr} into Go value of type string`);
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw patchError(`invalid JSON pointer "${ptr}"`);
  const tokens = ptr.slice(1).split('/').map(unescape);
  const bad = tokens.findIndex(isForbiddenKey);
  if (bad >= 0) throw forbiddenFieldError(pointerField(tokens.slice(0, bad + 1)), subject);
  return tokens;
}

/** An array index token: decimal digits without leading zeros (RFC 6901), within `max`. */
function arrayIndex(token: string, max: number): number | undefined {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(token)) return undefined;
  const i = Number(token);
  return i <= max ? i : undefined;
}

function child(cur: JsonValue | undefined, t: string): JsonValue | undefined {
  if (Array.isArray(cur)) {
    const i = arrayIndex(t, cur.length - 1);
    return i === undefined ? undefined : cur[i];
  }
  if (isObj(cur)) return own(cur, t);
  return undefined;
}

function container(doc: JsonValue, tokens: string[], op: string, ptr: string): { parent: Obj | JsonValue[]; last: string } {
  let cur: JsonValue | undefined = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = child(cur, t);
    if (cur === undefined || cur === null) throw patchError(`${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw patchError(`${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: JsonValue, tokens: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = doc;
  for (const t of tokens) {
    cur = child(cur, t);
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Upstream's bound on the operations of one JSON patch (maxJSONPatchOperations). */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** RFC 6902 JSON patch; `subject` names the object in errors (default: `doc`'s kind and name). */
export function applyJsonPatch(doc: JsonValue, ops: unknown, subject: BodySubject = subjectOf(doc)): JsonValue {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`);
  }
  assertSafeDecoded(ops, subject);
  let out = clone(doc);
  for (const raw of ops) {
    if (!isObj(raw)) throw errors.badRequest(`json: cannot unmarshal ${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw} into Go value of type jsonpatch.Operation`);
    const opName = typeof raw.op === 'string' ? raw.op : undefined;
    const ptr = own(raw, 'path');
    const value = own(raw, 'value') as JsonValue;
    const path = parsePointer(ptr ?? '', subject);
    const ptrText = String(ptr ?? '');
    const missing = () => patchError(`${opName} operation does not apply: doc is missing path: "${ptrText}": missing value`);
    const add = (tokens: string[], v: JsonValue) => {
      if (tokens.length === 0) {
        out = clone(v);
        return;
      }
      const { parent, last } = container(out, tokens, opName ?? 'add', ptrText);
      if (Array.isArray(parent)) {
        const idx = last === '-' ? parent.length : arrayIndex(last, parent.length);
        if (idx === undefined) throw missing();
        parent.splice(idx, 0, clone(v));
      } else setOwn(parent, last, clone(v));
    };
    const remove = (tokens: string[]) => {
      if (tokens.length === 0) throw missing();
      const { parent, last } = container(out, tokens, opName ?? 'remove', ptrText);
      if (Array.isArray(parent)) {
        const idx = arrayIndex(last, parent.length - 1);
        if (idx === undefined) throw missing();
        parent.splice(idx, 1);
      } else {
        if (!Object.hasOwn(parent, last)) throw missing();
        delete parent[last];
      }
    };
    switch (opName) {
      case 'add':
        if (value === undefined) throw patchError('add operation does not apply: missing value');
        add(path, value);
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        if (value === undefined) throw patchError('replace operation does not apply: missing value');
        if (getAt(out, path) === undefined) throw missing();
        if (path.length === 0) out = clone(value);
        else {
          const { parent, last } = container(out, path, 'replace', ptrText);
          if (Array.isArray(parent)) parent[arrayIndex(last, parent.length - 1)!] = clone(value);
          else setOwn(parent, last, clone(value));
        }
        break;
      case 'move':
      case 'copy': {
        const from = parsePointer(own(raw, 'from') ?? '', subject);
        const v = getAt(out, from);
        if (v === undefined) throw missing();
        if (opName === 'move') remove(from);
        add(path, v);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(out, path)) !== JSON.stringify(value)) throw patchError(`testing value ${ptrText} failed`);
        break;
      default:
        throw new ApiError(400, 'BadRequest', `Unexpected kind: ${String(raw.op)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge patch

/** Removes SMP directives from a value that is inserted as is. */
export function stripDirectives(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.filter((e) => !(isObj(e) && e.$patch === 'delete')).map(stripDirectives);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (val === null) continue;
    setOwn(out, k, stripDirectives(val));
  }
  return out;
}

/** Strategic merge patch; `subject` names the object in errors (default: `original`'s kind and name). */
export function applyStrategicMergePatch(original: Obj, patch: Obj, kind?: string, subject: BodySubject = subjectOf(original)): Obj {
  if (!isObj(patch)) throw new ApiError(400, 'BadRequest', 'strategic merge patch must be a JSON object');
  assertSafeDecoded(patch, subject);
  const out = smpMap(original, patch, [], kind);
  return out ?? {};
}

function smpMap(orig: Obj | undefined, patch: Obj, path: string[], kind?: string): Obj | undefined {
  const directive = own(patch, '$patch');
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return stripDirectives(patch) as Obj;
  const result: Obj = isObj(orig) ? clone(orig) : {};
  for (const [key, val] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const cur = own(result, field);
      if (Array.isArray(cur) && Array.isArray(val)) setOwn(result, field, cur.filter((e) => !val.some((d) => JSON.stringify(d) === JSON.stringify(e))));
      continue;
    }
    if (val === null) {
      delete result[key];
      continue;
    }
    const at = [...path, key];
    if (isObj(val)) {
      const existing = own(result, key);
      const merged = smpMap(isObj(existing) ? existing : undefined, val, at, kind);
      if (merged === undefined) delete result[key];
      else setOwn(result, key, merged);
    } else if (Array.isArray(val)) {
      const mk = mergeKeyFor(at, kind);
      const existing = own(result, key);
      const cur = Array.isArray(existing) ? existing : [];
      if (mk === undefined) {
        if (val.some((e) => isObj(e) && e.$patch === 'replace')) setOwn(result, key, val.filter((e) => !(isObj(e) && e.$patch === 'replace')).map(stripDirectives));
        else setOwn(result, key, stripDirectives(val));
      } else if (mk === PRIMITIVE_MERGE) {
        const merged = [...cur];
        for (const e of val) if (!merged.some((m) => JSON.stringify(m) === JSON.stringify(e))) merged.push(e);
        setOwn(result, key, merged);
      } else {
        setOwn(result, key, mergeList(cur, val, mk, at, kind));
      }
    } else {
      setOwn(result, key, val);
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = key.slice('$setElementOrder/'.length);
    const list = own(result, field);
    if (!Array.isArray(list)) continue;
    const mk = mergeKeyFor([...path, field], kind);
    const ident = (e: JsonValue): string => (typeof mk === 'string' && isObj(e) ? JSON.stringify(e[mk]) : JSON.stringify(e));
    const pos = new Map(order.map((o, i) => [ident(o), i]));
    const indexed = list.map((e, i) => ({ e, i, p: pos.get(ident(e)) }));
    indexed.sort((a, b) => {
      if (a.p !== undefined && b.p !== undefined) return a.p - b.p;
      if (a.p !== undefined) return -1;
      if (b.p !== undefined) return 1;
      return a.i - b.i;
    });
    setOwn(result, field, indexed.map((x) => x.e));
  }
  const retain = own(patch, '$retainKeys');
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
  }
  return result;
}

function mergeList(orig: JsonValue[], patch: JsonValue[], mk: string, path: string[], kind?: string): JsonValue[] {
  if (patch.some((e) => isObj(e) && e.$patch === 'replace')) {
    return patch.filter((e) => !(isObj(e) && e.$patch === 'replace')).map(stripDirectives);
  }
  const result = clone(orig);
  for (const item of patch) {
    if (!isObj(item)) {
      result.push(item);
      continue;
    }
    const idx = result.findIndex((e) => isObj(e) && JSON.stringify(e[mk]) === JSON.stringify(item[mk]));
    if (item.$patch === 'delete') {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = smpMap(result[idx] as Obj, item, path, kind);
      if (merged === undefined) result.splice(idx, 1);
      else result[idx] = merged;
    } else {
      result.push(stripDirectives(item));
    }
  }
  return result;
}

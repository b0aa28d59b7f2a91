/**
 * PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * Kubernetes strategic merge patch (merge keys per list, directives $patch,
 * $setElementOrder, $retainKeys, $deleteFromPrimitiveList).
 */
import type { JsonObject, JsonValue } from '@mkube/api';
import { ApiError } from '../errors.js';

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

// ---------------------------------------------------------------- merge patch

export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- JSON patch

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: invalid JSON pointer "${ptr}"`);
  return ptr.slice(1).split('/').map(unescape);
}

function container(doc: JsonValue, tokens: string[], op: string): { parent: Obj | JsonValue[]; last: string } {
  let cur: JsonValue = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)] as JsonValue;
    else if (isObj(cur)) cur = cur[t] as JsonValue;
    else cur = undefined as unknown as JsonValue;
    if (cur === undefined || cur === null) throw new ApiError(500, 'InternalError', `Internal error occurred: ${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw new ApiError(500, 'InternalError', `Internal error occurred: ${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: JsonValue, tokens: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObj(cur)) cur = cur[t];
    else return undefined;
  }
  return cur;
}

export function applyJsonPatch(doc: JsonValue, ops: unknown): JsonValue {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out = clone(doc);
  for (const raw of ops) {
    const op = raw as { op?: string; path?: string; from?: string; value?: JsonValue };
    const path = parsePointer(op.path ?? '');
    const missing = () => new ApiError(500, 'InternalError', `Internal error occurred: ${op.op} operation does not apply: doc is missing path: "${op.path}": missing value`);
    const add = (tokens: string[], value: JsonValue) => {
      if (tokens.length === 0) {
        out = clone(value);
        return;
      }
      const { parent, last } = container(out, tokens, op.op ?? 'add');
      if (Array.isArray(parent)) {
        const idx = last === '-' ? parent.length : Number(last);
        if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw missing();
        parent.splice(idx, 0, clone(value));
      } else parent[last] = clone(value);
    };
    const remove = (tokens: string[]) => {
      const { parent, last } = container(out, tokens, op.op ?? 'remove');
      if (Array.isArray(parent)) {
        const idx = Number(last);
        if (!(idx >= 0 && idx < parent.length)) throw missing();
        parent.splice(idx, 1);
      } else {
        if (!(last in parent)) throw missing();
        delete parent[last];
      }
    };
    switch (op.op) {
      case 'add':
        add(path, op.value as JsonValue);
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        if (getAt(out, path) === undefined) throw missing();
        if (path.length === 0) out = clone(op.value as JsonValue);
        else {
          const { parent, last } = container(out, path, 'replace');
          if (Array.isArray(parent)) parent[Number(last)] = clone(op.value as JsonValue);
          else parent[last] = clone(op.value as JsonValue);
        }
        break;
      case 'move':
      case 'copy': {
        const from = parsePointer(op.from ?? '');
        const v = getAt(out, from);
        if (v === undefined) throw missing();
        if (op.op === 'move') remove(from);
        add(path, v);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(out, path)) !== JSON.stringify(op.value)) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`);
        }
        break;
      default:
        throw new ApiError(400, 'BadRequest', `Unexpected kind: ${String(op.op)}`);
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
    out[k] = stripDirectives(val);
  }
  return out;
}

export function applyStrategicMergePatch(original: Obj, patch: Obj, kind?: string): Obj {
  if (!isObj(patch)) throw new ApiError(400, 'BadRequest', 'strategic merge patch must be a JSON object');
  const out = smpMap(original, patch, [], kind);
  return out ?? {};
}

function smpMap(orig: Obj | undefined, patch: Obj, path: string[], kind?: string): Obj | undefined {
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return stripDirectives(patch) as Obj;
  const result: Obj = isObj(orig) ? clone(orig) : {};
  for (const [key, val] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const cur = result[field];
      if (Array.isArray(cur) && Array.isArray(val)) result[field] = cur.filter((e) => !val.some((d) => JSON.stringify(d) === JSON.stringify(e)));
      continue;
    }
    if (val === null) {
      delete result[key];
      continue;
    }
    const at = [...path, key];
    if (isObj(val)) {
      const merged = smpMap(isObj(result[key]) ? (result[key] as Obj) : undefined, val, at, kind);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(val)) {
      const mk = mergeKeyFor(at, kind);
      const cur = Array.isArray(result[key]) ? (result[key] as JsonValue[]) : [];
      if (mk === undefined) {
        if (val.some((e) => isObj(e) && e.$patch === 'replace')) result[key] = val.filter((e) => !(isObj(e) && e.$patch === 'replace')).map(stripDirectives);
        else result[key] = stripDirectives(val);
      } else if (mk === PRIMITIVE_MERGE) {
        const merged = [...cur];
        for (const e of val) if (!merged.some((m) => JSON.stringify(m) === JSON.stringify(e))) merged.push(e);
        result[key] = merged;
      } else {
        result[key] = mergeList(cur, val, mk, at, kind);
      }
    } else {
      result[key] = val;
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = key.slice('$setElementOrder/'.length);
    const list = result[field];
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
    result[field] = indexed.map((x) => x.e);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
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

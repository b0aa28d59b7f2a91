/**
 * Field ownership for server-side apply, a simplified structured-merge-diff:
 * each manager owns a set of field paths (FieldsV1: f:<field>, k:<merge key>,
 * v:<value>); an apply that sets a field owned by another manager to a
 * different value is a conflict unless forced; fields an applier stops
 * sending are removed when nobody else owns them. Non-apply writes give their
 * manager the fields whose values they changed.
 */
import type { JsonObject, JsonValue } from '@mkube/api';
import { ApiError } from '../errors.js';
import { assertSafeDecoded, subjectOf } from '../http/safe_keys.js';
import { applyStrategicMergePatch, mergeKeyFor, PRIMITIVE_MERGE } from './patch.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The own property `k` (field paths come from clients' managedFields: never read inherited ones). */
const own = (o: Obj, k: string): JsonValue | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);

/** A `k:{"name":"x"}` segment's single key and value, or undefined when it is not one. */
function mergeKeySegment(seg: string): [string, JsonValue] | undefined {
  let key: unknown;
  try {
    key = JSON.parse(seg.slice(2));
  } catch {
    return undefined;
  }
  if (!isObj(key)) return undefined;
  const first = Object.entries(key)[0];
  return first ? [first[0], first[1]] : undefined;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

const SKIP_META = new Set(['resourceVersion', 'managedFields', 'uid', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'name', 'namespace']);

/** Leaf paths of an object, each a JSON array of segments. */
export function fieldPaths(o: Obj, kind?: string): Set<string> {
  const out = new Set<string>();
  const walk = (v: JsonValue, segs: string[], names: string[]) => {
    if (isObj(v)) {
      const entries = Object.entries(v).filter(([k]) => !(names.length === 1 && names[0] === 'metadata' && SKIP_META.has(k)));
      if (Object.keys(v).length === 0) out.add(JSON.stringify(segs));
      for (const [k, val] of entries) walk(val, [...segs, `f:${k}`], [...names, k]);
      return;
    }
    if (Array.isArray(v)) {
      const mk = mergeKeyFor(names, kind);
      if (mk === PRIMITIVE_MERGE) {
        for (const e of v) out.add(JSON.stringify([...segs, `v:${JSON.stringify(e)}`]));
        return;
      }
      if (typeof mk === 'string' && v.every((e) => isObj(e) && e[mk] !== undefined)) {
        for (const e of v as Obj[]) {
          const item = [...segs, `k:${JSON.stringify({ [mk]: e[mk] })}`];
          out.add(JSON.stringify([...item, '.']));
          walk(e, item, names);
        }
        return;
      }
    }
    out.add(JSON.stringify(segs));
  };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    walk(v, [`f:${k}`], [k]);
  }
  return out;
}

/** The value at a path, or undefined. */
export function valueAt(o: Obj, path: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = o;
  for (const seg of path) {
    if (seg === '.') return cur;
    if (cur === undefined) return undefined;
    if (seg.startsWith('f:')) cur = isObj(cur) ? own(cur, seg.slice(2)) : undefined;
    else if (seg.startsWith('k:')) {
      const key = mergeKeySegment(seg);
      if (!key) return undefined;
      const [mk, mv] = key;
      cur = Array.isArray(cur) ? cur.find((e) => isObj(e) && JSON.stringify(own(e, mk)) === JSON.stringify(mv)) : undefined;
    } else if (seg.startsWith('v:')) {
      const want = seg.slice(2);
      cur = Array.isArray(cur) ? cur.find((e) => JSON.stringify(e) === want) : undefined;
    } else return undefined;
  }
  return cur;
}

function removeAt(o: Obj, path: string[]): void {
  const last = path[path.length - 1] === '.' ? path.length - 2 : path.length - 1;
  const parent = valueAt(o, path.slice(0, last));
  const seg = path[last]!;
  if (seg.startsWith('f:') && isObj(parent)) delete parent[seg.slice(2)];
  else if (Array.isArray(parent)) {
    const idx = parent.findIndex((e) => valueAt({ x: [e] } as Obj, ['f:x', seg]) !== undefined);
    if (idx >= 0) parent.splice(idx, 1);
  }
}

export function toFieldsV1(paths: Iterable<string>): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of JSON.parse(p) as string[]) {
      // Segments are prefixed (f:, k:, v:) or '.', so none is an object internal; own reads all the same.
      const next = own(cur, seg);
      if (isObj(next)) cur = next;
      else {
        const made: Obj = {};
        Object.defineProperty(cur, seg, { value: made, enumerable: true, writable: true, configurable: true });
        cur = made;
      }
    }
  }
  return root;
}

export function fromFieldsV1(f: Obj | undefined): Set<string> {
  const out = new Set<string>();
  const walk = (node: Obj, segs: string[]) => {
    const keys = Object.keys(node);
    if (keys.length === 0 && segs.length > 0) out.add(JSON.stringify(segs));
    if (segs.length > 64) return; // deeper than any object schema: a client's garbage
    for (const k of keys) {
      const v = node[k];
      if (k === '.') out.add(JSON.stringify([...segs, '.']));
      else if (isObj(v)) walk(v, [...segs, k]);
      else out.add(JSON.stringify([...segs, k]));
    }
  };
  if (isObj(f)) walk(f, []);
  return out;
}

/** The managedFields entries of an object (entries a client sent malformed are ignored). */
function entries(o: Obj): ManagedFieldsEntry[] {
  const meta = own(o, 'metadata');
  const list = isObj(meta) ? own(meta, 'managedFields') : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is Obj => isObj(e) && typeof e.manager === 'string' && isObj(own(e, 'fieldsV1') ?? {})) as unknown as ManagedFieldsEntry[];
}

function setEntries(o: Obj, list: ManagedFieldsEntry[]): void {
  const meta = (o.metadata ??= {}) as Obj;
  const kept = list.filter((e) => Object.keys(e.fieldsV1).length > 0);
  if (kept.length > 0) meta.managedFields = kept as unknown as JsonValue;
  else delete meta.managedFields;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Records a non-apply write by `manager`: it now owns every field whose value it changed. */
export function recordUpdate(next: Obj, prev: Obj | undefined, manager: string, apiVersion: string, kind: string, subresource?: string): void {
  const list = prev ? entries(prev).map((e) => ({ ...e })) : [];
  const changed = new Set<string>();
  for (const p of fieldPaths(next, kind)) {
    const path = JSON.parse(p) as string[];
    if (!prev || JSON.stringify(valueAt(next, path)) !== JSON.stringify(valueAt(prev, path))) changed.add(p);
  }
  if (subresource === 'status') for (const p of fieldPaths({ status: next.status ?? {} } as Obj, kind)) changed.add(p.replace('"f:status"', '"f:status"'));
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  const exists = (p: string) => valueAt(next, JSON.parse(p) as string[]) !== undefined;
  for (const e of list) {
    const owned = new Set([...fromFieldsV1(e.fieldsV1)].filter(exists));
    if (e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '')) {
      mine = e;
      for (const c of changed) owned.add(c);
    } else for (const c of changed) owned.delete(c);
    out.push({ ...e, fieldsV1: toFieldsV1(owned) });
  }
  if (!mine && changed.size > 0) {
    const e: ManagedFieldsEntry = { manager, operation: 'Update', apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(changed) };
    if (subresource) e.subresource = subresource;
    out.push(e);
  } else if (mine && changed.size > 0) {
    const m = out.find((e) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? ''));
    if (m) m.time = now();
  }
  setEntries(next, out);
}

/**
 * Server-side apply of `config` by `manager` onto `live` (undefined: create).
 * Returns the new object; throws 409 on conflicts unless `force`.
 */
export function serverSideApply(live: Obj | undefined, config: Obj, manager: string, force: boolean, kind: string): Obj {
  assertSafeDecoded(config, subjectOf(config));
  const apiVersion = String(config.apiVersion ?? '');
  const applied = fieldPaths(config, kind);
  const base: Obj = live ? (JSON.parse(JSON.stringify(live)) as Obj) : {};
  const list = entries(base).map((e) => ({ ...e, owned: fromFieldsV1(e.fieldsV1) }));
  const conflicts: { manager: string; apiVersion: string; path: string }[] = [];
  for (const e of list) {
    if (e.manager === manager && e.operation === 'Apply') continue;
    for (const p of applied) {
      if (!e.owned.has(p)) continue;
      const path = JSON.parse(p) as string[];
      if (path[path.length - 1] === '.') continue;
      if (JSON.stringify(valueAt(base, path)) !== JSON.stringify(valueAt(config, path))) conflicts.push({ manager: e.manager, apiVersion: e.apiVersion, path: p });
    }
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);
  const previous = list.find((e) => e.manager === manager && e.operation === 'Apply')?.owned ?? new Set<string>();
  const stripped: Obj = { ...config };
  const merged = applyStrategicMergePatch(base, stripped, kind);
  // Fields this applier stopped sending go away unless someone else owns them.
  const others = new Set<string>();
  for (const e of list) if (!(e.manager === manager && e.operation === 'Apply')) for (const p of e.owned) others.add(p);
  const removed = [...previous].filter((p) => !applied.has(p) && !others.has(p)).map((p) => JSON.parse(p) as string[]);
  removed.sort((a, b) => b.length - a.length);
  for (const path of removed) removeAt(merged, path);
  const out: ManagedFieldsEntry[] = [];
  for (const e of list) {
    if (e.manager === manager && e.operation === 'Apply') continue;
    const owned = new Set(e.owned);
    if (force) for (const c of conflicts) if (c.manager === e.manager) owned.delete(c.path);
    const { owned: _o, ...rest } = e;
    void _o;
    out.push({ ...rest, fieldsV1: toFieldsV1(owned) });
  }
  out.unshift({ manager, operation: 'Apply', apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(applied) });
  setEntries(merged, out);
  return merged;
}

function humanPath(p: string): string {
  return (JSON.parse(p) as string[])
    .map((s) => (s.startsWith('f:') ? `.${s.slice(2)}` : s.startsWith('k:') ? `[${Object.entries(JSON.parse(s.slice(2)) as Obj).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]` : s.startsWith('v:') ? `[${s.slice(2)}]` : ''))
    .join('');
}

function conflictError(conflicts: { manager: string; apiVersion: string; path: string }[]): ApiError {
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const k = `"${c.manager}" using ${c.apiVersion}`;
    byManager.set(k, [...(byManager.get(k) ?? []), humanPath(c.path)]);
  }
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0]!;
    message = `Apply failed with 1 conflict: conflict with "${c.manager}" using ${c.apiVersion}: ${humanPath(c.path)}`;
  } else {
    const parts = [...byManager].map(([who, paths]) => `conflicts with ${who}:\n${paths.map((p) => `- ${p}`).join('\n')}`);
    message = `Apply failed with ${conflicts.length} conflicts: ${parts.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${c.apiVersion}`, field: humanPath(c.path) })),
  });
}

/**
 * Resources served in more than one version, stored in one (as upstream's storage version):
 * autoscaling/v1 HorizontalPodAutoscalers are autoscaling/v2 objects in the store. The registry
 * seen by the REST handler converts at its edge — a request for the served version reaches the
 * stored version's strategy (defaults, validation, status, watch cache) with the body converted,
 * and every object it returns (get, list, watch events, writes) comes back in the served version.
 */
import { findResource, type JsonObject, type ResourceInfo } from '@mkube/api';
import type { ApiWatchEvent } from '../storage/watch_cache.js';
import { hpaV1FromV2, hpaV2FromV1 } from './hpa_v1_conversion.js';
import type { Registry } from './registry.js';

type Obj = JsonObject;

interface Conversion {
  readonly stored: ResourceInfo;
  /** Stored object → served version. */
  readonly toServed: (obj: Obj) => Obj;
  /** Served-version body → stored object. */
  readonly toStored: (obj: Obj) => Obj;
}

function conversions(): Map<ResourceInfo, Conversion> {
  const out = new Map<ResourceInfo, Conversion>();
  const hpaV1 = findResource('autoscaling', 'v1', 'horizontalpodautoscalers');
  const hpaV2 = findResource('autoscaling', 'v2', 'horizontalpodautoscalers');
  if (hpaV1 && hpaV2) out.set(hpaV1, { stored: hpaV2, toServed: hpaV1FromV2, toStored: hpaV2FromV1 });
  return out;
}

/** The stored-version form of `info` (itself when it is stored as served). */
export function storedVersion(info: ResourceInfo): ResourceInfo {
  return CONVERSIONS.get(info)?.stored ?? info;
}

/** A stored object in `info`'s served version (unchanged when no conversion applies or it is not one of them). */
export function asServed(info: ResourceInfo, obj: Obj): Obj {
  const c = CONVERSIONS.get(info);
  if (!c || obj.apiVersion !== c.stored.apiVersion || obj.kind !== c.stored.kind) return obj;
  return c.toServed(obj);
}

/** A served-version body (apiVersion given or not) in its stored version; a stored-version object stays as it is. */
export function asStored(info: ResourceInfo, obj: Obj): Obj {
  const c = CONVERSIONS.get(info);
  if (!c || obj.apiVersion === c.stored.apiVersion) return obj;
  return c.toStored(obj);
}

const CONVERSIONS = conversions();

type Method = (...args: unknown[]) => unknown;

/**
 * A view of `registry` whose methods taking a ResourceInfo first convert for served versions; all
 * other calls go to the registry itself.
 */
export function withServedVersions(registry: Registry): Registry {
  if (CONVERSIONS.size === 0) return registry;
  const wrap = (name: string, fn: Method): Method => {
    switch (name) {
      case 'get':
        return async (info, ...rest) => {
          const i = info as ResourceInfo;
          return asServed(i, (await fn.call(registry, storedVersion(i), ...rest)) as Obj);
        };
      case 'cachedGet':
        return (info, ...rest) => {
          const i = info as ResourceInfo;
          const obj = fn.call(registry, storedVersion(i), ...rest) as Obj | undefined;
          return obj && asServed(i, obj);
        };
      case 'cachedList':
        return (info, ...rest) => {
          const i = info as ResourceInfo;
          return (fn.call(registry, storedVersion(i), ...rest) as Obj[]).map((x) => asServed(i, x));
        };
      case 'list':
        return async (info, ...rest) => {
          const i = info as ResourceInfo;
          const result = (await fn.call(registry, storedVersion(i), ...rest)) as { items: Obj[] };
          return { ...result, items: result.items.map((x) => asServed(i, x)) };
        };
      case 'watch':
        return (info, ns, from, selection, send) => {
          const i = info as ResourceInfo;
          const forward = send as (ev: ApiWatchEvent) => void;
          return fn.call(registry, storedVersion(i), ns, from, selection, (ev: ApiWatchEvent) =>
            forward(ev.type === 'ERROR' || ev.type === 'BOOKMARK' ? ev : { ...ev, object: asServed(i, ev.object) }),
          );
        };
      case 'create':
        return async (info, ns, body, opts) => {
          const i = info as ResourceInfo;
          return asServed(i, (await fn.call(registry, storedVersion(i), ns, asStored(i, body as Obj), opts)) as Obj);
        };
      case 'update':
        return async (info, ns, name, change, opts) => {
          const i = info as ResourceInfo;
          const c = change as (cur: Obj) => Obj | Promise<Obj>;
          const o = (opts ?? {}) as { createIfMissing?: () => Obj };
          const stored = storedVersion(i);
          const result = (await fn.call(registry, stored, ns, name, async (cur: Obj) => asStored(i, await c(asServed(i, cur))), {
            ...o,
            createIfMissing: o.createIfMissing ? () => asStored(i, o.createIfMissing!()) : undefined,
          })) as { obj: Obj; created: boolean };
          return { ...result, obj: asServed(i, result.obj) };
        };
      case 'delete':
        return async (info, ...rest) => {
          const i = info as ResourceInfo;
          const result = (await fn.call(registry, storedVersion(i), ...rest)) as { obj: Obj; deleted: boolean };
          return { ...result, obj: asServed(i, result.obj) };
        };
      case 'cache':
      case 'key':
      case 'ref':
        return (info, ...rest) => fn.call(registry, storedVersion(info as ResourceInfo), ...rest);
      default:
        return fn.bind(registry) as Method;
    }
  };
  return new Proxy(registry, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return wrap(prop, value as Method);
    },
  });
}

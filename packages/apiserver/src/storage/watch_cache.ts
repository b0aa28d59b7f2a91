/**
 * One etcd watch per resource prefix feeding every API watcher of that
 * resource, as kube-apiserver's cacher does: the current state (for watches
 * from "now" and for the authorizer's lookups), a bounded ring of recent
 * events to resume from a resourceVersion, and 410 Gone ("too old resource
 * version") below what the ring still holds. A watch older than the ring but
 * not yet compacted is served by a dedicated etcd watch.
 */
import type { JsonObject } from '@mkube/api';
import { prefixEnd, type EtcdClient, type WatchBatch, type Watcher } from '@mkube/store/client';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { decodeStored } from './codec.js';
import { isCompacted } from './object_store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheEvent {
  type: WatchEventType;
  key: string;
  obj: JsonObject;
  prevObj?: JsonObject;
  rv: number;
}

export interface ApiWatchEvent {
  type: WatchEventType | 'BOOKMARK' | 'ERROR';
  object: JsonObject;
}

export interface WatchRequest {
  /** Only keys under this prefix (a namespace, or the whole resource). */
  keyPrefix: string;
  /** undefined / 0: the current state as ADDED, then changes. */
  fromRevision?: number;
  filter: (obj: JsonObject) => boolean;
  send: (ev: ApiWatchEvent) => void;
}

export interface CacheWatch {
  stop(): void;
}

export function tooOldMessage(requested: number, oldest: number): string {
  return `too old resource version: ${requested} (${oldest})`;
}

/** The smallest string above every string that starts with `prefix` (keys are ASCII). */
function stringPrefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Index of the first element of sorted `keys` that is >= `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface CachePage {
  items: JsonObject[];
  /** The revision the page reflects. */
  rev: number;
  /** Key (relative to the listed prefix) to continue from, when more items may follow. */
  continueFrom?: string;
  /** Objects under the prefix after this page (only without a filter). */
  remaining?: number;
}

export class WatchCache {
  readonly state = new Map<string, JsonObject>();
  /** The keys of `state`, sorted, for prefix scans. */
  private keys: string[] = [];
  private ring: CacheEvent[] = [];
  /** Every event with rv > oldestRev is in the ring. */
  oldestRev = 0;
  /** The revision the cache state reflects. */
  rev = 0;
  private readonly watchers = new Set<WatchRequest>();
  private watcher: Watcher | undefined;
  private ready: Promise<void> | undefined;
  private stopped = false;
  private readonly waiters: { rev: number; resolve: () => void }[] = [];

  constructor(
    private readonly client: EtcdClient,
    readonly prefix: string,
    private readonly log: Logger,
    private readonly capacity = 2000,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  start(): Promise<void> {
    this.ready ??= this.load();
    return this.ready;
  }

  private async load(): Promise<void> {
    const end = prefixEnd(this.prefix);
    let key = this.prefix;
    let rev = 0;
    for (;;) {
      const r = await this.client.get(key, { rangeEnd: end, revision: rev, limit: 500 });
      if (rev === 0) rev = r.header.revision;
      for (const kv of r.kvs) this.put(kv.key.toString('utf8'), decodeStored(kv.value, kv.modRevision));
      if (!r.more || r.kvs.length === 0) break;
      key = r.kvs[r.kvs.length - 1]!.key.toString('utf8') + '\u0000';
    }
    this.rev = rev;
    this.oldestRev = rev;
    const w = await this.client.watch(this.prefix, { prefix: true, startRevision: rev + 1, prevKv: true, progressNotify: true });
    this.watcher = w;
    w.on('data', (b: WatchBatch) => this.onBatch(b));
    w.on('error', (err: Error) => {
      this.log.error({ err, prefix: this.prefix }, 'watch cache lost its etcd watch; reloading');
      if (!this.stopped) void this.reload();
    });
  }

  private async reload(): Promise<void> {
    // Our history is broken: every API watcher must relist.
    for (const w of this.watchers) w.send({ type: 'ERROR', object: errors.gone('watch cache reinitialized').toStatus() });
    this.watchers.clear();
    this.state.clear();
    this.keys = [];
    this.ring = [];
    this.ready = undefined;
    try {
      await this.start();
    } catch (err) {
      this.log.error({ err }, 'watch cache reload failed');
    }
  }

  private onBatch(b: WatchBatch): void {
    for (const e of b.events) {
      const key = e.kv.key.toString('utf8');
      const rv = e.kv.modRevision;
      let ev: CacheEvent;
      if (e.type === 'DELETE') {
        const prev = this.state.get(key) ?? (e.prevKv ? decodeStored(e.prevKv.value, e.prevKv.modRevision) : undefined);
        this.remove(key);
        if (!prev) continue;
        const obj = { ...prev, metadata: { ...(prev.metadata as JsonObject), resourceVersion: String(rv) } };
        ev = { type: 'DELETED', key, obj, prevObj: prev, rv };
      } else {
        const obj = decodeStored(e.kv.value, rv);
        const prev = this.state.get(key);
        this.put(key, obj);
        ev = prev ? { type: 'MODIFIED', key, obj, prevObj: prev, rv } : { type: 'ADDED', key, obj, rv };
      }
      this.ring.push(ev);
      if (this.ring.length > this.capacity) {
        const dropped = this.ring.splice(0, this.ring.length - this.capacity);
        this.oldestRev = Math.max(this.oldestRev, dropped[dropped.length - 1]!.rv);
      }
      for (const w of this.watchers) dispatch(w, ev);
    }
    this.rev = Math.max(this.rev, b.header.revision);
    while (this.waiters.length > 0 && this.waiters[0]!.rev <= this.rev) this.waiters.shift()!.resolve();
  }

  private put(key: string, obj: JsonObject): void {
    if (!this.state.has(key)) {
      const keys = this.keys;
      if (keys.length === 0 || keys[keys.length - 1]! < key) keys.push(key);
      else keys.splice(lowerBound(keys, key), 0, key);
    }
    this.state.set(key, obj);
  }

  private remove(key: string): void {
    if (!this.state.delete(key)) return;
    const i = lowerBound(this.keys, key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
  }

  /**
   * Makes the cache at least as fresh as `rev` (a revision read from the
   * store): asks the store for a progress notification, since a quiet
   * resource sees no events that would move its revision, and waits up to
   * `timeoutMs`. False when the cache could not catch up (not loaded, watch
   * broken, or slow): the caller reads from the store instead.
   */
  async ensureFresh(rev: number, timeoutMs = 1000): Promise<boolean> {
    if (!this.watcher || this.ready === undefined) return false;
    if (this.rev >= rev) return true;
    this.watcher.requestProgress();
    await this.waitFor(rev, timeoutMs);
    return this.rev >= rev;
  }

  /**
   * One page of the objects under `keyPrefix` (keys in order), as the store
   * would list them at revision `this.rev`: up to `limit` objects passing
   * `filter`, starting at key `keyPrefix + from`. The objects are the cache's
   * own: callers must not modify them.
   */
  listPage(keyPrefix: string, opts: { limit?: number; from?: string; filter?: (obj: JsonObject) => boolean } = {}): CachePage {
    const keys = this.keys;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const items: JsonObject[] = [];
    const page: CachePage = { items, rev: this.rev };
    let i = lowerBound(keys, keyPrefix + (opts.from ?? ''));
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (!key.startsWith(keyPrefix)) break;
      const obj = this.state.get(key)!;
      if (opts.filter && !opts.filter(obj)) continue;
      items.push(obj);
      if (items.length >= limit) {
        const end = lowerBound(keys, stringPrefixEnd(keyPrefix));
        if (i + 1 < end) {
          page.continueFrom = key.slice(keyPrefix.length) + '\u0000';
          if (!opts.filter) page.remaining = end - (i + 1);
        }
        break;
      }
    }
    return page;
  }

  /** Resolves once the cache has seen `rev` (or after timeoutMs). */
  waitFor(rev: number, timeoutMs = 3000): Promise<void> {
    if (this.rev >= rev) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push({ rev, resolve: () => { clearTimeout(t); resolve(); } });
      this.waiters.sort((a, b) => a.rev - b.rev);
    });
  }

  /** History below `rev` is gone (etcd was compacted there). */
  compacted(rev: number): void {
    if (rev <= this.oldestRev) return;
    this.oldestRev = rev;
    this.ring = this.ring.filter((e) => e.rv > rev);
  }

  /** Objects under a key prefix from the cache, sorted by key. */
  snapshot(keyPrefix: string): JsonObject[] {
    return this.listPage(keyPrefix).items;
  }

  async watch(req: WatchRequest): Promise<CacheWatch> {
    await this.start();
    const from = req.fromRevision ?? 0;
    if (from === 0) {
      for (const obj of this.snapshot(req.keyPrefix)) if (req.filter(obj)) req.send({ type: 'ADDED', object: obj });
      this.watchers.add(req);
      return { stop: () => this.watchers.delete(req) };
    }
    if (from < this.oldestRev) return this.watchFromEtcd(req, from);
    for (const ev of this.ring) if (ev.rv > from) dispatch(req, ev);
    this.watchers.add(req);
    return { stop: () => this.watchers.delete(req) };
  }

  /** A watch older than the ring: straight from etcd (410 once compacted). */
  private async watchFromEtcd(req: WatchRequest, from: number): Promise<CacheWatch> {
    let w: Watcher;
    try {
      w = await this.client.watch(req.keyPrefix, { prefix: true, startRevision: from + 1, prevKv: true });
    } catch (err) {
      if (isCompacted(err)) {
        req.send({ type: 'ERROR', object: errors.gone(tooOldMessage(from, this.oldestRev)).toStatus() });
        return { stop: () => undefined };
      }
      throw err;
    }
    w.on('data', (b: WatchBatch) => {
      for (const e of b.events) {
        const key = e.kv.key.toString('utf8');
        const rv = e.kv.modRevision;
        const prev = e.prevKv ? decodeStored(e.prevKv.value, e.prevKv.modRevision) : undefined;
        if (e.type === 'DELETE') {
          if (!prev) continue;
          dispatch(req, { type: 'DELETED', key, obj: { ...prev, metadata: { ...(prev.metadata as JsonObject), resourceVersion: String(rv) } }, prevObj: prev, rv });
        } else {
          const obj = decodeStored(e.kv.value, rv);
          dispatch(req, prev ? { type: 'MODIFIED', key, obj, prevObj: prev, rv } : { type: 'ADDED', key, obj, rv });
        }
      }
    });
    w.on('error', (err: Error) => {
      if (isCompacted(err)) req.send({ type: 'ERROR', object: errors.gone(tooOldMessage(from, this.oldestRev)).toStatus() });
      else req.send({ type: 'ERROR', object: errors.internal(err.message).toStatus() });
    });
    return { stop: () => w.cancel() };
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.cancel();
    this.watchers.clear();
    for (const w of this.waiters) w.resolve();
  }
}

/** Delivers one change to a watcher, turning selector transitions into ADDED / DELETED as Kubernetes does. */
function dispatch(w: WatchRequest, ev: CacheEvent): void {
  if (!ev.key.startsWith(w.keyPrefix)) return;
  if (ev.type === 'ADDED') {
    if (w.filter(ev.obj)) w.send({ type: 'ADDED', object: ev.obj });
    return;
  }
  if (ev.type === 'DELETED') {
    if (w.filter(ev.prevObj ?? ev.obj)) w.send({ type: 'DELETED', object: ev.obj });
    return;
  }
  const now = w.filter(ev.obj);
  const before = ev.prevObj ? w.filter(ev.prevObj) : false;
  if (now && before) w.send({ type: 'MODIFIED', object: ev.obj });
  else if (now) w.send({ type: 'ADDED', object: ev.obj });
  else if (before) w.send({ type: 'DELETED', object: ev.obj });
}

/**
 * Informer: client-go's reflector + indexer + shared informer in one. Lists
 * the resource into a local cache, then watches from the list's
 * resourceVersion (with bookmarks) and applies the events. A watch that ends
 * is resumed from the last seen resourceVersion; a 410 Gone (too old
 * resourceVersion, e.g. after compaction) triggers a relist that diffs the
 * fresh list against the cache (adds, updates, deletes of what vanished);
 * transport failures retry with jittered exponential backoff. A resync
 * period re-delivers update(o, o) for every cached object. Handlers run
 * synchronously and should only enqueue keys.
 */
import { objectKey, type KubeObject, type Stored } from '@mkube/api';
import type { ResourceClient, WatchEventType } from './client.js';
import { ApiError } from './errors.js';

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver update(o, o) for every cached object this often (0/undefined: never). */
  resyncMs?: number;
  /** Page size of the initial list and relists (default 500). */
  pageSize?: number;
  /** Backoff after a failed list/watch: initial and cap (default 200 ms, 10 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Notified of list/watch failures (default: ignored). */
  onError?: (err: unknown) => void;
}

export interface EventHandler<T> {
  add?(o: T): void;
  update?(old: T, cur: T): void;
  delete?(o: T): void;
}

/** "namespace/name", or "name" for cluster-scoped objects (@mkube/api objectKey). */
export const keyOf = objectKey;

/** Objects in the cache are as the server returned them: Stored<T>. */
export class Informer<T extends KubeObject> {
  private readonly items = new Map<string, Stored<T>>();
  private readonly handlers: EventHandler<Stored<T>>[] = [];
  private readonly indexers = new Map<string, (o: Stored<T>) => string[]>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private synced = false;
  private running = false;
  private lastRv = '';
  private watch: { stop(): void } | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];
  /** Lists performed (initial + relists); for diagnostics and tests. */
  listCount = 0;

  constructor(
    private readonly rc: ResourceClient<T>,
    private readonly opts: InformerOptions = {},
  ) {}

  addEventHandler(h: EventHandler<Stored<T>>): void {
    this.handlers.push(h);
    // A late handler sees the current state as adds, as client-go does.
    if (this.synced) for (const o of this.items.values()) call(() => h.add?.(o));
  }

  addIndexer(name: string, fn: (o: Stored<T>) => string[]): void {
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [k, o] of this.items) for (const v of fn(o)) addTo(idx, v, k);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
    if (this.opts.resyncMs && this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        for (const o of this.items.values()) this.emit('update', o, o);
      }, this.opts.resyncMs);
    }
  }

  stop(): void {
    this.running = false;
    this.watch?.stop();
    this.watch = undefined;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(timeoutMs = 30_000): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        reject(Object.assign(new Error(`informer for ${this.rc.gvr.resource} not synced after ${timeoutMs} ms`), { code: 'ESYNCTIMEOUT' }));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.syncWaiters.push(done);
    });
  }

  get(key: string): Stored<T> | undefined {
    return this.items.get(key);
  }

  list(): Stored<T>[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(name: string, value: string): Stored<T>[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`informer: no indexer "${name}"`);
    return [...(idx.get(value) ?? [])].map((k) => this.items.get(k)!).filter(Boolean);
  }

  /** The resourceVersion the cache reflects. */
  lastSyncResourceVersion(): string {
    return this.lastRv;
  }

  // ------------------------------------------------------------ list/watch

  private async run(): Promise<void> {
    const initial = this.opts.backoffInitialMs ?? 200;
    const max = this.opts.backoffMaxMs ?? 10_000;
    let backoff = initial;
    let needList = true;
    while (this.running) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          backoff = initial;
        }
        const outcome = await this.watchOnce();
        if (outcome === 'gone') {
          needList = true;
          continue;
        }
        if (outcome === 'progress') backoff = initial;
        else {
          // Ended without a single event: pause briefly so a server that closes watches at once is not hammered.
          await this.sleep(Math.min(backoff, 1000));
        }
      } catch (err) {
        if (!this.running) break;
        this.opts.onError?.(err);
        if (ApiError.isGone(err)) needList = true;
        await this.sleep(backoff * (0.5 + Math.random()));
        backoff = Math.min(max, backoff * 2);
      }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.rc.list(this.opts.namespace, { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: this.opts.pageSize ?? 500 });
    if (!this.running) return;
    this.listCount++;
    const fresh = new Map<string, Stored<T>>();
    for (const o of items) fresh.set(keyOf(o), o);
    for (const [k, old] of [...this.items]) if (!fresh.has(k)) this.remove(k, old);
    for (const [k, o] of fresh) this.upsert(k, o);
    this.lastRv = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** One watch from lastRv: 'gone' on 410, 'progress' if any event arrived, 'idle' otherwise. Throws on transport errors. */
  private async watchOnce(): Promise<'gone' | 'progress' | 'idle'> {
    let gone = false;
    let progress = false;
    let failure: unknown;
    const h = this.rc.watch(
      this.opts.namespace,
      { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, resourceVersion: this.lastRv, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) },
      (type: WatchEventType, obj: any) => { // eslint-disable-line @typescript-eslint/no-explicit-any -- T for ADDED/MODIFIED/DELETED/BOOKMARK, a Status for ERROR: narrowed by type below
        if (!this.running) return;
        if (type === 'ERROR') {
          const code = Number(obj?.code ?? 0);
          if (code === 410 || obj?.reason === 'Expired' || obj?.reason === 'Gone') gone = true;
          else failure = new ApiError(code || 500, obj ?? {}, `watch ${this.rc.gvr.resource}`);
          h.stop();
          return;
        }
        progress = true;
        const rv = obj?.metadata?.resourceVersion as string | undefined;
        if (type === 'BOOKMARK') {
          if (rv) this.lastRv = rv;
          return;
        }
        const o = obj as Stored<T>;
        const k = keyOf(o);
        if (type === 'DELETED') {
          const old = this.items.get(k);
          this.remove(k, old ?? o, o);
        } else this.upsert(k, o);
        if (rv) this.lastRv = rv;
      },
    );
    this.watch = h;
    try {
      await h.done;
    } finally {
      if (this.watch === h) this.watch = undefined;
    }
    if (gone) return 'gone';
    if (failure) throw failure;
    return progress ? 'progress' : 'idle';
  }

  private upsert(k: string, o: Stored<T>): void {
    const old = this.items.get(k);
    this.items.set(k, o);
    this.reindex(k, old, o);
    if (!old) this.emit('add', o);
    else if (old.metadata.uid && o.metadata.uid && old.metadata.uid !== o.metadata.uid) {
      // Deleted and re-created while we were not watching (seen on relist): a different object.
      this.emit('delete', old);
      this.emit('add', o);
    } else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', old, o);
  }

  private remove(k: string, old: Stored<T>, final?: Stored<T>): void {
    if (!this.items.has(k)) return;
    this.items.delete(k);
    this.reindex(k, old, undefined);
    this.emit('delete', final ?? old);
  }

  private reindex(k: string, old: Stored<T> | undefined, cur: Stored<T> | undefined): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      if (old) for (const v of fn(old)) removeFrom(idx, v, k);
      if (cur) for (const v of fn(cur)) addTo(idx, v, k);
    }
  }

  private emit(kind: 'add' | 'update' | 'delete', a: Stored<T>, b?: Stored<T>): void {
    for (const h of this.handlers) {
      if (kind === 'add') call(() => h.add?.(a));
      else if (kind === 'update') call(() => h.update?.(a, b!));
      else call(() => h.delete?.(a));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }
}

function call(fn: () => void): void {
  try {
    fn();
  } catch {
    // handlers only enqueue; a throwing one must not break the cache
  }
}

function addTo(idx: Map<string, Set<string>>, v: string, k: string): void {
  let s = idx.get(v);
  if (!s) idx.set(v, (s = new Set()));
  s.add(k);
}

function removeFrom(idx: Map<string, Set<string>>, v: string, k: string): void {
  const s = idx.get(v);
  if (!s) return;
  s.delete(k);
  if (s.size === 0) idx.delete(v);
}

// Watchers over the MVCC store, with etcd's watchableStore semantics:
// - a watcher from revision 0 (or a future revision) is "synced": it gets the
//   events of every new revision, straight from the apply path (notify);
// - a watcher from a past revision is "unsynced": it replays history from
//   LevelDB, then joins the synced ones without gap or duplicate (events
//   committed while it reads are buffered for it and appended afterwards);
// - a start revision below the compacted revision gets compacted() (etcd: minRev < compactRev).
//
// Flow control: sink.events may return `false` (like a Node stream's write) to
// say it is saturated. The watcher then holds further events (up to
// maxPendingEvents) until handle.resume() (or the next tickProgress()); beyond
// that it drops them and later catches up from LevelDB, like etcd's victims.
// No timers: progress notifications are driven by tickProgress().

import type { WatchCreateOptions, WatchEventFields, WatchHandle, WatchSink } from '../api/kv.js';

/** What the hub needs from the store. */
export interface WatchSource {
  currentRevision(): number;
  readonly compactRevision: number;
  /** Events of revisions [fromRev, toRev] whose key matches, whole revisions, about `limit` records; lastRev = last revision covered. */
  readEvents(
    fromRev: number,
    toRev: number,
    limit: number,
    match: (key: Buffer) => boolean,
    withPrevKv: boolean,
  ): Promise<{ events: WatchEventFields[]; lastRev: number }>;
}

export interface WatchHubOptions {
  /** Events a watcher holds for a saturated sink before falling back to catching up from LevelDB. Default 1024. */
  maxPendingEvents?: number;
  /** Records read from LevelDB per catch-up step. Default 1000. */
  catchUpBatch?: number;
  /** Called when a watcher is dropped because of an error (a throwing sink, an unreadable history). */
  onError?: (err: unknown, watchId: number) => void;
}

/** A WatchHandle with flow control. */
export interface MvccWatchHandle extends WatchHandle {
  readonly id: number;
  /** After sink.events returned false: the sink can take events again (e.g. its stream drained). */
  resume(): void;
}

interface Batch {
  events: WatchEventFields[];
  rev: number;
}

class Watcher {
  readonly keyString: string;
  /** undefined = single key; empty = unbounded; else exclusive end. */
  readonly end: Buffer | undefined;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  synced = false;
  /** Synced: events below this revision are skipped (future start revision). */
  minRev = 0;
  /** Unsynced: next revision to read from LevelDB. */
  nextRev = 0;
  queue: Batch[] = [];
  queued = 0;
  saturated = false;
  cancelled = false;
  catchingUp = false;
  liveBuf: Batch[] | null = null;
  liveBufEvents = 0;
  liveOverflow = false;
  sentSinceTick = false;

  constructor(
    readonly id: number,
    readonly opts: WatchCreateOptions,
    readonly sink: WatchSink,
  ) {
    this.keyString = opts.key.toString('latin1');
    const re = opts.rangeEnd;
    this.end = !re || re.length === 0 ? undefined : re.length === 1 && re[0] === 0 ? Buffer.alloc(0) : re;
    this.noPut = opts.filters.includes('NOPUT');
    this.noDelete = opts.filters.includes('NODELETE');
  }

  matches(key: Buffer): boolean {
    if (this.end === undefined) return key.equals(this.opts.key);
    if (Buffer.compare(key, this.opts.key) < 0) return false;
    return this.end.length === 0 || Buffer.compare(key, this.end) < 0;
  }

  /** Applies NOPUT/NODELETE and the prevKv option; undefined when an event needs a prevKv it lacks (if required). */
  filter(events: WatchEventFields[], requirePrevKv = true): WatchEventFields[] | undefined {
    const out: WatchEventFields[] = [];
    for (const ev of events) {
      if (ev.type === 'PUT' ? this.noPut : this.noDelete) continue;
      if (this.opts.prevKv) {
        if (requirePrevKv && !ev.prevKv && !(ev.type === 'PUT' && ev.kv.version === 1)) return undefined;
        out.push(ev);
      } else {
        out.push(ev.prevKv ? { type: ev.type, kv: ev.kv } : ev);
      }
    }
    return out;
  }
}

export class WatchHub {
  private nextId = 1;
  private readonly singles = new Map<string, Set<Watcher>>();
  private readonly ranges = new Set<Watcher>();
  private readonly all = new Map<number, Watcher>();
  private prevKvWatchers = 0;
  private closed = false;
  private readonly maxPending: number;
  private readonly catchUpBatch: number;

  constructor(
    private readonly src: WatchSource,
    private readonly opts: WatchHubOptions = {},
  ) {
    this.maxPending = opts.maxPendingEvents ?? 1024;
    this.catchUpBatch = opts.catchUpBatch ?? 1000;
  }

  get size(): number {
    return this.all.size;
  }

  /** Creates a watcher. The sink is never called before watch() returns. */
  watch(opts: WatchCreateOptions, sink: WatchSink): MvccWatchHandle {
    const w = new Watcher(this.nextId++, opts, sink);
    this.all.set(w.id, w);
    if (w.end === undefined) {
      let set = this.singles.get(w.keyString);
      if (!set) this.singles.set(w.keyString, (set = new Set()));
      set.add(w);
    } else {
      this.ranges.add(w);
    }
    if (opts.prevKv) this.prevKvWatchers++;
    const cur = this.src.currentRevision();
    if (opts.startRevision === 0 || opts.startRevision > cur) {
      w.synced = true;
      w.minRev = opts.startRevision === 0 ? cur + 1 : opts.startRevision;
    } else {
      w.nextRev = opts.startRevision;
      queueMicrotask(() => this.catchUp(w));
    }
    return {
      id: w.id,
      cancel: () => this.cancel(w),
      requestProgress: () => this.requestProgress(w),
      resume: () => this.resume(w),
    };
  }

  /** Whether a change of `key` must carry its previous KeyValue (some prevKv watcher covers it). */
  needsPrevKv(key: Buffer): boolean {
    if (this.prevKvWatchers === 0) return false;
    const set = this.singles.get(key.toString('latin1'));
    if (set) for (const w of set) if (w.opts.prevKv) return true;
    for (const w of this.ranges) if (w.opts.prevKv && w.matches(key)) return true;
    return false;
  }

  /** Called by the store right after revision `rev` is committed, with its events in sub-revision order. */
  notify(rev: number, events: WatchEventFields[]): void {
    if (this.all.size === 0) return;
    const per = new Map<Watcher, WatchEventFields[]>();
    const add = (w: Watcher, ev: WatchEventFields): void => {
      const list = per.get(w);
      if (list) list.push(ev);
      else per.set(w, [ev]);
    };
    for (const ev of events) {
      const set = this.singles.get(ev.kv.key.toString('latin1'));
      if (set) for (const w of set) add(w, ev);
      for (const w of this.ranges) if (w.matches(ev.kv.key)) add(w, ev);
    }
    for (const [w, evs] of per) {
      if (w.cancelled) continue;
      if (w.synced) {
        if (rev < w.minRev) continue;
        const filtered = w.filter(evs);
        if (!filtered) {
          // Needs a prevKv the apply path did not read (watcher created mid-apply): read it from LevelDB.
          this.unsync(w, rev);
          continue;
        }
        if (filtered.length > 0) this.deliver(w, { events: filtered, rev });
      } else if (w.liveBuf && !w.liveOverflow) {
        w.liveBuf.push({ events: evs, rev });
        w.liveBufEvents += evs.length;
        if (w.liveBufEvents > this.maxPending) {
          w.liveBuf = [];
          w.liveOverflow = true;
        }
      }
    }
  }

  /** Progress notifications for synced progressNotify watchers that got no events since the previous tick; also retries saturated sinks. */
  tickProgress(): void {
    const rev = this.src.currentRevision();
    for (const w of [...this.all.values()]) {
      if (w.cancelled) continue;
      if (w.saturated) {
        this.resume(w);
        continue;
      }
      if (w.opts.progressNotify && w.synced && w.queue.length === 0 && !w.sentSinceTick) this.call(w, () => w.sink.progress(rev));
      w.sentSinceTick = false;
    }
  }

  /** Resumes every saturated watcher. */
  resumeAll(): void {
    for (const w of [...this.all.values()]) if (w.saturated) this.resume(w);
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.all.values()]) this.cancel(w);
  }

  // ---- internals ---------------------------------------------------------------

  private requestProgress(w: Watcher): void {
    if (w.cancelled || !w.synced || w.saturated || w.queue.length > 0) return;
    this.call(w, () => w.sink.progress(this.src.currentRevision()));
  }

  private cancel(w: Watcher): void {
    if (w.cancelled) return;
    w.cancelled = true;
    w.queue = [];
    w.liveBuf = null;
    this.all.delete(w.id);
    if (w.end === undefined) {
      const set = this.singles.get(w.keyString);
      set?.delete(w);
      if (set && set.size === 0) this.singles.delete(w.keyString);
    } else {
      this.ranges.delete(w);
    }
    if (w.opts.prevKv) this.prevKvWatchers--;
  }

  /** Calls the sink; a throwing sink loses its watcher. Returns the sink's result. */
  private call(w: Watcher, fn: () => unknown): unknown {
    try {
      return fn();
    } catch (err) {
      this.cancel(w);
      this.opts.onError?.(err, w.id);
      return undefined;
    }
  }

  private send(w: Watcher, b: Batch): void {
    if (w.cancelled) return;
    w.sentSinceTick = true;
    const r = this.call(w, () => w.sink.events(b.events, this.src.currentRevision()));
    if (r === false) w.saturated = true;
  }

  private deliver(w: Watcher, b: Batch): void {
    if (!w.saturated && w.queue.length === 0) {
      this.send(w, b);
      return;
    }
    w.queue.push(b);
    w.queued += b.events.length;
    if (w.queued > this.maxPending) this.unsync(w, w.queue[0]!.rev);
  }

  /** Drops what the watcher holds and makes it catch up from LevelDB starting at `fromRev`. */
  private unsync(w: Watcher, fromRev: number): void {
    w.queue = [];
    w.queued = 0;
    w.synced = false;
    w.nextRev = fromRev;
    w.liveBuf = null;
    queueMicrotask(() => this.catchUp(w));
  }

  private resume(w: Watcher): void {
    if (w.cancelled) return;
    w.saturated = false;
    while (!w.saturated && !w.cancelled && w.queue.length > 0) {
      const b = w.queue.shift()!;
      w.queued -= b.events.length;
      this.send(w, b);
    }
    if (!w.synced) void this.catchUp(w);
  }

  private async catchUp(w: Watcher): Promise<void> {
    if (w.catchingUp) return;
    w.catchingUp = true;
    try {
      while (!w.cancelled && !w.synced && !w.saturated && !this.closed) {
        const compactRev = this.src.compactRevision;
        if (w.nextRev < compactRev) {
          this.call(w, () => w.sink.compacted(compactRev, this.src.currentRevision()));
          this.cancel(w);
          return;
        }
        const target = this.src.currentRevision();
        if (w.nextRev > target) {
          w.synced = true;
          w.minRev = w.nextRev;
          return;
        }
        w.liveBuf = [];
        w.liveBufEvents = 0;
        w.liveOverflow = false;
        let res: { events: WatchEventFields[]; lastRev: number };
        try {
          res = await this.src.readEvents(w.nextRev, target, this.catchUpBatch, (k) => w.matches(k), w.opts.prevKv);
        } catch (err) {
          w.liveBuf = null;
          if ((err as { code?: string }).code === 'RETRY') continue;
          this.cancel(w);
          this.opts.onError?.(err, w.id);
          return;
        }
        if (w.cancelled || w.synced) return;
        const live = w.liveBuf ?? [];
        const overflow = w.liveOverflow;
        w.liveBuf = null;
        // History misses a prevKv only where it was compacted (as etcd, the event comes without it).
        const evs = w.filter(res.events, false)!;
        w.nextRev = res.lastRev + 1;
        if (evs.length > 0) this.deliver(w, { events: evs, rev: evs[0]!.kv.modRevision });
        if (w.cancelled) return;
        if (res.lastRev === target && !overflow) {
          w.synced = true;
          w.minRev = target + 1;
          for (const b of live) {
            const f = w.filter(b.events);
            if (!f) {
              this.unsync(w, b.rev);
              return;
            }
            if (f.length > 0) this.deliver(w, { events: f, rev: b.rev });
            if (!w.synced || w.cancelled) return;
          }
          return;
        }
      }
    } finally {
      w.catchingUp = false;
    }
  }
}

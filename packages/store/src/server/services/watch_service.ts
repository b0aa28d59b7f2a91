// etcd Watch service: one bidi stream carries many watchers.
//
// - create: watch_id is the requested one (if non-zero and unused) or the
//   stream's next free id starting at 0; the `created: true` response is sent
//   before any event of that watcher. A duplicate requested id is answered with
//   watch_id -1, created and canceled (like etcd).
// - cancel: `canceled: true` for a known id; unknown ids are ignored.
// - progress request: every watcher on the stream is asked for an immediate
//   progress notification (sent by the backend only when the watcher is synced,
//   so the revision never runs ahead of undelivered events).
// - a compacted start revision: `compact_revision` and `canceled: true`.
//
// Fan-out (with the Watch method's own serializer): every event is
// encoded once, as the bytes of a WatchResponse holding only that event (field 11),
// cached on the event's key-value object, which the watch hub shares between all
// watchers it delivers the event to; a response is the encoding of its header and
// watch id followed by those chunks (protobuf concatenation appends repeated
// fields), written as a ready Buffer (watchDefinition passes Buffers through). The
// events of one watcher are held for the rest of the event-loop turn and sent as
// one response (a Ready's applies notify entry by entry); any other response of
// the stream first sends what is held, so the order on the stream is kept.

import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend, WatchCreateOptions, WatchEventFields, WatchHandle } from '../backend.js';
import type { WatchHandlers } from '../../gen/etcdserverpb/Watch.js';
import type { WatchRequest__Output } from '../../gen/etcdserverpb/WatchRequest.js';
import type { WatchResponse } from '../../gen/etcdserverpb/WatchResponse.js';
import type { WatchCreateRequest__Output } from '../../gen/etcdserverpb/WatchCreateRequest.js';
import type { Event } from '../../gen/mvccpb/Event.js';
import { header } from './common.js';
import { ETCD_ERRORS, isEtcdError } from './errors.js';

const DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';

type Serialize = (value: WatchResponse) => Buffer;

/** The Watch service definition whose response serializer writes a ready Buffer as it is. */
export function watchDefinition<D extends grpc.ServiceDefinition>(def: D): D {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    const method = m as grpc.MethodDefinition<unknown, unknown>;
    out[name] = { ...method, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : method.responseSerialize(v)) };
  }
  return out as unknown as D;
}

/** Encoded events, one cache per serializer (each server's definitions), keyed on the shared key-value object. */
class EventChunks {
  private readonly plain = new WeakMap<object, Buffer>();
  private readonly withPrev = new WeakMap<object, Buffer>();

  constructor(private readonly serialize: Serialize) {}

  chunk(e: WatchEventFields): Buffer {
    const cache = e.prevKv ? this.withPrev : this.plain;
    let b = cache.get(e.kv);
    if (!b) {
      const ev: Event = { type: e.type, kv: e.kv };
      if (e.prevKv) ev.prevKv = e.prevKv;
      b = this.serialize({ events: [ev] });
      cache.set(e.kv, b);
    }
    return b;
  }

  response(head: WatchResponse, events: WatchEventFields[]): Buffer {
    const parts = [this.serialize(head)];
    for (const e of events) parts.push(this.chunk(e));
    return Buffer.concat(parts);
  }
}

const chunksBySerializer = new WeakMap<Serialize, EventChunks>();

function eventChunks(serialize: Serialize): EventChunks {
  let c = chunksBySerializer.get(serialize);
  if (!c) chunksBySerializer.set(serialize, (c = new EventChunks(serialize)));
  return c;
}

class WatchStreamSession {
  private readonly watchers = new Map<number, WatchHandle>();
  private nextId = 0;
  private closed = false;
  /** Events held for the rest of this turn, per watcher (insertion order = order of first event). */
  private held = new Map<number, { events: WatchEventFields[]; revision: number }>();
  private flushScheduled = false;

  constructor(
    private readonly backend: EtcdBackend,
    private readonly call: grpc.ServerDuplexStream<WatchRequest__Output, WatchResponse>,
    private readonly chunks: EventChunks,
  ) {}

  private send(resp: WatchResponse): void {
    if (this.closed) return;
    if (this.held.size > 0) this.flush();
    this.call.write(resp);
  }

  private hold(id: number, events: WatchEventFields[], revision: number): void {
    const h = this.held.get(id);
    if (h) {
      for (const e of events) h.events.push(e);
      h.revision = revision;
    } else {
      this.held.set(id, { events: [...events], revision });
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    const held = this.held;
    this.held = new Map();
    if (this.closed) return;
    for (const [id, h] of held) {
      if (!this.watchers.has(id)) continue; // cancelled meanwhile
      this.call.write(this.chunks.response({ header: header(this.backend, h.revision), watchId: id }, h.events) as unknown as WatchResponse);
    }
  }

  onRequest(req: WatchRequest__Output): void {
    if (this.closed) return;
    switch (req.requestUnion) {
      case 'createRequest':
        return this.create(req.createRequest!);
      case 'cancelRequest':
        return this.cancel(req.cancelRequest!.watchId);
      case 'progressRequest':
        for (const h of this.watchers.values()) h.requestProgress();
        return;
      default:
        return;
    }
  }

  private allocateId(requested: number): number | undefined {
    if (requested !== 0) return this.watchers.has(requested) ? undefined : requested;
    while (this.watchers.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  private create(c: WatchCreateRequest__Output): void {
    const id = this.allocateId(c.watchId);
    if (id === undefined) {
      this.send({ header: header(this.backend), watchId: -1, created: true, canceled: true, cancelReason: DUPLICATE_ID });
      return;
    }
    // etcd: an empty key means "\0"; range_end "\0" means "to the end".
    const opts: WatchCreateOptions = {
      key: c.key.length === 0 ? Buffer.from([0]) : c.key,
      rangeEnd: c.rangeEnd,
      startRevision: c.startRevision,
      prevKv: c.prevKv,
      progressNotify: c.progressNotify,
      filters: c.filters,
    };
    // Sink calls made before `created` is sent (e.g. synchronous history replay) are held back.
    let createdSent = false;
    const pending: Array<{ resp: WatchResponse } | { events: WatchEventFields[]; revision: number }> = [];
    const emit = (resp: WatchResponse) => {
      if (!this.watchers.has(id) && createdSent) return; // cancelled
      if (createdSent) this.send(resp);
      else pending.push({ resp });
    };
    let handle: WatchHandle;
    try {
      handle = this.backend.watch(opts, {
        events: (events, revision) => {
          if (!createdSent) pending.push({ events: [...events], revision });
          else if (this.watchers.has(id)) this.hold(id, events, revision);
        },
        compacted: (compactRevision, revision) => {
          emit({ header: header(this.backend, revision), watchId: id, compactRevision, canceled: true });
          this.watchers.delete(id);
        },
        progress: (revision) => {
          emit({ header: header(this.backend, revision), watchId: id, events: [] });
        },
      });
    } catch (err) {
      if (isEtcdError(err, 'Compacted')) {
        // Not expected (the backend reports compaction through the sink), but keep etcd's shape.
        this.send({ header: header(this.backend), watchId: id, created: true });
        this.send({ header: header(this.backend), watchId: id, canceled: true, compactRevision: 1, cancelReason: ETCD_ERRORS.Compacted.message });
        return;
      }
      const reason = err instanceof Error ? err.message : String(err);
      this.send({ header: header(this.backend), watchId: id, created: true, canceled: true, cancelReason: reason });
      return;
    }
    const compactedAlready = pending.some((p) => 'resp' in p && p.resp.canceled);
    if (!compactedAlready) this.watchers.set(id, handle);
    this.send({ header: header(this.backend), watchId: id, created: true });
    createdSent = true;
    for (const p of pending) {
      if ('resp' in p) this.send(p.resp);
      else this.call.write(this.chunks.response({ header: header(this.backend, p.revision), watchId: id }, p.events) as unknown as WatchResponse);
    }
    if (compactedAlready) handle.cancel();
  }

  private cancel(id: number): void {
    const h = this.watchers.get(id);
    if (!h) return;
    this.watchers.delete(id);
    h.cancel();
    this.send({ header: header(this.backend), watchId: id, canceled: true });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.watchers.values()) h.cancel();
    this.watchers.clear();
  }
}

/** The Watch handlers; `serialize` is the response serializer of the definition they are served with (watchDefinition). */
export function watchService(backend: EtcdBackend, serialize: Serialize): WatchHandlers {
  const chunks = eventChunks(serialize);
  return {
    Watch: (call: grpc.ServerDuplexStream<WatchRequest__Output, WatchResponse>) => {
      const session = new WatchStreamSession(backend, call, chunks);
      call.on('data', (req: WatchRequest__Output) => session.onRequest(req));
      call.on('end', () => {
        session.close();
        call.end();
      });
      call.on('error', () => session.close());
      call.on('cancelled', () => session.close());
      call.on('close', () => session.close());
    },
  };
}

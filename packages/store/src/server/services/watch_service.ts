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

function toWireEvent(e: WatchEventFields): Event {
  const ev: Event = { type: e.type, kv: e.kv };
  if (e.prevKv) ev.prevKv = e.prevKv;
  return ev;
}

class WatchStreamSession {
  private readonly watchers = new Map<number, WatchHandle>();
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly backend: EtcdBackend,
    private readonly call: grpc.ServerDuplexStream<WatchRequest__Output, WatchResponse>,
  ) {}

  private send(resp: WatchResponse): void {
    if (this.closed) return;
    this.call.write(resp);
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
    const pending: WatchResponse[] = [];
    const emit = (resp: WatchResponse) => {
      if (!this.watchers.has(id) && createdSent) return; // cancelled
      if (createdSent) this.send(resp);
      else pending.push(resp);
    };
    let handle: WatchHandle;
    try {
      handle = this.backend.watch(opts, {
        events: (events, revision) => {
          emit({ header: header(this.backend, revision), watchId: id, events: events.map(toWireEvent) });
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
    const compactedAlready = pending.some((p) => p.canceled);
    if (!compactedAlready) this.watchers.set(id, handle);
    this.send({ header: header(this.backend), watchId: id, created: true });
    createdSent = true;
    for (const p of pending) this.send(p);
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

export function watchService(backend: EtcdBackend): WatchHandlers {
  return {
    Watch: (call: grpc.ServerDuplexStream<WatchRequest__Output, WatchResponse>) => {
      const session = new WatchStreamSession(backend, call);
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

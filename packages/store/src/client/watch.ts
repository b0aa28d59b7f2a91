// A resumable watcher. Each Watcher owns one Watch bidi stream carrying one
// watch. When the stream fails (member killed, connection lost, member lost its
// leader) the watcher re-creates the watch on the next endpoint from
// `nextRevision` = last delivered event revision + 1 (or progress revision + 1),
// so no event is lost or delivered twice. A compacted start revision ends the
// watcher with EtcdCompactedError.
//
// Consume it as an EventEmitter ('data' WatchBatch, 'error', 'end',
// 'reconnecting', 'resumed') or as an async iterable of WatchBatch.

import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { WatchRequest } from '../gen/etcdserverpb/WatchRequest.js';
import type { WatchResponse__Output } from '../gen/etcdserverpb/WatchResponse.js';
import type { Event__Output } from '../gen/mvccpb/Event.js';
import type { StoreConnection as Connection, ConnectionPool } from './connection.js';
import { EtcdClientError, EtcdCompactedError, EtcdMessages, EtcdWatchCanceledError } from './errors.js';
import { num, rangeEndFor, toBuffer, toHeader, toKeyValue, type Bytes, type KeyRangeOptions, type KeyValue, type ResponseHeader } from './types.js';

export interface WatchOptions extends KeyRangeOptions {
  /** First revision to deliver (inclusive); 0/undefined = changes after "now". */
  startRevision?: number;
  prevKv?: boolean;
  /** Ask the server for periodic progress notifications (delivered as batches with progressNotify = true). */
  progressNotify?: boolean;
  filters?: Array<'NOPUT' | 'NODELETE'>;
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface WatchBatch {
  header: ResponseHeader;
  events: WatchEvent[];
  /** A progress notification (no events): everything up to header.revision has been delivered. */
  progressNotify: boolean;
}

export interface WatcherDeps {
  pool: ConnectionPool;
  /** Backoff before re-creating the stream (ms), by attempt number (1-based). */
  backoffMs?: (attempt: number) => number;
}

type WatchStream = grpc.ClientDuplexStream<WatchRequest, WatchResponse__Output>;

function toEvent(e: Event__Output): WatchEvent {
  const ev: WatchEvent = { type: e.type === 'DELETE' ? 'DELETE' : 'PUT', kv: toKeyValue(e.kv!) };
  if (e.prevKv) ev.prevKv = toKeyValue(e.prevKv);
  return ev;
}

const RESUMABLE_CANCEL_REASONS: string[] = [EtcdMessages.noLeader, EtcdMessages.leaderChanged, EtcdMessages.stopped];

export class Watcher extends EventEmitter implements AsyncIterable<WatchBatch> {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** The next revision the watcher expects; 0 until the first stream is created with start "now". */
  nextRevision: number;
  /** The endpoint (host:port) the current stream is on. */
  endpoint: string | undefined;
  /** Number of times the stream was re-created. */
  resumes = 0;
  /** Set when the watcher ended with an error. */
  error: EtcdClientError | undefined;

  private conn: Connection;
  private stream: WatchStream | undefined;
  private closed = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private createdOnce = false;
  private readonly created: Promise<void>;
  private resolveCreated!: () => void;
  private rejectCreated!: (e: unknown) => void;

  constructor(
    private readonly deps: WatcherDeps,
    key: Bytes,
    private readonly opts: WatchOptions,
  ) {
    super();
    let k = toBuffer(key);
    this.rangeEnd = rangeEndFor(k, opts);
    if (k.length === 0 && (opts.prefix || opts.fromKey)) k = Buffer.from([0]);
    this.key = k;
    this.nextRevision = opts.startRevision ?? 0;
    this.conn = deps.pool.pick();
    this.created = new Promise((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    this.created.catch(() => undefined);
  }

  /** Opens the first stream; resolves once the server confirmed the watch. */
  start(): Promise<void> {
    this.open();
    return this.created;
  }

  private open(): void {
    if (this.closed) return;
    const conn = this.conn;
    this.endpoint = conn.address;
    const md = new grpc.Metadata();
    // Like etcd's clientv3.WithRequireLeader: a member without a leader ends the stream, so we move on.
    md.set('hasleader', 'true');
    const stream = conn.watch.Watch(md) as WatchStream;
    this.stream = stream;
    stream.on('data', (resp: WatchResponse__Output) => {
      if (this.stream === stream) this.onResponse(resp);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.stream === stream) this.onStreamFailure(EtcdClientError.fromServiceError(err, 'Watch.Watch', conn.address));
    });
    stream.on('end', () => {
      if (this.stream === stream) {
        this.onStreamFailure(new EtcdClientError(grpc.status.UNAVAILABLE, 'watch stream ended by server', 'Watch.Watch', conn.address));
      }
    });
    stream.write({
      createRequest: {
        key: this.key,
        ...(this.rangeEnd.length > 0 ? { rangeEnd: this.rangeEnd } : {}),
        startRevision: this.nextRevision,
        progressNotify: this.opts.progressNotify ?? false,
        filters: this.opts.filters ?? [],
        prevKv: this.opts.prevKv ?? false,
        watchId: 0,
        fragment: false,
      },
    });
  }

  private onResponse(resp: WatchResponse__Output): void {
    const header = toHeader(resp.header);
    const compactRevision = num(resp.compactRevision);
    if (compactRevision > 0) {
      this.fail(new EtcdCompactedError(compactRevision, 'Watch.Watch', this.endpoint));
      return;
    }
    if (resp.canceled) {
      if (RESUMABLE_CANCEL_REASONS.includes(resp.cancelReason)) {
        this.onStreamFailure(new EtcdClientError(grpc.status.UNAVAILABLE, resp.cancelReason, 'Watch.Watch', this.endpoint));
      } else {
        this.fail(new EtcdWatchCanceledError(resp.cancelReason, this.endpoint));
      }
      return;
    }
    if (resp.created) {
      this.failures = 0;
      if (this.nextRevision === 0) this.nextRevision = header.revision + 1;
      if (!this.createdOnce) {
        this.createdOnce = true;
        this.resolveCreated();
      } else {
        this.emit('resumed', { endpoint: this.endpoint, fromRevision: this.nextRevision });
      }
      if (resp.events.length === 0) return;
    }
    if (resp.events.length === 0) {
      // Progress notification: every event up to header.revision has been sent.
      if (header.revision + 1 > this.nextRevision) this.nextRevision = header.revision + 1;
      this.emit('data', { header, events: [], progressNotify: true } satisfies WatchBatch);
      return;
    }
    const events: WatchEvent[] = [];
    for (const e of resp.events) {
      const ev = toEvent(e);
      if (ev.kv.modRevision < this.nextRevision) continue; // already delivered before a resume
      events.push(ev);
    }
    if (events.length === 0) return;
    this.nextRevision = events[events.length - 1]!.kv.modRevision + 1;
    this.emit('data', { header, events, progressNotify: false } satisfies WatchBatch);
  }

  private onStreamFailure(err: EtcdClientError): void {
    if (this.closed) return;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.removeAllListeners('data');
      stream.on('error', () => undefined);
      stream.cancel();
    }
    this.failures++;
    this.emit('reconnecting', err);
    const delay = this.deps.backoffMs?.(this.failures) ?? Math.min(50 * 2 ** (this.failures - 1), 2000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.conn = this.deps.pool.next(this.conn);
      this.resumes++;
      this.open();
    }, delay);
  }

  private fail(err: EtcdClientError): void {
    if (this.closed) return;
    this.error = err;
    this.teardown();
    if (!this.createdOnce) this.rejectCreated(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('end');
  }

  private teardown(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.removeAllListeners('data');
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }

  /**
   * Asks the server for a progress notification (etcd's WatchProgressRequest):
   * a 'data' batch with no events whose header revision says every event up to
   * it has been delivered. Returns false when no stream is open right now.
   */
  requestProgress(): boolean {
    if (this.closed || !this.stream || !this.createdOnce) return false;
    this.stream.write({ progressRequest: {} });
    return true;
  }

  /**
   * The member at `address` stopped answering (the client's health probe):
   * when this watcher's stream is on it, drop the stream and resume on the
   * next endpoint from nextRevision, as after a stream failure.
   */
  moveOff(address: string, reason: string): void {
    if (this.closed || !this.stream || this.endpoint !== address) return;
    this.onStreamFailure(new EtcdClientError(grpc.status.UNAVAILABLE, reason, 'Watch.Watch', address));
  }

  /** Stops the watcher (no 'data' after this returns). */
  cancel(): void {
    if (this.closed) return;
    this.teardown();
    if (!this.createdOnce) this.rejectCreated(new EtcdClientError(grpc.status.CANCELLED, 'watch canceled', 'Watch.Watch'));
    this.emit('end');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    const queue: WatchBatch[] = [];
    let waiter: { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: unknown) => void } | undefined;
    let ended = this.closed;
    const onData = (b: WatchBatch) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w.resolve({ value: b, done: false });
      } else queue.push(b);
    };
    const onEnd = () => {
      ended = true;
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        if (this.error) w.reject(this.error);
        else w.resolve({ value: undefined, done: true });
      }
    };
    this.on('data', onData);
    this.on('end', onEnd);
    const cleanup = () => {
      this.off('data', onData);
      this.off('end', onEnd);
    };
    return {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (ended) {
          cleanup();
          return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          waiter = { resolve, reject };
        });
      },
      return: () => {
        cleanup();
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

// Lease keep-alive loop over the LeaseKeepAlive bidi stream. Renews every
// ttl/3 seconds (ttl from the last response). If the server answers TTL <= 0
// (lease expired or revoked), or no renewal succeeds before the lease's TTL
// runs out, the keeper reports loss ('lost' event and the `lost` promise) and
// stops. Stream failures move the stream to the next endpoint with backoff.

import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { LeaseKeepAliveRequest } from '../gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse__Output } from '../gen/etcdserverpb/LeaseKeepAliveResponse.js';
import type { StoreConnection as Connection, ConnectionPool } from './connection.js';
import { EtcdClientError, EtcdLeaseLostError } from './errors.js';
import { idStr, num, type Id, type IdInput } from './types.js';

type KeepAliveStream = grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output>;

export interface KeepAliveInfo {
  id: Id;
  ttl: number;
  revision: number;
}

export interface LeaseKeeperOptions {
  /** Give up connecting for the first renewal after this long (ms). Default 5000. */
  firstResponseTimeoutMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export class LeaseKeeper extends EventEmitter {
  readonly id: Id;
  /** Last TTL granted by the server (seconds). */
  ttl = 0;
  /** Wall time (ms) until which the lease is known to be alive. */
  expiresAt = 0;
  /** Resolves with the reason when the lease is lost; never rejects. Not resolved by close(). */
  readonly lost: Promise<EtcdLeaseLostError>;
  lostError: EtcdLeaseLostError | undefined;

  private resolveLost!: (e: EtcdLeaseLostError) => void;
  private conn: Connection;
  private stream: KeepAliveStream | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private readonly now: () => number;
  private first: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(
    private readonly pool: ConnectionPool,
    id: IdInput,
    private readonly opts: LeaseKeeperOptions = {},
  ) {
    super();
    this.id = idStr(id);
    this.now = opts.now ?? Date.now;
    this.conn = pool.pick();
    this.lost = new Promise((resolve) => {
      this.resolveLost = resolve;
    });
  }

  /** Opens the stream and resolves after the first successful renewal (rejects if the lease is gone). */
  start(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      this.first = { resolve, reject };
    });
    this.expiresAt = this.now() + (this.opts.firstResponseTimeoutMs ?? 5000);
    this.armWatchdog();
    this.open();
    return p;
  }

  private open(): void {
    if (this.closed) return;
    const conn = this.conn;
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    const stream = conn.lease.LeaseKeepAlive(md) as KeepAliveStream;
    this.stream = stream;
    stream.on('data', (r: LeaseKeepAliveResponse__Output) => {
      if (this.stream === stream) this.onResponse(r);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.stream === stream) this.onStreamFailure(EtcdClientError.fromServiceError(err, 'Lease.LeaseKeepAlive', conn.address));
    });
    stream.on('end', () => {
      if (this.stream === stream) {
        this.onStreamFailure(new EtcdClientError(grpc.status.UNAVAILABLE, 'keep-alive stream ended', 'Lease.LeaseKeepAlive', conn.address));
      }
    });
    this.send();
  }

  private send(): void {
    if (this.closed || !this.stream) return;
    this.stream.write({ ID: this.id });
  }

  private onResponse(r: LeaseKeepAliveResponse__Output): void {
    const ttl = num(r.TTL);
    if (ttl <= 0) {
      this.lose('lease expired or revoked (keep-alive TTL 0)');
      return;
    }
    this.failures = 0;
    this.ttl = ttl;
    this.expiresAt = this.now() + ttl * 1000;
    this.armWatchdog();
    if (this.first) {
      this.first.resolve();
      this.first = undefined;
    }
    this.emit('keepalive', { id: this.id, ttl, revision: num(r.header?.revision) } satisfies KeepAliveInfo);
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = setTimeout(() => this.send(), Math.max(100, (ttl * 1000) / 3));
  }

  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    const wait = Math.max(0, this.expiresAt - this.now());
    this.watchdog = setTimeout(() => {
      if (this.now() >= this.expiresAt) this.lose('keep-alive deadline passed without a renewal');
      else this.armWatchdog();
    }, wait);
  }

  private onStreamFailure(err: EtcdClientError): void {
    if (this.closed) return;
    this.dropStream();
    this.failures++;
    this.emit('reconnecting', err);
    const delay = Math.min(50 * 2 ** (this.failures - 1), 1000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.conn = this.pool.next(this.conn);
      this.open();
    }, delay);
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      s.cancel();
    }
  }

  private lose(reason: string): void {
    if (this.closed) return;
    const err = new EtcdLeaseLostError(this.id, reason, this.conn.address);
    this.lostError = err;
    this.stop();
    if (this.first) {
      this.first.reject(err);
      this.first = undefined;
    }
    this.resolveLost(err);
    this.emit('lost', err);
  }

  private stop(): void {
    this.closed = true;
    for (const t of [this.sendTimer, this.watchdog, this.reconnectTimer]) if (t) clearTimeout(t);
    this.dropStream();
  }

  /** Stops renewing (the lease then expires on its own unless revoked). */
  close(): void {
    if (this.closed) return;
    this.stop();
    if (this.first) {
      this.first.reject(new EtcdClientError(grpc.status.CANCELLED, 'keep-alive closed', 'Lease.LeaseKeepAlive'));
      this.first = undefined;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

// The objects a service handler gets, shaped as grpc-js' server calls (the etcd and
// peer services are written against grpc-js' handler types and also run on the
// in-process dispatcher): a unary call (an EventEmitter with request, metadata,
// 'cancelled') and, for every streaming kind, an object-mode Duplex (messages in as
// 'data', responses written, end() sends OK, destroy(err) sends err's status).
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { GrpcStatus, ServerCall } from './call.js';

/** The status a handler's error object stands for (grpc-js' ServiceError shape, or any Error: UNKNOWN). */
export function statusOf(err: unknown): GrpcStatus {
  const e = (err ?? {}) as { code?: unknown; details?: unknown; message?: unknown; metadata?: unknown };
  const code = typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN;
  const details = typeof e.details === 'string' ? e.details : typeof e.message === 'string' ? e.message : String(err);
  const metadata = e.metadata instanceof grpc.Metadata ? e.metadata : undefined;
  return { code, details, metadata };
}

export class UnaryCallObject extends EventEmitter {
  cancelled = false;

  constructor(
    private readonly call: ServerCall,
    readonly request: unknown,
  ) {
    super();
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  getPeer(): string {
    return this.call.getPeer();
  }

  getDeadline(): number {
    return this.call.getDeadline();
  }

  getPath(): string {
    return this.call.method.path;
  }

  getHost(): string {
    return this.call.getHost();
  }

  getAuthContext(): ReturnType<ServerCall['getAuthContext']> {
    return this.call.getAuthContext();
  }

  sendMetadata(md?: grpc.Metadata): void {
    this.call.sendMetadata(md);
  }
}

export class StreamCallObject extends Duplex {
  cancelled = false;
  request: unknown;
  private ended = false;

  constructor(private readonly call: ServerCall) {
    super({ objectMode: true });
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  getPeer(): string {
    return this.call.getPeer();
  }

  getDeadline(): number {
    return this.call.getDeadline();
  }

  getPath(): string {
    return this.call.method.path;
  }

  getHost(): string {
    return this.call.getHost();
  }

  getAuthContext(): ReturnType<ServerCall['getAuthContext']> {
    return this.call.getAuthContext();
  }

  sendMetadata(md?: grpc.Metadata): void {
    this.call.sendMetadata(md);
  }

  /** A request message from the client (reading pauses while the handler does not keep up). */
  deliver(msg: unknown): void {
    if (!this.push(msg)) this.call.pause();
  }

  override _read(): void {
    this.call.resume();
  }

  override _write(msg: unknown, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.call.sendMessage(msg, () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.ended = true;
    done();
    this.call.sendStatus({ code: grpc.status.OK, details: 'OK' });
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // The error is the call's status, not an 'error' event nobody may be listening for.
    if (!this.ended && !this.cancelled) {
      this.ended = true;
      this.call.sendStatus(err ? statusOf(err) : { code: grpc.status.INTERNAL, details: 'stream destroyed' });
    }
    done(null);
  }

  /** The client went or the call is over. */
  onCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
    this.destroy();
  }
}

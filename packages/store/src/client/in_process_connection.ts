// A connection to a store member in the same process: the etcd service
// handlers are called directly instead of through HTTP/2. Every message still
// goes through the client's serializer and the server's deserializer (and
// back), so both sides see exactly what they would see over gRPC (int64 as
// strings on the client, request sizes recorded on the server) and share no
// objects; what is skipped is the socket, HTTP/2 framing and grpc-js' call
// machinery. Used by the API server for its embedded store.

import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { KVClient } from '../gen/etcdserverpb/KV.js';
import type { WatchClient } from '../gen/etcdserverpb/Watch.js';
import type { LeaseClient } from '../gen/etcdserverpb/Lease.js';
import type { ClusterClient } from '../gen/etcdserverpb/Cluster.js';
import type { MaintenanceClient } from '../gen/etcdserverpb/Maintenance.js';
import { clientProtoPackage, type StoreConnection } from './connection.js';
import { NotSentError } from './errors.js';

/** One etcd service as the server registers it: method definitions and handlers. */
export interface InProcessService {
  readonly name: 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance';
  readonly definition: grpc.ServiceDefinition;
  readonly handlers: grpc.UntypedServiceImplementation;
}

type AnyMethod = grpc.MethodDefinition<unknown, unknown>;
type StatusLike = { code?: grpc.status; details?: string; message?: string; metadata?: grpc.Metadata };

const PEER = 'in-process';

function serviceError(code: grpc.status, details: string, metadata?: grpc.Metadata): grpc.ServiceError {
  const err = new Error(`${code} ${grpc.status[code]}: ${details}`) as grpc.ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = metadata ?? new grpc.Metadata();
  return err;
}

function toServiceError(err: unknown): grpc.ServiceError {
  const e = (err ?? {}) as StatusLike;
  return serviceError(e.code ?? grpc.status.UNKNOWN, e.details ?? e.message ?? String(err), e.metadata);
}

/** Moves a message across the boundary: client codec on one side, server codec on the other. */
function transfer<T>(serialize: (v: never) => Buffer, deserialize: (b: Buffer) => unknown, msg: unknown): T {
  return deserialize(serialize(msg as never)) as T;
}

/**
 * Runs callbacks in order, asynchronously and one per event-loop turn, like
 * messages arriving from a socket: whoever awaits the first message (a watch's
 * `created`) can attach listeners before the next one (its cancellation) lands.
 */
class Mailbox {
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private scheduled = false;

  post(fn: () => void): void {
    this.queue.push(fn);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.head >= this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => this.deliverOne());
  }

  private deliverOne(): void {
    this.scheduled = false;
    const fn = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.schedule();
    fn();
  }
}

interface CallOptionsLike {
  deadline?: grpc.Deadline;
}

function splitArgs(args: unknown[]): { md: grpc.Metadata; opts: CallOptionsLike; cb: (err: grpc.ServiceError | null, res?: unknown) => void } {
  const cb = args.pop() as (err: grpc.ServiceError | null, res?: unknown) => void;
  let md = new grpc.Metadata();
  let opts: CallOptionsLike = {};
  for (const a of args) {
    if (a instanceof grpc.Metadata) md = a;
    else if (a && typeof a === 'object') opts = a as CallOptionsLike;
  }
  return { md, opts, cb };
}

function deadlineMs(d: grpc.Deadline | undefined): number | undefined {
  if (d === undefined) return undefined;
  const t = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(t) ? t : undefined;
}

class UnaryBridge {
  constructor(
    private readonly client: AnyMethod,
    private readonly server: AnyMethod,
    private readonly handler: grpc.handleUnaryCall<unknown, unknown>,
    private readonly isClosed: () => boolean,
  ) {}

  invoke(req: unknown, ...rest: unknown[]): { cancel(): void } {
    const { md, opts, cb } = splitArgs(rest);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: grpc.ServiceError | null, res?: unknown): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      cb(err, res);
    };
    if (this.isClosed()) {
      setImmediate(() => finish(serviceError(grpc.status.UNAVAILABLE, 'No connection established: in-process connection closed')));
      return { cancel: () => undefined };
    }
    let request: unknown;
    try {
      request = transfer(this.client.requestSerialize, this.server.requestDeserialize, req);
    } catch (err) {
      setImmediate(() => finish(serviceError(grpc.status.INTERNAL, `request serialization failed: ${String(err)}`)));
      return { cancel: () => undefined };
    }
    const until = deadlineMs(opts.deadline);
    if (until !== undefined) {
      timer = setTimeout(() => finish(serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, until - Date.now()));
    }
    const emitter = new EventEmitter();
    const call = Object.assign(emitter, {
      request,
      metadata: md,
      cancelled: false,
      getPeer: () => PEER,
      getDeadline: () => opts.deadline ?? Infinity,
      getPath: () => this.server.path,
      sendMetadata: () => undefined,
    });
    // A microtask, not a macrotask: the request starts as soon as the caller's synchronous code is done,
    // without waiting a whole event-loop turn behind other I/O (under load a turn can take tens of ms).
    queueMicrotask(() => {
      try {
        this.handler(call as unknown as grpc.ServerUnaryCall<unknown, unknown>, (err, res) => {
          if (err) return finish(toServiceError(err));
          try {
            finish(null, transfer(this.server.responseSerialize, this.client.responseDeserialize, res));
          } catch (e) {
            finish(serviceError(grpc.status.INTERNAL, `response serialization failed: ${String(e)}`));
          }
        });
      } catch (err) {
        finish(toServiceError(err));
      }
    });
    return {
      cancel: () => {
        call.cancelled = true;
        emitter.emit('cancelled');
        finish(serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
      },
    };
  }
}

/** Both ends of one bidirectional stream. */
class DuplexBridge {
  readonly clientEnd: EventEmitter & { write(msg: unknown): boolean; end(): void; cancel(): void; getPeer(): string };
  readonly serverEnd: EventEmitter & {
    metadata: grpc.Metadata;
    cancelled: boolean;
    write(msg: unknown): boolean;
    end(): void;
    destroy(err?: unknown): void;
    getPeer(): string;
    getDeadline(): grpc.Deadline;
    sendMetadata(): void;
  };
  private finished = false;
  private readonly toServer = new Mailbox();
  private readonly toClient = new Mailbox();

  constructor(client: AnyMethod, server: AnyMethod, md: grpc.Metadata) {
    const self = this;
    this.clientEnd = Object.assign(new EventEmitter(), {
      write(msg: unknown): boolean {
        if (self.finished) return false;
        const m = transfer(client.requestSerialize, server.requestDeserialize, msg);
        self.toServer.post(() => {
          if (!self.finished) self.serverEnd.emit('data', m);
        });
        return true;
      },
      end(): void {
        self.toServer.post(() => {
          if (!self.finished) self.serverEnd.emit('end');
        });
      },
      cancel(): void {
        if (self.finished) return;
        self.finished = true;
        self.serverEnd.cancelled = true;
        self.toServer.post(() => {
          self.serverEnd.emit('cancelled');
          self.serverEnd.emit('close');
        });
        self.toClient.post(() => {
          if (self.clientEnd.listenerCount('error') > 0) self.clientEnd.emit('error', serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
          self.clientEnd.emit('status', { code: grpc.status.CANCELLED, details: 'Cancelled on client', metadata: new grpc.Metadata() });
        });
      },
      getPeer: () => PEER,
    });
    this.serverEnd = Object.assign(new EventEmitter(), {
      metadata: md,
      cancelled: false,
      write(msg: unknown): boolean {
        if (self.finished) return false;
        const m = transfer(server.responseSerialize, client.responseDeserialize, msg);
        self.toClient.post(() => {
          if (!self.finished) self.clientEnd.emit('data', m);
        });
        return true;
      },
      end(): void {
        if (self.finished) return;
        self.finished = true;
        self.toClient.post(() => {
          self.clientEnd.emit('status', { code: grpc.status.OK, details: 'OK', metadata: new grpc.Metadata() });
          self.clientEnd.emit('end');
        });
        self.toServer.post(() => self.serverEnd.emit('close'));
      },
      destroy(err?: unknown): void {
        if (self.finished) return;
        self.finished = true;
        const e = err === undefined ? serviceError(grpc.status.INTERNAL, 'stream destroyed') : toServiceError(err);
        self.toClient.post(() => {
          if (self.clientEnd.listenerCount('error') > 0) self.clientEnd.emit('error', e);
          self.clientEnd.emit('status', { code: e.code, details: e.details, metadata: e.metadata });
        });
        self.toServer.post(() => self.serverEnd.emit('close'));
      },
      getPeer: () => PEER,
      getDeadline: () => Infinity,
      sendMetadata: () => undefined,
    });
  }

  /** The connection closed under the stream: the client sees UNAVAILABLE. */
  abort(): void {
    if (this.finished) return;
    this.serverEnd.cancelled = true;
    this.serverEnd.emit('cancelled');
    this.serverEnd.emit('close');
    this.serverEnd.destroy(serviceError(grpc.status.UNAVAILABLE, 'in-process connection closed'));
  }
}

/** A StoreConnection whose stubs call the member's service handlers directly. */
export class InProcessConnection implements StoreConnection {
  readonly address: string;
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly cluster: ClusterClient;
  readonly maintenance: MaintenanceClient;
  private closed = false;
  private readonly streams = new Set<DuplexBridge>();

  constructor(services: readonly InProcessService[], address = PEER) {
    this.address = address;
    const pkg = clientProtoPackage();
    const stubs = (name: InProcessService['name']): unknown => {
      const svc = services.find((s) => s.name === name);
      if (!svc) throw new Error(`in-process connection: no ${name} service`);
      const clientDef = (pkg[name] as unknown as { service: grpc.ServiceDefinition }).service;
      const out: Record<string, unknown> = { close: () => undefined };
      for (const [method, serverMethod] of Object.entries(svc.definition)) {
        const sm = serverMethod as AnyMethod;
        const cm = clientDef[method] as AnyMethod;
        const handler = svc.handlers[method];
        if (!handler) continue;
        if (!sm.requestStream && !sm.responseStream) {
          const bridge = new UnaryBridge(cm, sm, handler as grpc.handleUnaryCall<unknown, unknown>, () => this.closed);
          out[method] = (req: unknown, ...rest: unknown[]) => bridge.invoke(req, ...rest);
        } else if (sm.requestStream && sm.responseStream) {
          out[method] = (...args: unknown[]) => this.openDuplex(cm, sm, handler as grpc.handleBidiStreamingCall<unknown, unknown>, args);
        } else {
          out[method] = () => {
            throw new Error(`in-process connection: ${name}.${method} (one-way stream) is not used by the client`);
          };
        }
      }
      return out;
    };
    this.kv = stubs('KV') as KVClient;
    this.watch = stubs('Watch') as WatchClient;
    this.lease = stubs('Lease') as LeaseClient;
    this.cluster = stubs('Cluster') as ClusterClient;
    this.maintenance = stubs('Maintenance') as MaintenanceClient;
  }

  private openDuplex(cm: AnyMethod, sm: AnyMethod, handler: grpc.handleBidiStreamingCall<unknown, unknown>, args: unknown[]): unknown {
    const md = args.find((a): a is grpc.Metadata => a instanceof grpc.Metadata) ?? new grpc.Metadata();
    const bridge = new DuplexBridge(cm, sm, md);
    if (this.closed) {
      setImmediate(() => bridge.serverEnd.destroy(serviceError(grpc.status.UNAVAILABLE, 'No connection established: in-process connection closed')));
      return bridge.clientEnd;
    }
    this.streams.add(bridge);
    bridge.serverEnd.on('close', () => this.streams.delete(bridge));
    setImmediate(() => handler(bridge.serverEnd as unknown as grpc.ServerDuplexStream<unknown, unknown>));
    return bridge.clientEnd;
  }

  ready(_timeoutMs: number, method: string): Promise<void> {
    if (this.closed) return Promise.reject(new NotSentError('in-process connection closed', method, this.address));
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.abort();
    this.streams.clear();
  }
}

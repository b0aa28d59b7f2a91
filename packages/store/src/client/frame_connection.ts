// The client's end of a frame connection (see transport/call_frames.ts): stubs shaped
// like grpc-js clients (unary calls with callbacks, bidirectional streams as
// event emitters) whose messages are serialized with the client's codecs and
// sent as frames over a link — to a member in the same thread or in a worker.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { KVClient } from '../gen/etcdserverpb/KV.js';
import type { WatchClient } from '../gen/etcdserverpb/Watch.js';
import type { LeaseClient } from '../gen/etcdserverpb/Lease.js';
import type { ClusterClient } from '../gen/etcdserverpb/Cluster.js';
import type { MaintenanceClient } from '../gen/etcdserverpb/Maintenance.js';
import { asBuffer, type ClientFrame, type ServerFrame } from '../transport/call_frames.js';
import { clientProtoPackage, type StoreConnection } from './connection.js';
import { NotSentError } from './errors.js';

type AnyMethod = grpc.MethodDefinition<unknown, unknown>;
type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;

type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance';

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  const err = new Error(`${code} ${grpc.status[code]}: ${details}`) as grpc.ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}

function splitArgs(args: unknown[]): { md: grpc.Metadata | undefined; deadline: number | undefined; cb: Callback } {
  const cb = args.pop() as Callback;
  let md: grpc.Metadata | undefined;
  let deadline: number | undefined;
  for (const a of args) {
    if (a instanceof grpc.Metadata) md = a;
    else if (a && typeof a === 'object' && 'deadline' in a) {
      const d = (a as { deadline?: grpc.Deadline }).deadline;
      const t = d instanceof Date ? d.getTime() : d;
      if (typeof t === 'number' && Number.isFinite(t)) deadline = t;
    }
  }
  return { md, deadline, cb };
}

/** The call's string metadata, or undefined when there is none (the common case: nothing to copy). */
function metadataMap(md: grpc.Metadata | undefined): Record<string, string> | undefined {
  if (!md) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(md.getMap())) if (typeof v === 'string') (out ??= {})[k] = v;
  return out;
}

/** Where a frame connection's frames go. */
export interface FrameLink {
  send(f: ClientFrame): void;
}

/** The client side of one bidirectional stream. */
type ClientStream = EventEmitter & { write(msg: unknown): boolean; end(): void; cancel(): void; getPeer(): string };

export class FrameConnection implements StoreConnection {
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly cluster: ClusterClient;
  readonly maintenance: MaintenanceClient;
  private link!: FrameLink;
  private closed = false;
  private nextId = 1;
  private readonly unary = new Map<number, { method: AnyMethod; finish: Callback }>();
  private readonly streams = new Map<number, { method: AnyMethod; end: ClientStream; finish(code: grpc.status, details: string): void }>();

  constructor(
    readonly address: string,
    private readonly peer = 'in-process',
  ) {
    const pkg = clientProtoPackage();
    const stubs = (service: ServiceName): unknown => {
      const def = (pkg[service] as unknown as { service: grpc.ServiceDefinition }).service;
      const out: Record<string, unknown> = { close: () => undefined };
      for (const [name, m] of Object.entries(def) as Array<[string, AnyMethod]>) {
        if (!m.requestStream && !m.responseStream) out[name] = (req: unknown, ...rest: unknown[]) => this.callUnary(service, name, m, req, rest);
        else if (m.requestStream && m.responseStream) out[name] = (...args: unknown[]) => this.openStream(service, name, m, args);
        else
          out[name] = () => {
            throw new Error(`${this.peer} connection: ${service}.${name} (one-way stream) is not used by the client`);
          };
      }
      return out;
    };
    this.kv = stubs('KV') as KVClient;
    this.watch = stubs('Watch') as WatchClient;
    this.lease = stubs('Lease') as LeaseClient;
    this.cluster = stubs('Cluster') as ClusterClient;
    this.maintenance = stubs('Maintenance') as MaintenanceClient;
  }

  /** Connects the stubs to where their frames go (once, before the first call). */
  protected attach(link: FrameLink): void {
    this.link = link;
  }

  /** A frame from the member. */
  receive(f: ServerFrame): void {
    switch (f.k) {
      case 'result':
      case 'error': {
        const u = this.unary.get(f.id);
        if (!u) return;
        this.unary.delete(f.id);
        if (f.k === 'error') return u.finish(serviceError(f.code, f.details));
        let res: unknown;
        try {
          res = u.method.responseDeserialize(asBuffer(f.bytes));
        } catch (err) {
          return u.finish(serviceError(grpc.status.INTERNAL, `response deserialization failed: ${String(err)}`));
        }
        return u.finish(null, res);
      }
      case 'data': {
        const s = this.streams.get(f.id);
        if (!s) return;
        let msg: unknown;
        try {
          msg = s.method.responseDeserialize(asBuffer(f.bytes));
        } catch (err) {
          this.link.send({ k: 'cancel', id: f.id });
          return s.finish(grpc.status.INTERNAL, `response deserialization failed: ${String(err)}`);
        }
        s.end.emit('data', msg);
        return;
      }
      case 'status':
        this.streams.get(f.id)?.finish(f.code, f.details);
        return;
    }
  }

  private callUnary(service: string, name: string, m: AnyMethod, req: unknown, rest: unknown[]): { cancel(): void } {
    const { md, deadline, cb } = splitArgs(rest);
    const id = this.nextId++;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish: Callback = (err, res) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      this.unary.delete(id);
      cb(err, res);
    };
    const failLater = (code: grpc.status, details: string) => {
      setImmediate(() => finish(serviceError(code, details)));
      return { cancel: () => undefined };
    };
    if (this.closed) return failLater(grpc.status.UNAVAILABLE, `No connection established: ${this.peer} connection closed`);
    let bytes: Uint8Array;
    try {
      bytes = m.requestSerialize(req);
    } catch (err) {
      return failLater(grpc.status.INTERNAL, `request serialization failed: ${String(err)}`);
    }
    this.unary.set(id, { method: m, finish });
    if (deadline !== undefined) {
      timer = setTimeout(() => {
        finish(serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
        this.link.send({ k: 'cancel', id });
      }, Math.max(0, deadline - Date.now()));
    }
    const metadata = metadataMap(md);
    this.link.send(metadata || deadline !== undefined ? { k: 'unary', id, service, method: name, bytes, metadata, deadline } : { k: 'unary', id, service, method: name, bytes });
    return {
      cancel: () => {
        if (done) return;
        finish(serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
        this.link.send({ k: 'cancel', id });
      },
    };
  }

  private openStream(service: string, name: string, m: AnyMethod, args: unknown[]): ClientStream {
    const md = args.find((a): a is grpc.Metadata => a instanceof grpc.Metadata);
    const id = this.nextId++;
    const self = this;
    let finished = false;
    /** Ends the stream for its user: 'error' (if anyone listens) and 'status', or 'status' and 'end'. */
    const finish = (code: grpc.status, details: string): void => {
      if (finished) return;
      finished = true;
      self.streams.delete(id);
      if (code === grpc.status.OK) {
        end.emit('status', { code, details, metadata: new grpc.Metadata() });
        end.emit('end');
        return;
      }
      if (end.listenerCount('error') > 0) end.emit('error', serviceError(code, details));
      end.emit('status', { code, details, metadata: new grpc.Metadata() });
    };
    const end: ClientStream = Object.assign(new EventEmitter(), {
      write(msg: unknown): boolean {
        if (finished) return false;
        self.link.send({ k: 'write', id, bytes: m.requestSerialize(msg) });
        return true;
      },
      end(): void {
        if (!finished) self.link.send({ k: 'end', id });
      },
      cancel(): void {
        if (finished) return;
        self.streams.delete(id);
        self.link.send({ k: 'cancel', id });
        setImmediate(() => finish(grpc.status.CANCELLED, 'Cancelled on client'));
      },
      getPeer: () => self.peer,
    });
    if (this.closed) {
      setImmediate(() => finish(grpc.status.UNAVAILABLE, `No connection established: ${this.peer} connection closed`));
      return end;
    }
    this.streams.set(id, { method: m, end, finish });
    this.link.send({ k: 'open', id, service, method: name, metadata: metadataMap(md) });
    return end;
  }

  ready(_timeoutMs: number, method: string): Promise<void> {
    if (this.closed) return Promise.reject(new NotSentError(`${this.peer} connection closed`, method, this.address));
    return Promise.resolve();
  }

  /** Closes the connection: open streams end with UNAVAILABLE, the member cancels their calls. */
  close(): void {
    this.fail(`${this.peer} connection closed`, false);
  }

  /**
   * The member is gone (or the connection closed): streams end with UNAVAILABLE;
   * with `failUnary` calls in flight fail too (nobody is left to answer them).
   */
  protected fail(reason: string, failUnary: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.link.send({ k: 'close' });
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) setImmediate(() => s.finish(grpc.status.UNAVAILABLE, reason));
    if (failUnary) {
      const calls = [...this.unary.values()];
      this.unary.clear();
      for (const u of calls) setImmediate(() => u.finish(serviceError(grpc.status.UNAVAILABLE, reason)));
    }
  }
}

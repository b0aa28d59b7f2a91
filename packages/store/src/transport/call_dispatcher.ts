// The member's end of a frame connection (see call_frames.ts): turns
// client frames into calls of the etcd service handlers — with call objects
// shaped like grpc-js' (request, metadata, cancelled, events) — and their
// answers into server frames. Messages are parsed with the server's
// deserializers and written with its serializers, as grpc-js would. It knows
// grpc-js service definitions and handlers only, not the member: the client's
// InProcessConnection and the embedded store both use it, so it sits in
// transport/, below client and server.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { asBuffer, type ClientFrame, type ServerFrame } from './call_frames.js';

/** One etcd service as a server registers it: method definitions (server-side codecs) and handlers. */
export interface EtcdServiceEntry {
  readonly name: 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance';
  readonly definition: grpc.ServiceDefinition;
  readonly handlers: grpc.UntypedServiceImplementation;
}

type AnyMethod = grpc.MethodDefinition<unknown, unknown>;

const PEER = 'in-process';

function statusOf(err: unknown): { code: grpc.status; details: string } {
  const e = (err ?? {}) as { code?: grpc.status; details?: string; message?: string };
  return { code: e.code ?? grpc.status.UNKNOWN, details: e.details ?? e.message ?? String(err) };
}

function metadataOf(map: Record<string, string> | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(map ?? {})) md.set(k, v);
  return md;
}

interface Method {
  def: AnyMethod;
  handler: grpc.UntypedHandleCall;
  path: string;
}

/** The server side of one stream: what a grpc-js duplex handler sees. */
type ServerStream = EventEmitter & {
  metadata: grpc.Metadata;
  cancelled: boolean;
  write(msg: unknown): boolean;
  end(): void;
  destroy(err?: unknown): void;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  sendMetadata(): void;
};

export class CallDispatcher {
  private readonly methods = new Map<string, Method>();
  private readonly unary = new Map<number, EventEmitter & { cancelled: boolean }>();
  private readonly streams = new Map<number, { stream: ServerStream; def: AnyMethod }>();
  private closed = false;

  constructor(
    services: readonly EtcdServiceEntry[],
    private readonly send: (f: ServerFrame) => void,
    private readonly onClose: () => void = () => undefined,
  ) {
    for (const s of services) {
      for (const [name, def] of Object.entries(s.definition)) {
        const handler = s.handlers[name] as grpc.UntypedHandleCall | undefined;
        if (handler) this.methods.set(`${s.name}/${name}`, { def: def as AnyMethod, handler, path: (def as AnyMethod).path });
      }
    }
  }

  receive(f: ClientFrame): void {
    switch (f.k) {
      case 'unary':
        return this.startUnary(f);
      case 'open':
        return this.openStream(f);
      case 'write': {
        const s = this.streams.get(f.id);
        if (!s) return;
        let msg: unknown;
        try {
          msg = s.def.requestDeserialize(asBuffer(f.bytes));
        } catch (err) {
          s.stream.destroy({ code: grpc.status.INTERNAL, details: `request deserialization failed: ${String(err)}` });
          return;
        }
        s.stream.emit('data', msg);
        return;
      }
      case 'end':
        this.streams.get(f.id)?.stream.emit('end');
        return;
      case 'cancel':
        return this.cancel(f.id);
      case 'close':
        return this.close();
    }
  }

  /** The connection is gone: every call is cancelled. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.unary.keys(), ...this.streams.keys()]) this.cancel(id);
    this.onClose();
  }

  private cancel(id: number): void {
    const u = this.unary.get(id);
    if (u) {
      this.unary.delete(id);
      u.cancelled = true;
      u.emit('cancelled');
      return;
    }
    const s = this.streams.get(id)?.stream;
    if (!s) return;
    this.streams.delete(id);
    s.cancelled = true;
    s.emit('cancelled');
    s.emit('close');
  }

  private startUnary(f: Extract<ClientFrame, { k: 'unary' }>): void {
    const m = this.methods.get(`${f.service}/${f.method}`);
    if (!m || m.def.requestStream || m.def.responseStream) {
      this.send({ k: 'error', id: f.id, code: grpc.status.UNIMPLEMENTED, details: `unknown unary method ${f.service}/${f.method}` });
      return;
    }
    let request: unknown;
    try {
      request = m.def.requestDeserialize(asBuffer(f.bytes));
    } catch (err) {
      this.send({ k: 'error', id: f.id, code: grpc.status.INTERNAL, details: `request deserialization failed: ${String(err)}` });
      return;
    }
    const call = Object.assign(new EventEmitter(), {
      request,
      metadata: metadataOf(f.metadata),
      cancelled: false,
      getPeer: () => PEER,
      getDeadline: () => f.deadline ?? Infinity,
      getPath: () => m.path,
      sendMetadata: () => undefined,
    });
    this.unary.set(f.id, call);
    const answer = (err: unknown, res?: unknown): void => {
      if (this.unary.get(f.id) !== call) return; // cancelled: the client has its answer
      this.unary.delete(f.id);
      if (err) {
        this.send({ k: 'error', id: f.id, ...statusOf(err) });
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = m.def.responseSerialize(res);
      } catch (e) {
        this.send({ k: 'error', id: f.id, code: grpc.status.INTERNAL, details: `response serialization failed: ${String(e)}` });
        return;
      }
      this.send({ k: 'result', id: f.id, bytes });
    };
    try {
      (m.handler as grpc.handleUnaryCall<unknown, unknown>)(call as unknown as grpc.ServerUnaryCall<unknown, unknown>, answer);
    } catch (err) {
      answer(err);
    }
  }

  private openStream(f: Extract<ClientFrame, { k: 'open' }>): void {
    const m = this.methods.get(`${f.service}/${f.method}`);
    if (!m || !m.def.requestStream || !m.def.responseStream) {
      this.send({ k: 'status', id: f.id, code: grpc.status.UNIMPLEMENTED, details: `unknown bidirectional method ${f.service}/${f.method}` });
      return;
    }
    if (this.closed) {
      this.send({ k: 'status', id: f.id, code: grpc.status.UNAVAILABLE, details: 'No connection established: in-process connection closed' });
      return;
    }
    const self = this;
    let finished = false;
    const live = (): boolean => self.streams.get(f.id)?.stream === stream;
    const finish = (code: grpc.status, details: string): void => {
      if (finished) return;
      finished = true;
      // A cancelled stream has had its 'close' already.
      if (!live()) return;
      self.streams.delete(f.id);
      self.send({ k: 'status', id: f.id, code, details });
      setImmediate(() => stream.emit('close'));
    };
    const stream: ServerStream = Object.assign(new EventEmitter(), {
      metadata: metadataOf(f.metadata),
      cancelled: false,
      write(msg: unknown): boolean {
        if (finished || !live()) return false;
        self.send({ k: 'data', id: f.id, bytes: m.def.responseSerialize(msg) });
        return true;
      },
      end(): void {
        finish(grpc.status.OK, 'OK');
      },
      destroy(err?: unknown): void {
        const s = err === undefined ? { code: grpc.status.INTERNAL, details: 'stream destroyed' } : statusOf(err);
        finish(s.code, s.details);
      },
      getPeer: () => PEER,
      getDeadline: () => Infinity,
      sendMetadata: () => undefined,
    });
    this.streams.set(f.id, { stream, def: m.def });
    try {
      (m.handler as grpc.handleBidiStreamingCall<unknown, unknown>)(stream as unknown as grpc.ServerDuplexStream<unknown, unknown>);
    } catch (err) {
      stream.destroy(err);
    }
  }
}

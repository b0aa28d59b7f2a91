// A gRPC server on node:http2 (the store's client and peer listeners): serves
// grpc-js service definitions with their handlers (unary, client-, server- and
// bidirectional streaming) as grpc-js' server would — same status codes and
// messages for unknown methods, oversized messages, bad requests and deadlines,
// the same TLS options — without grpc-js' per-call machinery (interceptors,
// channelz, call trackers), which was about half of each member's CPU (docs/BENCHMARKS.md).
// HTTP/2 itself answers PINGs and applies flow control; the server sends a
// keepalive PING every `keepaliveTimeMs` and drops a connection whose ack does not
// come within `keepaliveTimeoutMs`, as grpc-js' server options here did.
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { ListenURL } from '../urls.js';
import { ServerCall, type CallLimits } from './call.js';
import { StreamCallObject, UnaryCallObject, statusOf } from './call_objects.js';
import { keepSessionAlive } from './keepalive.js';

export interface GrpcServerOptions extends CallLimits {
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

/** TLS for an https:// listener (as grpc.ServerCredentials.createSsl: a client certificate is required when clientCertAuth). */
export interface GrpcServerTLS {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  clientCertAuth: boolean;
}

type Kind = 'unary' | 'clientStream' | 'serverStream' | 'bidi';

interface Route {
  kind: Kind;
  def: grpc.MethodDefinition<unknown, unknown>;
  handler: (...args: never[]) => void;
}

const {
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_STATUS,
  HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
} = http2.constants;

function kindOf(def: grpc.MethodDefinition<unknown, unknown>): Kind {
  if (def.requestStream) return def.responseStream ? 'bidi' : 'clientStream';
  return def.responseStream ? 'serverStream' : 'unary';
}

export class GrpcServerError extends Error {
  readonly code = 'GRPC_SERVER_LISTEN';
}

export class Http2GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly servers: Array<http2.Http2Server | http2.Http2SecureServer> = [];
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly calls = new Set<ServerCall>();

  constructor(private readonly opts: GrpcServerOptions) {}

  /** As grpc.Server.addService: every method of `def` served by the handler of the same name. */
  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    for (const [name, m] of Object.entries(def)) {
      const method = m as grpc.MethodDefinition<unknown, unknown>;
      const handler = (impl[name] ?? impl[method.originalName ?? '']) as Route['handler'] | undefined;
      if (!handler) continue; // answered UNIMPLEMENTED, as grpc-js does for a missing handler
      this.routes.set(method.path, { kind: kindOf(method), def: method, handler });
    }
  }

  /** Listens on a listen URL's `host:port` (port 0: any) or unix socket path; resolves with the port (0 for a socket). */
  bind(url: Pick<ListenURL, 'scheme' | 'host' | 'port' | 'address'>, tls?: GrpcServerTLS): Promise<number> {
    const settings: http2.Settings = { initialWindowSize: 1 << 20 };
    const common = { settings, maxSessionMemory: Number.MAX_SAFE_INTEGER, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER } as const;
    const server = tls
      ? http2.createSecureServer({
          ...common,
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca ? { ca: tls.ca } : {}),
          requestCert: tls.clientCertAuth,
          rejectUnauthorized: tls.clientCertAuth,
        })
      : http2.createServer(common);
    server.on('session', (session) => this.onSession(session));
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    server.on('sessionError', () => undefined);
    // A client that is not speaking TLS/HTTP/2 is dropped.
    server.on('tlsClientError', () => undefined);
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new GrpcServerError(`cannot listen on ${url.address}: ${err.message}`));
      const listening = () => {
        server.removeListener('error', onError);
        server.on('error', () => undefined);
        const a = server.address();
        resolve(a && typeof a === 'object' ? (a as AddressInfo).port : 0);
      };
      server.once('error', onError);
      if (url.scheme === 'unix') server.listen(url.host, listening);
      else server.listen(url.port, url.host, listening);
    });
  }

  /** Closes the listeners and every connection, cancelling the calls in progress. */
  forceShutdown(): void {
    for (const s of this.servers) s.close();
    for (const c of this.calls) c.reset();
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.setLocalWindowSize(16 << 20);
    keepSessionAlive(session, this.opts.keepaliveTimeMs ?? 0, this.opts.keepaliveTimeoutMs ?? 20_000);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', () => undefined);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.respond({ [HTTP2_HEADER_STATUS]: HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE }, { endStream: true });
      return;
    }
    const path = String(headers[HTTP2_HEADER_PATH] ?? '');
    const route = this.routes.get(path);
    if (!route) {
      const call = new ServerCall(stream, headers, { path, requestDeserialize: (b) => b, responseSerialize: (v) => v as Buffer }, this.opts);
      call.sendStatus({ code: Status.UNIMPLEMENTED, details: `The server does not implement the method ${path}` });
      return;
    }
    const call = new ServerCall(stream, headers, { path, requestDeserialize: route.def.requestDeserialize, responseSerialize: route.def.responseSerialize }, this.opts);
    this.calls.add(call);
    stream.once('close', () => this.calls.delete(call));
    switch (route.kind) {
      case 'unary':
        return this.unary(call, route);
      case 'serverStream':
        return this.serverStream(call, route);
      case 'clientStream':
        return this.clientStream(call, route);
      case 'bidi':
        return this.bidi(call, route);
    }
  }

  private run(call: ServerCall, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      call.sendStatus({ code: Status.UNKNOWN, details: `Server method handler threw error ${(err as Error)?.message ?? String(err)}` });
    }
  }

  private answer(call: ServerCall): grpc.sendUnaryData<unknown> {
    return (err, res) => {
      if (err) call.sendStatus(statusOf(err));
      else call.sendUnaryResponse(res);
    };
  }

  private unary(call: ServerCall, route: Route): void {
    let request: unknown;
    let got = false;
    let obj: UnaryCallObject | undefined;
    call.start({
      message: (msg) => {
        if (got) {
          call.sendStatus({ code: Status.UNIMPLEMENTED, details: `Received a second request message for unary method ${call.method.path}` });
          return;
        }
        got = true;
        request = msg;
      },
      halfClose: () => {
        if (!got) {
          call.sendStatus({ code: Status.UNIMPLEMENTED, details: `Received no request message for unary method ${call.method.path}` });
          return;
        }
        obj = new UnaryCallObject(call, request);
        const o = obj;
        this.run(call, () => (route.handler as grpc.handleUnaryCall<unknown, unknown>)(o as unknown as grpc.ServerUnaryCall<unknown, unknown>, this.answer(call)));
      },
      cancel: () => {
        if (!obj || obj.cancelled) return;
        obj.cancelled = true;
        obj.emit('cancelled', 'cancelled');
      },
    });
  }

  private serverStream(call: ServerCall, route: Route): void {
    let request: unknown;
    let got = false;
    let obj: StreamCallObject | undefined;
    call.start({
      message: (msg) => {
        if (got) {
          call.sendStatus({ code: Status.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${call.method.path}` });
          return;
        }
        got = true;
        request = msg;
      },
      halfClose: () => {
        if (!got) {
          call.sendStatus({ code: Status.UNIMPLEMENTED, details: `Received no request message for server streaming method ${call.method.path}` });
          return;
        }
        const o = (obj = new StreamCallObject(call));
        o.request = request;
        o.push(null);
        this.run(call, () => (route.handler as grpc.handleServerStreamingCall<unknown, unknown>)(o as unknown as grpc.ServerWritableStream<unknown, unknown>));
      },
      cancel: () => obj?.onCancel(),
    });
  }

  private clientStream(call: ServerCall, route: Route): void {
    const o = new StreamCallObject(call);
    call.start({ message: (msg) => o.deliver(msg), halfClose: () => o.push(null), cancel: () => o.onCancel() });
    this.run(call, () => (route.handler as grpc.handleClientStreamingCall<unknown, unknown>)(o as unknown as grpc.ServerReadableStream<unknown, unknown>, this.answer(call)));
  }

  private bidi(call: ServerCall, route: Route): void {
    const o = new StreamCallObject(call);
    call.start({ message: (msg) => o.deliver(msg), halfClose: () => o.push(null), cancel: () => o.onCancel() });
    this.run(call, () => (route.handler as grpc.handleBidiStreamingCall<unknown, unknown>)(o as unknown as grpc.ServerDuplexStream<unknown, unknown>));
  }

  /** Connections open now (tests). */
  get connectionCount(): number {
    return this.sessions.size;
  }
}


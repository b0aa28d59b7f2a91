// A gRPC client channel of our own on node:http2, for the member's peer
// transport (server/peer/transport.ts): client-streaming calls (the Raft message
// stream, snapshot transfers) and unary calls to one peer URL, over one HTTP/2
// connection made when first needed and made again after it is lost. Without
// grpc-js' channel stack (resolver, load balancer, subchannel state machine,
// filters, per-message interceptors), which cost the leader as much as its server
// side did. Status: grpc-status/grpc-message from the trailers (or a trailers-only
// response); a stream closed without one is UNAVAILABLE (connection lost) or
// CANCELLED (we cancelled it); a deadline is sent as grpc-timeout and enforced here too.
// grpc_proxy/https_proxy/http_proxy are honoured as grpc-js does (proxy_tunnel.ts).
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ListenURL } from '../urls.js';
import { frameMessage, MessageDecoder } from './framing.js';
import { connectTunnel, proxyFor } from './proxy_tunnel.js';
import { keepSessionAlive } from './keepalive.js';

/** A gRPC error as grpc-js reports one (code, details, message "CODE_NUMBER NAME: details"). */
export interface GrpcCallError extends Error {
  code: number;
  details: string;
  metadata: grpc.Metadata;
}

export function callError(code: number, details: string): GrpcCallError {
  const err = new Error(`${code} ${grpc.status[code] ?? 'UNKNOWN'}: ${details}`) as GrpcCallError;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}

export interface ChannelTLS {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ChannelOptions {
  maxReceiveMessageBytes?: number;
  /** A keepalive PING on an idle-or-busy connection every this many ms (0: none); no ack in 20 s drops it. */
  keepaliveTimeMs?: number;
  /** After a failed connection, new calls fail fast (UNAVAILABLE) for this long. */
  reconnectBackoffMs?: number;
}

/** The writing side of a client-streaming call. */
export interface ClientStreamCall<Req> {
  /** Queues a message; `done` runs once HTTP/2 took it. Returns false while the stream's buffer is full. */
  write(msg: Req, done?: () => void): boolean;
  end(): void;
  cancel(): void;
  once(event: 'drain', listener: () => void): void;
}

function decodeMessage(v: unknown): string {
  const s = String(v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class Http2GrpcChannel {
  private session: http2.ClientHttp2Session | undefined;
  private brokenUntil = 0;
  private closed = false;
  private readonly authority: string;

  constructor(
    private readonly url: Pick<ListenURL, 'scheme' | 'host' | 'port'>,
    private readonly tls: ChannelTLS | undefined,
    private readonly opts: ChannelOptions = {},
  ) {
    const host = url.host.includes(':') ? `[${url.host}]` : url.host;
    this.authority = `${url.scheme === 'https' ? 'https' : 'http'}://${host}:${url.port}`;
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const options: http2.SecureClientSessionOptions = {
      settings: { initialWindowSize: 1 << 20, enablePush: false },
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    };
    if (this.url.scheme === 'https') {
      Object.assign(options, this.tls?.ca ? { ca: this.tls.ca } : {}, this.tls?.cert ? { cert: this.tls.cert, key: this.tls.key } : {});
    }
    const proxy = proxyFor(this.url.host);
    if (proxy) {
      // Through an HTTP CONNECT proxy (grpc_proxy, as grpc-js): TLS, when used, inside the tunnel.
      const target = `${this.url.host.includes(':') ? `[${this.url.host}]` : this.url.host}:${this.url.port}`;
      options.createConnection = () => {
        const tunnel = connectTunnel(proxy, target);
        if (this.url.scheme !== 'https') return tunnel;
        return tls.connect({ socket: tunnel, host: this.url.host, ALPNProtocols: ['h2'], ...(this.tls?.ca ? { ca: this.tls.ca } : {}), ...(this.tls?.cert ? { cert: this.tls.cert, key: this.tls.key } : {}) });
      };
    }
    const session = http2.connect(this.authority, options);
    this.session = session;
    session.on('error', () => {
      this.brokenUntil = Date.now() + (this.opts.reconnectBackoffMs ?? 0);
    });
    session.on('connect', () => session.setLocalWindowSize(16 << 20));
    keepSessionAlive(session, this.opts.keepaliveTimeMs ?? 0, 20_000);
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.unref();
    return session;
  }

  /** Starts a call: the HTTP/2 stream, or an UNAVAILABLE error while the last connection attempt failed recently. */
  private open(path: string, deadline?: number): http2.ClientHttp2Stream | GrpcCallError {
    if (this.closed) return callError(grpc.status.UNAVAILABLE, 'channel closed');
    if (Date.now() < this.brokenUntil) return callError(grpc.status.UNAVAILABLE, `no connection to ${this.authority} (reconnecting)`);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (deadline !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(deadline - Date.now()))}m`;
    try {
      return this.connect().request(headers);
    } catch (err) {
      this.session?.destroy();
      return callError(grpc.status.UNAVAILABLE, `cannot start a call to ${this.authority}: ${(err as Error).message}`);
    }
  }

  /**
   * Follows a call's response: messages (each given to `onMessage`) and the final status, given to
   * `onStatus` once (null for OK).
   */
  private follow(stream: http2.ClientHttp2Stream, onMessage: (b: Buffer) => void, onStatus: (err: GrpcCallError | null) => void, cancelledByUs: () => boolean): void {
    const decoder = new MessageDecoder(this.opts.maxReceiveMessageBytes ?? 64 << 20);
    let status: GrpcCallError | null | undefined;
    let reported = false;
    const report = (err: GrpcCallError | null) => {
      if (reported) return;
      reported = true;
      onStatus(err);
    };
    const fromHeaders = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      const code = Number(h['grpc-status']);
      status = code === 0 ? null : callError(code, decodeMessage(h['grpc-message']));
    };
    stream.on('response', (h) => {
      const st = Number(h[':status']);
      if (st !== 200) status = callError(grpc.status.UNKNOWN, `Received HTTP status code ${st}`);
      else fromHeaders(h);
    });
    stream.on('trailers', fromHeaders);
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const m of decoder.write(chunk)) onMessage(m);
      } catch (err) {
        status = callError(grpc.status.RESOURCE_EXHAUSTED, (err as Error).message);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on('error', () => undefined);
    stream.once('close', () => {
      if (status !== undefined) report(status);
      else if (cancelledByUs()) report(callError(grpc.status.CANCELLED, 'Cancelled on client'));
      else report(callError(grpc.status.UNAVAILABLE, `connection to ${this.authority} lost (stream reset with code ${stream.rstCode})`));
    });
    stream.resume();
  }

  /**
   * A client-streaming call; `onDone` gets its status (null: OK) and the response bytes. With
   * `framed`, `serialize` returns the message after 5 free bytes, where the frame header is written
   * (no copy of the message into a frame).
   */
  clientStream<Req>(path: string, serialize: (v: Req) => Buffer, onDone: (err: GrpcCallError | null, response?: Buffer) => void, framed = false): ClientStreamCall<Req> | GrpcCallError {
    const stream = this.open(path);
    if (stream instanceof Error) return stream;
    let cancelled = false;
    let response: Buffer | undefined;
    this.follow(stream, (b) => (response = b), (err) => onDone(err, response), () => cancelled);
    return {
      write: (msg, done) => {
        if (stream.destroyed || stream.writableEnded) {
          done?.();
          return false;
        }
        let frame: Buffer;
        if (framed) {
          frame = serialize(msg);
          frame[0] = 0;
          frame.writeUInt32BE(frame.length - 5, 1);
        } else frame = frameMessage(serialize(msg));
        return stream.write(frame, done ? () => done() : undefined);
      },
      end: () => {
        if (!stream.destroyed && !stream.writableEnded) stream.end();
      },
      cancel: () => {
        cancelled = true;
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
      once: (event, listener) => void stream.once(event, listener),
    };
  }

  unary<Req, Res>(path: string, serialize: (v: Req) => Buffer, deserialize: (b: Buffer) => Res, req: Req, timeoutMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const stream = this.open(path, deadline);
      if (stream instanceof Error) return reject(stream);
      let response: Buffer | undefined;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      this.follow(
        stream,
        (b) => (response = b),
        (err) => {
          clearTimeout(timer);
          if (timedOut) return reject(callError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
          if (err) return reject(err);
          if (!response) return reject(callError(grpc.status.UNIMPLEMENTED, 'No message received'));
          try {
            resolve(deserialize(response));
          } catch (e) {
            reject(callError(grpc.status.INTERNAL, `Failed to parse server response: ${(e as Error).message}`));
          }
        },
        () => timedOut,
      );
      stream.end(frameMessage(serialize(req)));
    });
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }
}

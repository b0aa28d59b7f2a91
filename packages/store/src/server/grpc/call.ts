// One gRPC call on one HTTP/2 stream, server side: reads the request messages
// (framing.ts), sends response messages, the status in trailers (or a
// trailers-only response when nothing was sent), the deadline from grpc-timeout,
// and cancellation when the client resets the stream or the connection goes. The
// handler-facing objects (call_objects.ts) sit on top of it.
import * as http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { frameMessage, GrpcFramingError, MessageDecoder } from './framing.js';
import { encodeGrpcMessage, parseGrpcTimeout } from './headers.js';

const {
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  NGHTTP2_CANCEL,
} = http2.constants;

export interface GrpcStatus {
  code: number;
  details: string;
  metadata?: grpc.Metadata | null;
}

export interface MethodCodec {
  path: string;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: unknown): Buffer;
}

export interface CallLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  [HTTP2_HEADER_STATUS]: 200,
  [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
  'grpc-encoding': 'identity',
};

/** Headers a handler does not see as request metadata (as grpc-js removes them). */
const NOT_METADATA = new Set(['grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'te', 'content-type']);

export interface CallListener {
  message(msg: unknown): void;
  halfClose(): void;
  cancel(): void;
}

export class ServerCall {
  cancelled = false;
  private statusSent = false;
  private headersSent = false;
  private readonly decoder: MessageDecoder;
  private deadline = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private md: grpc.Metadata | undefined;
  private listener: CallListener | undefined;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    readonly method: MethodCodec,
    private readonly limits: CallLimits,
  ) {
    this.decoder = new MessageDecoder(limits.maxReceiveMessageBytes);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) {
        process.nextTick(() => this.sendStatus({ code: grpc.status.INTERNAL, details: `Invalid grpc-timeout value "${timeout}"` }));
      } else {
        this.deadline = Date.now() + ms;
        this.timer = setTimeout(() => this.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }), ms);
      }
    }
    stream.once('close', () => this.onClose());
    stream.on('error', () => undefined); // a reset or a dead connection: 'close' follows and cancels the call
  }

  /** Starts reading; the listener gets every decoded message, the half-close and a cancellation. */
  start(listener: CallListener): void {
    this.listener = listener;
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.once('end', () => {
      if (this.cancelled || this.statusSent) return;
      if (this.decoder.partial) {
        this.sendStatus({ code: grpc.status.INTERNAL, details: 'Stream ended in the middle of a message' });
        return;
      }
      listener.halfClose();
    });
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    if (!this.cancelled) this.stream.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.cancelled || this.statusSent) return;
    let messages: Buffer[];
    try {
      messages = this.decoder.write(chunk);
    } catch (err) {
      const e = err as GrpcFramingError;
      this.sendStatus({ code: e.grpcCode ?? grpc.status.INTERNAL, details: e.message });
      return;
    }
    for (const bytes of messages) {
      let msg: unknown;
      try {
        msg = this.method.requestDeserialize(bytes);
      } catch {
        this.sendStatus({ code: grpc.status.INTERNAL, details: 'Error deserializing request' });
        return;
      }
      this.listener!.message(msg);
      if (this.cancelled || this.statusSent) return;
    }
  }

  /**
   * The stream is closed: after the status went out, or because the client reset it or the
   * connection went. Either way the handler is told (grpc-js also signals 'cancelled' after a
   * call's status was sent), once.
   */
  private onClose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.statusSent = true;
    if (this.cancelled) return;
    this.cancelled = true;
    this.listener?.cancel();
  }

  get metadata(): grpc.Metadata {
    if (!this.md) {
      const md = grpc.Metadata.fromHttp2Headers(this.headers);
      for (const k of NOT_METADATA) md.remove(k);
      this.md = md;
    }
    return this.md;
  }

  getDeadline(): number {
    return this.deadline;
  }

  getPeer(): string {
    const s = this.stream.session?.socket;
    if (!s?.remoteAddress) return 'unknown';
    return s.remotePort ? `${s.remoteAddress}:${s.remotePort}` : s.remoteAddress;
  }

  getHost(): string {
    return String(this.headers[':authority'] ?? this.headers.host ?? '');
  }

  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: unknown } {
    const socket = this.stream.session?.socket as TLSSocket | undefined;
    if (!socket || typeof socket.getPeerCertificate !== 'function') return {};
    const cert = socket.getPeerCertificate();
    return { transportSecurityType: 'ssl', sslPeerCertificate: cert && Object.keys(cert).length > 0 ? cert : undefined };
  }

  sendMetadata(md?: grpc.Metadata): void {
    if (this.headersSent || this.statusSent || this.cancelled) return;
    this.headersSent = true;
    const extra = md ? md.toHttp2Headers() : undefined;
    this.stream.respond(extra ? { ...RESPONSE_HEADERS, ...extra } : RESPONSE_HEADERS, { waitForTrailers: true });
  }

  /** Serializes and sends one message; `done` runs once it is handed to HTTP/2 (false if the call is over). */
  sendMessage(msg: unknown, done?: (err?: Error | null) => void): boolean {
    if (this.statusSent || this.cancelled) {
      done?.();
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = this.method.responseSerialize(msg);
    } catch {
      this.sendStatus({ code: grpc.status.INTERNAL, details: 'Error serializing response' });
      done?.();
      return false;
    }
    if (bytes.length > this.limits.maxSendMessageBytes) {
      this.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${bytes.length + 5} vs. ${this.limits.maxSendMessageBytes})` });
      done?.();
      return false;
    }
    this.sendMetadata();
    return this.stream.write(frameMessage(bytes), done ? () => done() : undefined);
  }

  /** A unary answer: headers, the message and the OK trailers in one go. */
  sendUnaryResponse(msg: unknown): void {
    if (this.statusSent || this.cancelled) return;
    let bytes: Buffer;
    try {
      bytes = this.method.responseSerialize(msg);
    } catch {
      this.sendStatus({ code: grpc.status.INTERNAL, details: 'Error serializing response' });
      return;
    }
    if (bytes.length > this.limits.maxSendMessageBytes) {
      this.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${bytes.length + 5} vs. ${this.limits.maxSendMessageBytes})` });
      return;
    }
    this.sendMetadata();
    this.statusSent = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream.once('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK' }));
    this.stream.end(frameMessage(bytes));
  }

  sendStatus(status: GrpcStatus): void {
    if (this.statusSent || this.cancelled) return;
    this.statusSent = true;
    if (this.timer) clearTimeout(this.timer);
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(status.code), 'grpc-message': encodeGrpcMessage(status.details ?? '') };
    const md = status.metadata?.toHttp2Headers();
    if (md) Object.assign(trailers, md);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (this.headersSent) {
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end();
    } else {
      this.headersSent = true;
      stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
    }
    // A client still sending (a request stream refused early) has its remaining data dropped.
    if (!stream.readableEnded) stream.resume();
  }

  /** Ends the stream at once (the server shuts down). */
  reset(): void {
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }
}

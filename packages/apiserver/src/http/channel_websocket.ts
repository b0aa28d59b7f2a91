/**
 * WebSocket handshakes of the streaming subresources: the client side over an
 * already connected socket (remotecommand channel protocols towards a node
 * agent) and the server side towards API clients; the framing after either is
 * @mkube/api's WebSocketConn (masked on the client side, as it must be).
 */
import { WebSocketConn, acceptKey } from '@mkube/api';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export class ChannelWebSocketError extends Error {
  constructor(
    message: string,
    readonly code: 'HandshakeFailed',
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

/**
 * Sends the upgrade request and waits for the 101; resolves with the bytes
 * that followed the response head. Non-101 answers reject with the status and body.
 */
export function handshakeWebSocket(socket: Duplex, path: string, host: string, protocol: string, timeoutMs = 15_000): Promise<Buffer> {
  const key = randomBytes(16).toString('base64');
  const accept = acceptKey(key);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`);
  return new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(rest!);
    };
    const timer = setTimeout(() => done(new ChannelWebSocketError('WebSocket handshake timed out', 'HandshakeFailed')), timeoutMs);
    const onClose = () => {
      const text = buf.toString('utf8');
      const m = /^HTTP\/1\.\d (\d+)/.exec(text);
      const body = text.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      done(new ChannelWebSocketError(`WebSocket handshake failed: ${m ? `status ${m[1]}` : 'connection closed'}`, 'HandshakeFailed', m ? Number(m[1]) : undefined, body));
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const status = Number(/^HTTP\/1\.\d (\d+)/.exec(lines[0] ?? '')?.[1] ?? 0);
      if (status !== 101) {
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const body = buf.subarray(end + 4);
        if (cl && body.length >= Number(cl[1])) done(new ChannelWebSocketError(`WebSocket handshake failed: status ${status}`, 'HandshakeFailed', status, body.toString('utf8')));
        return; // otherwise wait for the rest of the body or the close
      }
      const h = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as const));
      if (h.get('sec-websocket-accept') !== accept) return done(new ChannelWebSocketError('WebSocket handshake: bad Sec-WebSocket-Accept', 'HandshakeFailed', 101));
      if (h.get('sec-websocket-protocol') !== protocol) return done(new ChannelWebSocketError(`WebSocket handshake: server did not select ${protocol}`, 'HandshakeFailed', 101));
      done(undefined, buf.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Subprotocols offered by a WebSocket handshake request, in the client's order. */
export function offeredWebSocketProtocols(req: IncomingMessage): string[] {
  const h = req.headers['sec-websocket-protocol'];
  return (Array.isArray(h) ? h.join(',') : (h ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
}

export function isWebSocketRequest(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * The server side of a handshake on an 'upgrade' socket, answering with
 * `protocol` (which the caller chose among the offered ones). Undefined, with
 * a 400 written, when the request has no Sec-WebSocket-Key.
 */
export function acceptChannelWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): WebSocketConn | undefined {
  const key = req.headers['sec-websocket-key'];
  if (!key) {
    const msg = 'missing Sec-WebSocket-Key';
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${msg.length}\r\nConnection: close\r\n\r\n${msg}`);
    return undefined;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(String(key))}\r\n` + (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n');
  (socket as Socket).setNoDelay?.(true);
  return new WebSocketConn(socket, protocol, false, head);
}

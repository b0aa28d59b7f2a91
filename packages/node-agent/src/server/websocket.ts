// The WebSocket handshakes of the node agent's exec/attach/port-forward
// endpoints (v4/v5.channel.k8s.io): accepting an upgrade, and connecting as a
// client. The framing after the handshake is @mkube/api's WebSocketConn.
import { WebSocketConn, WebSocketError, acceptKey } from '@mkube/api';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export { WebSocketConn, WebSocketError, acceptKey };

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Offered subprotocols of a handshake request, in the client's order. */
export function offeredProtocols(req: IncomingMessage): string[] {
  const h = req.headers['sec-websocket-protocol'];
  const raw = Array.isArray(h) ? h.join(',') : (h ?? '');
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Completes the server side of a handshake on an 'upgrade' socket with the
 * first protocol the client offered that is in `supported` (client's
 * preference, as kubelet's wsstream does). Writes a 400 and returns
 * undefined when none fits.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, supported: string[]): WebSocketConn | undefined {
  const key = req.headers['sec-websocket-key'];
  const offered = offeredProtocols(req);
  const protocol = offered.find((p) => supported.includes(p));
  if (!key || protocol === undefined) {
    const msg = !key ? 'missing Sec-WebSocket-Key' : `none of the offered subprotocols [${offered.join(', ')}] is supported (${supported.join(', ')})`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(String(key))}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  (socket as Socket).setNoDelay?.(true);
  return new WebSocketConn(socket, protocol, false, head);
}

/** Opens a client WebSocket to ws://, wss://, http:// or https:// URL with the given subprotocols. */
export function connectWebSocket(url: string, protocols: string[], tls: ConnectionOptions = {}, timeoutMs = 10_000): Promise<WebSocketConn> {
  const u = new URL(url);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  const port = Number(u.port || (secure ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket: Socket = secure ? tlsConnect({ host, port, servername: host, ...tls }) : netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new WebSocketError(`WebSocket handshake with ${u.host} timed out`, 'HandshakeFailed'));
    }, timeoutMs);
    const key = randomBytes(16).toString('base64');
    const onConnect = () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocols.length ? `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n` : '') +
          '\r\n',
      );
    };
    socket.once(secure ? 'secureConnect' : 'connect', onConnect);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('error', onError);
      clearTimeout(timer);
      const headText = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      const [status, ...lines] = headText.split('\r\n');
      const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      if (!/^HTTP\/1\.1 101/.test(status ?? '') || headers.get('sec-websocket-accept') !== acceptKey(key)) {
        socket.destroy();
        reject(new WebSocketError(`WebSocket handshake with ${u.host} failed: ${status} ${rest.toString().slice(0, 300)}`, 'HandshakeFailed'));
        return;
      }
      socket.setNoDelay(true);
      resolve(new WebSocketConn(socket, headers.get('sec-websocket-protocol') ?? '', true, rest));
    };
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new WebSocketError(`WebSocket connection to ${u.host} failed: ${err.message}`, 'HandshakeFailed'));
    };
    socket.on('data', onData);
    socket.once('error', onError);
  });
}

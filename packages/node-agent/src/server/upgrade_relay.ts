// Relays a caller's HTTP upgrade (SPDY/3.1 or WebSocket) unchanged to the
// container runtime's streaming server (the URL of a CRI Exec, Attach or
// PortForward answer): the request line is rewritten to that URL, the
// upgrade-related headers are passed on, and from then on bytes flow both
// ways untouched, so the runtime answers the handshake itself (101, or an
// HTTP error) and sees every frame the caller sends — a SPDY stream's FIN on
// stdin, each port-forward stream pair — as kubelet's streaming proxy does.
import { connect as netConnect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

const PASS = ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'x-stream-protocol-version', 'content-length'];

export class RelayError extends Error {
  constructor(
    message: string,
    readonly code: 'RuntimeUnreachable',
  ) {
    super(message);
  }
}

/**
 * Connects to `streamUrl` (http: or https:), forwards the handshake of `req`
 * with the URL's path and the given extra query parameters, and pipes both
 * directions until either side closes. Resolves once the runtime connection
 * is established; rejects (nothing written to `socket`) when it is not.
 */
export async function relayUpgrade(streamUrl: string, req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams = new URLSearchParams(), timeoutMs = 10_000): Promise<void> {
  const u = new URL(streamUrl);
  for (const [k, v] of query) u.searchParams.append(k, v);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (secure ? 443 : 80));
  const up: Socket = secure ? tlsConnect({ host, port, servername: host, rejectUnauthorized: false }) : netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      up.destroy();
      reject(new RelayError(`runtime streaming server ${u.host}: connect timed out`, 'RuntimeUnreachable'));
    }, timeoutMs);
    up.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve();
    });
    up.once('error', (err) => {
      clearTimeout(timer);
      reject(new RelayError(`runtime streaming server ${u.host}: ${err.message}`, 'RuntimeUnreachable'));
    });
  });
  up.setNoDelay(true);
  (socket as Socket).setNoDelay?.(true);
  let lines = `${req.method ?? 'GET'} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!;
    if (PASS.includes(k.toLowerCase())) lines += `${k}: ${req.rawHeaders[i + 1]}\r\n`;
  }
  up.write(lines + '\r\n');
  if (head.length) up.write(head);
  up.pipe(socket);
  socket.pipe(up);
  closeTogether(up, socket);
}

/**
 * When one side closes, the other is ended (its buffered bytes still go out)
 * and destroyed shortly after if it lingers; an error destroys both.
 */
export function closeTogether(a: Duplex, b: Duplex, lingerMs = 5_000): void {
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  const ended = (other: Duplex) => () => {
    if (other.destroyed) return;
    other.end();
    setTimeout(() => other.destroy(), lingerMs).unref();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.on('close', ended(b));
  b.on('close', ended(a));
}

/**
 * The client side of an HTTP/1.1 upgrade handshake over an already connected
 * socket (towards a node agent): sends the request head, reads the response
 * head, and hands back the status, the headers, the raw response bytes and
 * whatever followed the head. A non-101 answer is read to its end
 * (Content-Length or the connection closing) so its body can be reported.
 * The socket is left paused: call resume() once its next consumer listens.
 */
import type { Duplex } from 'node:stream';

export class UpgradeError extends Error {
  constructor(
    message: string,
    readonly code: 'UpgradeFailed' | 'UpgradeTimeout',
  ) {
    super(message);
  }
}

export interface UpgradeResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Map<string, string>;
  /** The response exactly as received (head, and for non-101 the body read so far). */
  raw: Buffer;
  /** For a 101: the bytes after the head (the start of the upgraded stream); for others: the body. */
  rest: Buffer;
}

export function requestUpgrade(socket: Duplex, method: string, path: string, headers: [string, string][], timeoutMs = 15_000): Promise<UpgradeResponse> {
  socket.write(`${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  return new Promise<UpgradeResponse>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let parsed: { status: number; headers: Map<string, string>; bodyAt: number } | undefined;
    const done = (err?: Error, res?: UpgradeResponse) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.pause(); // nothing is lost before the caller's consumer attaches and resumes
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => done(new UpgradeError(`upgrade of ${path} timed out after ${timeoutMs} ms`, 'UpgradeTimeout')), timeoutMs);
    const result = (): UpgradeResponse => ({ status: parsed!.status, headers: parsed!.headers, raw: buf, rest: buf.subarray(parsed!.bodyAt) });
    const onClose = () => {
      if (parsed) return done(undefined, result());
      done(new UpgradeError(`upgrade of ${path}: connection closed before a response`, 'UpgradeFailed'));
    };
    const onError = (err: Error) => {
      if (!parsed) done(new UpgradeError(`upgrade of ${path}: ${err.message}`, 'UpgradeFailed'));
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!parsed) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > 1 << 20) done(new UpgradeError(`upgrade of ${path}: response head too large`, 'UpgradeFailed'));
          return;
        }
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
        if (!status) return done(new UpgradeError(`upgrade of ${path}: malformed response ${JSON.stringify(lines[0] ?? '')}`, 'UpgradeFailed'));
        const h = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i < 0) continue;
          const k = l.slice(0, i).trim().toLowerCase();
          const v = l.slice(i + 1).trim();
          h.set(k, h.has(k) ? `${h.get(k)}, ${v}` : v);
        }
        parsed = { status, headers: h, bodyAt: end + 4 };
      }
      if (parsed.status === 101) return done(undefined, result());
      const cl = parsed.headers.get('content-length');
      if (cl !== undefined && buf.length - parsed.bodyAt >= Number(cl)) done(undefined, result());
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

// The HTTP CONNECT proxy a gRPC channel dials through, chosen from the environment as grpc-js
// chooses it: grpc_proxy, else https_proxy, else http_proxy (an http:// URL); a target host
// listed in no_grpc_proxy (else no_proxy, comma-separated) is dialled directly. The tunnel is a
// Duplex that sends CONNECT host:port, waits for the proxy's 2xx, and then carries the bytes —
// what node:http2 (or TLS over it) is given as its connection.
import { Duplex } from 'node:stream';
import * as net from 'node:net';

export class ProxyTunnelError extends Error {
  readonly code = 'GRPC_PROXY_TUNNEL';
}

/** The proxy for `host`, or undefined for a direct connection. */
export function proxyFor(host: string, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const raw = env.grpc_proxy ?? env.https_proxy ?? env.http_proxy;
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:') return undefined;
  const noProxy = (env.no_grpc_proxy ?? env.no_proxy ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (noProxy.includes(host)) return undefined;
  return url;
}

export function connectTunnel(proxy: URL, target: string): Duplex {
  const sock = net.connect(Number(proxy.port || 80), proxy.hostname);
  sock.setNoDelay(true);
  let open = false;
  let head = Buffer.alloc(0);
  const waiting: Array<[Buffer, (err?: Error | null) => void]> = [];
  const tunnel = new Duplex({
    write(chunk: Buffer, _enc, done) {
      if (open) sock.write(chunk, done);
      else waiting.push([chunk, done]);
    },
    read() {
      sock.resume();
    },
    final(done) {
      sock.end();
      done();
    },
    destroy(err, done) {
      sock.destroy();
      done(err);
    },
  });
  sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  sock.on('data', (chunk: Buffer) => {
    if (!open) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
      if (!status || !status[1]!.startsWith('2')) {
        tunnel.destroy(new ProxyTunnelError(`proxy ${proxy.host} refused CONNECT ${target}: ${head.subarray(0, head.indexOf('\r\n')).toString('latin1')}`));
        return;
      }
      open = true;
      for (const [c, done] of waiting.splice(0)) sock.write(c, done);
      const rest = head.subarray(end + 4);
      if (rest.length > 0 && !tunnel.push(rest)) sock.pause();
      return;
    }
    if (!tunnel.push(chunk)) sock.pause();
  });
  sock.on('end', () => tunnel.push(null));
  sock.on('error', (err) => tunnel.destroy(err));
  sock.on('close', () => tunnel.destroy());
  return tunnel;
}

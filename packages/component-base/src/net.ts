// Loopback ports: a TCP port that is free on `host` right now, for listeners whose port does not
// matter: an embedded store member's, a local cluster's component metrics, tests (@mkube/testing
// re-exports it). It is drawn from below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
// 32768–60999 by default): a port the OS hands out for bind(0) is also the local port of outgoing
// connections, so a member restarted on "its" port found it held by some client socket (EADDRINUSE),
// and two callers asking at once were often given the same recently closed port. There is still a
// window before the caller binds; random choice over ~10,000 ports makes a collision there rare.
// It stays below 30000, where the Service NodePort range (30000–32767) begins: the service proxy
// redirects those ports on every local address.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOW = 20000;
const NODE_PORT_LOW = 30000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOW + 1000 ? low : 32768;
  } catch {
    return 32768;
  }
}

const recentlyGiven = new Set<number>();

function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => resolve(addr !== null && typeof addr !== 'string' ? addr.port : undefined));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = Math.min(ephemeralLow(), NODE_PORT_LOW) - 1;
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = LOW + Math.floor(Math.random() * (high - LOW + 1));
    if (recentlyGiven.has(port)) continue;
    if ((await tryBind(host, port)) === port) {
      recentlyGiven.add(port);
      if (recentlyGiven.size > 4096) recentlyGiven.delete(recentlyGiven.values().next().value!);
      return port;
    }
  }
  const port = await tryBind(host, 0);
  if (port === undefined) throw new Error(`no free TCP port on ${host}`);
  return port;
}

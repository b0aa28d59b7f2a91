/**
 * SPDY tunnelled through a WebSocket, as kubectl 1.31+ port-forward speaks it
 * (subprotocol `SPDY/3.1+portforward.k8s.io`, upstream's tunneling
 * handler): each binary WebSocket message carries the next bytes of a SPDY
 * byte stream. Towards the node agent the same bytes travel as a plain
 * SPDY/3.1 upgrade, so the agent (and the runtime behind it) see what an
 * SPDY client would have sent.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketConn } from '@mkube/api';

/** Upstream's prefix of a tunnelled SPDY subprotocol. */
export const SPDY_TUNNELING_PREFIX = 'SPDY/3.1+';
const KUBERNETES_SUFFIX = '.k8s.io';

/** The SPDY protocols a WebSocket client offers through tunneling (prefix removed), in its order. */
export function tunneledSpdyProtocols(offered: string[]): string[] {
  return offered.filter((p) => p.startsWith(SPDY_TUNNELING_PREFIX) && p.endsWith(KUBERNETES_SUFFIX)).map((p) => p.slice(SPDY_TUNNELING_PREFIX.length));
}

/** Relays until either side ends. `agent` is paused after its 101; resumed here. */
export function tunnelSpdyOverWebSocket(client: WebSocketConn, agent: Duplex, rest: Buffer, log: Logger): void {
  let over = false;
  const end = (why: string) => {
    if (over) return;
    over = true;
    log.debug({ why }, 'SPDY tunnel over');
    client.close(1000);
    if (!agent.destroyed) agent.end();
    setTimeout(() => agent.destroy(), 2_000).unref();
  };
  client.on('message', (m: Buffer) => {
    if (m.length && !agent.destroyed) agent.write(m);
  });
  client.on('close', () => end('client closed'));
  agent.on('data', (d: Buffer) => client.send(d));
  agent.on('error', (err: Error) => log.debug({ err }, 'SPDY tunnel: agent connection failed'));
  agent.on('close', () => end('agent closed'));
  if (rest.length) client.send(rest);
  agent.resume();
}

/**
 * Bridges a v5.channel.k8s.io WebSocket exec/attach session (kubectl 1.30+)
 * to a SPDY/3.1 remotecommand session with the node agent, which relays it to
 * the runtime's streaming server — as upstream's stream translator does, so
 * that the client's CLOSE signal ([255, channel]) becomes a SPDY FIN on the
 * stdin stream and the container sees the end of its stdin (v4 WebSocket, the
 * runtime's other transport, cannot half-close). Channels: 0 stdin, 1 stdout,
 * 2 stderr, 3 error/status JSON, 4 resize; one SPDY stream per `streamType`.
 * The runtime ends a session with GOAWAY (after the status on the error
 * stream) or by closing the connection; then the WebSocket is closed.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketConn } from '@mkube/api';
import { SpdySession } from './spdy.js';

export const SPDY_REMOTECOMMAND_PROTOCOL = 'v4.channel.k8s.io';
export const WEBSOCKET_CLOSE_PROTOCOL = 'v5.channel.k8s.io';

const CLOSE_SIGNAL = 255;

export interface ExecStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The SPDY streams a remotecommand server expects for these options (stderr is merged into a tty). */
export function spdyStreamTypes(s: ExecStreams): string[] {
  const out = ['error'];
  if (s.stdin) out.push('stdin');
  if (s.stdout) out.push('stdout');
  if (s.stderr && !s.tty) out.push('stderr');
  if (s.tty) out.push('resize');
  return out;
}

const CHANNEL: Record<string, number> = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 };

/**
 * `agent` is the socket after the agent's 101 (paused; resumed here), `rest`
 * the bytes that followed the response head.
 */
export function bridgeChannelsToSpdy(client: WebSocketConn, agent: Duplex, rest: Buffer, streams: ExecStreams, log: Logger): void {
  const idOf = new Map<number, number>(); // channel → SPDY stream id
  const channelOf = new Map<number, number>(); // SPDY stream id → channel
  let finished = false;

  const finish = (why: string) => {
    if (finished) return;
    finished = true;
    log.debug({ why }, 'exec bridge: session over');
    client.close(1000);
    if (!agent.destroyed) agent.end();
    setTimeout(() => agent.destroy(), 2_000).unref();
  };
  const session = new SpdySession(
    (b) => {
      if (!agent.destroyed && agent.writable) agent.write(b);
    },
    {
      stream(id) {
        session.reset(id); // the runtime never opens streams of its own
      },
      data(id, data) {
        const ch = channelOf.get(id);
        if (ch === undefined || ch === 0 || ch === 4) return;
        client.send(Buffer.concat([Buffer.from([ch]), data]));
      },
      end() {
        // the runtime finishes its streams before GOAWAY / closing the connection
      },
      close(err) {
        if (err) log.debug({ err: err.message, code: err.code }, 'exec bridge: SPDY protocol error');
        finish(err ? 'protocol error' : 'GOAWAY');
      },
    },
    { client: true },
  );
  for (const type of spdyStreamTypes(streams)) {
    const id = session.openStream(new Map([['streamtype', [type]]]));
    idOf.set(CHANNEL[type]!, id);
    channelOf.set(id, CHANNEL[type]!);
  }

  client.on('message', (m: Buffer) => {
    if (!m.length) return;
    const ch = m[0]!;
    if (ch === CLOSE_SIGNAL) {
      const id = m.length > 1 ? idOf.get(m[1]!) : undefined;
      if (id !== undefined && m[1] === 0) session.finish(id);
      return;
    }
    const id = idOf.get(ch);
    if (id !== undefined && (ch === 0 || ch === 4) && m.length > 1) session.write(id, m.subarray(1));
  });
  client.on('close', () => {
    if (finished) return;
    finished = true;
    session.goAway();
    agent.destroy();
  });
  agent.on('data', (d: Buffer) => session.receive(d));
  agent.on('error', (err: Error) => log.debug({ err }, 'exec bridge: agent connection failed'));
  agent.on('close', () => finish('agent connection closed'));
  if (rest.length) session.receive(rest);
  agent.resume();
}

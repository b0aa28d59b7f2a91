/**
 * Bridges a kubectl SPDY/3.1 remotecommand connection (one SPDY stream per
 * `streamType`: error, stdin, stdout, stderr, resize) to a node agent's
 * v4.channel.k8s.io WebSocket (one byte channel prefix: 0 stdin, 1 stdout,
 * 2 stderr, 3 error/status JSON, 4 resize). Agent output for a stream the
 * client has not opened yet is held until it is; when the agent closes, our
 * halves of stdout, stderr and error are finished (FIN), which is what the
 * client waits for before reading the exit status from the error stream.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketConn } from '@mkube/api';
import { RST, SpdySession } from './spdy.js';

export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io'];

const CHANNEL: Record<string, number> = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 };
const OUTPUT = [1, 2, 3];
const LINGER_MS = 10_000;

/** The protocol to answer the client's X-Stream-Protocol-Version offers with, if any. */
export function negotiateSpdyProtocol(offered: string[]): string | undefined {
  return SPDY_EXEC_PROTOCOLS.find((p) => offered.includes(p));
}

export function bridgeSpdyToChannels(client: Duplex, head: Buffer, agent: WebSocketConn, log: Logger): void {
  const streamOf = new Map<number, number>(); // channel → SPDY stream id
  const channelOf = new Map<number, number>(); // SPDY stream id → channel
  const pending = new Map<number, Buffer[]>();
  let agentDone = false;

  const end = () => {
    agent.close();
    if (!client.destroyed) client.end();
    const t = setTimeout(() => client.destroy(), 1_000);
    t.unref();
  };
  const session = new SpdySession((b) => {
    if (!client.destroyed && client.writable) client.write(b);
  }, {
    stream(id, headers) {
      const type = headers.get('streamtype')?.[0] ?? '';
      const ch = CHANNEL[type];
      if (ch === undefined || streamOf.has(ch)) {
        log.debug({ streamType: type }, 'spdy exec: stream refused');
        return session.reset(id, RST.REFUSED_STREAM);
      }
      streamOf.set(ch, id);
      channelOf.set(id, ch);
      for (const b of pending.get(ch) ?? []) session.write(id, b);
      pending.delete(ch);
      if (agentDone && OUTPUT.includes(ch)) session.finish(id);
    },
    data(id, data) {
      const ch = channelOf.get(id);
      if (ch === 0 || ch === 4) agent.send(Buffer.concat([Buffer.from([ch]), data]));
    },
    end() {
      // v4 has no way to signal the end of stdin; the process sees it when the connection ends
    },
    close(err) {
      if (err) log.debug({ err: err.message, code: err.code }, 'spdy exec: protocol error');
      end();
    },
  });

  agent.on('message', (m: Buffer) => {
    if (!m.length) return;
    const ch = m[0]!;
    const payload = m.subarray(1);
    if (!OUTPUT.includes(ch) || !payload.length) return;
    const id = streamOf.get(ch);
    if (id !== undefined) session.write(id, payload);
    else pending.set(ch, [...(pending.get(ch) ?? []), payload]);
  });
  agent.on('close', () => {
    if (agentDone) return;
    agentDone = true;
    for (const ch of OUTPUT) {
      const id = streamOf.get(ch);
      if (id !== undefined) session.finish(id);
    }
    // the client closes once it has read the status; don't wait forever
    const t = setTimeout(() => {
      session.goAway();
      end();
    }, LINGER_MS);
    t.unref();
    client.once('close', () => clearTimeout(t));
  });

  client.on('data', (d: Buffer) => session.receive(d));
  client.on('error', end);
  client.on('close', end);
  if (head.length) session.receive(head);
}

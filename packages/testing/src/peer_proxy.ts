// Proxies on a member's peer path, for partition faults without iptables:
// ingress — a TCP proxy on the address the other members dial — and egress —
// an HTTP CONNECT proxy the member's own gRPC channels go through (grpc-js
// honours the grpc_proxy environment variable; see egressEnv()). Both follow
// one mode: 'pass' forwards, 'drop' cuts every open connection and swallows new
// ones silently (as dropped packets: the dialer sees a connection that never
// answers), 'delay' holds each chunk for `delayMs` in both directions, in order.
// With both in 'drop', the member is cut off from its peers in both directions.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'drop' } | { kind: 'delay'; delayMs: number };

export class PeerProxy {
  private mode: ProxyMode = { kind: 'pass' };
  private readonly sockets = new Set<Socket>();
  private readonly swallowed = new Set<Socket>();
  private readonly servers: Server[] = [];
  /** CONNECT requests the egress proxy answered (proof the member's channels use it). */
  egressConnections = 0;

  constructor(
    readonly listenPort: number,
    readonly targetPort: number,
    readonly egressPort: number,
  ) {}

  async start(): Promise<void> {
    const listen = async (port: number, onConnection: (s: Socket) => void) => {
      const server = createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      this.servers.push(server);
    };
    await listen(this.listenPort, (client) => this.onConnection(client, this.targetPort));
    await listen(this.egressPort, (client) => this.onConnect(client));
  }

  /** Environment for the member process: its gRPC channels dial through the egress proxy. */
  egressEnv(): Record<string, string> {
    return { grpc_proxy: `http://127.0.0.1:${this.egressPort}`, no_grpc_proxy: '', no_proxy: '' };
  }

  /** An HTTP CONNECT request: answer 200, then carry the bytes like an ingress connection. */
  private onConnect(client: Socket): void {
    this.track(client);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const m = /^CONNECT [^:\s]+:(\d+) HTTP/.exec(head.subarray(0, end).toString('latin1'));
      if (!m) {
        client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      this.egressConnections++;
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      const rest = head.subarray(end + 4);
      this.onConnection(client, Number(m[1]), rest);
    };
    client.on('data', onData);
  }

  /**
   * 'drop' cuts what is open (a partition starts from silence); 'pass' and 'delay' apply to open
   * connections too, so that no reconnect back-off of the member's channels adds to the fault.
   */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode.kind === 'drop') {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    } else {
      // Connections swallowed while dropping would stay silent forever: the dialer must redial.
      for (const s of this.swallowed) s.destroy();
    }
    this.swallowed.clear();
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private onConnection(client: Socket, targetPort: number, early?: Buffer): void {
    this.track(client);
    if (this.mode.kind === 'drop') {
      this.swallowed.add(client);
      client.on('close', () => this.swallowed.delete(client));
      client.on('data', () => undefined); // read and discard
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    this.track(upstream);
    if (early && early.length > 0) upstream.write(early);
    const pipe = (from: Socket, to: Socket): void => {
      // Chunks leave in order: one delayed chunk holds back the ones after it.
      let lastDue = 0;
      from.on('data', (chunk: Buffer) => {
        const m = this.mode;
        if (m.kind === 'drop') return;
        const now = Date.now();
        const due = Math.max(m.kind === 'delay' ? now + m.delayMs : now, lastDue);
        lastDue = due;
        if (due <= now) {
          if (!to.destroyed) to.write(chunk);
        } else {
          setTimeout(() => to.destroyed || to.write(chunk), due - now);
        }
      });
      from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, lastDue - Date.now())));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((server) => new Promise<void>((r) => server.close(() => r()))));
  }
}

// The agent's HTTPS endpoint (kubelet's port 10250) for the API server's
// pods/log, pods/exec, pods/attach and pods/portforward proxy:
//   GET  /containerLogs/<ns>/<pod>/<container>?follow&tailLines&sinceSeconds&sinceTime&timestamps&previous&limitBytes
//   GET|POST /exec/<ns>/<pod>/<container>?command=..&command=..&stdin&stdout&stderr&tty   (upgrade)
//   GET|POST /attach/<ns>/<pod>/<container>?stdin&stdout&stderr&tty                      (upgrade)
//   GET|POST /portForward/<ns>/<pod>[?ports=..]                                           (upgrade)
//   GET  /healthz
// A SPDY/3.1 upgrade (remotecommand or portforward.k8s.io) is relayed
// unchanged to the runtime's streaming server (the CRI Exec/Attach/PortForward
// URL; upgrade_relay.ts), so stream half-closes (stdin FIN) and port-forward
// stream pairs reach containerd as they were sent. A WebSocket exec/attach
// speaks v5/v4.channel.k8s.io to the caller and is bridged to the runtime
// with v4.channel.k8s.io (which cannot half-close stdin: the API server
// therefore sends v5 clients' sessions here as SPDY); a WebSocket
// port-forward (v4.channel.k8s.io, `ports` query) is relayed unchanged.
//
// Authentication: mutual TLS. The caller's certificate must chain to the
// cluster CA (`ca`) and either have CN "system:apiserver" or carry the group
// (O) "system:masters" or "system:node-proxier" (see `authorizeCaller`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { CriContainer, ContainerFilter, DeepPartial, ExecRequest, AttachRequest, PodSandbox, PodSandboxFilter } from '../cri/types.js';
import type { LogOptions } from '../logs.js';
import { silentLogger, type Logger } from '../logger.js';
import { CONTAINER_NAME, MANAGED_BY_NODE, POD_NAME, POD_NAMESPACE } from '../runtime/labels.js';
import { resourceMetricsText, type Summary } from './stats_summary.js';
import { relayUpgrade } from './upgrade_relay.js';
import { acceptWebSocket, connectWebSocket, isWebSocketUpgrade, type WebSocketConn } from './websocket.js';

export const CALLER_USERS = ['system:apiserver'];
export const CALLER_GROUPS = ['system:masters', 'system:node-proxier'];
/** Users that may read the stats endpoints only (upstream grants metrics-server nodes/stats and nodes/metrics). */
export const STATS_READERS = ['system:metrics-server'];
const STATS_PATHS = new Set(['/stats/summary', '/metrics/resource']);
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const RUNTIME_PROTOCOL = 'v4.channel.k8s.io';

export interface StreamingRuntime {
  listContainers(filter?: DeepPartial<ContainerFilter>): Promise<CriContainer[]>;
  exec(req: DeepPartial<ExecRequest>): Promise<string>;
  attach(req: DeepPartial<AttachRequest>): Promise<string>;
  listPodSandbox?(filter?: DeepPartial<PodSandboxFilter>): Promise<PodSandbox[]>;
  portForward?(podSandboxId: string, ports: number[]): Promise<string>;
}

export interface AgentServerOptions {
  nodeName: string;
  /** 0 picks a free port. */
  port: number;
  bindAddress?: string;
  tls: { cert: string; key: string; ca: string };
  cri: StreamingRuntime;
  logs(namespace: string, name: string, container: string | undefined, opts: LogOptions): AsyncGenerator<string>;
  logger?: Logger;
  /** GET /stats/summary and /metrics/resource (stats_summary.ts). */
  stats?: { summary(): Promise<Summary> };
}

export interface Caller {
  name: string;
  groups: string[];
}

/** The caller of a verified TLS connection, or undefined. */
export function callerOf(sock: TLSSocket): Caller | undefined {
  if (!sock.authorized) return undefined;
  const cert: PeerCertificate = sock.getPeerCertificate();
  if (!cert?.subject) return undefined;
  const cn = cert.subject.CN;
  const o = cert.subject.O;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name) return undefined;
  return { name, groups: o === undefined ? [] : Array.isArray(o) ? o : [o] };
}

export function authorizeCaller(c: Caller): boolean {
  return CALLER_USERS.includes(c.name) || c.groups.some((g) => CALLER_GROUPS.includes(g));
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error', 502: 'Bad Gateway' };

function isSpdyUpgrade(req: IncomingMessage): boolean {
  return /^spdy\//i.test(String(req.headers.upgrade ?? ''));
}

function truthy(v: string | null): boolean {
  return v === '1' || v === 'true';
}

export class AgentServer {
  private server?: Server;
  private readonly log: Logger;
  private readonly sessions = new Set<WebSocketConn>();
  port = 0;

  constructor(private readonly o: AgentServerOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'agent-server' });
  }

  async start(): Promise<void> {
    const server = createServer({ cert: this.o.tls.cert, key: this.o.tls.key, ca: this.o.tls.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => this.fail(res, err));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(req, socket, head).catch((err: unknown) => this.failRaw(socket, err));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.bindAddress ?? '0.0.0.0', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.log.info({ port: this.port }, 'agent endpoint listening');
  }

  /** A new serving certificate (rotation): new TLS handshakes use it, open connections keep theirs. */
  setCertificate(pair: { cert: string; key: string }): void {
    this.o.tls = { ...this.o.tls, ...pair };
    this.server?.setSecureContext({ cert: pair.cert, key: pair.key, ca: this.o.tls.ca });
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private authenticate(req: IncomingMessage, stats = false): void {
    const caller = callerOf(req.socket as TLSSocket);
    if (!caller) throw new HttpError(401, 'Unauthorized: a client certificate signed by the cluster CA is required');
    if (stats && STATS_READERS.includes(caller.name)) return;
    if (!authorizeCaller(caller)) throw new HttpError(403, `Forbidden: user "${caller.name}" may not use the node agent's API`);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://agent');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    this.authenticate(req, STATS_PATHS.has(url.pathname));
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'containerLogs' && (parts.length === 3 || parts.length === 4)) {
      if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
      return this.containerLogs(req, res, parts[1]!, parts[2]!, parts[3], url.searchParams);
    }
    if (parts[0] === 'exec' || parts[0] === 'attach' || parts[0] === 'portForward') {
      throw new HttpError(400, 'Upgrade request required');
    }
    if (this.o.stats && req.method === 'GET' && STATS_PATHS.has(url.pathname)) {
      const summary = await this.o.stats.summary();
      if (url.pathname === '/metrics/resource') res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(resourceMetricsText(summary));
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(summary));
      return;
    }
    throw new HttpError(404, `no handler for ${url.pathname}`);
  }

  private async containerLogs(req: IncomingMessage, res: ServerResponse, ns: string, pod: string, container: string | undefined, q: URLSearchParams): Promise<void> {
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const num = (k: string) => {
      const v = q.get(k);
      if (v === null || v === '') return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `${k} must be a non-negative integer`);
      return n;
    };
    const opts: LogOptions = {
      follow: truthy(q.get('follow')),
      tailLines: num('tailLines'),
      sinceSeconds: num('sinceSeconds'),
      sinceTime: q.get('sinceTime') ?? undefined,
      timestamps: truthy(q.get('timestamps')),
      previous: truthy(q.get('previous')),
      limitBytes: num('limitBytes'),
      signal: ac.signal,
    };
    const it = this.o.logs(ns, pod, container, opts);
    // The first chunk decides between an error status and a 200 stream.
    let first: IteratorResult<string>;
    try {
      first = await it.next();
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'NotFound') throw new HttpError(404, e.message);
      throw err;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
    res.flushHeaders();
    if (first.done) {
      res.end();
      return;
    }
    res.write(first.value);
    try {
      for (;;) {
        if (ac.signal.aborted) break;
        const r = await it.next();
        if (r.done) break;
        if (!res.write(r.value)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
      }
    } catch (err) {
      if (!ac.signal.aborted) this.log.warn({ err: String(err), pod: `${ns}/${pod}` }, 'log stream failed');
    } finally {
      await it.return(undefined).catch(() => undefined);
      res.end();
    }
  }

  /** The running container's CRI id. */
  private async containerId(ns: string, pod: string, container: string | undefined): Promise<string> {
    const selector: Record<string, string> = { [POD_NAMESPACE]: ns, [POD_NAME]: pod, [MANAGED_BY_NODE]: this.o.nodeName };
    if (container) selector[CONTAINER_NAME] = container;
    const list = await this.o.cri.listContainers({ label_selector: selector });
    const running = list.filter((c) => c.state === 'CONTAINER_RUNNING').sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
    if (!running[0]) {
      throw new HttpError(404, list.length ? `container ${container ?? ''} of pod ${ns}/${pod} is not running` : `container ${container ?? ''} of pod ${ns}/${pod} not found on node ${this.o.nodeName}`);
    }
    return running[0].id;
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://agent');
    this.authenticate(req);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const kind = parts[0];
    if (kind === 'portForward' && (parts.length === 3 || parts.length === 4)) return this.portForward(req, socket, head, parts[1]!, parts[2]!, url.searchParams);
    if ((kind !== 'exec' && kind !== 'attach') || parts.length < 3 || parts.length > 4) throw new HttpError(404, `no handler for ${url.pathname}`);
    const spdy = isSpdyUpgrade(req);
    if (!spdy && !isWebSocketUpgrade(req)) throw new HttpError(400, `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}: WebSocket (v5/v4.channel.k8s.io) or SPDY/3.1`);
    const q = url.searchParams;
    const flag = (a: string, b: string) => truthy(q.get(a)) || truthy(q.get(b));
    const stdin = flag('stdin', 'input');
    const stdout = q.has('stdout') || q.has('output') ? flag('stdout', 'output') : true;
    const stderr = q.has('stderr') || q.has('error') ? flag('stderr', 'error') : true;
    const tty = truthy(q.get('tty'));
    const id = await this.containerId(parts[1]!, parts[2]!, parts[3]);
    let streamUrl: string;
    if (kind === 'exec') {
      const cmd = q.getAll('command');
      if (!cmd.length) throw new HttpError(400, 'command is required');
      streamUrl = await this.o.cri.exec({ container_id: id, cmd, tty, stdin, stdout, stderr: stderr && !tty });
    } else {
      streamUrl = await this.o.cri.attach({ container_id: id, tty, stdin, stdout, stderr: stderr && !tty });
    }
    if (spdy) {
      await relayUpgrade(streamUrl, req, socket, head).catch((err: unknown) => {
        throw new HttpError(502, (err as Error).message);
      });
      this.log.info({ kind, pod: `${parts[1]}/${parts[2]}`, container: parts[3], protocol: 'SPDY/3.1' }, 'stream session relayed');
      return;
    }
    const backend = await connectWebSocket(streamUrl, [RUNTIME_PROTOCOL]).catch((err: unknown) => {
      throw new HttpError(502, `runtime streaming server: ${(err as Error).message}`);
    });
    const client = acceptWebSocket(req, socket, head, EXEC_PROTOCOLS);
    if (!client) {
      backend.close();
      return;
    }
    this.log.info({ kind, pod: `${parts[1]}/${parts[2]}`, container: parts[3], protocol: client.protocol }, 'stream session');
    this.bridge(client, backend);
  }

  /** The pod's ready sandbox on this node, for port-forward. */
  private async sandboxId(ns: string, pod: string): Promise<string> {
    const list = await this.o.cri.listPodSandbox!({ label_selector: { [POD_NAMESPACE]: ns, [POD_NAME]: pod, [MANAGED_BY_NODE]: this.o.nodeName } });
    const ready = list.filter((s) => s.state === 'SANDBOX_READY').sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
    if (!ready[0]) throw new HttpError(404, `pod ${ns}/${pod} has no running sandbox on node ${this.o.nodeName}`);
    return ready[0].id;
  }

  /** Port-forward: CRI PortForward, then the caller's upgrade (SPDY or WebSocket) relayed to the runtime's URL. */
  private async portForward(req: IncomingMessage, socket: Duplex, head: Buffer, ns: string, pod: string, q: URLSearchParams): Promise<void> {
    if (!this.o.cri.portForward || !this.o.cri.listPodSandbox) throw new HttpError(404, 'port-forward is not supported by this runtime');
    const spdy = isSpdyUpgrade(req);
    if (!spdy && !isWebSocketUpgrade(req)) throw new HttpError(400, `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}: WebSocket (v4.channel.k8s.io) or SPDY/3.1`);
    const query = new URLSearchParams();
    const ports: number[] = [];
    for (const v of q.getAll('ports')) {
      for (const p of v.split(',')) {
        const n = Number(p.trim());
        if (!Number.isInteger(n) || n < 1 || n > 65535) throw new HttpError(400, `invalid port ${JSON.stringify(p)}`);
        ports.push(n);
      }
      query.append('ports', v);
    }
    const id = await this.sandboxId(ns, pod);
    const streamUrl = await this.o.cri.portForward(id, ports);
    await relayUpgrade(streamUrl, req, socket, head, spdy ? undefined : query).catch((err: unknown) => {
      throw new HttpError(502, (err as Error).message);
    });
    this.log.info({ pod: `${ns}/${pod}`, protocol: spdy ? 'SPDY/3.1' : 'websocket', ports }, 'port-forward session relayed');
  }

  private bridge(client: WebSocketConn, backend: WebSocketConn): void {
    this.sessions.add(client);
    backend.on('message', (d: Buffer) => {
      if (d.length <= 1) return; // the runtime's empty per-channel frames
      client.send(d);
    });
    client.on('message', (d: Buffer) => {
      if (d.length === 0) return;
      // v5 CLOSE signal [255, channel]: v4 has no way to half-close stdin.
      if (d[0] === 255) return;
      backend.send(d);
    });
    backend.on('close', () => {
      client.close(1000);
      this.sessions.delete(client);
    });
    client.on('close', () => {
      backend.close(1000);
      this.sessions.delete(client);
    });
  }

  private fail(res: ServerResponse, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 500;
    const msg = (err as Error)?.message ?? String(err);
    if (status >= 500) this.log.warn({ err: msg }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(msg);
  }

  private failRaw(socket: Duplex, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 500;
    const msg = (err as Error)?.message ?? String(err);
    if (status >= 500) this.log.warn({ err: msg }, 'upgrade failed');
    if (socket.destroyed) return;
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
  }
}

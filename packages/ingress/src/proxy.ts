/**
 * IngressProxy: the data plane — an HTTP and an HTTPS listener (TLS
 * terminated with node:tls' SNICallback from the current table's
 * certificates) forwarding each request to a ready endpoint of the matched
 * backend, round robin, through one keep-alive node:http Agent (its per
 * host:port socket pool is the connection pool). Idempotent requests without
 * a body are retried on another endpoint when the connection fails before a
 * response (a dead or just-stopped endpoint), and such an endpoint is skipped
 * for a short while. WebSocket (and any Upgrade) requests are tunnelled on a
 * raw socket after the backend's 101. Bodies stream both ways.
 * X-Forwarded-For/-Proto/-Host/-Port are set as ingress-nginx does. The table
 * is one reference swapped whole by setTable(): a request uses the table it
 * started with, so configuration changes drop no in-flight request.
 */
import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, type Registry } from '@mkube/component-base';
import { RouteTable, type BackendAddress, type Match, type TlsCert } from './routes.js';
import { makeFakeCertificate, type PemPair } from './fake_certificate.js';

export interface ProxyOptions {
  log: Logger;
  registry?: Registry;
  /** How long an endpoint that refused a connection is skipped (ms). */
  deadEndpointMs?: number;
  /** Attempts per idempotent request (on different endpoints). */
  maxAttempts?: number;
  /** The certificate for names without one (default: a new "Kubernetes Ingress Controller Fake Certificate"). */
  defaultCertificate?: PemPair;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Connection failures that mean the request never reached a backend process. */
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE']);

export class IngressProxy {
  private table = new RouteTable({ ingresses: [], services: [], slices: [], secrets: [] });
  private readonly agent = new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 512, maxFreeSockets: 64, scheduling: 'lifo' });
  private readonly contexts = new WeakMap<TlsCert, SecureContext>();
  /** The default (fake) certificate's context, made before the HTTPS listener opens. */
  private fallback: SecureContext | undefined;
  private readonly deadUntil = new Map<string, number>();
  private rr = 0;
  private readonly http: Server;
  private readonly https: HttpsServer;
  private readonly requests: Counter<'code' | 'scheme'> | undefined;
  private readonly retries: Counter | undefined;
  httpPort = 0;
  httpsPort = 0;

  constructor(private readonly o: ProxyOptions) {
    this.http = createHttpServer((req, res) => this.handle(req, res, 'http', this.httpPort));
    this.https = createHttpsServer({ SNICallback: (name, cb) => this.sni(name, cb) }, (req, res) => this.handle(req, res, 'https', this.httpsPort));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head, 'http', this.httpPort));
    this.https.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head, 'https', this.httpsPort));
    for (const s of [this.http, this.https]) {
      s.keepAliveTimeout = 60_000;
      s.on('clientError', (_err, socket: Duplex) => socket.destroy());
    }
    if (o.registry) {
      this.requests = new Counter({ name: 'mkube_ingress_requests_total', help: 'Requests answered by the Ingress controller, by status code and scheme.', labelNames: ['code', 'scheme'], registers: [o.registry] });
      this.retries = new Counter({ name: 'mkube_ingress_retries_total', help: 'Idempotent requests retried on another endpoint after a connection failure.', registers: [o.registry] });
    }
  }

  /** Swaps the routing table (requests in flight keep the one they started with). */
  setTable(t: RouteTable): void {
    this.table = t;
  }

  get current(): RouteTable {
    return this.table;
  }

  async listen(host: string, httpPort: number, httpsPort: number): Promise<void> {
    if (!this.fallback) {
      const pem = this.o.defaultCertificate ?? (await makeFakeCertificate());
      this.fallback = createSecureContext(pem);
      // Clients without SNI get it too (the SNI callback runs only for a server name).
      this.https.setSecureContext(pem);
    }
    this.httpPort = await listenOn(this.http, host, httpPort);
    this.httpsPort = await listenOn(this.https, host, httpsPort);
  }

  async close(): Promise<void> {
    await Promise.all([this.http, this.https].map((s) => new Promise<void>((res) => {
      if (!s.listening) return res();
      s.close(() => res());
      s.closeIdleConnections();
    })));
    this.agent.destroy();
  }

  private sni(name: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    const cert = this.table.certificateFor(name);
    if (!cert) return cb(null, this.fallback);
    let ctx = this.contexts.get(cert);
    if (!ctx) {
      try {
        ctx = createSecureContext({ cert: cert.cert, key: cert.key });
      } catch (err) {
        // The table checked the pair; OpenSSL may still refuse it (e.g. a key too weak): the default certificate, as for a missing Secret.
        this.o.log.warn({ err, secret: cert.secret }, 'TLS Secret unusable; serving the default certificate');
        ctx = this.fallback!;
      }
      this.contexts.set(cert, ctx);
    }
    cb(null, ctx);
  }

  /** Ready endpoints in round-robin order, those recently dead last. */
  private order(m: Match): BackendAddress[] {
    const eps = m.backend.endpoints;
    if (eps.length === 0) return [];
    const start = this.rr++ % eps.length;
    const rotated = [...eps.slice(start), ...eps.slice(0, start)];
    const now = Date.now();
    const alive = rotated.filter((e) => (this.deadUntil.get(`${e.ip}:${e.port}`) ?? 0) <= now);
    return alive.length === rotated.length ? rotated : [...alive, ...rotated.filter((e) => !alive.includes(e))];
  }

  private markDead(e: BackendAddress): void {
    this.deadUntil.set(`${e.ip}:${e.port}`, Date.now() + (this.o.deadEndpointMs ?? 2000));
  }

  private handle(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https', port: number): void {
    const m = this.table.match(req.headers.host, req.url ?? '/');
    const count = (code: number) => this.requests?.inc({ code: String(code), scheme });
    if (!m) {
      count(404);
      return plain(res, 404, 'default backend - 404\n');
    }
    const endpoints = this.order(m);
    if (endpoints.length === 0) {
      count(503);
      return plain(res, 503, `no ready endpoints for ${m.backend.name}\n`);
    }
    const bodyless = req.headers['content-length'] === undefined || req.headers['content-length'] === '0';
    const retryable = IDEMPOTENT.has(req.method ?? '') && bodyless && req.headers['transfer-encoding'] === undefined;
    const attempts = retryable ? Math.min(this.o.maxAttempts ?? 3, endpoints.length) : 1;
    const headers = forwardedHeaders(req, scheme, port);
    const attempt = (i: number) => {
      const ep = endpoints[i]!;
      let responded = false;
      const up = httpRequest({ host: ep.ip, port: ep.port, method: req.method, path: req.url, headers, agent: this.agent }, (ur) => {
        responded = true;
        const out: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out);
        count(ur.statusCode ?? 502);
        ur.pipe(res);
        ur.on('error', () => res.destroy());
      });
      up.on('error', (err: NodeJS.ErrnoException) => {
        if (responded || res.headersSent) return res.destroy();
        if (RETRYABLE.has(err.code ?? '')) this.markDead(ep);
        if (RETRYABLE.has(err.code ?? '') && i + 1 < attempts && !req.destroyed) {
          this.retries?.inc();
          this.o.log.debug({ err, endpoint: `${ep.ip}:${ep.port}`, backend: m.backend.name }, 'endpoint failed; retrying on another');
          return attempt(i + 1);
        }
        this.o.log.info({ err, endpoint: `${ep.ip}:${ep.port}`, backend: m.backend.name }, 'upstream request failed');
        count(502);
        plain(res, 502, `upstream ${m.backend.name} failed: ${err.code ?? err.message}\n`);
      });
      res.on('close', () => { if (!res.writableFinished) up.destroy(); });
      if (retryable) up.end();
      else req.pipe(up);
    };
    attempt(0);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https', port: number): void {
    const m = this.table.match(req.headers.host, req.url ?? '/');
    const ep = m ? this.order(m)[0] : undefined;
    if (!m || !ep) {
      socket.end(`HTTP/1.1 ${m ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const headers = forwardedHeaders(req, scheme, port);
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? 'websocket';
    const up: Socket = connect({ host: ep.ip, port: ep.port }, () => {
      let head1 = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) head1 += `${k}: ${String(x)}\r\n`;
      up.write(`${head1}\r\n`);
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.setNoDelay(true);
    const done = () => { up.destroy(); socket.destroy(); };
    up.on('error', (err) => {
      this.o.log.debug({ err, backend: m.backend.name }, 'upgrade tunnel failed');
      if (up.bytesRead === 0 && socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else done();
    });
    socket.on('error', done);
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  }
}

/** The request's end-to-end headers plus X-Forwarded-* (the client's address appended to X-Forwarded-For). */
function forwardedHeaders(req: IncomingMessage, scheme: string, port: number): OutgoingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) h[k] = v;
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const prior = req.headers['x-forwarded-for'];
  h['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client;
  h['x-forwarded-proto'] = scheme;
  h['x-forwarded-host'] = req.headers.host ?? '';
  h['x-forwarded-port'] = String(port);
  h['x-real-ip'] = client;
  return h;
}

function plain(res: ServerResponse, code: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function listenOn(s: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      const a = s.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

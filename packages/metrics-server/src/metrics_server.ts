// mkube-metrics-server: informers on Nodes and Pods, a scrape round of every
// node's Summary API each --metric-resolution into MetricsStorage, and the
// HTTPS endpoint an APIService points the aggregation layer at. Callers are
// authenticated as upstream's requestheader authentication: a client
// certificate signed by the front-proxy CA whose CN is an allowed name, the
// user in X-Remote-User (the API server authorized the request before
// proxying it). /healthz, /livez, /readyz answer without authentication;
// ready once a round has been stored.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Informer, Resources, type KubeClient, type KubeObject } from '@mkube/client';
import type { Logger } from 'pino';
import { handleMetricsRequest, type MetricsSources } from './metrics_api.js';
import { nodeTarget, scrapeAll, type ScrapeTls } from './scraper.js';
import { MetricsStorage } from './storage.js';

export interface MetricsServerOptions {
  client: KubeClient;
  log: Logger;
  /** TLS of the HTTPS endpoint. */
  serving: { cert: string | Buffer; key: string | Buffer };
  /** --requestheader-client-ca-file: the front-proxy CA. */
  requestHeaderCA: string | Buffer;
  /** --requestheader-allowed-names (empty: any name the CA signed). */
  allowedNames: string[];
  /** Credentials towards the node agents. */
  scrapeTls: ScrapeTls;
  host: string;
  port: number;
  resolutionMs: number;
}

export class MetricsServer {
  readonly storage = new MetricsStorage();
  private readonly nodes: Informer<KubeObject>;
  private readonly pods: Informer<KubeObject>;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  rounds = 0;
  port = 0;

  constructor(private readonly o: MetricsServerOptions) {
    this.nodes = new Informer(o.client.resource(Resources.nodes));
    this.pods = new Informer(o.client.resource(Resources.pods));
  }

  get ready(): boolean {
    return this.rounds > 0;
  }

  async start(): Promise<void> {
    const server = createServer({ cert: this.o.serving.cert, key: this.o.serving.key, ca: this.o.requestHeaderCA, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      try {
        this.onRequest(req, res);
      } catch (err) {
        this.o.log.error({ err }, 'request failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.nodes.start();
    this.pods.start();
    await Promise.all([this.nodes.waitForSync(60_000), this.pods.waitForSync(60_000)]);
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.scrapeOnce().catch((err: unknown) => this.o.log.error({ err }, 'scrape round failed'));
      if (this.stopped) return;
      await new Promise<void>((r) => (this.timer = setTimeout(r, Math.max(0, this.o.resolutionMs - (Date.now() - started)))));
    }
  }

  /** One scrape round into the storage. */
  async scrapeOnce(): Promise<void> {
    const targets = this.nodes.list().flatMap((n) => nodeTarget(n as Parameters<typeof nodeTarget>[0]) ?? []);
    const round = await scrapeAll(targets, this.o.scrapeTls, Math.max(1000, Math.floor(this.o.resolutionMs * 0.9)), this.o.log);
    this.storage.store(round);
    this.rounds++;
    this.o.log.debug({ nodes: round.size }, 'scrape round stored');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.nodes.stop();
    this.pods.stop();
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
  }

  private sources(): MetricsSources {
    const meta = (o: KubeObject) => ({ name: o.metadata.name ?? '', namespace: o.metadata.namespace, labels: o.metadata.labels as Record<string, string> | undefined });
    return {
      storage: this.storage,
      nodes: () => this.nodes.list().map(meta),
      pods: () => this.pods.list().map(meta),
      now: () => Date.now(),
    };
  }

  /** The requestheader user, or undefined. */
  private user(req: IncomingMessage): string | undefined {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) return undefined;
    const cert: PeerCertificate = sock.getPeerCertificate();
    const cn = Array.isArray(cert?.subject?.CN) ? cert.subject.CN[0] : cert?.subject?.CN;
    if (!cn || (this.o.allowedNames.length > 0 && !this.o.allowedNames.includes(cn))) return undefined;
    const u = req.headers['x-remote-user'];
    return typeof u === 'string' && u ? u : undefined;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://metrics-server');
    if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) {
      const ok = url.pathname !== '/readyz' || this.ready;
      res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(ok ? 'ok' : '[-]metric-storage-ready failed: no metrics to serve\nreadyz check failed\n');
      return;
    }
    const json = (status: number, body: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (!this.user(req)) {
      json(401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return;
    }
    const out = handleMetricsRequest(this.sources(), req.method ?? 'GET', url.pathname, url.searchParams);
    if (!out) {
      json(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 });
      return;
    }
    json(out.status, out.body);
  }
}

// The HTTP endpoint of a component: /metrics from a prom-client registry and /healthz, /livez,
// /readyz (and /<endpoint>/<check>) from named HealthChecks; anything else is Go's 404 page.
// Plain HTTP on the bind address, as kube-scheduler's and kube-controller-manager's insecure
// metrics port was.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { HEALTH_ENDPOINTS, HealthChecks, pingCheck, type HealthEndpoint } from './health.js';

export interface ComponentServerOptions {
  registry: Registry;
  /** Default: the ping check under all three endpoints. */
  health?: HealthChecks;
  /** Where failed health checks are reported (pino's warn). */
  log?: { warn(obj: object, msg?: string): void };
}

export class ComponentServer {
  readonly health: HealthChecks;
  private server: Server | undefined;
  /** The bound port after listen(). */
  port = 0;

  constructor(private readonly o: ComponentServerOptions) {
    this.health = o.health ?? HealthChecks.same([pingCheck]);
  }

  /** Listens on host:port (0: any free port); resolves with the bound port, rejects with the listen error (EADDRINUSE...). */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`internal server error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://component');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const [, first, single, ...rest] = path.split('/');
    if (HEALTH_ENDPOINTS.includes(first as HealthEndpoint) && rest.length === 0) {
      const result = await this.health.run(first as HealthEndpoint, single, url.searchParams);
      if (result) {
        if (result.failures.length > 0) this.o.log?.warn({ endpoint: path, failures: result.failures }, 'health check failed');
        res.writeHead(result.status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(result.body);
        return;
      }
    } else if (path === '/metrics') {
      const text = await this.o.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.o.registry.contentType });
      res.end(text);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('404 page not found\n');
  }

  /** Closes the listener and its open connections. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

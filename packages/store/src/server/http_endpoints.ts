// HTTP listener for /health and /metrics (etcd's --listen-metrics-urls).
import { createServer, type Server } from 'node:http';
import type { StoreMetrics } from './metrics.js';

export interface HealthSource {
  /** undefined when healthy, otherwise the reason. */
  unhealthyReason(): Promise<string | undefined>;
}

export function startHttpEndpoints(host: string, port: number, metrics: StoreMetrics, health: HealthSource): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' || path === '/livez' || path === '/readyz') {
      health.unhealthyReason().then(
        (reason) => {
          res.writeHead(reason ? 503 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ health: reason ? 'false' : 'true', reason: reason ?? '' }));
        },
        (err: Error) => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ health: 'false', reason: err.message }));
        },
      );
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

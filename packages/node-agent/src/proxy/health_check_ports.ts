// The health check node ports of `externalTrafficPolicy: Local` LoadBalancer Services (issue 14), as
// kube-proxy's service health server: on each Service's spec.healthCheckNodePort this node answers
// any GET with upstream's JSON — the Service's namespace and name, its number of local endpoints and
// whether the service proxy is healthy — with 200 when it has local endpoints (and the proxy is
// healthy) and 503 otherwise, plus the X-Load-Balancing-Endpoint-Weight header, so an external load
// balancer sends traffic only to nodes with endpoints. Ports open and close as Services come and go.
// Ports and names come through service_rules.ts (sink-guarded); the port is re-checked here.
import { createServer, type Server } from 'node:http';
import type { Logger } from '../logger.js';
import { backendsByServicePort, type EndpointsLike, type ServiceLike } from './service_rules.js';
import { isSafePort } from './sink_guard.js';

export interface HealthCheckTarget {
  namespace: string;
  name: string;
  localEndpoints: number;
}

/** healthCheckNodePort → the Service and its local endpoints on `nodeName`. */
export function healthCheckTargets(services: ServiceLike[], endpoints: EndpointsLike[], nodeName: string): Map<number, HealthCheckTarget> {
  const local = new Map<string, Set<string>>();
  for (const sp of backendsByServicePort(services, endpoints, undefined, nodeName)) {
    const key = sp.key.slice(0, sp.key.lastIndexOf(':'));
    const set = local.get(key) ?? new Set<string>();
    for (const b of sp.localBackends) set.add(b.ip);
    local.set(key, set);
  }
  const out = new Map<number, HealthCheckTarget>();
  for (const s of services) {
    const port = s.spec?.healthCheckNodePort;
    if (s.spec?.type !== 'LoadBalancer' || s.spec.externalTrafficPolicy !== 'Local' || !isSafePort(port)) continue;
    const namespace = s.metadata.namespace ?? 'default';
    const key = `${namespace}/${s.metadata.name}`;
    if (!local.has(key)) continue; // refused by the sink guard, or no IPv4 cluster IP
    out.set(port, { namespace, name: s.metadata.name, localEndpoints: local.get(key)!.size });
  }
  return out;
}

/** upstream's body (kube-proxy's service health handler), tab-indented as its dedented template. */
export function healthCheckBody(t: HealthCheckTarget, proxyHealthy: boolean): string {
  return `{\n\t"service": {\n\t\t"namespace": ${JSON.stringify(t.namespace)},\n\t\t"name": ${JSON.stringify(t.name)}\n\t},\n\t"localEndpoints": ${t.localEndpoints},\n\t"serviceProxyHealthy": ${proxyHealthy}\n}`;
}

export class HealthCheckPorts {
  private readonly servers = new Map<number, { server: Server; target: HealthCheckTarget }>();

  constructor(
    private readonly log: Logger,
    private readonly proxyHealthy: () => boolean = () => true,
    private readonly host = '0.0.0.0',
  ) {}

  ports(): number[] {
    return [...this.servers.keys()].sort((a, b) => a - b);
  }

  /** Opens, updates and closes the listeners to match `targets`. */
  async sync(targets: Map<number, HealthCheckTarget>): Promise<void> {
    for (const [port, s] of [...this.servers]) {
      if (targets.has(port)) continue;
      this.servers.delete(port);
      await new Promise<void>((r) => s.server.close(() => r()));
    }
    for (const [port, target] of targets) {
      const cur = this.servers.get(port);
      if (cur) {
        cur.target = target;
        continue;
      }
      const entry = { server: createServer(), target };
      entry.server.on('request', (req, res) => {
        const healthy = this.proxyHealthy();
        const t = entry.target;
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('X-Load-Balancing-Endpoint-Weight', String(t.localEndpoints));
        res.writeHead(t.localEndpoints !== 0 && healthy ? 200 : 503).end(healthCheckBody(t, healthy));
        req.resume();
      });
      const ok = await new Promise<boolean>((resolve) => {
        entry.server.once('error', (err) => {
          this.log.warn({ err, port, service: `${target.namespace}/${target.name}` }, 'health check node port not opened');
          resolve(false);
        });
        entry.server.listen(port, this.host, () => resolve(true));
      });
      if (ok) this.servers.set(port, entry);
    }
  }

  async close(): Promise<void> {
    await this.sync(new Map());
  }
}

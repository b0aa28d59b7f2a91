// Scrapes the Summary API (GET /stats/summary) of every node agent, as
// metrics-server's scraper: the node's InternalIP and kubelet port from its
// status, mutual TLS with this component's client certificate, the agent's
// serving certificate checked against the cluster CA, one timeout per node.
// A failed node is logged and left out of the round.
import { request } from 'node:https';
import type { Summary } from '@mkube/node-agent';
import type { Logger } from 'pino';

export interface NodeTarget {
  name: string;
  host: string;
  port: number;
}

export interface ScrapeTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

interface NodeLike {
  metadata: { name?: string };
  status?: { addresses?: Array<{ type?: string; address?: string }>; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
}

/** Where a node's agent listens (InternalIP first, as metrics-server's default --kubelet-preferred-address-types), or undefined. */
export function nodeTarget(n: NodeLike): NodeTarget | undefined {
  const addrs = n.status?.addresses ?? [];
  const host = (['InternalIP', 'ExternalIP', 'Hostname'].map((t) => addrs.find((a) => a.type === t)?.address).find(Boolean)) ?? undefined;
  const port = n.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!n.metadata.name || !host || !port) return undefined;
  return { name: n.metadata.name, host, port };
}

export class ScrapeError extends Error {
  readonly code = 'SCRAPE_FAILED';
  constructor(readonly node: string, message: string) {
    super(`unable to fetch metrics from node ${node}: ${message}`);
    this.name = 'ScrapeError';
  }
}

export function scrapeNode(t: NodeTarget, tls: ScrapeTls, timeoutMs: number): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const req = request({ host: t.host, port: t.port, path: '/stats/summary?only_cpu_and_memory=true', method: 'GET', ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new ScrapeError(t.name, `request failed, status: "${res.statusCode} ${res.statusMessage ?? ''}": ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text) as Summary);
        } catch (err) {
          reject(new ScrapeError(t.name, `decoding the summary: ${String(err)}`));
        }
      });
      res.on('error', (err) => reject(new ScrapeError(t.name, err.message)));
    });
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (${timeoutMs} ms)`)));
    req.on('error', (err) => reject(err instanceof ScrapeError ? err : new ScrapeError(t.name, err.message)));
    req.end();
  });
}

/** One round over all targets; failures are logged and skipped. */
export async function scrapeAll(targets: NodeTarget[], tls: ScrapeTls, timeoutMs: number, log: Logger): Promise<Map<string, Summary>> {
  const out = new Map<string, Summary>();
  await Promise.all(
    targets.map(async (t) => {
      try {
        out.set(t.name, await scrapeNode(t, tls, timeoutMs));
      } catch (err) {
        log.warn({ err, node: t.name }, 'failed to scrape node');
      }
    }),
  );
  return out;
}

/** Prometheus metrics of the API server. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  latency: Histogram<'verb' | 'resource' | 'code'>;
  inflight: Gauge;
  watchers: Gauge;
  requests: Counter<'verb' | 'resource' | 'code'>;
  /** List requests by where they were served from: "cache" (watch cache) or "store". */
  listSource: Counter<'resource' | 'source'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    latency: new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb and resource.',
      labelNames: ['verb', 'resource', 'code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    inflight: new Gauge({ name: 'apiserver_current_inflight_requests', help: 'Requests currently being served.', registers: [registry] }),
    watchers: new Gauge({ name: 'apiserver_registered_watchers', help: 'Open watch requests.', registers: [registry] }),
    requests: new Counter({ name: 'apiserver_request_total', help: 'Requests by verb, resource and code.', labelNames: ['verb', 'resource', 'code'], registers: [registry] }),
    listSource: new Counter({ name: 'apiserver_list_source_total', help: 'List requests by resource and where they were served from (cache or store).', labelNames: ['resource', 'source'], registers: [registry] }),
  };
}

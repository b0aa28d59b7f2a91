/**
 * ClusterDns: the mkube-dns component — informers on Services and
 * EndpointSlices feeding the cluster zone (each event applied at once), the
 * DNS listener (UDP+TCP), the forwarder for other names, and the
 * /metrics /healthz /livez /readyz endpoint (ready once both informers have
 * synced, as CoreDNS' kubernetes plugin waits for its caches).
 */
import { Informer, type KubeClient, Resources } from '@mkube/client';
import type { EndpointSlice, Service } from '@mkube/api';
import { collectDefaultMetrics, ComponentServer, Gauge, HealthChecks, pingCheck, Registry, staticCheck } from '@mkube/component-base';
import type { Logger } from 'pino';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { DnsServer } from './server.js';
import { ClusterZone } from './zone.js';

export interface ClusterDnsOptions {
  client: KubeClient;
  log: Logger;
  /** Cluster domain (cluster.local). */
  domain?: string;
  /** Address and port of the DNS listener (port 0: any free one). */
  dnsHost: string;
  dnsPort: number;
  /** Address and port of /metrics and the health endpoints (port -1: none). */
  metricsHost?: string;
  metricsPort?: number;
  forwarder?: ForwarderOptions;
  ttl?: number;
}

export class ClusterDns {
  readonly zone: ClusterZone;
  readonly registry = new Registry();
  readonly forwarder: Forwarder;
  private readonly services: Informer<Service>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly dns: DnsServer;
  private server: ComponentServer | undefined;
  private stopping = false;
  dnsPort = 0;
  metricsPort = 0;

  constructor(private readonly o: ClusterDnsOptions) {
    this.zone = new ClusterZone({ domain: o.domain, ttl: o.ttl });
    this.forwarder = new Forwarder(o.forwarder);
    collectDefaultMetrics({ register: this.registry });
    const onError = (resource: string) => (err: unknown) => o.log.debug({ err, resource }, 'list/watch failed; retrying');
    this.services = new Informer<Service>(o.client.resource<Service>(Resources.services), { onError: onError('services') });
    this.slices = new Informer<EndpointSlice>(o.client.resource<EndpointSlice>(Resources.endpointslices), { onError: onError('endpointslices') });
    this.services.addEventHandler({ add: (s) => this.zone.upsertService(s), update: (_o, s) => this.zone.upsertService(s), delete: (s) => this.zone.deleteService(s) });
    this.slices.addEventHandler({ add: (s) => this.zone.upsertSlice(s), update: (_o, s) => this.zone.upsertSlice(s), delete: (s) => this.zone.deleteSlice(s) });
    this.dns = new DnsServer({ zone: this.zone, forwarder: this.forwarder, log: o.log, registry: this.registry });
    const zone = this.zone;
    new Gauge({ name: 'mkube_dns_zone_serial', help: 'Changes applied to the cluster zone since start.', registers: [this.registry], collect() { this.set(zone.serial); } });
    const forwarder = this.forwarder;
    new Gauge({ name: 'mkube_dns_cache_hits', help: 'Forwarded questions answered from the cache.', registers: [this.registry], collect() { this.set(forwarder.hits); } });
    new Gauge({ name: 'mkube_dns_cache_misses', help: 'Forwarded questions sent upstream.', registers: [this.registry], collect() { this.set(forwarder.misses); } });
  }

  synced(): boolean {
    return this.services.hasSynced() && this.slices.hasSynced();
  }

  /** Starts the informers and the listeners; resolves once the DNS port is bound (not waiting for the sync). */
  async start(): Promise<void> {
    if ((this.o.metricsPort ?? 0) >= 0) {
      const synced = staticCheck('informer-sync', () => (this.synced() ? undefined : 'services and endpointslices not synced yet'));
      const shutdown = staticCheck('shutdown', () => (this.stopping ? 'shutting down' : undefined));
      this.server = new ComponentServer({ registry: this.registry, health: new HealthChecks({ livez: [pingCheck, shutdown], healthz: [pingCheck, shutdown], readyz: [pingCheck, shutdown, synced] }), log: this.o.log });
      this.metricsPort = await this.server.listen(this.o.metricsPort ?? 0, this.o.metricsHost ?? '127.0.0.1');
    }
    this.services.start();
    this.slices.start();
    this.dnsPort = await this.dns.listen(this.o.dnsPort, this.o.dnsHost);
  }

  async waitForSync(timeoutMs = 30_000): Promise<void> {
    await Promise.all([this.services.waitForSync(timeoutMs), this.slices.waitForSync(timeoutMs)]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.services.stop();
    this.slices.stop();
    await this.dns.close();
    await this.server?.close();
  }
}

// CloudControllerManager: the process of mkube-cloud-controller-manager. Leader-elected on the Lease
// kube-system/cloud-controller-manager (as upstream's); while leading it runs the service controller
// (when the provider has a LoadBalancer) and the cloud node controllers (when it has InstancesV2) on
// shared Service and Node informers. /metrics, /healthz, /livez, /readyz from component-base.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Node, Service } from '@mkube/api';
import { Informer, LeaderElector, Resources, type KubeClient } from '@mkube/client';
import { collectDefaultMetrics, ComponentServer, Gauge, HealthChecks, pingCheck, Registry, staticCheck, type LeaderElectionOptions, type Logger } from '@mkube/component-base';
import type { CloudProvider } from './cloudprovider.js';
import { CloudNodeController } from './node_controller.js';
import { ServiceController } from './service_controller.js';

export const DEFAULT_LB_CLASS = 'mkube.io/address-pool';

export interface CloudControllerManagerOptions extends LeaderElectionOptions {
  client: KubeClient;
  provider: CloudProvider & { recover?(services: Service[]): void };
  log: Logger;
  clusterName?: string;
  loadBalancerClass?: string;
  metricsHost?: string;
  /** -1: no metrics/health server; 0: any free port. */
  metricsPort?: number;
  nodeMonitorPeriodMs?: number;
}

export class CloudControllerManager {
  readonly identity: string;
  readonly registry = new Registry();
  metricsPort = 0;
  serviceController: ServiceController | undefined;
  nodeController: CloudNodeController | undefined;
  private elector: LeaderElector | undefined;
  private server: ComponentServer | undefined;
  private abort: AbortController | undefined;
  private informers: Array<Informer<Service> | Informer<Node>> = [];
  private runs: Promise<void>[] = [];
  private leading = false;
  private stopping = false;

  constructor(private readonly o: CloudControllerManagerOptions) {
    this.identity = o.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    collectDefaultMetrics({ register: this.registry });
    const isLeader = () => this.leading;
    new Gauge({ name: 'mkube_cloud_controller_manager_leader', help: '1 while this instance leads.', registers: [this.registry], collect() { this.set(isLeader() ? 1 : 0); } });
  }

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    if ((this.o.metricsPort ?? 0) >= 0) {
      const shutdown = staticCheck('shutdown', () => (this.stopping ? 'shutting down' : undefined));
      this.server = new ComponentServer({ registry: this.registry, health: new HealthChecks({ livez: [pingCheck, shutdown], healthz: [pingCheck, shutdown], readyz: [pingCheck, shutdown] }), log: this.o.log });
      this.metricsPort = await this.server.listen(this.o.metricsPort ?? 0, this.o.metricsHost ?? '127.0.0.1');
    }
    if (this.o.leaderElect === false) {
      this.lead();
      return;
    }
    this.elector = new LeaderElector(this.o.client, {
      namespace: this.o.leaseNamespace ?? 'kube-system',
      name: this.o.leaseName ?? 'cloud-controller-manager',
      identity: this.identity,
      leaseDurationMs: this.o.leaseDurationMs,
      renewDeadlineMs: this.o.renewDeadlineMs,
      retryPeriodMs: this.o.retryPeriodMs,
      onStartedLeading: () => this.lead(),
      onStoppedLeading: () => void this.stepDown(),
      onNewLeader: (id) => this.o.log.info({ leader: id }, 'new leader'),
    });
    this.elector.run();
  }

  private lead(): void {
    this.leading = true;
    this.o.log.info({ identity: this.identity }, 'leading: starting the cloud controllers');
    const abort = new AbortController();
    this.abort = abort;
    const onError = (what: string) => (err: unknown) => this.o.log.warn({ err, what }, 'list/watch failed');
    const services = new Informer<Service>(this.o.client.resource<Service>(Resources.services), { onError: onError('services') });
    const nodes = new Informer<Node>(this.o.client.resource<Node>(Resources.nodes), { onError: onError('nodes'), resyncMs: 30_000 });
    this.informers = [services, nodes];
    const lb = this.o.provider.loadBalancer();
    if (lb) {
      this.serviceController = new ServiceController({
        client: this.o.client,
        lb,
        log: this.o.log.child({ controller: 'service' }),
        clusterName: this.o.clusterName ?? 'kubernetes',
        loadBalancerClass: this.o.loadBalancerClass ?? DEFAULT_LB_CLASS,
        services,
        nodes,
        recover: (list) => this.o.provider.recover?.(list),
      });
      this.runs.push(this.serviceController.run(abort.signal));
    }
    const instances = this.o.provider.instancesV2();
    if (instances) {
      this.nodeController = new CloudNodeController({ client: this.o.client, instances, log: this.o.log.child({ controller: 'cloud-node' }), nodes, monitorPeriodMs: this.o.nodeMonitorPeriodMs });
      this.runs.push(this.nodeController.run(abort.signal));
    }
    services.start();
    nodes.start();
  }

  private async stepDown(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.o.log.warn('leadership lost: stopping the cloud controllers');
    this.abort?.abort();
    for (const i of this.informers) i.stop();
    await Promise.allSettled(this.runs);
    this.runs = [];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.elector) await this.elector.stop();
    else await this.stepDown();
    await this.stepDown();
    await this.server?.close();
  }
}

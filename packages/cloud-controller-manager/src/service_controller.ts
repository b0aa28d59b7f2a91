// The service controller of the cloud controller manager (upstream's k8s.io/cloud-provider
// controllers/service): for each Service of type LoadBalancer without a loadBalancerClass or with
// ours, it puts the finalizer service.kubernetes.io/load-balancer-cleanup on, asks the provider to
// ensure the load balancer and writes status.loadBalancer.ingress; when the Service is deleted, stops
// being a LoadBalancer or changes to another class, it asks the provider to delete it, clears the
// status and takes the finalizer off. Events as upstream: Type, EnsuringLoadBalancer,
// EnsuredLoadBalancer, SyncLoadBalancerFailed, DeletingLoadBalancer, DeletedLoadBalancer.
import type { LoadBalancerIngress, Node, Service } from '@mkube/api';
import { Informer, keyOf, Resources, WorkQueue, type KubeClient } from '@mkube/client';
import { EventRecorder } from '@mkube/controllers';
import type { Logger } from '@mkube/component-base';
import type { LoadBalancer } from './cloudprovider.js';

export const LB_CLEANUP_FINALIZER = 'service.kubernetes.io/load-balancer-cleanup';
/** Nodes with this label are not load-balancer backends (upstream's node.kubernetes.io/exclude-from-external-load-balancers). */
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
const SERVICE_REF = { apiVersion: 'v1', kind: 'Service' };

export interface ServiceControllerOptions {
  client: KubeClient;
  lb: LoadBalancer;
  log: Logger;
  clusterName: string;
  /** Our loadBalancerClass: Services with it, or with none, are ours. */
  loadBalancerClass: string;
  services: Informer<Service>;
  nodes: Informer<Node>;
  /** Called once the informers synced, before the first sync (the provider recovers its assignments). */
  recover?(services: Service[]): void;
  workers?: number;
}

export function wantsLoadBalancer(s: Service, ourClass: string): boolean {
  if (s.spec?.type !== 'LoadBalancer') return false;
  const cls = s.spec.loadBalancerClass;
  return cls === undefined || cls === '' || cls === ourClass;
}

/** Whether resourceVersion `a` is older than `b` (both etcd revisions; opaque ones are never older). */
function isOlder(a: string | undefined, b: string): boolean {
  return a !== undefined && /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) < BigInt(b);
}

const sameIngress = (a: LoadBalancerIngress[] | undefined, b: LoadBalancerIngress[] | undefined) =>
  JSON.stringify((a ?? []).map((g) => [g.ip ?? '', g.hostname ?? ''])) === JSON.stringify((b ?? []).map((g) => [g.ip ?? '', g.hostname ?? '']));

export class ServiceController {
  readonly queue = new WorkQueue<string>({ baseDelayMs: 100, maxDelayMs: 30_000 });
  private readonly events: EventRecorder;
  private running: Promise<void>[] = [];
  /** The resourceVersion of our last write to each Service: an older cached copy is stale (its newer event is on its way). */
  private readonly written = new Map<string, string>();
  syncs = 0;

  constructor(private readonly o: ServiceControllerOptions) {
    this.events = new EventRecorder(o.client, o.log, 'service-controller', () => Date.now());
    o.services.addEventHandler({
      add: (s) => this.queue.add(keyOf(s)),
      update: (old, cur) => {
        if (old.spec?.type !== cur.spec?.type && (old.spec?.type === 'LoadBalancer' || cur.spec?.type === 'LoadBalancer')) {
          this.events.record(cur, SERVICE_REF, { type: 'Normal', reason: 'Type', message: `${old.spec?.type ?? 'ClusterIP'} -> ${cur.spec?.type ?? 'ClusterIP'}` });
        }
        this.queue.add(keyOf(cur));
      },
      delete: (s) => this.queue.add(keyOf(s)),
    });
  }

  /** Starts the workers (the informers must be started by the caller). Stops with the signal. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.o.services.waitForSync(), this.o.nodes.waitForSync()]);
    if (signal.aborted) return;
    this.o.recover?.(this.o.services.list());
    for (const s of this.o.services.list()) this.queue.add(keyOf(s));
    signal.addEventListener('abort', () => this.queue.shutDown(), { once: true });
    for (let i = 0; i < (this.o.workers ?? 2); i++) this.running.push(this.worker());
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.sync(key);
        this.queue.forget(key);
      } catch (err) {
        this.o.log.warn({ err, service: key }, 'service not synced: retrying');
        this.queue.addRateLimited(key);
      } finally {
        this.syncs++;
        this.queue.done(key);
      }
    }
  }

  private backends(): Node[] {
    return this.o.nodes.list().filter((n) => n.metadata.labels?.[EXCLUDE_LB_LABEL] === undefined);
  }

  async sync(key: string): Promise<void> {
    const svc = this.o.services.get(key);
    if (!svc) {
      this.written.delete(key);
      // Gone without our finalizer (it never was ours, or it was removed by hand): nothing may stay allocated.
      const [namespace, name] = key.includes('/') ? key.split('/') : ['default', key];
      await this.o.lb.ensureLoadBalancerDeleted(this.o.clusterName, { metadata: { namespace, name } } as Service);
      return;
    }
    const mine = this.written.get(key);
    if (mine !== undefined && isOlder(svc.metadata.resourceVersion, mine)) return;
    this.written.delete(key);
    const services = this.o.client.resource<Service>(Resources.services);
    const remember = (o: Service) => {
      if (o.metadata?.resourceVersion) this.written.set(key, o.metadata.resourceVersion);
    };
    const ns = svc.metadata.namespace;
    const finalizers = svc.metadata.finalizers ?? [];
    const hasFinalizer = finalizers.includes(LB_CLEANUP_FINALIZER);
    if (wantsLoadBalancer(svc, this.o.loadBalancerClass) && !svc.metadata.deletionTimestamp) {
      const current = await this.o.lb.getLoadBalancer(this.o.clusterName, svc);
      const requested = svc.spec?.loadBalancerIP;
      const upToDate =
        hasFinalizer && current.exists && sameIngress(current.status?.ingress, svc.status?.loadBalancer?.ingress) && (!requested || current.status?.ingress?.[0]?.ip === requested);
      if (upToDate) return;
      this.events.record(svc, SERVICE_REF, { type: 'Normal', reason: 'EnsuringLoadBalancer', message: 'Ensuring load balancer' });
      if (!hasFinalizer) {
        remember(await services.patch(ns, svc.metadata.name, { metadata: { finalizers: [...finalizers, LB_CLEANUP_FINALIZER], resourceVersion: svc.metadata.resourceVersion } }, 'merge'));
      }
      let status;
      try {
        status = await this.o.lb.ensureLoadBalancer(this.o.clusterName, svc, this.backends());
      } catch (err) {
        this.events.record(svc, SERVICE_REF, { type: 'Warning', reason: 'SyncLoadBalancerFailed', message: `Error syncing load balancer: failed to ensure load balancer: ${(err as Error).message}` });
        throw err;
      }
      if (!sameIngress(status.ingress, svc.status?.loadBalancer?.ingress)) {
        remember(await services.patch(ns, svc.metadata.name, { status: { loadBalancer: { ingress: status.ingress ?? [] } } }, 'merge', 'status'));
      }
      this.events.record(svc, SERVICE_REF, { type: 'Normal', reason: 'EnsuredLoadBalancer', message: 'Ensured load balancer' });
      return;
    }
    // Not (or no longer) ours: clean up what we made, only if we made it (our finalizer).
    if (!hasFinalizer) return;
    this.events.record(svc, SERVICE_REF, { type: 'Normal', reason: 'DeletingLoadBalancer', message: 'Deleting load balancer' });
    await this.o.lb.ensureLoadBalancerDeleted(this.o.clusterName, svc);
    let latest = svc;
    if ((svc.status?.loadBalancer?.ingress ?? []).length > 0) {
      latest = await services.patch(ns, svc.metadata.name, { status: { loadBalancer: { ingress: null } } }, 'merge', 'status');
    }
    const rest = (latest.metadata.finalizers ?? []).filter((f) => f !== LB_CLEANUP_FINALIZER);
    remember(await services.patch(ns, svc.metadata.name, { metadata: { finalizers: rest.length ? rest : null, resourceVersion: latest.metadata.resourceVersion } }, 'merge'));
    this.events.record(svc, SERVICE_REF, { type: 'Normal', reason: 'DeletedLoadBalancer', message: 'Deleted load balancer' });
  }
}

/**
 * IngressController: the mkube-ingress component — ensures the default
 * IngressClass `mkube` (controller mkube.io/ingress), watches Ingresses,
 * IngressClasses, Services, EndpointSlices, Secrets and Nodes with informers,
 * rebuilds the routing table of the Ingresses of its classes on every change
 * (coalesced to one rebuild per tick) and swaps it into the proxy, and writes
 * `status.loadBalancer.ingress` of those Ingresses: the InternalIPs of the
 * Nodes (every node serves ports 80/443), or --publish-status-address.
 * Every instance computes the same status, so instances on several nodes
 * agree and write only when it differs. Serves /metrics /healthz /livez
 * /readyz (ready once every informer has synced and the table is built).
 */
import { Informer, ApiError, type KubeClient, Resources } from '@mkube/client';
import { ANN_DEFAULT_INGRESS_CLASS, ANN_INGRESS_CLASS, resourceFor, type EndpointSlice, type Ingress, type Named, type IngressClass, type IngressLoadBalancerIngress, type Node, type Secret, type Service } from '@mkube/api';
import { collectDefaultMetrics, ComponentServer, Gauge, HealthChecks, pingCheck, Registry, staticCheck } from '@mkube/component-base';
import { EventRecorder } from '@mkube/controllers';
import type { Logger } from 'pino';
import { IngressProxy } from './proxy.js';
import { RouteTable } from './routes.js';

export const INGRESS_CLASS = 'mkube';
export const INGRESS_CONTROLLER = 'mkube.io/ingress';
export const DEFAULT_CLASS_ANNOTATION = ANN_DEFAULT_INGRESS_CLASS;
/** The source of the events it writes (ingress-nginx: nginx-ingress-controller). */
export const EVENT_SOURCE = 'mkube-ingress';
/** The deprecated annotation upstream still honours before spec.ingressClassName. */
const CLASS_ANNOTATION = ANN_INGRESS_CLASS;

export interface IngressControllerOptions {
  client: KubeClient;
  log: Logger;
  /** Address and ports of the HTTP and HTTPS listeners (0: any free port). */
  host: string;
  httpPort: number;
  httpsPort: number;
  metricsHost?: string;
  /** -1: no metrics/health server. */
  metricsPort?: number;
  /** Addresses written to status.loadBalancer.ingress instead of the Nodes' InternalIPs. */
  publishAddresses?: string[];
  /** Create the default IngressClass `mkube` if missing (default true). */
  ensureClass?: boolean;
}

const ingresses = resourceFor('ingresses', 'networking.k8s.io');
const ingressClasses = resourceFor('ingressclasses', 'networking.k8s.io');

/** The IngressClass `mkube`, the cluster's default class. */
export function defaultIngressClass(): IngressClass {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: INGRESS_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    spec: { controller: INGRESS_CONTROLLER },
  };
}

/** Creates the IngressClass `mkube` unless it exists (asked first: the controller's role may only read it); 'created' or 'found'. */
export async function ensureIngressClass(client: KubeClient): Promise<'created' | 'found'> {
  const classes = client.resource<IngressClass>(ingressClasses);
  try {
    await classes.get(undefined, INGRESS_CLASS);
    return 'found';
  } catch (err) {
    if (!ApiError.isNotFound(err)) throw err;
  }
  try {
    await classes.create(undefined, defaultIngressClass());
    return 'created';
  } catch (err) {
    if (ApiError.isAlreadyExists(err)) return 'found';
    throw err;
  }
}

export class IngressController {
  readonly registry = new Registry();
  readonly proxy: IngressProxy;
  private readonly ingresses: Informer<Ingress>;
  private readonly classes: Informer<IngressClass>;
  private readonly services: Informer<Service>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly secrets: Informer<Secret>;
  private readonly nodes: Informer<Node> | undefined;
  private server: ComponentServer | undefined;
  private scheduled = false;
  private built = false;
  private stopping = false;
  private readonly events: EventRecorder;
  /** Sync events are written once the first table is built (ownership needs the synced IngressClasses). */
  private eventsOn = false;
  /** The TLS problems last logged ("ingress secret: reason"). */
  private tlsLogged = new Set<string>();
  /** Tables built since start (each a configuration change applied). */
  generation = 0;
  metricsPort = 0;

  constructor(private readonly o: IngressControllerOptions) {
    collectDefaultMetrics({ register: this.registry });
    this.proxy = new IngressProxy({ log: o.log, registry: this.registry });
    const onError = (resource: string) => (err: unknown) => o.log.debug({ err, resource }, 'list/watch failed; retrying');
    this.ingresses = new Informer<Ingress>(o.client.resource<Ingress>(ingresses), { onError: onError('ingresses') });
    this.classes = new Informer<IngressClass>(o.client.resource<IngressClass>(ingressClasses), { onError: onError('ingressclasses') });
    this.services = new Informer<Service>(o.client.resource<Service>(Resources.services), { onError: onError('services') });
    this.slices = new Informer<EndpointSlice>(o.client.resource<EndpointSlice>(Resources.endpointslices), { onError: onError('endpointslices') });
    this.secrets = new Informer<Secret>(o.client.resource<Secret>(Resources.secrets), { onError: onError('secrets') });
    if (!o.publishAddresses?.length) this.nodes = new Informer<Node>(o.client.resource<Node>(Resources.nodes), { onError: onError('nodes') });
    const changed = { add: () => this.schedule(), update: () => this.schedule(), delete: () => this.schedule() };
    for (const inf of this.informers()) inf.addEventHandler(changed);
    this.events = new EventRecorder(o.client, o.log, EVENT_SOURCE, () => Date.now());
    this.ingresses.addEventHandler({ add: (ing) => this.syncEvent(ing), update: (old, cur) => this.syncEvent(cur, old) });
    const self = this;
    new Gauge({ name: 'mkube_ingress_config_generation', help: 'Routing tables built since start.', registers: [this.registry], collect() { this.set(self.generation); } });
  }

  private informers(): Informer<never>[] {
    return [this.ingresses, this.classes, this.services, this.slices, this.secrets, ...(this.nodes ? [this.nodes] : [])] as unknown as Informer<never>[];
  }

  synced(): boolean {
    return this.informers().every((i) => i.hasSynced());
  }

  /** Whether an Ingress is ours: its class (spec or the old annotation) names one of our IngressClasses, or it has none and one of ours is the default. */
  owns(ing: Ingress): boolean {
    const ours = this.classes.list().filter((c) => c.spec?.controller === INGRESS_CONTROLLER);
    const name = ing.spec?.ingressClassName ?? ing.metadata?.annotations?.[CLASS_ANNOTATION];
    if (name) return ours.some((c) => c.metadata?.name === name);
    return ours.some((c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  }

  async start(): Promise<void> {
    if ((this.o.metricsPort ?? 0) >= 0) {
      const ready = staticCheck('informer-sync', () => (this.synced() && this.built ? undefined : 'informers not synced yet'));
      const shutdown = staticCheck('shutdown', () => (this.stopping ? 'shutting down' : undefined));
      this.server = new ComponentServer({ registry: this.registry, health: new HealthChecks({ livez: [pingCheck, shutdown], healthz: [pingCheck, shutdown], readyz: [pingCheck, shutdown, ready] }), log: this.o.log });
      this.metricsPort = await this.server.listen(this.o.metricsPort ?? 0, this.o.metricsHost ?? '127.0.0.1');
    }
    await this.proxy.listen(this.o.host, this.o.httpPort, this.o.httpsPort);
    if (this.o.ensureClass !== false) {
      await ensureIngressClass(this.o.client).then(
        (r) => this.o.log.info({ ingressClass: INGRESS_CLASS, result: r }, 'default IngressClass'),
        (err: unknown) => this.o.log.warn({ err }, 'could not create the default IngressClass'),
      );
    }
    for (const inf of this.informers()) inf.start();
    void this.buildWhenSynced();
  }

  /** The first table once every informer has synced (the initial list's events may all come before the last sync). */
  private async buildWhenSynced(): Promise<void> {
    while (!this.stopping) {
      try {
        await Promise.all(this.informers().map((i) => i.waitForSync(30_000)));
        if (!this.stopping) this.firstBuild();
        return;
      } catch (err) {
        this.o.log.warn({ err }, 'informers not synced yet; still waiting');
      }
    }
  }

  async waitForSync(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.informers().map((i) => i.waitForSync(timeoutMs)));
    this.firstBuild();
  }

  private firstBuild(): void {
    this.rebuild();
    if (this.eventsOn) return;
    this.eventsOn = true;
    for (const ing of this.ingresses.list()) this.syncEvent(ing);
  }

  /**
   * ingress-nginx's event on an Ingress of ours that was added or changed (its store's add and update
   * handlers): Normal `Sync` "Scheduled for sync". A new resourceVersion only (not a resync of the same object).
   */
  private syncEvent(cur: Ingress, old?: Ingress): void {
    if (!this.eventsOn || this.stopping || !cur.metadata?.name) return;
    if (old && old.metadata?.resourceVersion === cur.metadata.resourceVersion) return;
    if (!this.owns(cur) && !(old && this.owns(old))) return;
    this.events.record(cur as Named<Ingress>, ingresses, { type: 'Normal', reason: 'Sync', message: 'Scheduled for sync' });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const inf of this.informers()) inf.stop();
    await this.proxy.close();
    await this.server?.close();
  }

  private schedule(): void {
    if (this.scheduled || this.stopping) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.synced()) this.rebuild();
    });
  }

  /** Builds a new table from the caches and swaps it in; then brings the status of our Ingresses up to date. */
  private rebuild(): void {
    const mine = this.ingresses.list().filter((i) => this.owns(i));
    const table = new RouteTable({ ingresses: mine, services: this.services.list(), slices: this.slices.list(), secrets: this.secrets.list() });
    this.proxy.setTable(table);
    this.generation++;
    this.built = true;
    this.o.log.debug({ generation: this.generation, ingresses: table.ingresses.length, certificates: table.certs.length }, 'routing table swapped');
    // As ingress-nginx: an unusable TLS Secret is logged (once while it stays so) and its hosts get the default certificate.
    const problems = new Set(table.tlsProblems.map((p) => `${p.ingress} ${p.secret}: ${p.reason}`));
    for (const p of table.tlsProblems) {
      if (!this.tlsLogged.has(`${p.ingress} ${p.secret}: ${p.reason}`)) this.o.log.warn({ ingress: p.ingress, secret: p.secret, reason: p.reason }, 'TLS Secret unusable; its hosts get the default (fake) certificate');
    }
    this.tlsLogged = problems;
    void this.updateStatus(mine);
  }

  private statusAddresses(): IngressLoadBalancerIngress[] {
    const ips = this.o.publishAddresses?.length
      ? this.o.publishAddresses
      : (this.nodes?.list() ?? []).map((n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).filter((a): a is string => !!a);
    return [...new Set(ips)].sort().map((ip) => ({ ip }));
  }

  private async updateStatus(mine: Ingress[]): Promise<void> {
    const want = this.statusAddresses();
    const client = this.o.client.resource<Ingress>(ingresses);
    for (const ing of mine) {
      const have = ing.status?.loadBalancer?.ingress ?? [];
      if (JSON.stringify(have.map((a) => a.ip ?? a.hostname)) === JSON.stringify(want.map((a) => a.ip))) continue;
      try {
        await client.updateStatus({ ...ing, status: { ...ing.status, loadBalancer: { ingress: want } } });
      } catch (err) {
        // A conflict means a newer version is coming through the informer, which schedules another pass.
        if (!ApiError.isNotFound(err) && !(err instanceof ApiError && err.code === 409)) this.o.log.warn({ err, ingress: `${ing.metadata?.namespace}/${ing.metadata?.name}` }, 'status update failed');
      }
    }
  }
}

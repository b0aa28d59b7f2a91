/**
 * ControllerManager: the controllers, their shared informers, leader election
 * on kube-system/kube-controller-manager (only the leader runs controllers),
 * and an HTTP endpoint with /metrics and /healthz.
 */
import { hostname } from 'node:os';
import { KubeClient, LeaderElector, loadKubeconfig, type ClientConfig } from '@mkube/client';
import { CodedError, ComponentServer, createLogger, HealthChecks, pingCheck, staticCheck, type LeaderElectionOptions, type LogLevel } from '@mkube/component-base';
import type { Logger } from 'pino';
import { deploymentController } from './deployment/controller.js';
import { endpointsController } from './endpoints/controller.js';
import { endpointSliceController } from './endpointslice/controller.js';
import { endpointSliceMirroringController } from './endpointslicemirroring/controller.js';
import { garbageCollector } from './gc/controller.js';
import { DEFAULT_CLUSTER_CIDR, DEFAULT_RESERVED_CIDRS } from './ipam/cidr_set.js';
import { nodeIpamController } from './ipam/controller.js';
import { namespaceController } from './namespace/controller.js';
import { nodeLifecycleController } from './nodelifecycle/controller.js';
import { replicaSetController, replicationControllerController } from './replicaset/controller.js';
import { rootCaPublisher, serviceAccountController } from './serviceaccount/controller.js';
import { jobController } from './job/controller.js';
import { cronJobController } from './cronjob/controller.js';
import { ttlAfterFinishedController } from './ttlafterfinished/controller.js';
import { statefulSetController } from './statefulset/controller.js';
import { daemonSetController } from './daemonset/controller.js';
import { persistentVolumeBinder, pvcProtectionController, pvProtectionController } from './volume/controller.js';
import { podGcController } from './podgc/controller.js';
import { disruptionController } from './disruption/controller.js';
import { horizontalPodAutoscalerController } from './podautoscaler/controller.js';
import { csrApprovingController, csrSigningController } from './certificates/controller.js';
import { bootstrapSignerController, tokenCleanerController } from './bootstrap/controller.js';
import type { ControllerConfig, ControllerContext, RunningController } from './runtime/context.js';
import { Executor } from './runtime/executor.js';
import { SharedInformers } from './runtime/informers.js';
import { ControllerMetrics } from './runtime/metrics.js';
import { systemClock, type Clock } from './util/time.js';

export const CONTROLLERS: Record<string, (ctx: ControllerContext) => RunningController> = {
  replicaset: replicaSetController,
  replicationcontroller: replicationControllerController,
  deployment: deploymentController,
  endpoints: endpointsController,
  endpointslice: endpointSliceController,
  endpointslicemirroring: endpointSliceMirroringController,
  nodelifecycle: nodeLifecycleController,
  garbagecollector: garbageCollector,
  namespace: namespaceController,
  nodeipam: nodeIpamController,
  serviceaccount: serviceAccountController,
  'root-ca-cert-publisher': rootCaPublisher,
  job: jobController,
  cronjob: cronJobController,
  'ttl-after-finished': ttlAfterFinishedController,
  statefulset: statefulSetController,
  daemonset: daemonSetController,
  'persistentvolume-binder': persistentVolumeBinder,
  'pvc-protection': pvcProtectionController,
  'pv-protection': pvProtectionController,
  podgc: podGcController,
  disruption: disruptionController,
  horizontalpodautoscaling: horizontalPodAutoscalerController,
  csrapproving: csrApprovingController,
  csrsigning: csrSigningController,
  tokencleaner: tokenCleanerController,
  bootstrapsigner: bootstrapSignerController,
};

export const ALL_CONTROLLERS = Object.keys(CONTROLLERS);

export class ConfigError extends CodedError {
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}

export interface ManagerOptions extends LeaderElectionOptions {
  kubeconfig?: string;
  clientConfig?: ClientConfig;
  /** Names from ALL_CONTROLLERS; "*" means all, "-name" removes one (as kube-controller-manager's --controllers). */
  controllers?: string[];
  config?: Partial<ControllerConfig>;
  /** -1 disables the HTTP server; 0 picks a free port. */
  metricsPort?: number;
  metricsBindAddress?: string;
  logLevel?: string;
  logger?: Logger;
  clock?: Clock;
  resyncMs?: number;
}

export function selectControllers(list: string[] | undefined): string[] {
  const items = list && list.length ? list : ['*'];
  const chosen = new Set<string>();
  for (const raw of items) {
    const item = raw.trim();
    if (!item) continue;
    if (item === '*') ALL_CONTROLLERS.forEach((c) => chosen.add(c));
    else if (item.startsWith('-')) chosen.delete(item.slice(1));
    else if (ALL_CONTROLLERS.includes(item)) chosen.add(item);
    else throw new ConfigError(`unknown controller "${item}" (known: ${ALL_CONTROLLERS.join(', ')})`);
  }
  for (const raw of items) if (raw.trim().startsWith('-')) chosen.delete(raw.trim().slice(1));
  return ALL_CONTROLLERS.filter((c) => chosen.has(c));
}

export class ControllerManager {
  readonly log: Logger;
  readonly metrics = new ControllerMetrics(true);
  readonly client: KubeClient;
  readonly controllerNames: string[];
  private readonly config: ControllerConfig;
  private elector: LeaderElector | undefined;
  private running: { informers: SharedInformers; controllers: RunningController[] } | undefined;
  private starting: Promise<void> | undefined;
  private server: ComponentServer | undefined;
  private stopped = false;
  port = 0;

  constructor(private readonly o: ManagerOptions) {
    this.log = o.logger ?? createLogger({ component: 'mkube-controller-manager', level: (o.logLevel ?? 'info') as LogLevel });
    const cc = o.clientConfig ?? (o.kubeconfig ? loadKubeconfig(o.kubeconfig) : undefined);
    if (!cc) throw new ConfigError('a kubeconfig is required (--kubeconfig)');
    this.client = new KubeClient({ ...cc, userAgent: cc.userAgent ?? 'mkube-controller-manager' });
    this.controllerNames = selectControllers(o.controllers);
    this.config = {
      nodeMonitorGracePeriodMs: 40_000,
      defaultUnreachableTolerationSeconds: 300,
      clusterCidr: DEFAULT_CLUSTER_CIDR,
      nodeCidrMaskSize: 24,
      reservedCidrs: o.config?.clusterCidr && o.config.clusterCidr !== DEFAULT_CLUSTER_CIDR ? [] : DEFAULT_RESERVED_CIDRS,
      workers: 2,
      // --root-ca-file, else the CA the controller manager trusts for the API server (as kube-controller-manager).
      rootCaPem: cc.ca?.toString('utf8'),
      ...o.config,
    };
  }

  isLeader(): boolean {
    return this.o.leaderElect === false ? true : !!this.elector?.isLeader();
  }

  async start(): Promise<void> {
    if (this.o.metricsPort !== -1) await this.listen();
    if (this.o.leaderElect === false) {
      await this.startControllers();
      return;
    }
    const identity = this.o.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    this.elector = new LeaderElector(this.client, {
      namespace: this.o.leaseNamespace ?? 'kube-system',
      name: this.o.leaseName ?? 'kube-controller-manager',
      identity,
      leaseDurationMs: this.o.leaseDurationMs,
      renewDeadlineMs: this.o.renewDeadlineMs,
      retryPeriodMs: this.o.retryPeriodMs,
      onStartedLeading: () => {
        this.log.info({ identity }, 'became leader: starting controllers');
        this.metrics.leader.set({ name: 'kube-controller-manager' }, 1);
        this.starting = this.startControllers().catch((err: unknown) => this.log.error({ err }, 'starting controllers failed'));
      },
      onStoppedLeading: () => {
        this.log.warn({ identity }, 'lost leadership: stopping controllers');
        this.metrics.leader.set({ name: 'kube-controller-manager' }, 0);
        void this.stopControllers();
      },
      onNewLeader: (id) => this.log.info({ leader: id }, 'leader observed'),
    });
    this.elector.run();
  }

  private async startControllers(): Promise<void> {
    if (this.running || this.stopped) return;
    const informers = new SharedInformers(this.client, this.log, this.o.resyncMs ?? 0);
    const ctx: ControllerContext = {
      client: this.client,
      informers,
      executor: new Executor(this.client, this.log),
      log: this.log,
      metrics: this.metrics,
      clock: this.o.clock ?? systemClock,
      config: this.config,
    };
    const controllers = this.controllerNames.map((n) => CONTROLLERS[n]!(ctx));
    this.running = { informers, controllers };
    informers.start();
    await informers.waitForSync(120_000);
    if (this.running?.informers !== informers) return;
    for (const c of controllers) c.start();
    this.log.info({ controllers: this.controllerNames }, 'controllers started');
  }

  private async stopControllers(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    if (!r) return;
    r.informers.stop();
    await Promise.all(r.controllers.map((c) => c.stop()));
  }

  /** /metrics and /healthz, /livez, /readyz (ping; a stopping manager fails them) on @mkube/component-base's server. */
  private async listen(): Promise<void> {
    const stopping = staticCheck('shutdown', () => (this.stopped ? 'shutting down' : undefined));
    this.server = new ComponentServer({ registry: this.metrics.registry, health: HealthChecks.same([pingCheck, stopping]), log: this.log });
    this.port = await this.server.listen(this.o.metricsPort ?? 10257, this.o.metricsBindAddress ?? '127.0.0.1');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting;
    await this.stopControllers();
    await this.elector?.stop();
    this.client.close();
    await this.server?.close();
  }
}

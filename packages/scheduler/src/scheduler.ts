/**
 * The scheduler process: informers on pods, nodes and priority classes feed
 * the pure SchedulerCore; its effects become API calls (pods/<name>/binding,
 * status patches, events, victim deletions). With leader election only the
 * holder of the Lease kube-system/kube-scheduler runs scheduling cycles; the
 * others keep their caches warm.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiError, Informer, KubeClient, LeaderElector, Resources, type KubeObject, type ResourceClient } from '@mkube/client';
import { ComponentServer, HealthChecks, pingCheck, staticCheck, type LeaderElectionOptions } from '@mkube/component-base';
import { formatTime } from '@mkube/api';
import { pino, type Logger } from 'pino';
import { SchedulerCore, type CoreOptions, type SchedulerEffects, type SchedulerObserver } from './core.js';
import type { SchedulerConfig } from './config/load.js';
import type { Registry } from './framework/registry.js';
import { SchedulerMetrics } from './metrics.js';
import { VolumeInformers } from './volume_informers.js';
import type { SchedulerNode, SchedulerPod, WrittenPodCondition, PriorityClass } from './types.js';
import { DEFAULT_SCHEDULER_NAME } from './types.js';

export interface SchedulerOptions extends LeaderElectionOptions {
  client: KubeClient;
  logger?: Logger;
  /** The default profile's name when no `config` is given. */
  schedulerName?: string;
  /** Profiles (one scheduler name each) and plugin args from a KubeSchedulerConfiguration (config/load.ts). */
  config?: SchedulerConfig;
  /** Where the profiles' plugins come from (default: the in-tree registry). */
  registry?: Registry;
  /** Port for /metrics and /healthz; undefined = no HTTP endpoint, 0 = any free port. */
  metricsPort?: number;
  metricsHost?: string;
  /** Backoff flush / assumed-pod expiry period (default 1 s). */
  housekeepingIntervalMs?: number;
  core?: Partial<CoreOptions>;
}

type PodObj = SchedulerPod & KubeObject;
type NodeObj = SchedulerNode & KubeObject;
type PcObj = PriorityClass & KubeObject;

export class Scheduler {
  readonly core: SchedulerCore;
  readonly metrics: SchedulerMetrics;
  readonly log: Logger;
  readonly identity: string;
  private readonly pods: ResourceClient<PodObj>;
  private readonly podInformer: Informer<PodObj>;
  private readonly nodeInformer: Informer<NodeObj>;
  private readonly pcInformer: Informer<PcObj>;
  private readonly nsInformer: Informer<KubeObject>;
  private readonly volumeInformers: VolumeInformers;
  private elector: LeaderElector | undefined;
  private leading: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private http: ComponentServer | undefined;
  metricsPort: number | undefined;
  private stopped = false;

  constructor(private readonly o: SchedulerOptions) {
    this.log = o.logger ?? pino({ level: 'info' });
    // hostname_pid_random, as the controller manager's: hosts sharing a hostname (network-namespace labs) stay apart.
    this.identity = o.identity ?? `${hostname()}_${process.pid}_${randomBytes(4).toString('hex')}`;
    const client = o.client;
    this.pods = client.resource<PodObj>(Resources.pods);
    this.metrics = new SchedulerMetrics(() => this.core?.queue);
    const events = client.resource(Resources.events);
    // Events name the profile that handled the pod as their source, as upstream's per-profile recorders.
    const profileOf = (pod: SchedulerPod) => pod.spec.schedulerName || DEFAULT_SCHEDULER_NAME;

    const effects: SchedulerEffects = {
      bind: async (pod, nodeName) => {
        await this.pods.subresourceCreate(pod.metadata.namespace ?? 'default', pod.metadata.name!, 'binding', {
          apiVersion: 'v1', kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        });
      },
      updatePodStatus: (pod, condition, nominated) => this.patchPodStatus(pod, condition, nominated),
      recordEvent: (pod, type, reason, message) => {
        const now = formatTime(Date.now());
        const ns = pod.metadata.namespace ?? 'default';
        const ev = {
          apiVersion: 'v1', kind: 'Event',
          metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid, resourceVersion: pod.metadata.resourceVersion },
          reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now,
          source: { component: profileOf(pod) }, reportingComponent: profileOf(pod), reportingInstance: this.identity,
          action: reason === 'Preempted' ? 'Preempting' : reason === 'Scheduled' ? 'Binding' : 'Scheduling',
        };
        events.create(ns, ev as unknown as KubeObject).catch((err: Error) => this.log.warn({ err: err.message, pod: `${ns}/${pod.metadata.name}`, reason }, 'event not recorded'));
      },
      deletePod: async (pod) => {
        this.metrics.preemptionVictims.inc();
        const ns = pod.metadata.namespace ?? 'default';
        try {
          // As kube-scheduler: tell the victim why it goes before deleting it.
          await this.patchPodStatus(pod, {
            type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler',
            message: `${this.core.schedulerName}: preempting to accommodate a higher priority pod`, lastTransitionTime: formatTime(Date.now()),
          }, undefined);
        } catch (err) {
          this.log.warn({ err: (err as Error).message, pod: `${ns}/${pod.metadata.name}` }, 'could not mark preemption victim');
        }
        try {
          await this.pods.delete(pod.metadata.namespace ?? 'default', pod.metadata.name!, pod.metadata.uid ? { preconditions: { uid: pod.metadata.uid } } : undefined);
        } catch (err) {
          if (!ApiError.isNotFound(err) && !ApiError.isConflict(err)) throw err;
        }
      },
    };

    this.nsInformer = new Informer<KubeObject>(client.resource(Resources.namespaces), { onError: (err) => this.log.warn({ err: (err as Error).message, what: 'namespaces' }, 'list/watch failed') });
    this.volumeInformers = new VolumeInformers(client, (what) => (err) => this.log.warn({ err: (err as Error).message, what }, 'list/watch failed'), (e) => this.core?.queue.moveAllToActiveOrBackoff(e));
    this.core = new SchedulerCore({
      effects,
      schedulerName: o.schedulerName,
      config: o.config,
      registry: o.registry,
      namespaceLabels: (ns) => this.nsInformer.get(ns)?.metadata.labels,
      volumes: this.volumeInformers.deps,
      ...o.core,
      observer: (profile) => this.profileObserver(profile),
    });

    const onError = (what: string) => (err: unknown) => this.log.warn({ err: (err as Error).message, what }, 'list/watch failed');
    this.pcInformer = new Informer<PcObj>(client.resource<PcObj>({ group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', namespaced: false }), { onError: onError('priorityclasses') });
    this.nodeInformer = new Informer<NodeObj>(client.resource<NodeObj>(Resources.nodes), { onError: onError('nodes') });
    this.podInformer = new Informer<PodObj>(this.pods, { onError: onError('pods') });
    this.nodeInformer.addEventHandler({
      add: (n) => this.core.onNodeAdd(n),
      update: (o, n) => this.core.onNodeUpdate(n, o),
      delete: (n) => this.core.onNodeDelete(n),
    });
    this.podInformer.addEventHandler({
      add: (p) => this.core.onPodAdd(this.withPriority(p)),
      update: (old, p) => {
        if (old === p) return; // resync
        this.core.onPodUpdate(this.withPriority(old), this.withPriority(p));
      },
      delete: (p) => this.core.onPodDelete(this.withPriority(p)),
    });
  }

  /** Metrics (labelled with the profile) and logs of one profile's scheduling outcomes. */
  private profileObserver(profile: string): SchedulerObserver {
    const observer = this.metrics.observer(profile);
    return {
      ...observer,
      podFailed: (pod, message) => this.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, profile, message }, 'unable to schedule pod'),
      podScheduled: (pod, node, ms, attempts) => {
        observer.podScheduled?.(pod, node, ms, attempts);
        this.log.debug({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, profile, node, e2eMs: Math.round(ms), attempts }, 'pod bound');
      },
      bindFailed: (pod, err) => {
        observer.bindFailed?.(pod, err);
        this.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, profile, err }, 'binding failed');
      },
    };
  }

  /**
   * Resolves spec.priority (and preemptionPolicy) from the pod's PriorityClass, or the
   * global default class, as the Priority admission plugin would: the API server may
   * only have defaulted spec.priority to 0.
   */
  private withPriority(pod: PodObj): SchedulerPod {
    let pc: PcObj | undefined;
    if (pod.spec.priorityClassName) pc = this.pcInformer.get(pod.spec.priorityClassName);
    else if (!pod.spec.priority) pc = this.pcInformer.list().find((c) => c.globalDefault);
    if (!pc || (pod.spec.priority === pc.value && (!pc.preemptionPolicy || pod.spec.preemptionPolicy === pc.preemptionPolicy))) return pod;
    return { ...pod, spec: { ...pod.spec, priority: pc.value, preemptionPolicy: pc.preemptionPolicy ?? pod.spec.preemptionPolicy } };
  }

  private async patchPodStatus(pod: SchedulerPod, condition: WrittenPodCondition | null, nominated: string | null | undefined): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name!;
    const cur = this.podInformer.get(`${ns}/${name}`) ?? pod;
    const prev = condition ? (cur.status?.conditions ?? []).find((c: WrittenPodCondition) => c.type === condition.type) : undefined;
    const sameCondition = !condition || (prev && prev.status === condition.status && prev.reason === condition.reason && prev.message === condition.message);
    const nominatedChanged = nominated !== undefined && (cur.status?.nominatedNodeName ?? null) !== nominated;
    if (sameCondition && !nominatedChanged) return;
    const status: Record<string, unknown> = {};
    if (condition && !sameCondition) {
      const keepTransition = prev && prev.status === condition.status && prev.lastTransitionTime;
      // Strategic merge: conditions merge by type, so the node agent's conditions are left alone.
      status.conditions = [{ ...condition, lastTransitionTime: keepTransition ? prev.lastTransitionTime : condition.lastTransitionTime }];
    }
    if (nominatedChanged) status.nominatedNodeName = nominated;
    try {
      await this.pods.patch(ns, name, { status }, 'strategic', 'status');
    } catch (err) {
      if (ApiError.isNotFound(err)) return;
      throw err;
    }
  }

  /** Starts informers, the metrics endpoint and (after winning the election) scheduling. */
  async start(): Promise<void> {
    if (this.o.metricsPort !== undefined) {
      const stopping = staticCheck('shutdown', () => (this.stopped ? 'shutting down' : undefined));
      this.http = new ComponentServer({ registry: this.metrics.registry, health: HealthChecks.same([pingCheck, stopping]), log: this.log });
      this.metricsPort = await this.http.listen(this.o.metricsPort, this.o.metricsHost ?? '0.0.0.0');
    }
    this.pcInformer.start();
    this.nsInformer.start();
    this.nodeInformer.start();
    this.podInformer.start();
    this.volumeInformers.start();
    await Promise.all([
      this.volumeInformers.waitForSync().catch((err: Error) => this.log.warn({ err: err.message }, 'storage kinds not synced; VolumeBinding sees no claims')),
      this.nodeInformer.waitForSync(),
      this.podInformer.waitForSync(),
      this.nsInformer.waitForSync(),
      this.pcInformer.waitForSync().catch((err: Error) => this.log.warn({ err: err.message }, 'priorityclasses not served; using spec.priority only')),
    ]);
    this.timer = setInterval(() => this.core.housekeeping(), this.o.housekeepingIntervalMs ?? 1000);
    if (this.o.leaderElect === false) {
      this.startLeading();
      return;
    }
    this.elector = new LeaderElector(this.o.client, {
      namespace: this.o.leaseNamespace ?? 'kube-system',
      name: this.o.leaseName ?? 'kube-scheduler',
      identity: this.identity,
      leaseDurationMs: this.o.leaseDurationMs,
      renewDeadlineMs: this.o.renewDeadlineMs,
      retryPeriodMs: this.o.retryPeriodMs,
      onStartedLeading: () => this.startLeading(),
      onStoppedLeading: () => this.stopLeading(),
      onNewLeader: (id) => this.log.info({ leader: id }, 'new leader'),
    });
    this.elector.run();
  }

  isLeader(): boolean {
    return this.leading !== undefined;
  }

  private startLeading(): void {
    if (this.leading || this.stopped) return;
    this.log.info({ identity: this.identity }, 'started leading: scheduling');
    const ac = new AbortController();
    this.leading = ac;
    this.loop = (async () => {
      while (!ac.signal.aborted) {
        try {
          if (!(await this.core.scheduleOne(ac.signal))) break;
        } catch (err) {
          if (ac.signal.aborted || this.stopped) break;
          this.log.error({ err: (err as Error).message }, 'scheduling cycle failed');
        }
      }
    })();
  }

  private stopLeading(): void {
    if (!this.leading) return;
    this.log.warn({ identity: this.identity }, 'stopped leading: not scheduling');
    this.leading.abort();
    this.leading = undefined;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopLeading();
    await this.loop;
    await this.elector?.stop();
    if (this.timer) clearInterval(this.timer);
    this.podInformer.stop();
    this.nodeInformer.stop();
    this.pcInformer.stop();
    this.nsInformer.stop();
    this.volumeInformers.stop();
    await this.core.waitForBindings().catch(() => undefined);
    this.core.stop();
    await this.http?.close();
  }
}

// The pod lifecycle engine (kubelet core): reconciles the desired pods of the
// source against what CRI runs. Level-triggered: source events, a periodic
// relist of CRI (PLEG) that triggers pods whose containers changed, and a
// periodic full resync. On start it rebuilds its state from CRI: desired pods
// are adopted (nothing duplicated or killed), the rest is stopped and removed.
import { cpus, totalmem } from 'node:os';
import type { ApiPort, PodEvent } from './api_port.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { AgentPod, AgentPodStatus } from './api_types.js';
import { silentLogger, type Logger } from './logger.js';
import { readContainerLogs, type LogOptions } from './logs.js';
import { orphanGraceSeconds, PodWorker, type CriRuntime } from './pod_worker.js';
import { Backoff, KUBERNETES_CRASH_BACKOFF, type BackoffConfig } from './runtime/backoff.js';
import { runtimePrint } from './kuberuntime/runtime_observer.js';
import { MANAGED_BY_NODE, POD_NAME, POD_NAMESPACE, POD_UID } from './runtime/labels.js';
import { PrioritySemaphore } from './runtime/priority_semaphore.js';
import { podLogDir, type NodeContext } from './runtime/sandbox_config.js';
import { VolumeManager } from './runtime/volumes.js';

export interface PodLifecycleEngineOptions {
  nodeName: string;
  /** The node's address: status.hostIP, and podIP of hostNetwork pods. */
  nodeIP: string;
  cri: CriRuntime;
  api: ApiPort;
  /** The agent's state dir; volumes live in <rootDir>/pods/<uid>/volumes. */
  rootDir: string;
  /** Pod log dirs root (default /var/log/pods). */
  podLogsDir?: string;
  /** cgroupfs parent of pods (default "/<nodeName>"): pods run under "<cgroupRoot>/pod<uid>". */
  cgroupRoot?: string;
  /** Where cgroup v1 hierarchies are mounted (default /sys/fs/cgroup). */
  cgroupFsRoot?: string;
  clusterDNS?: string[];
  clusterDomain?: string;
  resolvConf?: string;
  clock?: Clock;
  logger?: Logger;
  /** CrashLoopBackOff (default Kubernetes': 10 s doubling to 5 min, reset after 10 min). */
  crashBackoff?: Partial<BackoffConfig>;
  /** Image pull back-off (default the same as Kubernetes' crash back-off). */
  imagePullBackoff?: Partial<BackoffConfig>;
  /** CRI relist period (default 1 s). */
  relistIntervalMs?: number;
  /** Full resync period of every pod (default 10 s). */
  resyncIntervalMs?: number;
  /**
   * RunPodSandbox/CreateContainer/StartContainer calls in flight across all
   * pods (default 4; 0: unbounded). Calls of pods further along go first.
   */
  startConcurrency?: number;
  volumeRefreshMs?: number;
  /** Node allocatable for resourceFieldRef without limits (default: this machine). */
  allocatable?: { cpuMilli: number; memoryBytes: number };
  /** imagePullPolicy Always falls back to a present image when the pull fails (default true: no registry here). */
  pullFallbackToPresent?: boolean;
}

const DEFAULT_START_CONCURRENCY = 4;

/** What a sync depends on: spec and metadata, without status and the fields every write bumps. */
function syncRelevant(pod: AgentPod): string {
  const { resourceVersion: _rv, managedFields: _mf, generation: _g, ...meta } = pod.metadata as AgentPod['metadata'] & Record<string, unknown>;
  return JSON.stringify([meta, pod.spec]);
}

/**
 * Whether an update of the pod needs a sync. Updates that only change the
 * status (the echo of the worker's own status writes) do not, as in kubelet,
 * where status-only updates are not passed to the pod workers.
 */
export function needsSync(old: AgentPod, cur: AgentPod): boolean {
  return syncRelevant(old) !== syncRelevant(cur);
}

export class PodLifecycleEngine {
  private readonly workers = new Map<string, PodWorker>();
  private readonly clock: Clock;
  private readonly log: Logger;
  readonly node: NodeContext;
  private readonly volumes: VolumeManager;
  private readonly crashBackoff: Backoff;
  private readonly imageBackoff: Backoff;
  private readonly startGate: PrioritySemaphore;
  private unsubscribe?: () => void;
  private relistTimer?: TimerHandle;
  private resyncTimer?: TimerHandle;
  private fingerprints = new Map<string, string>();
  private started = false;
  private stopped = false;
  private relisting = false;

  constructor(private readonly opts: PodLifecycleEngineOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ component: 'pod-engine', node: opts.nodeName });
    this.node = {
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIP,
      podLogsDir: opts.podLogsDir ?? '/var/log/pods',
      cgroupRoot: opts.cgroupRoot ?? `/${opts.nodeName}`,
      clusterDNS: opts.clusterDNS ?? [],
      clusterDomain: opts.clusterDomain ?? 'cluster.local',
      resolvConf: opts.resolvConf ?? '/etc/resolv.conf',
    };
    this.volumes = new VolumeManager(opts.rootDir, opts.api);
    this.crashBackoff = new Backoff(this.clock, { ...KUBERNETES_CRASH_BACKOFF, ...opts.crashBackoff });
    this.imageBackoff = new Backoff(this.clock, { ...KUBERNETES_CRASH_BACKOFF, ...opts.imagePullBackoff });
    this.startGate = new PrioritySemaphore(opts.startConcurrency ?? DEFAULT_START_CONCURRENCY);
  }

  /** Rebuilds state from CRI, adopts desired pods, cleans up the others, starts the loops. */
  async start(): Promise<void> {
    if (this.started) throw new Error('engine already started');
    this.started = true;
    this.unsubscribe = this.opts.api.watchPods((e) => this.onPodEvent(e));
    const desired = await this.opts.api.listPods();
    for (const pod of desired) this.onPodEvent({ type: 'ADDED', pod });
    await this.relist();
    this.scheduleRelist();
    this.scheduleResync();
    this.log.info({ pods: desired.length }, 'pod engine started');
  }

  /** Stops loops, probes and workers; running pods are left running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.relistTimer?.cancel();
    this.resyncTimer?.cancel();
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }

  /** The last status computed for a pod uid. */
  podStatus(uid: string): AgentPodStatus | undefined {
    return this.workers.get(uid)?.status;
  }

  /** uids the engine currently manages (including pods being terminated). */
  podUids(): string[] {
    return [...this.workers.keys()];
  }

  /** Resolves when every worker is idle (tests). */
  async whenIdle(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.whenIdle()));
  }

  /** Container logs of a pod this engine runs (for the `kubectl logs` endpoint). */
  async *logs(namespace: string, name: string, container: string | undefined, opts: LogOptions = {}): AsyncGenerator<string> {
    const w = [...this.workers.values()].find((x) => x.namespace === namespace && x.name === name);
    if (!w) throw Object.assign(new Error(`pod ${namespace}/${name} not found on node ${this.node.nodeName}`), { code: 'NotFound' });
    const cname = container ?? w.pod.spec.containers[0]?.name ?? '';
    const dir = podLogDir(this.node, { namespace, name, uid: w.uid });
    const isRunning = async (): Promise<boolean> => {
      const cs = await this.opts.cri.listContainers({ label_selector: { [POD_UID]: w.uid } });
      return cs.some((c) => c.metadata?.name === cname && c.state === 'CONTAINER_RUNNING');
    };
    yield* readContainerLogs(dir, cname, { ...opts, isRunning: opts.isRunning ?? isRunning, clock: this.clock });
  }

  private onPodEvent(e: PodEvent): void {
    if (this.stopped) return;
    const pod = e.pod;
    const uid = pod.metadata.uid;
    const mine = !pod.spec.nodeName || pod.spec.nodeName === this.node.nodeName;
    const existing = this.workers.get(uid);
    if (e.type === 'DELETED' || !mine) {
      existing?.markRemoved();
      return;
    }
    if (existing) existing.update(pod, needsSync(existing.pod, pod));
    else this.addWorker(pod).trigger();
  }

  private addWorker(pod: AgentPod, orphan?: { graceSeconds: number }): PodWorker {
    const w = new PodWorker(
      pod,
      {
        cri: this.opts.cri,
        api: this.opts.api,
        clock: this.clock,
        log: this.log,
        node: this.node,
        volumes: this.volumes,
        crashBackoff: this.crashBackoff,
        imageBackoff: this.imageBackoff,
        memoryCapacity: totalmem(),
        allocatable: this.opts.allocatable ?? { cpuMilli: cpus().length * 1000, memoryBytes: totalmem() },
        cgroupFsRoot: this.opts.cgroupFsRoot ?? '/sys/fs/cgroup',
        pullFallbackToPresent: this.opts.pullFallbackToPresent ?? true,
        volumeRefreshMs: this.opts.volumeRefreshMs ?? 60_000,
        startGate: this.startGate,
        onFinished: (uid) => {
          if (this.workers.get(uid) === w) this.workers.delete(uid);
        },
      },
      orphan ? { orphan: true, graceSeconds: orphan.graceSeconds } : {},
    );
    this.workers.set(pod.metadata.uid, w);
    return w;
  }

  /** PLEG: one list of sandboxes and containers; triggers pods whose runtime state changed, removes orphans. */
  private async relist(): Promise<void> {
    if (this.relisting) return;
    this.relisting = true;
    try {
      const [sandboxes, containers] = await Promise.all([this.opts.cri.listPodSandbox(), this.opts.cri.listContainers()]);
      const prints = new Map<string, { sandboxes: { id: string; state: string }[]; containers: { id: string; state: string }[] }>();
      const printOf = (uid: string) => prints.get(uid) ?? prints.set(uid, { sandboxes: [], containers: [] }).get(uid)!;
      const orphanMeta = new Map<string, { name: string; namespace: string; grace: number }>();
      for (const sb of sandboxes) {
        const uid = sb.labels[POD_UID];
        if (!uid || sb.labels[MANAGED_BY_NODE] !== this.node.nodeName) continue;
        printOf(uid).sandboxes.push(sb);
        if (!this.workers.has(uid)) {
          orphanMeta.set(uid, {
            name: sb.labels[POD_NAME] ?? sb.metadata?.name ?? uid,
            namespace: sb.labels[POD_NAMESPACE] ?? sb.metadata?.namespace ?? 'default',
            grace: orphanMeta.get(uid)?.grace ?? 30,
          });
        }
      }
      for (const c of containers) {
        const uid = c.labels[POD_UID];
        if (!uid || c.labels[MANAGED_BY_NODE] !== this.node.nodeName) continue;
        printOf(uid).containers.push(c);
        if (!this.workers.has(uid)) {
          const m = orphanMeta.get(uid) ?? {
            name: c.labels[POD_NAME] ?? uid,
            namespace: c.labels[POD_NAMESPACE] ?? 'default',
            grace: 30,
          };
          m.grace = orphanGraceSeconds(c.annotations);
          orphanMeta.set(uid, m);
        }
      }
      const next = new Map<string, string>();
      for (const [uid, p] of prints) next.set(uid, runtimePrint(p.sandboxes, p.containers));
      for (const [uid, fp] of next) {
        // A change the worker has already seen (typically its own: the containers it just started) needs no sync.
        const w = this.workers.get(uid);
        if (w && this.fingerprints.get(uid) !== fp && w.observedRuntime !== fp) w.trigger();
      }
      this.fingerprints = next;
      for (const [uid, m] of orphanMeta) {
        if (this.workers.has(uid) || this.stopped) continue;
        this.log.info({ uid, pod: `${m.namespace}/${m.name}` }, 'removing a pod that is no longer desired');
        const stub: AgentPod = { metadata: { uid, name: m.name, namespace: m.namespace }, spec: { containers: [], terminationGracePeriodSeconds: m.grace } };
        this.addWorker(stub, { graceSeconds: m.grace }).trigger();
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'relist failed');
    } finally {
      this.relisting = false;
    }
  }

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.relistTimer = this.clock.setTimeout(() => {
      void this.relist().finally(() => this.scheduleRelist());
    }, this.opts.relistIntervalMs ?? 1_000);
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      for (const w of this.workers.values()) w.trigger();
      this.scheduleResync();
    }, this.opts.resyncIntervalMs ?? 10_000);
  }
}

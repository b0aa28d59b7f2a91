// One worker per pod uid: syncs are serialised (never two at once for a pod),
// level-triggered (each sync reads CRI and decides from scratch) and re-run
// whenever triggered while busy. Kills and cleans up the pod once it is
// deleted or no longer desired.
import { mkdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiPort } from './api_port.js';
import { nsToMs, type Clock, type TimerHandle } from './clock.js';
import type { CriClient } from './cri/cri_client.js';
import { CriError } from './cri/cri_error.js';
import type { Container as CriContainer, DeepPartial, PodSandboxConfig } from './cri/types.js';
import type { Container, EventType, Pod, PodStatus } from './k8s_types.js';
import type { Logger } from './logger.js';
import type { Backoff } from './runtime/backoff.js';
import type { PrioritySemaphore } from './runtime/priority_semaphore.js';
import { removeCgroup } from './runtime/cgroup.js';
import { buildContainerConfig, containerLogPath } from './runtime/container_config.js';
import { resolveEnv } from './runtime/env.js';
import { ContainerStartError, VolumeSetupError } from './runtime/errors.js';
import { runHandler } from './runtime/handler.js';
import { CONTAINER_KIND, CONTAINER_NAME, POD_UID, RESTART_COUNT, TERMINATION_GRACE } from './runtime/labels.js';
import { ContainerProbes, type ProbeChange } from './runtime/prober.js';
import { buildSandboxConfig, podCgroupParent, podLogDir, type NodeContext } from './runtime/sandbox_config.js';
import type { PreparedVolume, VolumeManager } from './runtime/volumes.js';
import {
  computePodStatus,
  instancesOf,
  shouldRestart,
  shouldRestartInit,
  statusEqual,
  type ContainerWorkerState,
  type ObservedContainer,
  type ObservedSandbox,
} from './status.js';

export type CriRuntime = Pick<
  CriClient,
  | 'runPodSandbox'
  | 'stopPodSandbox'
  | 'removePodSandbox'
  | 'podSandboxStatus'
  | 'listPodSandbox'
  | 'createContainer'
  | 'startContainer'
  | 'stopContainer'
  | 'removeContainer'
  | 'listContainers'
  | 'containerStatus'
  | 'execSync'
  | 'imageStatus'
  | 'pullImage'
>;

export interface WorkerDeps {
  cri: CriRuntime;
  api: ApiPort;
  clock: Clock;
  log: Logger;
  node: NodeContext;
  volumes: VolumeManager;
  crashBackoff: Backoff;
  imageBackoff: Backoff;
  memoryCapacity: number;
  allocatable: { cpuMilli: number; memoryBytes: number };
  cgroupFsRoot: string;
  /** With imagePullPolicy Always, run the present image when the pull fails (no registry here). */
  pullFallbackToPresent: boolean;
  /** How often configMap/secret volume contents are refreshed (ms). */
  volumeRefreshMs: number;
  /** Bounds RunPodSandbox / CreateContainer / StartContainer across pods (see START_PRIORITY). */
  startGate?: PrioritySemaphore;
  /** Called once the pod is terminated and cleaned up. */
  onFinished(uid: string): void;
}

/** Priorities at the start gate: calls of pods further along go first. */
export const START_PRIORITY = { startContainer: 0, createContainer: 1, runPodSandbox: 2 } as const;

interface Observation {
  sandbox?: ObservedSandbox;
  sandboxes: { id: string; ready: boolean; createdAt: number; attempt: number }[];
  containers: ObservedContainer[];
}

const MIN_GRACE_AFTER_PRESTOP_S = 2;

/** When (clock ms) a new pod went through each startup phase; logged once every container runs and that status is written. */
interface StartupTrace {
  seen: number;
  sync?: number;
  /** RunPodSandbox asked for (before the start gate), and sent (after it). */
  sandbox?: number;
  sandboxSent?: number;
  sandboxReady?: number;
  createSent?: number;
  created?: number;
  startSent?: number;
  started?: number;
}

function mapState(s: string): ObservedContainer['state'] {
  switch (s) {
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    case 'CONTAINER_CREATED':
      return 'created';
    default:
      return 'unknown';
  }
}

function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const last = image.split('/').pop() ?? image;
  if (image.includes('@')) return 'IfNotPresent';
  const tag = last.includes(':') ? last.split(':').pop() : undefined;
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

export class PodWorker {
  pod: Pod;
  readonly uid: string;
  /** The pod is gone from the source (or found orphaned in CRI). */
  private removed = false;
  private removedGraceSeconds?: number;
  private running = false;
  private dirty = false;
  private finished = false;
  private idleWaiters: (() => void)[] = [];
  private lastStatus?: PodStatus;
  private readonly containerState: Record<string, ContainerWorkerState> = {};
  private readonly probes = new Map<string, ContainerProbes>();
  private preparedVolumes?: Map<string, PreparedVolume>;
  private volumesRefreshedAt = 0;
  private startTime?: number;
  private retryTimer?: TimerHandle;
  private retryAt = Infinity;
  private readonly sandboxIPs = new Map<string, string>();
  /** Restart counts carried over from containers of a replaced sandbox. */
  private readonly restartBase: Record<string, number> = {};
  private stopped = false;
  private readonly log: Logger;
  private terminating = false;
  private startup?: StartupTrace;

  constructor(
    pod: Pod,
    private readonly deps: WorkerDeps,
    opts: { orphan?: boolean; graceSeconds?: number } = {},
  ) {
    this.pod = pod;
    this.uid = pod.metadata.uid;
    this.lastStatus = pod.status && Object.keys(pod.status).length > 0 ? pod.status : undefined;
    this.log = deps.log.child({ pod: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, uid: this.uid });
    if (opts.orphan) {
      this.removed = true;
      this.removedGraceSeconds = opts.graceSeconds;
    } else if (!this.lastStatus?.containerStatuses?.length) {
      this.startup = { seen: deps.clock.now() };
    }
  }

  get namespace(): string {
    return this.pod.metadata.namespace ?? 'default';
  }

  get name(): string {
    return this.pod.metadata.name;
  }

  /** The status this worker last computed (and wrote, unless the pod is gone). */
  get status(): PodStatus | undefined {
    return this.lastStatus;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** A newer version of the pod; sync unless told it changed nothing a sync depends on. */
  update(pod: Pod, sync = true): void {
    if (this.removed) return;
    this.pod = pod;
    if (sync) this.trigger();
  }

  /** The pod left the source: terminate with its grace period (or the given one). */
  markRemoved(graceSeconds?: number): void {
    this.removed = true;
    this.removedGraceSeconds = graceSeconds;
    this.trigger();
  }

  trigger(): void {
    if (this.finished || this.stopped) return;
    this.dirty = true;
    if (!this.running) void this.loop();
  }

  /** Stops timers and probes without touching the pod (agent shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.retryTimer?.cancel();
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
    await this.whenIdle();
  }

  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  onProbeChange(change: ProbeChange): void {
    const ws = (this.containerState[change.containerName] ??= {});
    if (change.kind === 'readiness') ws.ready = change.result === 'success';
    if (change.kind === 'startup') ws.started = change.result === 'success';
    this.trigger();
  }

  private onProbeFailedRun(change: ProbeChange): void {
    const kind = change.kind[0]!.toUpperCase() + change.kind.slice(1);
    this.event('Warning', 'Unhealthy', `${kind} probe failed: ${change.output.trim()}`, `spec.containers{${change.containerName}}`);
  }

  hasContainer(id: string): boolean {
    return this.probes.has(id);
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.dirty && !this.finished && !this.stopped) {
        this.dirty = false;
        try {
          if (this.removed || this.pod.metadata.deletionTimestamp) await this.terminate();
          else await this.sync();
        } catch (err) {
          this.log.warn({ err: String(err) }, 'pod sync failed; retrying');
          this.scheduleRetry(this.deps.clock.now() + 1_000);
        }
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters.splice(0);
      for (const w of waiters) w();
    }
  }

  private scheduleRetry(at: number): void {
    if (this.stopped || this.finished) return;
    if (at >= this.retryAt && this.retryTimer) return;
    this.retryTimer?.cancel();
    this.retryAt = at;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.retryAt = Infinity;
      this.trigger();
    }, at - this.deps.clock.now() + 5);
  }

  private gated<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    return this.deps.startGate ? this.deps.startGate.run(priority, fn) : fn();
  }

  private event(type: EventType, reason: string, message: string, fieldPath?: string): void {
    const ref = {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: this.namespace,
      name: this.name,
      uid: this.uid,
      ...(fieldPath ? { fieldPath } : {}),
    };
    this.deps.api.recordEvent(ref, type, reason, message).catch((err) => this.log.warn({ err: String(err) }, 'recordEvent failed'));
  }

  // ---------------------------------------------------------------- observe

  private async observe(): Promise<Observation> {
    const { cri } = this.deps;
    const [sandboxes, containers] = await Promise.all([
      cri.listPodSandbox({ label_selector: { [POD_UID]: this.uid } }),
      cri.listContainers({ label_selector: { [POD_UID]: this.uid } }),
    ]);
    const sbs = sandboxes
      .map((s) => ({ id: s.id, ready: s.state === 'SANDBOX_READY', createdAt: nsToMs(s.created_at), attempt: s.metadata?.attempt ?? 0 }))
      .sort((a, b) => b.createdAt - a.createdAt);
    const observed = (await Promise.all(containers.map((c) => this.observeContainer(c)))).filter(
      (c): c is ObservedContainer => c !== undefined,
    );
    let sandbox: ObservedSandbox | undefined;
    const newest = sbs[0];
    if (newest) {
      let ip = this.sandboxIPs.get(newest.id);
      if (ip === undefined && newest.ready) {
        const st = await cri.podSandboxStatus(newest.id).catch(() => undefined);
        ip = st?.status?.network?.ip ?? '';
        this.sandboxIPs.set(newest.id, ip);
      }
      sandbox = { id: newest.id, ready: newest.ready, ip: ip ?? '', createdAt: newest.createdAt };
    }
    return { sandbox, sandboxes: sbs, containers: observed };
  }

  private async observeContainer(c: CriContainer): Promise<ObservedContainer | undefined> {
    let st;
    try {
      st = (await this.deps.cri.containerStatus(c.id)).status;
    } catch (err) {
      if (err instanceof CriError && err.isNotFound) return undefined;
      throw err;
    }
    if (!st) return undefined;
    return {
      id: c.id,
      name: c.labels[CONTAINER_NAME] ?? c.metadata?.name ?? '',
      kind: c.annotations[CONTAINER_KIND] === 'init' ? 'init' : 'regular',
      restartCount: Number(c.annotations[RESTART_COUNT] ?? c.metadata?.attempt ?? 0),
      state: mapState(st.state),
      createdAt: nsToMs(st.created_at),
      startedAt: nsToMs(st.started_at),
      finishedAt: nsToMs(st.finished_at),
      exitCode: st.exit_code,
      reason: st.reason,
      message: st.message,
      image: st.image?.image ?? c.image?.image ?? '',
      imageRef: st.image_ref || c.image_ref,
    };
  }

  // ---------------------------------------------------------------- sync

  private sandboxConfig(attempt: number): DeepPartial<PodSandboxConfig> {
    return buildSandboxConfig(this.pod, this.deps.node, attempt);
  }

  private async sync(): Promise<void> {
    const { clock, cri } = this.deps;
    this.log.debug({}, 'sync');
    this.startTime ??= clock.now();
    if (this.startup) this.startup.sync ??= clock.now();
    let obs = await this.observe();
    const prevPhase = this.lastStatus?.phase;
    const terminalPhase = prevPhase === 'Succeeded' || prevPhase === 'Failed';

    if (terminalPhase) {
      // Done: nothing restarts; stop what still runs (kubelet kills the sandbox of a finished pod).
      this.stopProbesExcept(new Set());
      for (const c of obs.containers.filter((c) => c.state === 'running')) await this.killContainer(c, 0, undefined, 'Stopping container');
      for (const sb of obs.sandboxes.filter((s) => s.ready)) await cri.stopPodSandbox(sb.id).catch(() => undefined);
      if (obs.sandboxes.some((s) => s.ready) || obs.containers.some((c) => c.state === 'running')) obs = await this.observe();
      await this.publish(obs);
      return;
    }

    if (obs.sandbox && !obs.sandbox.ready) {
      // Confirm a not-ready sandbox with its own status before replacing it.
      const st = await cri.podSandboxStatus(obs.sandbox.id).catch(() => undefined);
      if (st?.status?.state === 'SANDBOX_READY') obs = await this.observe();
      this.log.warn({ sandbox: obs.sandbox?.id, ready: obs.sandbox?.ready }, 'sandbox not ready');
    }
    if (!obs.sandbox || !obs.sandbox.ready) {
      const policy = this.pod.spec.restartPolicy ?? 'Always';
      if (obs.sandbox && policy === 'Never' && obs.containers.length > 0) {
        // The sandbox died after containers ran: a Never pod is not recreated.
        await this.publish(obs, true);
        return;
      }
      const fresh = obs.sandboxes.length === 0 && obs.containers.length === 0;
      const id = await this.createSandbox(obs);
      if (id === undefined) return;
      // A first sandbox: its own status is the whole observation (one call instead of two lists and a status).
      obs = (fresh && (await this.observeNewSandbox(id))) || (await this.observe());
      if (!obs.sandbox?.ready) throw new Error('sandbox not ready right after creation');
    } else if (clock.now() - this.volumesRefreshedAt > this.deps.volumeRefreshMs || !this.preparedVolumes) {
      try {
        await this.setUpVolumes();
      } catch (err) {
        if (!(err instanceof VolumeSetupError)) throw err;
        this.log.warn({ err: err.message }, 'volume refresh failed');
      }
    }
    const sandbox = obs.sandbox!;

    // Probes follow the running instances; failed liveness/startup probes kill.
    const runningIds = new Set(obs.containers.filter((c) => c.state === 'running').map((c) => c.id));
    this.stopProbesExcept(runningIds);
    let killed = false;
    for (const c of obs.containers) {
      if (c.state !== 'running' || c.kind !== 'regular') continue;
      const spec = this.pod.spec.containers.find((s) => s.name === c.name);
      if (!spec) continue;
      const probes = this.ensureProbes(c, spec, sandbox.ip);
      const failedProbe = probes?.result('liveness') === 'failure' ? 'liveness' : probes?.result('startup') === 'failure' ? 'startup' : undefined;
      if (failedProbe) {
        this.event('Normal', 'Killing', `Container ${c.name} failed ${failedProbe} probe, will be restarted`, `spec.containers{${c.name}}`);
        probes!.stop();
        this.probes.delete(c.id);
        await this.killContainer(c, this.probeGrace(spec), spec);
        killed = true;
      }
    }
    if (killed) obs = await this.observe();

    // Init containers in order, one at a time.
    let initDone = true;
    for (const ic of this.pod.spec.initContainers ?? []) {
      const [latest] = instancesOf(obs.containers, ic.name, 'init');
      if (latest?.state === 'exited' && latest.exitCode === 0) continue;
      initDone = false;
      if (latest?.state === 'running') break;
      if (!shouldRestartInit(this.pod, latest)) break;
      await this.startWithBackoff(ic, 'init', latest, obs, sandbox);
      break;
    }
    if (initDone) {
      for (const c of this.pod.spec.containers) {
        const [latest] = instancesOf(obs.containers, c.name, 'regular');
        if (!shouldRestart(this.pod, latest)) continue;
        await this.startWithBackoff(c, 'regular', latest, obs, sandbox);
      }
    }
    obs = await this.observe();
    // Probes for containers started in this sync.
    for (const c of obs.containers) {
      if (c.state !== 'running' || c.kind !== 'regular') continue;
      const spec = this.pod.spec.containers.find((s) => s.name === c.name);
      if (spec) this.ensureProbes(c, spec, obs.sandbox?.ip ?? '');
    }
    await this.publish(obs);
    await this.collectGarbage(obs);
  }

  private probeGrace(spec: Container): number {
    return spec.livenessProbe?.terminationGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  private ensureProbes(c: ObservedContainer, spec: Container, podIP: string): ContainerProbes | undefined {
    if (!spec.livenessProbe && !spec.readinessProbe && !spec.startupProbe) return undefined;
    let p = this.probes.get(c.id);
    if (!p) {
      const ws = (this.containerState[c.name] ??= {});
      ws.ready = false;
      ws.started = false;
      p = new ContainerProbes(
        c.id,
        spec,
        () => ({ containerId: c.id, podIP: this.pod.spec.hostNetwork ? this.deps.node.nodeIP : podIP, container: spec }),
        this.deps.clock,
        this.deps.cri,
        (change) => this.onProbeChange(change),
        (change) => this.onProbeFailedRun(change),
      );
      this.probes.set(c.id, p);
    }
    return p;
  }

  private stopProbesExcept(ids: Set<string>): void {
    for (const [id, p] of this.probes) {
      if (!ids.has(id)) {
        p.stop();
        this.probes.delete(id);
      }
    }
  }

  private async setUpVolumes(): Promise<Map<string, PreparedVolume>> {
    this.preparedVolumes = await this.deps.volumes.setUp(this.pod);
    this.volumesRefreshedAt = this.deps.clock.now();
    return this.preparedVolumes;
  }

  /** The observation of a pod whose only runtime object is the sandbox just created (undefined: observe in full). */
  private async observeNewSandbox(id: string): Promise<Observation | undefined> {
    const st = (await this.deps.cri.podSandboxStatus(id).catch(() => undefined))?.status;
    if (!st || st.state !== 'SANDBOX_READY') return undefined;
    const ip = st.network?.ip ?? '';
    this.sandboxIPs.set(id, ip);
    const createdAt = nsToMs(st.created_at);
    return {
      sandbox: { id, ready: true, ip, createdAt },
      sandboxes: [{ id, ready: true, createdAt, attempt: st.metadata?.attempt ?? 0 }],
      containers: [],
    };
  }

  /** Creates a new sandbox (replacing a dead one); its id, undefined when it could not (status written, retry scheduled). */
  private async createSandbox(obs: Observation): Promise<string | undefined> {
    const { cri, clock } = this.deps;
    // A dead sandbox is replaced: its containers are killed, their restart counts carried over.
    for (const c of obs.containers) {
      this.restartBase[c.name] = Math.max(this.restartBase[c.name] ?? 0, c.restartCount + (c.state === 'exited' ? 1 : 0));
      if (c.state === 'running') await this.killContainer(c, 0, undefined);
    }
    for (const sb of obs.sandboxes) {
      await cri.stopPodSandbox(sb.id).catch(() => undefined);
      await cri.removePodSandbox(sb.id).catch(() => undefined);
    }
    if (obs.sandboxes.length > 0) this.event('Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
    try {
      await this.setUpVolumes();
    } catch (err) {
      if (!(err instanceof VolumeSetupError)) throw err;
      this.event('Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${err.volume}" : ${err.message}`);
      await this.publish(await this.observe());
      this.scheduleRetry(clock.now() + 2_000);
      return undefined;
    }
    const attempt = obs.sandboxes.length > 0 ? Math.max(...obs.sandboxes.map((s) => s.attempt)) + 1 : 0;
    const cfg = this.sandboxConfig(attempt);
    await mkdir(cfg.log_directory!, { recursive: true, mode: 0o755 });
    try {
      if (this.startup) this.startup.sandbox ??= clock.now();
      const id = await this.gated(START_PRIORITY.runPodSandbox, () => {
        if (this.startup) this.startup.sandboxSent ??= clock.now();
        return cri.runPodSandbox(cfg);
      });
      if (this.startup) this.startup.sandboxReady ??= clock.now();
      this.log.info({ sandbox: id }, 'sandbox created');
      return id;
    } catch (err) {
      const msg = err instanceof CriError ? err.details : String(err);
      this.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
      this.log.warn({ err: msg }, 'RunPodSandbox failed');
      await this.publish(await this.observe());
      this.scheduleRetry(clock.now() + 2_000);
      return undefined;
    }
  }

  private async startWithBackoff(
    spec: Container,
    kind: 'init' | 'regular',
    latest: ObservedContainer | undefined,
    obs: Observation,
    sandbox: ObservedSandbox,
  ): Promise<void> {
    const { crashBackoff, clock, cri } = this.deps;
    const ws = (this.containerState[spec.name] ??= {});
    let restartCount = this.restartBase[spec.name] ?? 0;
    if (latest?.state === 'unknown') {
      // The runtime could not tell (e.g. under load): never replace what may still run; look again soon.
      this.log.warn({ container: spec.name, id: latest.id }, 'container state unknown; retrying');
      this.scheduleRetry(clock.now() + 1_000);
      return;
    }
    if (latest) {
      if (latest.state === 'created') {
        // Never started (e.g. the agent stopped in between): replace it.
        await cri.removeContainer(latest.id).catch(() => undefined);
        restartCount = latest.restartCount;
      } else {
        restartCount = latest.restartCount + 1;
        const key = `${this.uid}/${spec.name}`;
        const failedAt = latest.finishedAt || clock.now();
        const until = crashBackoff.backingOffUntil(key, failedAt);
        if (until !== undefined) {
          const delayS = Math.round(crashBackoff.delayMs(key) / 1000);
          const message = `back-off ${delayS < 60 ? `${delayS}s` : `${Math.floor(delayS / 60)}m${delayS % 60}s`} restarting failed container=${spec.name} pod=${this.name}_${this.namespace}(${this.uid})`;
          if (ws.waiting?.reason !== 'CrashLoopBackOff') {
            this.event('Warning', 'BackOff', `Back-off restarting failed container ${spec.name} in pod ${this.name}_${this.namespace}(${this.uid})`);
          }
          ws.waiting = { reason: 'CrashLoopBackOff', message };
          this.scheduleRetry(until);
          return;
        }
        crashBackoff.next(key, failedAt);
      }
    }
    await this.startContainer(spec, kind, restartCount, sandbox, obs);
  }

  private fieldPath(spec: Container, kind: 'init' | 'regular'): string {
    return kind === 'init' ? `spec.initContainers{${spec.name}}` : `spec.containers{${spec.name}}`;
  }

  private async ensureImage(spec: Container, kind: 'init' | 'regular'): Promise<string> {
    const { cri, imageBackoff, clock } = this.deps;
    const image = spec.image ?? '';
    const fp = this.fieldPath(spec, kind);
    if (!image) throw new ContainerStartError('InvalidImageName', 'image is empty');
    const policy = spec.imagePullPolicy ?? defaultPullPolicy(image);
    const present = (await cri.imageStatus(image)).image;
    if (policy === 'Never') {
      if (!present) {
        const msg = `Container image "${image}" is not present with pull policy of Never`;
        this.event('Warning', 'ErrImageNeverPull', msg, fp);
        throw new ContainerStartError('ErrImageNeverPull', msg);
      }
      return present.id;
    }
    if (policy === 'IfNotPresent' && present) {
      this.event('Normal', 'Pulled', `Container image "${image}" already present on machine`, fp);
      return present.id;
    }
    const key = `${this.uid}/${image}`;
    if (imageBackoff.backingOffSinceUpdate(key) !== undefined) {
      const msg = `Back-off pulling image "${image}"`;
      this.event('Normal', 'BackOff', msg, fp);
      throw new ContainerStartError('ImagePullBackOff', msg);
    }
    this.event('Normal', 'Pulling', `Pulling image "${image}"`, fp);
    const t0 = clock.now();
    try {
      const ref = await cri.pullImage(image, undefined, this.sandboxConfig(0), { timeoutMs: 300_000 });
      imageBackoff.reset(key);
      this.event('Normal', 'Pulled', `Successfully pulled image "${image}" in ${clock.now() - t0}ms`, fp);
      return ref;
    } catch (err) {
      const msg = err instanceof CriError ? err.details : String(err);
      if (policy === 'Always' && present && this.deps.pullFallbackToPresent) {
        this.event('Normal', 'Pulled', `Container image "${image}" already present on machine (pull failed: ${msg})`, fp);
        return present.id;
      }
      imageBackoff.next(key, clock.now());
      this.event('Warning', 'Failed', `Failed to pull image "${image}": ${msg}`, fp);
      this.event('Warning', 'Failed', 'Error: ErrImagePull', fp);
      throw new ContainerStartError('ErrImagePull', msg, { cause: err });
    }
  }

  private async startContainer(
    spec: Container,
    kind: 'init' | 'regular',
    restartCount: number,
    sandbox: ObservedSandbox,
    obs: Observation,
  ): Promise<void> {
    const { cri, node } = this.deps;
    const ws = (this.containerState[spec.name] ??= {});
    const fp = this.fieldPath(spec, kind);
    const attempt = obs.sandboxes[0]?.attempt ?? 0;
    const sandboxCfg = this.sandboxConfig(attempt);
    let id: string;
    try {
      const image = await this.ensureImage(spec, kind);
      const env = await resolveEnv(this.pod, spec, {
        config: this.deps.api,
        nodeName: node.nodeName,
        hostIP: node.nodeIP,
        podIP: this.pod.spec.hostNetwork ? node.nodeIP : sandbox.ip,
        allocatable: this.deps.allocatable,
      });
      const volumes = this.preparedVolumes ?? (await this.setUpVolumes());
      const mounts = await this.deps.volumes.mountsFor(spec, volumes, env);
      const cfg = buildContainerConfig(this.pod, spec, {
        kind,
        restartCount,
        image,
        env,
        mounts,
        nodeName: node.nodeName,
        memoryCapacity: this.deps.memoryCapacity,
      });
      await mkdir(join(sandboxCfg.log_directory!, spec.name), { recursive: true, mode: 0o755 });
      try {
        id = await this.gated(START_PRIORITY.createContainer, () => {
          if (this.startup) this.startup.createSent = this.deps.clock.now();
          return cri.createContainer(sandbox.id, cfg, sandboxCfg);
        });
        if (this.startup) this.startup.created = this.deps.clock.now();
      } catch (err) {
        throw new ContainerStartError('CreateContainerError', err instanceof CriError ? err.details : String(err), { cause: err });
      }
    } catch (err) {
      if (err instanceof VolumeSetupError) {
        this.event('Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${err.volume}" : ${err.message}`);
        ws.waiting = { reason: 'ContainerCreating', message: '' };
        this.scheduleRetry(this.deps.clock.now() + 2_000);
        return;
      }
      if (!(err instanceof ContainerStartError)) throw err;
      ws.waiting = { reason: err.code, message: err.message };
      if (err.code !== 'ErrImagePull' && err.code !== 'ImagePullBackOff' && err.code !== 'ErrImageNeverPull') {
        this.event('Warning', 'Failed', `Error: ${err.message}`, fp);
      }
      this.log.warn({ container: spec.name, reason: err.code, err: err.message }, 'container not started');
      this.scheduleRetry(this.deps.clock.now() + (err.code === 'ImagePullBackOff' || err.code === 'ErrImagePull' ? 1_000 : 2_000));
      return;
    }
    this.event('Normal', 'Created', `Created container ${spec.name}`, fp);
    try {
      await this.gated(START_PRIORITY.startContainer, () => {
        if (this.startup) this.startup.startSent = this.deps.clock.now();
        return cri.startContainer(id);
      });
      if (this.startup) this.startup.started = this.deps.clock.now();
    } catch (err) {
      const msg = err instanceof CriError ? err.details : String(err);
      ws.waiting = { reason: 'RunContainerError', message: msg };
      this.event('Warning', 'Failed', `Error: ${msg}`, fp);
      this.log.warn({ container: spec.name, err: msg }, 'StartContainer failed');
      this.scheduleRetry(this.deps.clock.now() + 1_000);
      return;
    }
    ws.waiting = undefined;
    this.event('Normal', 'Started', `Started container ${spec.name}`, fp);
    this.log.debug({ container: spec.name, restartCount }, 'container started');
    const postStart = spec.lifecycle?.postStart;
    if (postStart) {
      const res = await runHandler(
        postStart,
        { containerId: id, podIP: this.pod.spec.hostNetwork ? node.nodeIP : sandbox.ip, container: spec },
        this.pod.spec.terminationGracePeriodSeconds ?? 30,
        cri,
      );
      if (!res.ok) {
        const msg = `PostStartHook failed: ${res.output.trim()}`;
        this.event('Warning', 'FailedPostStartHook', msg, fp);
        await this.killContainer({ id, name: spec.name } as ObservedContainer, this.pod.spec.terminationGracePeriodSeconds ?? 30, spec);
        ws.waiting = { reason: 'PostStartHookError', message: msg };
      }
    }
  }

  /**
   * preStop hook (bounded by the grace period), then StopContainer with what
   * remains of it: SIGTERM, SIGKILL at the end.
   */
  private async killContainer(c: Pick<ObservedContainer, 'id' | 'name'>, graceSeconds: number, spec: Container | undefined, message?: string): Promise<void> {
    const { cri, clock } = this.deps;
    const start = clock.now();
    spec ??= [...this.pod.spec.containers, ...(this.pod.spec.initContainers ?? [])].find((s) => s.name === c.name);
    if (message) this.event('Normal', 'Killing', `${message} ${c.name}`, spec ? `spec.containers{${c.name}}` : undefined);
    let grace = graceSeconds;
    const preStop = spec?.lifecycle?.preStop;
    if (preStop && grace > 0) {
      const res = await Promise.race([
        runHandler(preStop, { containerId: c.id, podIP: this.sandboxIPs.values().next().value ?? '', container: spec! }, grace, cri),
        new Promise<{ ok: boolean; output: string }>((r) => clock.setTimeout(() => r({ ok: false, output: 'timed out' }), grace * 1000)),
      ]);
      if (!res.ok) this.event('Warning', 'FailedPreStopHook', `PreStopHook failed: ${res.output.trim()}`, `spec.containers{${c.name}}`);
      // Whole seconds spent in the hook, rounded down as kubelet does.
      grace = Math.max(MIN_GRACE_AFTER_PRESTOP_S, grace - Math.floor((clock.now() - start) / 1000));
    }
    try {
      await cri.stopContainer(c.id, grace);
    } catch (err) {
      if (!(err instanceof CriError && err.isNotFound)) throw err;
    }
  }

  private async publish(obs: Observation, podIsTerminal = false): Promise<void> {
    const status = computePodStatus({
      pod: this.pod,
      hostIP: this.deps.node.nodeIP,
      sandbox: obs.sandbox,
      containers: obs.containers,
      worker: { containers: this.containerState, startTime: this.startTime },
      previous: this.lastStatus,
      podIsTerminal,
      now: this.deps.clock.now(),
    });
    if (statusEqual(status, this.lastStatus)) return;
    this.lastStatus = status;
    if (this.removed) return;
    try {
      await this.deps.api.writePodStatus(this.namespace, this.name, this.uid, status);
      this.traceStartup(status);
    } catch (err) {
      this.lastStatus = undefined; // retried on the next sync
      this.log.warn({ err: String(err) }, 'writePodStatus failed');
      this.scheduleRetry(this.deps.clock.now() + 1_000);
    }
  }

  /** Logs the startup phases once the written status has every container running. */
  private traceStartup(status: PodStatus): void {
    const t = this.startup;
    const cs = status.containerStatuses ?? [];
    if (!t || cs.length !== this.pod.spec.containers.length || !cs.every((c) => c.state?.running)) return;
    this.startup = undefined;
    const now = this.deps.clock.now();
    const since = (x: number | undefined) => (x === undefined ? undefined : x - t.seen);
    this.log.info(
      {
        seenAt: t.seen,
        sync: since(t.sync),
        sandbox: since(t.sandbox),
        sandboxSent: since(t.sandboxSent),
        sandboxReady: since(t.sandboxReady),
        createSent: since(t.createSent),
        created: since(t.created),
        startSent: since(t.startSent),
        started: since(t.started),
        statusWritten: now - t.seen,
      },
      'pod started',
    );
  }

  /** Keeps the two newest instances per container (current and previous), removes older ones and their logs. */
  private async collectGarbage(obs: Observation): Promise<void> {
    const names = new Set(obs.containers.map((c) => `${c.kind}/${c.name}`));
    const logDir = podLogDir(this.deps.node, { namespace: this.namespace, name: this.name, uid: this.uid });
    for (const key of names) {
      const [kind, name] = key.split('/') as ['init' | 'regular', string];
      const old = instancesOf(obs.containers, name, kind).slice(2);
      for (const c of old) {
        if (c.state === 'running') continue;
        await this.deps.cri.removeContainer(c.id).catch(() => undefined);
        await unlink(join(logDir, containerLogPath(c.name, c.restartCount))).catch(() => undefined);
      }
    }
  }

  // ---------------------------------------------------------------- terminate

  private graceSeconds(): number {
    const fromPod = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
    return this.removed && this.removedGraceSeconds !== undefined ? this.removedGraceSeconds : fromPod;
  }

  private async terminate(): Promise<void> {
    const { cri, node, volumes, api } = this.deps;
    if (!this.terminating) {
      this.terminating = true;
      this.log.info({ grace: this.graceSeconds(), removed: this.removed }, 'terminating pod');
    }
    this.stopProbesExcept(new Set());
    let obs = await this.observe();
    const grace = this.graceSeconds();
    await Promise.all(
      obs.containers.filter((c) => c.state === 'running').map((c) => this.killContainer(c, grace, undefined, 'Stopping container')),
    );
    for (const sb of obs.sandboxes) await cri.stopPodSandbox(sb.id).catch(() => undefined);
    obs = await this.observe();
    if (!this.removed) await this.publish(obs, true);
    for (const sb of obs.sandboxes) {
      await cri.removePodSandbox(sb.id).catch((err) => {
        if (!(err instanceof CriError && err.isNotFound)) throw err;
      });
    }
    for (const c of obs.containers) await cri.removeContainer(c.id).catch(() => undefined);
    const cgroup = podCgroupParent(node, this.uid);
    let busy = await removeCgroup(cgroup, this.deps.cgroupFsRoot);
    for (let i = 0; busy.length > 0 && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      busy = await removeCgroup(cgroup, this.deps.cgroupFsRoot);
    }
    if (busy.length > 0) this.log.warn({ busy }, 'pod cgroup still busy');
    await volumes.tearDown(this.uid);
    await rm(podLogDir(node, { namespace: this.namespace, name: this.name, uid: this.uid }), { recursive: true, force: true });
    this.deps.crashBackoff.resetPrefix(`${this.uid}/`);
    this.deps.imageBackoff.resetPrefix(`${this.uid}/`);
    if (!this.removed) {
      try {
        await api.deletePod(this.namespace, this.name, this.uid);
      } catch (err) {
        if ((err as { code?: string }).code !== 'NotFound') throw err;
      }
    }
    this.finished = true;
    this.retryTimer?.cancel();
    this.log.info({}, 'pod terminated and cleaned up');
    this.deps.onFinished(this.uid);
  }
}

/** The termination grace an orphaned container asked for (its annotation), default 30 s. */
export function orphanGraceSeconds(annotations: Record<string, string> | undefined): number {
  const v = Number(annotations?.[TERMINATION_GRACE]);
  return Number.isFinite(v) && v >= 0 ? v : 30;
}

// Carries the actions computePodActions decided out against CRI for one pod
// (kubelet's SyncPod steps 2–8): kill the pod or single containers, create
// the sandbox, start init containers and containers (image, env, volumes,
// CreateContainer/StartContainer through the start gate, postStart hook),
// hold restarts in CrashLoopBackOff. Also owns what only the agent knows
// about the pod's containers: waiting reasons, probe workers and results, the
// prepared volumes and restart counts carried across sandboxes.
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiPort } from '../api_port.js';
import type { Clock } from '../clock.js';
import { CriError } from '../cri/cri_error.js';
import type { CriRuntime } from '../cri/cri_runtime.js';
import type { DeepPartial, PodSandboxConfig } from '../cri/types.js';
import type { Container, EventType, AgentPod } from '../api_types.js';
import type { Logger } from '../logger.js';
import type { Backoff } from '../runtime/backoff.js';
import { buildContainerConfig, containerLogPath } from '../runtime/container_config.js';
import { resolveEnv } from '../runtime/env.js';
import { ContainerStartError, VolumeSetupError } from '../runtime/errors.js';
import { runHandler } from '../runtime/handler.js';
import type { PrioritySemaphore } from '../runtime/priority_semaphore.js';
import { ContainerProbes, type ProbeChange } from '../runtime/prober.js';
import { buildSandboxConfig, podLogDir, type NodeContext } from '../runtime/sandbox_config.js';
import type { PreparedVolume, VolumeManager } from '../runtime/volumes.js';
import { instancesOf, type ContainerWorkerState, type ObservedContainer } from '../status.js';
import { restartBaseAfter, type ContainerToStart, type PodActions, type PodRuntimeStatus, type ProbeResults, type RuntimeSandbox } from './pod_actions.js';
import type { RuntimeObserver } from './runtime_observer.js';

/** Priorities at the start gate: calls of pods further along go first. */
export const START_PRIORITY = { startContainer: 0, createContainer: 1, runPodSandbox: 2 } as const;

const MIN_GRACE_AFTER_PRESTOP_S = 2;

export interface ExecutorDeps {
  cri: CriRuntime;
  api: ApiPort;
  clock: Clock;
  node: NodeContext;
  volumes: VolumeManager;
  crashBackoff: Backoff;
  imageBackoff: Backoff;
  memoryCapacity: number;
  allocatable: { cpuMilli: number; memoryBytes: number };
  /** With imagePullPolicy Always, run the present image when the pull fails (no registry here). */
  pullFallbackToPresent: boolean;
  /** How often configMap/secret volume contents are refreshed (ms). */
  volumeRefreshMs: number;
  /** Bounds RunPodSandbox / CreateContainer / StartContainer across pods (see START_PRIORITY). */
  startGate?: PrioritySemaphore;
}

/** When (clock ms) a new pod went through each startup phase. */
export interface StartupTrace {
  seen: number;
  sync?: number;
  sandbox?: number;
  sandboxSent?: number;
  sandboxReady?: number;
  createSent?: number;
  created?: number;
  startSent?: number;
  started?: number;
}

export interface PodHandle {
  readonly pod: AgentPod;
  readonly log: Logger;
  /** Set while a new pod's startup is traced. */
  startup?: StartupTrace;
  /** Look again at clock time `at` (ms). */
  scheduleRetry(at: number): void;
  /** A probe result changed: sync. */
  trigger(): void;
}

function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const last = image.split('/').pop() ?? image;
  if (image.includes('@')) return 'IfNotPresent';
  const tag = last.includes(':') ? last.split(':').pop() : undefined;
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

const notFound = (err: unknown): boolean => err instanceof CriError && err.isNotFound;

export class PodExecutor implements ProbeResults {
  readonly containerState: Record<string, ContainerWorkerState> = {};
  private readonly probes = new Map<string, ContainerProbes>();
  private preparedVolumes?: Map<string, PreparedVolume>;
  /** The IP of the newest sandbox seen (preStop handlers of a pod being killed). */
  private lastSandboxIP = '';
  private volumesRefreshedAt = 0;
  /** Restart counts carried over from containers of removed sandboxes. */
  restartBase: Record<string, number> = {};

  constructor(
    private readonly deps: ExecutorDeps,
    private readonly h: PodHandle,
    private readonly observer: RuntimeObserver,
  ) {}

  private get pod(): AgentPod {
    return this.h.pod;
  }

  private get uid(): string {
    return this.pod.metadata.uid;
  }

  private get ref(): string {
    return `${this.pod.metadata.name}_${this.pod.metadata.namespace ?? 'default'}(${this.uid})`;
  }

  // ---------------------------------------------------------------- probes

  get(containerId: string, kind: 'liveness' | 'startup'): 'success' | 'failure' | 'unknown' | undefined {
    return this.probes.get(containerId)?.result(kind);
  }

  /** Probe workers follow the running instances: started for new ones, stopped for the rest. */
  syncProbes(status: PodRuntimeStatus): void {
    const running = status.containers.filter((c) => c.state === 'running');
    this.stopProbesExcept(new Set(running.map((c) => c.id)));
    if (status.sandboxes[0]?.ip) this.lastSandboxIP = status.sandboxes[0].ip;
    const ip = this.podIP(status.sandboxes[0]);
    for (const c of running) {
      const spec = this.specOf(c.name, c.kind);
      if (spec && (c.kind === 'regular' || spec.restartPolicy === 'Always')) this.ensureProbes(c, spec, ip);
    }
  }

  stopProbesExcept(ids: Set<string>): void {
    for (const [id, p] of this.probes) {
      if (!ids.has(id)) {
        p.stop();
        this.probes.delete(id);
      }
    }
  }

  private ensureProbes(c: ObservedContainer, spec: Container, podIP: string): void {
    if (!spec.livenessProbe && !spec.readinessProbe && !spec.startupProbe) return;
    if (this.probes.has(c.id)) return;
    const ws = (this.containerState[c.name] ??= {});
    ws.ready = false;
    ws.started = false;
    this.probes.set(
      c.id,
      new ContainerProbes(
        c.id,
        spec,
        () => ({ containerId: c.id, podIP, container: spec }),
        this.deps.clock,
        this.deps.cri,
        (change) => this.onProbeChange(change),
        (change) => this.onProbeFailedRun(change),
      ),
    );
  }

  private onProbeChange(change: ProbeChange): void {
    const ws = (this.containerState[change.containerName] ??= {});
    if (change.kind === 'readiness') ws.ready = change.result === 'success';
    if (change.kind === 'startup') ws.started = change.result === 'success';
    this.h.trigger();
  }

  private onProbeFailedRun(change: ProbeChange): void {
    const kind = change.kind[0]!.toUpperCase() + change.kind.slice(1);
    this.event('Warning', 'Unhealthy', `${kind} probe failed: ${change.output.trim()}`, this.fieldPathOf(change.containerName));
  }

  // ---------------------------------------------------------------- events

  event(type: EventType, reason: string, message: string, fieldPath?: string): void {
    const ref = {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: this.pod.metadata.namespace ?? 'default',
      name: this.pod.metadata.name,
      uid: this.uid,
      ...(fieldPath ? { fieldPath } : {}),
    };
    this.deps.api.recordEvent(ref, type, reason, message).catch((err: unknown) => this.h.log.warn({ err, reason }, 'recordEvent failed'));
  }

  private specOf(name: string, kind: 'init' | 'regular'): Container | undefined {
    return (kind === 'init' ? (this.pod.spec.initContainers ?? []) : this.pod.spec.containers).find((s) => s.name === name);
  }

  private fieldPathOf(name: string): string {
    return (this.pod.spec.initContainers ?? []).some((c) => c.name === name) ? `spec.initContainers{${name}}` : `spec.containers{${name}}`;
  }

  private podIP(sandbox: RuntimeSandbox | undefined): string {
    return this.pod.spec.hostNetwork ? this.deps.node.nodeIP : (sandbox?.ip ?? '');
  }

  private gated<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    return this.deps.startGate ? this.deps.startGate.run(priority, fn) : fn();
  }

  sandboxConfig(attempt: number): DeepPartial<PodSandboxConfig> {
    return buildSandboxConfig(this.pod, this.deps.node, attempt);
  }

  // ---------------------------------------------------------------- SyncPod

  /** Carries out actions decided for status (kubelet's SyncPod); failures to start set waiting reasons and schedule a retry. */
  async execute(status: PodRuntimeStatus, actions: PodActions): Promise<void> {
    const { clock } = this.deps;
    if (actions.createSandbox && actions.sandboxId) this.event('Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');

    if (actions.killPod) {
      // The sandbox changed (its containers are dead with it) or nothing is left to run.
      await this.killPod(status, actions.createSandbox ? 0 : this.graceSeconds());
      if (actions.createSandbox) {
        this.restartBase = restartBaseAfter(status, this.restartBase);
        for (const sb of status.sandboxes) {
          await this.deps.cri.removePodSandbox(sb.id).catch((err: unknown) => {
            if (!notFound(err)) throw err;
          });
          this.observer.forget(sb.id);
        }
      }
    } else {
      for (const k of actions.containersToKill) {
        const spec = this.specOf(k.name, k.kind);
        this.probes.get(k.id)?.stop();
        this.probes.delete(k.id);
        const grace = k.reason === 'LivenessProbe' || k.reason === 'StartupProbe' ? this.probeGrace(spec) : this.graceSeconds();
        await this.killContainer({ id: k.id, name: k.name }, grace, spec, k.message);
      }
    }

    let sandbox: RuntimeSandbox | undefined = actions.createSandbox ? undefined : status.sandboxes[0];
    let attempt = actions.attempt;
    if (actions.createSandbox) {
      sandbox = await this.createSandbox(attempt);
      if (!sandbox) return;
    } else if (sandbox?.ready && (clock.now() - this.volumesRefreshedAt > this.deps.volumeRefreshMs || !this.preparedVolumes)) {
      try {
        await this.setUpVolumes();
      } catch (err) {
        if (!(err instanceof VolumeSetupError)) throw err;
        this.h.log.warn({ err }, 'volume refresh failed');
      }
    }
    if (!sandbox?.ready) return;
    attempt = sandbox.attempt;

    for (const b of actions.backingOff) {
      const ws = (this.containerState[b.name] ??= {});
      if (ws.waiting?.reason !== 'CrashLoopBackOff') {
        this.event('Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${this.ref}`, this.fieldPathOf(b.name));
      }
      ws.waiting = { reason: 'CrashLoopBackOff', message: b.message };
      this.h.scheduleRetry(b.until);
    }
    for (const s of actions.initContainersToStart) {
      const ok = await this.start(s, sandbox, attempt);
      // A plain init container that did not start stops initialization; a sidecar does not.
      if (!ok && this.specOf(s.name, 'init')?.restartPolicy !== 'Always') return;
    }
    for (const s of actions.containersToStart) await this.start(s, sandbox, attempt);
  }

  /** Stops every running container (with grace seconds) and every ready sandbox of the pod. */
  async killPod(status: PodRuntimeStatus, graceSeconds: number): Promise<void> {
    this.stopProbesExcept(new Set());
    await Promise.all(
      status.containers.filter((c) => c.state === 'running' || c.state === 'unknown').map((c) => this.killContainer(c, graceSeconds, this.specOf(c.name, c.kind), `Stopping container ${c.name}`)),
    );
    for (const sb of status.sandboxes.filter((s) => s.ready)) {
      try {
        await this.deps.cri.stopPodSandbox(sb.id);
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
  }

  graceSeconds(override?: number): number {
    return override ?? this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  private probeGrace(spec: Container | undefined): number {
    return spec?.livenessProbe?.terminationGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  private async setUpVolumes(): Promise<Map<string, PreparedVolume>> {
    this.preparedVolumes = await this.deps.volumes.setUp(this.pod);
    this.volumesRefreshedAt = this.deps.clock.now();
    return this.preparedVolumes;
  }

  /** A new sandbox (its observation), or undefined when it could not be created (event, retry scheduled). */
  private async createSandbox(attempt: number): Promise<RuntimeSandbox | undefined> {
    const { cri, clock } = this.deps;
    const t = this.h.startup;
    try {
      await this.setUpVolumes();
    } catch (err) {
      if (!(err instanceof VolumeSetupError)) throw err;
      this.event('Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${err.volume}" : ${err.message}`);
      this.h.scheduleRetry(clock.now() + 2_000);
      return undefined;
    }
    const cfg = this.sandboxConfig(attempt);
    await mkdir(cfg.log_directory!, { recursive: true, mode: 0o755 });
    let id: string;
    try {
      if (t) t.sandbox ??= clock.now();
      id = await this.gated(START_PRIORITY.runPodSandbox, () => {
        if (t) t.sandboxSent ??= clock.now();
        return cri.runPodSandbox(cfg);
      });
      if (t) t.sandboxReady ??= clock.now();
    } catch (err) {
      const msg = err instanceof CriError ? err.details : String(err);
      this.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
      this.h.log.warn({ err }, 'RunPodSandbox failed');
      this.h.scheduleRetry(clock.now() + 2_000);
      return undefined;
    }
    this.h.log.info({ sandbox: id, attempt }, 'sandbox created');
    const st = await this.observer.observeNewSandbox(id);
    if (!st) throw Object.assign(new Error(`sandbox ${id} not ready right after creation`), { code: 'SandboxNotReady' });
    return st.sandboxes[0];
  }

  /** Starts one container (after back-off bookkeeping); false when it did not start. */
  private async start(s: ContainerToStart, sandbox: RuntimeSandbox, attempt: number): Promise<boolean> {
    const spec = this.specOf(s.name, s.kind);
    if (!spec) return false;
    if (s.replaces) {
      await this.deps.cri.removeContainer(s.replaces).catch((err: unknown) => {
        if (!notFound(err)) throw err;
      });
    }
    if (s.backoff) this.deps.crashBackoff.next(s.backoff.key, s.backoff.failedAt || this.deps.clock.now());
    return this.startContainer(spec, s.kind, s.restartCount, sandbox, attempt);
  }

  private async ensureImage(spec: Container, fp: string): Promise<string> {
    const { cri, imageBackoff, clock } = this.deps;
    const image = spec.image ?? '';
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

  private async startContainer(spec: Container, kind: 'init' | 'regular', restartCount: number, sandbox: RuntimeSandbox, attempt: number): Promise<boolean> {
    const { cri, node, clock } = this.deps;
    const t = this.h.startup;
    const ws = (this.containerState[spec.name] ??= {});
    const fp = kind === 'init' ? `spec.initContainers{${spec.name}}` : `spec.containers{${spec.name}}`;
    const sandboxCfg = this.sandboxConfig(attempt);
    const podIP = this.podIP(sandbox);
    let id: string;
    try {
      const image = await this.ensureImage(spec, fp);
      const env = await resolveEnv(this.pod, spec, { config: this.deps.api, nodeName: node.nodeName, hostIP: node.nodeIP, podIP, allocatable: this.deps.allocatable });
      const volumes = this.preparedVolumes ?? (await this.setUpVolumes());
      const mounts = await this.deps.volumes.mountsFor(spec, volumes, env);
      const cfg = buildContainerConfig(this.pod, spec, { kind, restartCount, image, env, mounts, nodeName: node.nodeName, memoryCapacity: this.deps.memoryCapacity });
      await mkdir(join(sandboxCfg.log_directory!, spec.name), { recursive: true, mode: 0o755 });
      try {
        id = await this.gated(START_PRIORITY.createContainer, () => {
          if (t) t.createSent = clock.now();
          return cri.createContainer(sandbox.id, cfg, sandboxCfg);
        });
        if (t) t.created = clock.now();
      } catch (err) {
        throw new ContainerStartError('CreateContainerError', err instanceof CriError ? err.details : String(err), { cause: err });
      }
    } catch (err) {
      if (err instanceof VolumeSetupError) {
        this.event('Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${err.volume}" : ${err.message}`);
        ws.waiting = { reason: 'ContainerCreating', message: '' };
        this.h.scheduleRetry(clock.now() + 2_000);
        return false;
      }
      if (!(err instanceof ContainerStartError)) throw err;
      ws.waiting = { reason: err.code, message: err.message };
      if (err.code !== 'ErrImagePull' && err.code !== 'ImagePullBackOff' && err.code !== 'ErrImageNeverPull') this.event('Warning', 'Failed', `Error: ${err.message}`, fp);
      this.h.log.warn({ container: spec.name, reason: err.code, err }, 'container not started');
      this.h.scheduleRetry(clock.now() + (err.code === 'ImagePullBackOff' || err.code === 'ErrImagePull' ? 1_000 : 2_000));
      return false;
    }
    this.event('Normal', 'Created', `Created container ${spec.name}`, fp);
    try {
      await this.gated(START_PRIORITY.startContainer, () => {
        if (t) t.startSent = clock.now();
        return cri.startContainer(id);
      });
      if (t) t.started = clock.now();
    } catch (err) {
      const msg = err instanceof CriError ? err.details : String(err);
      ws.waiting = { reason: 'RunContainerError', message: msg };
      this.event('Warning', 'Failed', `Error: ${msg}`, fp);
      this.h.log.warn({ container: spec.name, err }, 'StartContainer failed');
      this.h.scheduleRetry(clock.now() + 1_000);
      return false;
    }
    ws.waiting = undefined;
    this.event('Normal', 'Started', `Started container ${spec.name}`, fp);
    this.h.log.debug({ container: spec.name, restartCount }, 'container started');
    const postStart = spec.lifecycle?.postStart;
    if (postStart) {
      const res = await runHandler(postStart, { containerId: id, podIP, container: spec }, this.pod.spec.terminationGracePeriodSeconds ?? 30, cri);
      if (!res.ok) {
        const msg = `PostStartHook failed: ${res.output.trim()}`;
        this.event('Warning', 'FailedPostStartHook', msg, fp);
        await this.killContainer({ id, name: spec.name }, this.pod.spec.terminationGracePeriodSeconds ?? 30, spec);
        ws.waiting = { reason: 'PostStartHookError', message: msg };
      }
    }
    return true;
  }

  /** preStop hook (bounded by the grace period), then StopContainer with what remains of it: SIGTERM, SIGKILL at the end. */
  async killContainer(c: Pick<ObservedContainer, 'id' | 'name'>, graceSeconds: number, spec: Container | undefined, message?: string): Promise<void> {
    const { cri, clock } = this.deps;
    const start = clock.now();
    const fp = spec ? this.fieldPathOf(c.name) : undefined;
    if (message) this.event('Normal', 'Killing', message, fp);
    let grace = graceSeconds;
    const preStop = spec?.lifecycle?.preStop;
    if (preStop && grace > 0) {
      const podIP = this.pod.spec.hostNetwork ? this.deps.node.nodeIP : this.lastSandboxIP;
      let timer: { cancel(): void } | undefined;
      const res = await Promise.race([
        runHandler(preStop, { containerId: c.id, podIP, container: spec! }, grace, cri),
        new Promise<{ ok: boolean; output: string }>((r) => (timer = clock.setTimeout(() => r({ ok: false, output: 'timed out' }), grace * 1000))),
      ]);
      timer?.cancel();
      if (!res.ok) this.event('Warning', 'FailedPreStopHook', `PreStopHook failed: ${res.output.trim()}`, fp);
      // Whole seconds spent in the hook, rounded down as kubelet does.
      grace = Math.max(MIN_GRACE_AFTER_PRESTOP_S, grace - Math.floor((clock.now() - start) / 1000));
    }
    try {
      await cri.stopContainer(c.id, grace);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }

  /** Keeps the two newest instances per container (current and previous), removes older ones and their logs; failures are logged and retried on the next sync. */
  async collectGarbage(status: PodRuntimeStatus): Promise<void> {
    const names = new Set(status.containers.map((c) => `${c.kind}/${c.name}`));
    const logDir = podLogDir(this.deps.node, { namespace: this.pod.metadata.namespace ?? 'default', name: this.pod.metadata.name, uid: this.uid });
    for (const key of names) {
      const [kind, name] = key.split('/') as ['init' | 'regular', string];
      for (const c of instancesOf(status.containers, name, kind).slice(2)) {
        if (c.state === 'running') continue;
        try {
          await this.deps.cri.removeContainer(c.id);
          await unlink(join(logDir, containerLogPath(c.name, c.restartCount))).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          });
        } catch (err) {
          if (!notFound(err)) this.h.log.warn({ err, container: c.id }, 'removing an old container instance failed; retried on the next sync');
        }
      }
    }
  }
}

// One worker per pod uid, with the pod's lifecycle as explicit phases (as
// kubelet's pod_workers.go): syncing (observe CRI → computePodActions → the
// executor carries the actions out → status), terminating (the pod was
// deleted, left the node or reached a terminal phase: stop every container
// with its grace period and the sandbox, write the final status) and
// terminated (for a pod that is gone: remove its runtime objects, cgroup,
// volumes and logs, then delete the API object). Runs are serialised and
// level-triggered; a failed step is logged with its error and retried.
import { rm } from 'node:fs/promises';
import { sleepOn, type TimerHandle } from './clock.js';
import { CriError } from './cri/cri_error.js';
import type { AgentPod, AgentPodStatus } from './api_types.js';
import { computePodActions, type PodRuntimeStatus } from './kuberuntime/pod_actions.js';
import { PodExecutor, type ExecutorDeps, type StartupTrace } from './kuberuntime/pod_executor.js';
import { RuntimeObserver } from './kuberuntime/runtime_observer.js';
import type { Logger } from './logger.js';
import { removeCgroup } from './runtime/cgroup.js';
import { TERMINATION_GRACE } from './runtime/labels.js';
import { podCgroupParent, podLogDir } from './runtime/sandbox_config.js';
import { computePodStatus, statusEqual } from './status.js';

export type { CriRuntime } from './cri/cri_runtime.js';
export { START_PRIORITY } from './kuberuntime/pod_executor.js';

/** The executor's dependencies (one declaration: pod_executor.ts) and what the worker adds. */
export interface WorkerDeps extends ExecutorDeps {
  log: Logger;
  cgroupFsRoot: string;
  /** Called once the pod is terminated and cleaned up. */
  onFinished(uid: string): void;
}

/**
 * Where a pod is in its life on this node (kubelet's SyncPod /
 * SyncTerminatingPod / SyncTerminatedPod). Phases only move forward.
 */
export type PodLifecyclePhase = 'syncing' | 'terminating' | 'terminated';

/** A cleanup step of a terminated pod that failed; retried until it succeeds. */
class CleanupError extends Error {
  override readonly name = 'CleanupError';
  readonly code = 'PodCleanupFailed';
  constructor(
    readonly step: string,
    options: { cause: unknown },
  ) {
    super(`pod cleanup step ${step} failed: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

const RETRY_MS = 1_000;
const CLEANUP_RETRY_MAX_MS = 30_000;
/** Rounds of a still-busy pod cgroup before the pod is released anyway (its processes are gone from CRI). */
const CGROUP_ROUNDS = 5;

const isTerminalPhase = (s: AgentPodStatus | undefined): boolean => s?.phase === 'Succeeded' || s?.phase === 'Failed';
const notFound = (err: unknown): boolean => err instanceof CriError && err.isNotFound;

export class PodWorker {
  pod: AgentPod;
  readonly uid: string;
  private phase: PodLifecyclePhase = 'syncing';
  /** The pod left the source (deleted, moved off the node, or found orphaned in CRI). */
  private removed = false;
  private removedGraceSeconds?: number;
  private running = false;
  private dirty = false;
  private stopped = false;
  private finished = false;
  private idleWaiters: (() => void)[] = [];
  private lastStatus?: AgentPodStatus;
  private startTime?: number;
  private retryTimer?: TimerHandle;
  private retryAt = Infinity;
  private cleanupFailures = 0;
  private cgroupRounds = 0;
  readonly log: Logger;
  startup?: StartupTrace;
  private readonly observer: RuntimeObserver;
  private readonly executor: PodExecutor;

  constructor(
    pod: AgentPod,
    private readonly deps: WorkerDeps,
    opts: { orphan?: boolean; graceSeconds?: number } = {},
  ) {
    this.pod = pod;
    this.uid = pod.metadata.uid;
    this.lastStatus = pod.status && Object.keys(pod.status).length > 0 ? pod.status : undefined;
    this.log = deps.log.child({ pod: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, uid: this.uid });
    this.observer = new RuntimeObserver(deps.cri, this.uid);
    this.executor = new PodExecutor(deps, this, this.observer);
    if (opts.orphan) {
      this.removed = true;
      this.removedGraceSeconds = opts.graceSeconds;
      this.phase = 'terminating';
    } else if (isTerminalPhase(this.lastStatus) || pod.metadata.deletionTimestamp) {
      // Adopted after a restart of the agent: a finished or deleted pod never runs again.
      this.phase = 'terminating';
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

  /** What the runtime ran for this pod when the worker last looked (runtimePrint), undefined while a run is in progress. */
  get observedRuntime(): string | undefined {
    return this.running ? undefined : this.observer.lastPrint;
  }

  get lifecyclePhase(): PodLifecyclePhase {
    return this.phase;
  }

  /** The status this worker last computed (and wrote, unless the pod is gone). */
  get status(): AgentPodStatus | undefined {
    return this.lastStatus;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** A newer version of the pod; sync unless told it changed nothing a sync depends on. */
  update(pod: AgentPod, sync = true): void {
    if (this.removed) return;
    this.pod = pod;
    if (pod.metadata.deletionTimestamp) this.toTerminating();
    if (sync || pod.metadata.deletionTimestamp) this.trigger();
  }

  /** The pod left the source: terminate with its grace period (or the given one), then clean up. */
  markRemoved(graceSeconds?: number): void {
    this.removed = true;
    this.removedGraceSeconds = graceSeconds;
    this.toTerminating();
    this.trigger();
  }

  private toTerminating(): void {
    if (this.phase !== 'syncing') return;
    this.phase = 'terminating';
    this.log.info({ grace: this.graceSeconds(), removed: this.removed }, 'terminating pod');
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
    this.executor.stopProbesExcept(new Set());
    await this.whenIdle();
  }

  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  scheduleRetry(at: number): void {
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

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.dirty && !this.finished && !this.stopped) {
        this.dirty = false;
        const phase = this.phase;
        try {
          if (phase === 'syncing') await this.syncPod();
          else if (phase === 'terminating') await this.syncTerminatingPod();
          else await this.syncTerminatedPod();
        } catch (err) {
          this.log.warn({ err, phase }, 'pod sync failed; retrying');
          this.scheduleRetry(this.deps.clock.now() + RETRY_MS);
        }
        // A phase change runs the next phase at once.
        if (this.phase !== phase) this.dirty = true;
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  // ---------------------------------------------------------------- syncing

  private async syncPod(): Promise<void> {
    const { clock } = this.deps;
    this.startTime ??= clock.now();
    if (this.startup) this.startup.sync ??= clock.now();
    let status = await this.observer.observe();
    const actions = computePodActions(this.pod, status, {
      probes: this.executor,
      backoff: this.deps.crashBackoff,
      restartBase: this.executor.restartBase,
    });
    const changes = actions.killPod || actions.createSandbox || actions.containersToKill.length + actions.initContainersToStart.length + actions.containersToStart.length > 0;
    if (changes || actions.backingOff.length > 0) {
      if (changes) this.log.debug({ actions }, 'sync');
      await this.executor.execute(status, actions);
      // What the runtime runs now (unchanged when only back-off was recorded).
      if (changes) status = await this.observer.observe();
    }
    this.executor.syncProbes(status);
    await this.publish(status, actions.podIsTerminal);
    if (isTerminalPhase(this.lastStatus)) this.toTerminating();
    else await this.executor.collectGarbage(status);
  }

  /** Computes and writes the status when it changed; false when the write failed (retry scheduled). */
  private async publish(status: PodRuntimeStatus, podIsTerminal = false): Promise<boolean> {
    const sb = status.sandboxes[0];
    const next = computePodStatus({
      pod: this.pod,
      hostIP: this.deps.node.nodeIP,
      sandbox: sb ? { id: sb.id, ready: sb.ready, ip: sb.ip, createdAt: sb.createdAt } : undefined,
      containers: status.containers,
      worker: { containers: this.executor.containerState, startTime: this.startTime },
      previous: this.lastStatus,
      podIsTerminal,
      now: this.deps.clock.now(),
    });
    if (statusEqual(next, this.lastStatus)) return true;
    this.lastStatus = next;
    if (this.removed) return true;
    try {
      await this.deps.api.writePodStatus(this.namespace, this.name, this.uid, next);
      this.traceStartup(next);
      return true;
    } catch (err) {
      this.lastStatus = undefined; // written again on the next run
      this.log.warn({ err }, 'writePodStatus failed; retrying');
      this.scheduleRetry(this.deps.clock.now() + RETRY_MS);
      return false;
    }
  }

  /** Logs the startup phases once the written status has every container running. */
  private traceStartup(status: AgentPodStatus): void {
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

  // ---------------------------------------------------------------- terminating

  private graceSeconds(): number {
    if (this.removed && this.removedGraceSeconds !== undefined) return this.removedGraceSeconds;
    return this.executor.graceSeconds();
  }

  /** Stops every container (preStop, SIGTERM, SIGKILL after the grace period) and the sandbox; writes the final status. */
  private async syncTerminatingPod(): Promise<void> {
    this.startup = undefined;
    let status = await this.observer.observe();
    await this.executor.killPod(status, this.graceSeconds());
    status = await this.observer.observe();
    if (status.containers.some((c) => c.state === 'running') || status.sandboxes.some((s) => s.ready)) {
      throw Object.assign(new Error('containers or sandbox still running after they were stopped'), { code: 'PodStillRunning' });
    }
    // The final status must be written before the pod counts as terminated.
    if (!this.removed && !(await this.publish(status, true))) return;
    this.phase = 'terminated';
    this.log.info({ removed: this.removed }, 'pod terminated');
  }

  // ---------------------------------------------------------------- terminated

  /**
   * A pod that is gone (deleted or no longer on this node) is cleaned up
   * here; a finished pod that still exists keeps its stopped containers (for
   * logs) until it is deleted.
   */
  private async syncTerminatedPod(): Promise<void> {
    if (!this.removed && !this.pod.metadata.deletionTimestamp) return;
    const failures = await this.cleanUp();
    if (failures.length > 0) {
      this.cleanupFailures++;
      const delay = Math.min(CLEANUP_RETRY_MAX_MS, RETRY_MS * 2 ** (this.cleanupFailures - 1));
      for (const f of failures) this.log.warn({ err: f, step: f.step, attempt: this.cleanupFailures, retryInMs: delay }, 'pod cleanup step failed; retrying');
      this.scheduleRetry(this.deps.clock.now() + delay);
      return;
    }
    this.finished = true;
    this.retryTimer?.cancel();
    this.log.info({}, 'pod terminated and cleaned up');
    this.deps.onFinished(this.uid);
  }

  /** Every step runs (each is idempotent); the failed ones are returned. */
  private async cleanUp(): Promise<CleanupError[]> {
    const { cri, node, volumes, api } = this.deps;
    const failures: CleanupError[] = [];
    const step = async (name: string, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        failures.push(new CleanupError(name, { cause: err }));
        return false;
      }
    };
    const status = await this.observer.observe();
    for (const sb of status.sandboxes) {
      await step(`RemovePodSandbox ${sb.id}`, async () => {
        await cri.removePodSandbox(sb.id).catch((err: unknown) => {
          if (!notFound(err)) throw err;
        });
        this.observer.forget(sb.id);
      });
    }
    for (const c of status.containers) {
      await step(`RemoveContainer ${c.id}`, () =>
        cri.removeContainer(c.id).catch((err: unknown) => {
          if (!notFound(err)) throw err;
        }),
      );
    }
    await step('remove pod cgroup', async () => {
      const cgroup = podCgroupParent(node, this.uid);
      let busy = await removeCgroup(cgroup, this.deps.cgroupFsRoot);
      for (let i = 0; busy.length > 0 && i < 20; i++) {
        await sleepOn(this.deps.clock, 100);
        busy = await removeCgroup(cgroup, this.deps.cgroupFsRoot);
      }
      if (busy.length === 0) return;
      if (++this.cgroupRounds >= CGROUP_ROUNDS) {
        this.log.error({ busy, rounds: this.cgroupRounds }, 'pod cgroup still busy; releasing the pod without it');
        return;
      }
      throw Object.assign(new Error(`cgroup ${cgroup} busy in ${busy.join(', ')}`), { code: 'CgroupBusy' });
    });
    await step('tear down volumes', () => volumes.tearDown(this.uid));
    await step('remove pod logs', () => rm(podLogDir(node, { namespace: this.namespace, name: this.name, uid: this.uid }), { recursive: true, force: true }));
    if (failures.length > 0) return failures; // the API object goes last, once the node holds nothing of the pod
    this.deps.crashBackoff.resetPrefix(`${this.uid}/`);
    this.deps.imageBackoff.resetPrefix(`${this.uid}/`);
    if (!this.removed) {
      await step('delete pod', async () => {
        try {
          await api.deletePod(this.namespace, this.name, this.uid);
        } catch (err) {
          if ((err as { code?: string }).code !== 'NotFound') throw err;
        }
      });
    }
    return failures;
  }
}

/** The termination grace an orphaned container asked for (its annotation), default 30 s. */
export function orphanGraceSeconds(annotations: Record<string, string> | undefined): number {
  const v = Number(annotations?.[TERMINATION_GRACE]);
  return Number.isFinite(v) && v >= 0 ? v : 30;
}

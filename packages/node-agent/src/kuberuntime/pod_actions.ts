// What a sync of one pod must do, decided purely from the pod and what the
// runtime reports (kubelet's kuberuntime computePodActions,
// computeInitContainerActions, PodSandboxChanged, ShouldContainerBeRestarted
// and doBackOff): no I/O, no clock of its own. The executor carries the
// actions out against CRI.
import type { Container, AgentPod } from '../api_types.js';
import { instancesOf, type ObservedContainer } from '../status.js';

/** One CRI sandbox of the pod. */
export interface RuntimeSandbox {
  id: string;
  ready: boolean;
  /** The sandbox's metadata.attempt. */
  attempt: number;
  createdAt: number;
  ip: string;
}

/** What the runtime runs for one pod (kubelet's kubecontainer.PodStatus). */
export interface PodRuntimeStatus {
  /** Newest first. */
  sandboxes: RuntimeSandbox[];
  /** Every container instance of the pod, any sandbox, any order. */
  containers: ObservedContainer[];
}

export type ProbeKind = 'liveness' | 'startup';
export type ProbeState = 'success' | 'failure' | 'unknown';

/** Read-only view of the prober's results (by container instance id); undefined: no result yet. */
export interface ProbeResults {
  get(containerId: string, kind: ProbeKind): ProbeState | undefined;
}

/** Read-only view of the crash back-off (the runtime/backoff.ts Backoff fits). */
export interface BackoffView {
  /** Until when (ms) key, failed at failedAt, must wait; undefined: may restart now. */
  backingOffUntil(key: string, failedAt: number): number | undefined;
  delayMs(key: string): number;
}

export type KillReason = 'LivenessProbe' | 'StartupProbe' | 'Unknown' | 'PodKilled';

export interface ContainerToKill {
  id: string;
  name: string;
  kind: 'init' | 'regular';
  /** The Killing event's message, as kubelet words it. */
  message: string;
  reason: KillReason;
}

export interface ContainerToStart {
  name: string;
  kind: 'init' | 'regular';
  /** Index in spec.initContainers / spec.containers. */
  index: number;
  /** The restart count of the new instance. */
  restartCount: number;
  /** A created-but-never-started instance to remove first. */
  replaces?: string;
  /** A restart after a failure: the back-off entry to advance when it starts. */
  backoff?: { key: string; failedAt: number };
}

/** A restart held back by CrashLoopBackOff. */
export interface BackingOff {
  name: string;
  kind: 'init' | 'regular';
  until: number;
  /** The container status' waiting message, as kubelet's doBackOff. */
  message: string;
}

export interface PodActions {
  /** Stop every container and the sandbox(es): the sandbox changed, or nothing is left to run. */
  killPod: boolean;
  createSandbox: boolean;
  /** The current (newest) sandbox, when there is one. */
  sandboxId?: string;
  /** metadata.attempt of the sandbox to create. */
  attempt: number;
  /** The sandbox is gone and the pod must not restart: its status is terminal. */
  podIsTerminal: boolean;
  containersToKill: ContainerToKill[];
  /** In spec order. */
  initContainersToStart: ContainerToStart[];
  containersToStart: ContainerToStart[];
  backingOff: BackingOff[];
}

export interface PodActionsContext {
  probes: ProbeResults;
  backoff: BackoffView;
  /** Restart counts carried over from containers of sandboxes already removed. */
  restartBase?: Readonly<Record<string, number>>;
}

/** An init container with restartPolicy Always: a native sidecar. */
export function isRestartableInit(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

function restartOnFailure(pod: AgentPod): boolean {
  return (pod.spec.restartPolicy ?? 'Always') !== 'Never';
}

function latestOf(status: PodRuntimeStatus, name: string, kind: 'init' | 'regular'): ObservedContainer | undefined {
  return instancesOf(status.containers, name, kind)[0];
}

/**
 * kubelet's PodSandboxChanged: a new sandbox is needed when there is none,
 * when more than one is ready, or when the newest is not ready. Returns the
 * attempt for the new sandbox and the current one's id.
 */
export function podSandboxChanged(status: PodRuntimeStatus): { changed: boolean; attempt: number; sandboxId?: string } {
  const newest = status.sandboxes[0];
  if (!newest) return { changed: true, attempt: 0 };
  const ready = status.sandboxes.filter((s) => s.ready).length;
  if (ready > 1 || !newest.ready) return { changed: true, attempt: newest.attempt + 1, sandboxId: newest.id };
  return { changed: false, attempt: newest.attempt, sandboxId: newest.id };
}

/** kubelet's ShouldContainerBeRestarted for a regular container, from its newest instance. */
export function shouldContainerBeRestarted(pod: AgentPod, latest: ObservedContainer | undefined): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  if (!latest) return true;
  if (latest.state === 'running') return false;
  if (latest.state === 'unknown' || latest.state === 'created') return true;
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (policy === 'Never') return false;
  if (policy === 'OnFailure' && latest.exitCode === 0) return false;
  return true;
}

function failed(c: ObservedContainer): boolean {
  return c.state === 'exited' ? c.exitCode !== 0 : c.state === 'unknown';
}

function succeeded(c: ObservedContainer | undefined): boolean {
  return c?.state === 'exited' && c.exitCode === 0;
}

/**
 * The next init container of the old, strictly sequential model
 * (findNextInitContainerToRun): done when the last one succeeded.
 */
function initDone(pod: AgentPod, status: PodRuntimeStatus): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;
  if (pod.spec.containers.some((c) => latestOf(status, c.name, 'regular')?.state === 'running')) return true;
  // A sidecar that ran counts as done: it is stopped with the pod, not a reason to bring it back.
  return inits.every((c) => (isRestartableInit(c) ? latestOf(status, c.name, 'init') !== undefined : succeeded(latestOf(status, c.name, 'init'))));
}

/**
 * computeInitContainerActions: the init containers to start (the next one
 * that never ran, failed ones to retry, sidecars to keep running) and those to
 * kill; true once the pod is initialized. Walks the init containers backwards,
 * as kubelet does, so removed instances of completed init containers do not
 * make them run again.
 */
function computeInitContainerActions(pod: AgentPod, status: PodRuntimeStatus, ctx: PodActionsContext, changes: PodActions): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;
  let podHasInitialized = pod.spec.containers.some((c) => {
    const s = latestOf(status, c.name, 'regular')?.state;
    return s === 'created' || s === 'running';
  });
  let previouslyInitialized = podHasInitialized;
  const starts: number[] = [];
  for (let i = inits.length - 1; i >= 0; i--) {
    const spec = inits[i]!;
    const latest = latestOf(status, spec.name, 'init');
    const sidecar = isRestartableInit(spec);
    if (!latest) {
      if (previouslyInitialized && sidecar) starts.push(i);
      continue;
    }
    if (previouslyInitialized && !sidecar) continue;
    switch (latest.state) {
      case 'created':
        starts.push(i);
        break;
      case 'running': {
        if (!sidecar) break; // a plain init container: wait for it to finish
        if (spec.startupProbe) {
          const startup = ctx.probes.get(latest.id, 'startup');
          if (startup !== 'success') {
            if (startup === 'failure') {
              changes.containersToKill.push({ id: latest.id, name: spec.name, kind: 'init', message: `Init container ${spec.name} failed startup probe`, reason: 'StartupProbe' });
              starts.push(i);
            }
            break;
          }
        }
        if (i === inits.length - 1) podHasInitialized = true;
        else if (!previouslyInitialized) starts.push(i + 1);
        if (spec.livenessProbe && ctx.probes.get(latest.id, 'liveness') === 'failure') {
          changes.containersToKill.push({ id: latest.id, name: spec.name, kind: 'init', message: `Init container ${spec.name} failed liveness probe`, reason: 'LivenessProbe' });
          starts.push(i);
        }
        break;
      }
      case 'exited':
        if (sidecar) starts.push(i);
        else if (failed(latest)) {
          if (!restartOnFailure(pod)) {
            changes.killPod = true;
            changes.initContainersToStart = [];
            return false;
          }
          starts.push(i);
        } else if (i === inits.length - 1) podHasInitialized = true;
        else starts.push(i + 1);
        break;
      default: // unknown: kill before starting again
        if (!sidecar && !restartOnFailure(pod)) {
          changes.killPod = true;
          changes.initContainersToStart = [];
          return false;
        }
        changes.containersToKill.push({
          id: latest.id,
          name: spec.name,
          kind: 'init',
          message: `Init container is in "${latest.state}" state, try killing it before restart`,
          reason: 'Unknown',
        });
        starts.push(i);
    }
    previouslyInitialized = true;
  }
  if (!previouslyInitialized) starts.push(0);
  const seen = new Set<number>();
  for (const i of starts.reverse()) {
    if (seen.has(i) || i >= inits.length) continue;
    seen.add(i);
    changes.initContainersToStart.push(startOf(pod, status, ctx, inits[i]!, 'init', i));
  }
  return podHasInitialized;
}

function startOf(pod: AgentPod, status: PodRuntimeStatus, ctx: PodActionsContext, spec: Container, kind: 'init' | 'regular', index: number): ContainerToStart {
  const instances = instancesOf(status.containers, spec.name, kind);
  const latest = instances[0];
  const base = ctx.restartBase?.[spec.name] ?? 0;
  if (!latest) return { name: spec.name, kind, index, restartCount: base };
  if (latest.state === 'created') return { name: spec.name, kind, index, restartCount: latest.restartCount, replaces: latest.id };
  const start: ContainerToStart = { name: spec.name, kind, index, restartCount: Math.max(base, latest.restartCount + 1) };
  // doBackOff looks at the newest instance that exited: a container killed for a failed probe backs off from its previous crash.
  const exited = instances.find((c) => c.state === 'exited');
  if (exited) start.backoff = { key: backoffKey(pod, spec.name), failedAt: exited.finishedAt };
  return start;
}

/** The crash back-off key of a container of a pod. */
export function backoffKey(pod: AgentPod, containerName: string): string {
  return `${pod.metadata.uid}/${containerName}`;
}

/** kubelet's "back-off 10s restarting failed container=… pod=…" (Go duration of whole seconds). */
function backoffMessage(pod: AgentPod, name: string, delayMs: number): string {
  const s = Math.round(delayMs / 1000);
  const d = s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
  return `back-off ${d} restarting failed container=${name} pod=${pod.metadata.name}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid})`;
}

/** Moves restarts still in CrashLoopBackOff out of the start lists (kubelet's doBackOff). */
function applyBackoff(pod: AgentPod, ctx: PodActionsContext, changes: PodActions): void {
  const hold = (list: ContainerToStart[]): ContainerToStart[] =>
    list.filter((s) => {
      if (!s.backoff) return true;
      const until = ctx.backoff.backingOffUntil(s.backoff.key, s.backoff.failedAt);
      if (until === undefined) return true;
      changes.backingOff.push({ name: s.name, kind: s.kind, until, message: backoffMessage(pod, s.name, ctx.backoff.delayMs(s.backoff.key)) });
      return false;
    });
  changes.initContainersToStart = hold(changes.initContainersToStart);
  changes.containersToStart = hold(changes.containersToStart);
}

/** What one sync of pod must do given what the runtime runs. */
export function computePodActions(pod: AgentPod, status: PodRuntimeStatus, ctx: PodActionsContext): PodActions {
  const sb = podSandboxChanged(status);
  const changes: PodActions = {
    killPod: sb.changed,
    createSandbox: sb.changed,
    ...(sb.sandboxId ? { sandboxId: sb.sandboxId } : {}),
    attempt: sb.attempt,
    podIsTerminal: false,
    containersToKill: [],
    initContainersToStart: [],
    containersToStart: [],
    backingOff: [],
  };

  if (sb.changed) {
    // Everything is killed and created again in a new sandbox.
    if (!restartOnFailure(pod) && sb.attempt !== 0 && status.containers.length > 0) {
      // A Never pod whose sandbox went away after its containers ran does not come back.
      changes.createSandbox = false;
      changes.podIsTerminal = true;
      return changes;
    }
    const toStart = pod.spec.containers
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => !(pod.spec.restartPolicy === 'OnFailure' && succeeded(latestOf(status, c.name, 'regular'))));
    if (toStart.length === 0 && initDone(pod, status)) {
      changes.createSandbox = false;
      return changes;
    }
    const inits = pod.spec.initContainers ?? [];
    // Counts continue from the instances of the old sandbox.
    const fresh: PodRuntimeStatus = { sandboxes: [], containers: [] };
    const carried = { ...ctx, restartBase: restartBaseAfter(status, ctx.restartBase) };
    if (inits.length > 0) changes.initContainersToStart = [startOf(pod, fresh, carried, inits[0]!, 'init', 0)];
    else changes.containersToStart = toStart.map(({ c, i }) => startOf(pod, fresh, carried, c, 'regular', i));
    return changes;
  }

  const initialized = computeInitContainerActions(pod, status, ctx, changes);
  if (changes.killPod || !initialized) {
    applyBackoff(pod, ctx, changes);
    return changes;
  }

  let keep = 0;
  pod.spec.containers.forEach((spec, index) => {
    const latest = latestOf(status, spec.name, 'regular');
    if (!latest || latest.state !== 'running') {
      if (shouldContainerBeRestarted(pod, latest)) {
        changes.containersToStart.push(startOf(pod, status, ctx, spec, 'regular', index));
        if (latest?.state === 'unknown') {
          changes.containersToKill.push({
            id: latest.id,
            name: spec.name,
            kind: 'regular',
            message: `Container is in "${latest.state}" state, try killing it before restart`,
            reason: 'Unknown',
          });
        }
      }
      return;
    }
    let message: string;
    let reason: KillReason;
    if (ctx.probes.get(latest.id, 'liveness') === 'failure') {
      message = `Container ${spec.name} failed liveness probe`;
      reason = 'LivenessProbe';
    } else if (ctx.probes.get(latest.id, 'startup') === 'failure') {
      message = `Container ${spec.name} failed startup probe`;
      reason = 'StartupProbe';
    } else {
      keep++;
      return;
    }
    if (restartOnFailure(pod)) {
      message = `${message}, will be restarted`;
      changes.containersToStart.push(startOf(pod, status, ctx, spec, 'regular', index));
    }
    changes.containersToKill.push({ id: latest.id, name: spec.name, kind: 'regular', message, reason });
  });

  if (keep === 0 && changes.containersToStart.length === 0) {
    // Nothing runs and nothing will: stop the pod (sidecars must not keep it alive).
    changes.killPod = true;
    changes.initContainersToStart = [];
  }
  applyBackoff(pod, ctx, changes);
  return changes;
}

/** Restart counts the next instances continue from once the given containers are removed with their sandbox. */
export function restartBaseAfter(status: PodRuntimeStatus, base: Readonly<Record<string, number>> = {}): Record<string, number> {
  const out: Record<string, number> = { ...base };
  for (const c of status.containers) out[c.name] = Math.max(out[c.name] ?? 0, c.restartCount + (c.state === 'exited' ? 1 : 0));
  return out;
}

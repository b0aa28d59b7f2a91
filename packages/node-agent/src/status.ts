// Pod status, computed purely from (pod spec, what CRI reports, the worker's
// own state) exactly in the shape and with the reasons kubelet reports.
// No I/O here: the pod worker gathers the inputs, this module decides.
import { rfc3339 } from './clock.js';
import type {
  ConditionStatus,
  Container,
  ContainerState,
  ContainerStatus,
  AgentPod,
  WrittenPodCondition,
  PodPhase,
  AgentPodStatus,
} from './api_types.js';
import { podQosClass } from './runtime/qos.js';

export type ObservedContainerState = 'created' | 'running' | 'exited' | 'unknown';

/** One CRI container instance of the pod, as the worker observed it. */
export interface ObservedContainer {
  id: string;
  name: string;
  kind: 'init' | 'regular';
  /** The restart count this instance was created with (its annotation). */
  restartCount: number;
  state: ObservedContainerState;
  /** Milliseconds since the epoch; 0 when unset. */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  /** The runtime's reason for an exited container ("Completed", "Error", "OOMKilled", "StartError"). */
  reason: string;
  message: string;
  /** The image as the runtime reports it, and its id (image_ref). */
  image: string;
  imageRef: string;
}

export interface ObservedSandbox {
  id: string;
  ready: boolean;
  ip: string;
  createdAt: number;
}

/** What only the worker knows about a container (by container name). */
export interface ContainerWorkerState {
  /** A waiting reason from the last sync: ErrImagePull, CrashLoopBackOff, CreateContainerConfigError, … */
  waiting?: { reason: string; message: string };
  /** Readiness probe result of the current instance (only consulted when a readiness probe exists). */
  ready?: boolean;
  /** Startup probe result of the current instance (only consulted when a startup probe exists). */
  started?: boolean;
}

export interface StatusInput {
  pod: AgentPod;
  hostIP: string;
  sandbox?: ObservedSandbox;
  /** Every instance CRI has for this pod (any order). */
  containers: ObservedContainer[];
  worker: {
    containers: Record<string, ContainerWorkerState>;
    /** When the agent first accepted the pod (ms). */
    startTime?: number;
  };
  /** The status last written (lastTransitionTime is kept for unchanged conditions). */
  previous?: AgentPodStatus;
  /** The pod is being (or has been) shut down: stopped containers make it terminal. */
  podIsTerminal?: boolean;
  now: number;
}

export const CONTAINER_ID_PREFIX = 'containerd://';

/** Instances of one container name, newest (highest restart count, then creation) first. */
export function instancesOf(containers: ObservedContainer[], name: string, kind?: 'init' | 'regular'): ObservedContainer[] {
  return containers
    .filter((c) => c.name === name && (kind === undefined || c.kind === kind))
    .sort((a, b) => b.restartCount - a.restartCount || b.createdAt - a.createdAt);
}

/** Whether a container with this latest instance needs a new instance (kubelet's ShouldContainerBeRestarted). */
export function shouldRestart(pod: AgentPod, latest: ObservedContainer | undefined): boolean {
  if (!latest) return true;
  if (latest.state === 'running') return false;
  if (latest.state === 'created' || latest.state === 'unknown') return true;
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (policy === 'Never') return false;
  if (policy === 'OnFailure' && latest.exitCode === 0) return false;
  return true;
}

/** Init containers need a retry only on failure, unless the pod never restarts; a sidecar (restartPolicy Always) whenever it is not running. */
export function shouldRestartInit(pod: AgentPod, latest: ObservedContainer | undefined, spec?: Container): boolean {
  if (!latest) return true;
  if (latest.state === 'running') return false;
  if (spec?.restartPolicy === 'Always') return true;
  if (latest.state === 'exited' && latest.exitCode === 0) return false;
  if (latest.state === 'exited' && (pod.spec.restartPolicy ?? 'Always') === 'Never') return false;
  return true;
}

function terminatedState(c: ObservedContainer): ContainerState {
  const reason = c.reason || (c.exitCode === 0 ? 'Completed' : 'Error');
  return {
    terminated: {
      exitCode: c.exitCode,
      reason,
      ...(c.message ? { message: c.message } : {}),
      startedAt: c.startedAt ? rfc3339(c.startedAt) : undefined,
      finishedAt: c.finishedAt ? rfc3339(c.finishedAt) : undefined,
      containerID: CONTAINER_ID_PREFIX + c.id,
    },
  };
}

function stripUndefined<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function containerStatus(
  input: StatusInput,
  spec: Container,
  kind: 'init' | 'regular',
  defaultWaitingReason: string,
): ContainerStatus {
  const { pod } = input;
  const [latest, previous] = instancesOf(input.containers, spec.name, kind);
  const ws = input.worker.containers[spec.name] ?? {};
  const status: ContainerStatus = {
    name: spec.name,
    state: { waiting: { reason: defaultWaitingReason } },
    lastState: {},
    ready: false,
    restartCount: latest?.restartCount ?? 0,
    image: latest?.image || spec.image || '',
    imageID: latest?.imageRef ?? '',
    ...(latest ? { containerID: CONTAINER_ID_PREFIX + latest.id } : {}),
    started: false,
  };
  if (latest) {
    switch (latest.state) {
      case 'running':
        status.state = { running: { startedAt: rfc3339(latest.startedAt || latest.createdAt) } };
        break;
      case 'exited':
        status.state = terminatedState(latest);
        break;
      default:
        status.state = { waiting: { reason: 'ContainerCreating' } };
    }
    if (previous && previous.state === 'exited') status.lastState = terminatedState(previous);
  }
  const restart = kind === 'init' ? shouldRestartInit(pod, latest, spec) : shouldRestart(pod, latest);
  if (ws.waiting && restart && !input.podIsTerminal) {
    if (latest && latest.state === 'exited') status.lastState = terminatedState(latest);
    status.state = { waiting: { reason: ws.waiting.reason, ...(ws.waiting.message ? { message: ws.waiting.message } : {}) } };
  }
  const running = status.state?.running !== undefined;
  if (kind === 'init' && spec.restartPolicy !== 'Always') {
    status.ready = status.state?.terminated?.exitCode === 0;
    status.started = running;
  } else {
    // Regular containers and sidecars: started after the startup probe, ready after the readiness probe.
    status.started = running && (spec.startupProbe ? ws.started === true : true);
    status.ready = status.started && (spec.readinessProbe ? ws.ready === true : true);
  }
  return stripUndefined(status);
}

const isSidecar = (pod: AgentPod, name: string): boolean => (pod.spec.initContainers ?? []).some((c) => c.name === name && c.restartPolicy === 'Always');

/** kubelet's HasAnyRegularContainerStarted. */
function anyRegularStarted(regular: ContainerStatus[]): boolean {
  return regular.some((s) => s.state?.running !== undefined || s.state?.terminated !== undefined);
}

/** kubelet's getPhase (sidecars — restartable init containers — count with the containers, not as initialization). */
export function podPhase(pod: AgentPod, init: ContainerStatus[], regular: ContainerStatus[], podIsTerminal: boolean): PodPhase {
  let pendingInitialization = 0;
  let failedInitialization = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of init) {
    if (isSidecar(pod, s.name)) {
      if (s.state?.running) {
        if (!s.started) pendingInitialization++;
        running++;
      } else if (s.state?.terminated) {
        // a stopped sidecar does not count for the phase
      } else if (s.state?.waiting) {
        if (!s.lastState?.terminated) {
          pendingInitialization++;
          waiting++;
        }
      } else {
        pendingInitialization++;
        unknown++;
      }
      continue;
    }
    if (s.state?.running) pendingInitialization++;
    else if (s.state?.terminated) {
      if (s.state?.terminated.exitCode !== 0) failedInitialization++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) {
        if (s.lastState?.terminated.exitCode !== 0) failedInitialization++;
      } else pendingInitialization++;
    } else pendingInitialization++;
  }
  for (const s of regular) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state?.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (failedInitialization > 0 && (policy === 'Never' || podIsTerminal)) return 'Failed';
  if ((pendingInitialization > 0 && !anyRegularStarted(regular)) || waiting > 0) {
    if (podIsTerminal) return 'Failed';
    return 'Pending';
  }
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function condition(
  input: StatusInput,
  type: string,
  status: ConditionStatus,
  reason?: string,
  message?: string,
): WrittenPodCondition {
  const prev = input.previous?.conditions?.find((c) => c.type === type);
  const lastTransitionTime = prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(input.now);
  return stripUndefined({ type, status, lastProbeTime: null, lastTransitionTime, reason, message });
}

/** The pod's status as kubelet would report it. */
export function computePodStatus(input: StatusInput): AgentPodStatus {
  const { pod } = input;
  const initSpecs = pod.spec.initContainers ?? [];
  const defaultWaiting = initSpecs.length > 0 ? 'PodInitializing' : 'ContainerCreating';
  const init = initSpecs.map((c) => containerStatus(input, c, 'init', defaultWaiting));
  const regular = pod.spec.containers.map((c) => containerStatus(input, c, 'regular', defaultWaiting));
  let phase = podPhase(pod, init, regular, input.podIsTerminal ?? false);
  const prevPhase = input.previous?.phase;
  // A pod never leaves a terminal phase.
  if (prevPhase === 'Succeeded' || prevPhase === 'Failed') phase = prevPhase;
  const terminal = phase === 'Succeeded' || phase === 'Failed';

  const conditions: WrittenPodCondition[] = [];
  const sandboxReady = input.sandbox?.ready === true && !terminal;
  conditions.push(condition(input, 'PodReadyToStartContainers', sandboxReady ? 'True' : 'False'));

  // kubelet's isInitContainerInitialized: a sidecar once started, a plain init container once it succeeded; all of them once a container started.
  const incompleteInit = anyRegularStarted(regular)
    ? []
    : init.filter((s) => !(isSidecar(pod, s.name) ? s.started === true : s.state?.terminated?.exitCode === 0)).map((s) => s.name);
  if (phase === 'Succeeded' && incompleteInit.length === 0) {
    conditions.push(condition(input, 'Initialized', 'True', 'PodCompleted'));
  } else if (incompleteInit.length === 0) {
    conditions.push(condition(input, 'Initialized', 'True'));
  } else {
    conditions.push(
      condition(input, 'Initialized', 'False', 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
    );
  }

  const unready = regular.filter((s) => !s.ready).map((s) => s.name);
  let readyCond: [ConditionStatus, string?, string?];
  if (phase === 'Succeeded') readyCond = ['False', 'PodCompleted'];
  else if (incompleteInit.length > 0 && unready.length > 0 && !terminal)
    readyCond = ['False', 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`];
  else if (unready.length > 0) readyCond = ['False', 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`];
  else if (terminal) readyCond = ['False', 'PodFailed'];
  else readyCond = ['True'];
  conditions.push(condition(input, 'Ready', ...readyCond));
  conditions.push(condition(input, 'ContainersReady', ...readyCond));

  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  conditions.push(scheduled ? { ...scheduled } : condition(input, 'PodScheduled', 'True'));

  const podIP = pod.spec.hostNetwork ? input.hostIP : input.sandbox?.ip || undefined;
  const startMs = input.worker.startTime;
  const status: AgentPodStatus = {
    phase,
    conditions,
    hostIP: input.hostIP || undefined,
    hostIPs: input.hostIP ? [{ ip: input.hostIP }] : undefined,
    podIP: podIP || undefined,
    podIPs: podIP ? [{ ip: podIP }] : undefined,
    startTime: input.previous?.startTime ?? pod.status?.startTime ?? (startMs ? rfc3339(startMs) : undefined),
    ...(init.length > 0 ? { initContainerStatuses: init } : {}),
    containerStatuses: regular,
    qosClass: podQosClass(pod),
  };
  return stripUndefined(status);
}

/** Structural equality of two statuses (key order independent). */
export function statusEqual(a: AgentPodStatus | undefined, b: AgentPodStatus | undefined): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : val,
  );
}

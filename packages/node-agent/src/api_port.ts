// The node agent's port to the API side. The pod lifecycle engine depends only
// on these interfaces; the API-server-backed implementation lives elsewhere.
import type { AgentConfigMap, EventType, ObjectReference, AgentPod, AgentPodStatus, AgentSecret } from './api_types.js';

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodEvent {
  type: PodEventType;
  pod: AgentPod;
}

/** The desired pods of this node (spec.nodeName = the node), as full Pod objects. */
export interface PodSource {
  /**
   * All pods currently bound to this node. Resolves once the source is in
   * sync with the API (the engine removes pods that are not listed here).
   */
  listPods(): Promise<AgentPod[]>;
  /** Subscribes to changes; returns the unsubscribe function. */
  watchPods(handler: (event: PodEvent) => void): () => void;
}

export interface StatusSink {
  /** Called only when the computed status changed. */
  writePodStatus(namespace: string, name: string, uid: string, status: AgentPodStatus): Promise<void>;
  /**
   * Deletes the pod object after graceful termination, with a uid
   * precondition (a new pod of the same name is left alone).
   */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
  recordEvent(involvedObject: ObjectReference, type: EventType, reason: string, message: string): Promise<void>;
}

export interface ConfigSource {
  /** undefined when the object does not exist. */
  getConfigMap(namespace: string, name: string): Promise<AgentConfigMap | undefined>;
  getSecret(namespace: string, name: string): Promise<AgentSecret | undefined>;
}

export interface ApiPort extends PodSource, StatusSink, ConfigSource {}

export interface RecordedEvent {
  involvedObject: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
  time: number;
}

export interface StatusWrite {
  namespace: string;
  name: string;
  uid: string;
  status: AgentPodStatus;
  time: number;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * A test double of the API server: an in-memory ApiPort. Tests put pods,
 * config maps and secrets in, and read back what the engine wrote (status
 * history, events, deletions). Status writes are applied to the stored pod
 * and echoed as MODIFIED events, as a real watch would.
 */
export class InMemoryApiPort implements ApiPort {
  private readonly pods = new Map<string, AgentPod>();
  private readonly configMaps = new Map<string, AgentConfigMap>();
  private readonly secrets = new Map<string, AgentSecret>();
  private readonly handlers = new Set<(e: PodEvent) => void>();
  readonly statusWrites: StatusWrite[] = [];
  readonly events: RecordedEvent[] = [];
  readonly deletions: { namespace: string; name: string; uid: string; time: number }[] = [];
  private rvCounter = 1;

  constructor(private readonly now: () => number = Date.now) {}

  // ---------------------------------------------------------- test controls

  /** Adds or replaces a pod (keyed by uid) and notifies watchers. */
  putPod(pod: AgentPod): AgentPod {
    const stored = clone(pod);
    stored.metadata.namespace ??= 'default';
    stored.metadata.resourceVersion = String(++this.rvCounter);
    const type: PodEventType = this.pods.has(stored.metadata.uid) ? 'MODIFIED' : 'ADDED';
    this.pods.set(stored.metadata.uid, stored);
    this.emit({ type, pod: stored });
    return clone(stored);
  }

  /** Sets deletionTimestamp and the grace period, as a graceful DELETE does. */
  markDeleted(uid: string, gracePeriodSeconds?: number): void {
    const pod = this.pods.get(uid);
    if (!pod) throw new Error(`pod ${uid} not found`);
    const grace = gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    pod.metadata.deletionTimestamp = new Date(this.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    pod.metadata.deletionGracePeriodSeconds = grace;
    pod.metadata.resourceVersion = String(++this.rvCounter);
    this.emit({ type: 'MODIFIED', pod: clone(pod) });
  }

  /** Removes a pod at once (a forced delete): the engine sees DELETED. */
  removePod(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    this.pods.delete(uid);
    this.emit({ type: 'DELETED', pod: clone(pod) });
  }

  getPod(uid: string): AgentPod | undefined {
    const p = this.pods.get(uid);
    return p ? clone(p) : undefined;
  }

  putConfigMap(cm: AgentConfigMap): void {
    this.configMaps.set(`${cm.metadata.namespace ?? 'default'}/${cm.metadata.name}`, clone(cm));
  }

  putSecret(s: AgentSecret): void {
    this.secrets.set(`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, clone(s));
  }

  /** Events about one pod uid. */
  eventsFor(uid: string): RecordedEvent[] {
    return this.events.filter((e) => e.involvedObject.uid === uid);
  }

  /** Status writes of one pod uid, oldest first. */
  statusHistory(uid: string): AgentPodStatus[] {
    return this.statusWrites.filter((w) => w.uid === uid).map((w) => w.status);
  }

  // ---------------------------------------------------------- PodSource

  async listPods(): Promise<AgentPod[]> {
    return [...this.pods.values()].map(clone);
  }

  watchPods(handler: (event: PodEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  // ---------------------------------------------------------- StatusSink

  async writePodStatus(namespace: string, name: string, uid: string, status: AgentPodStatus): Promise<void> {
    this.statusWrites.push({ namespace, name, uid, status: clone(status), time: this.now() });
    const pod = this.pods.get(uid);
    if (!pod) return;
    pod.status = clone(status);
    pod.metadata.resourceVersion = String(++this.rvCounter);
    this.emit({ type: 'MODIFIED', pod: clone(pod) });
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    const pod = this.pods.get(uid);
    if (!pod || pod.metadata.name !== name || pod.metadata.namespace !== namespace) {
      const err = new Error(`pod ${namespace}/${name} with uid ${uid} not found`) as Error & { code: string };
      err.code = 'NotFound';
      throw err;
    }
    this.deletions.push({ namespace, name, uid, time: this.now() });
    this.removePod(uid);
  }

  async recordEvent(involvedObject: ObjectReference, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ involvedObject: clone(involvedObject), type, reason, message, time: this.now() });
  }

  // ---------------------------------------------------------- ConfigSource

  async getConfigMap(namespace: string, name: string): Promise<AgentConfigMap | undefined> {
    const cm = this.configMaps.get(`${namespace}/${name}`);
    return cm ? clone(cm) : undefined;
  }

  async getSecret(namespace: string, name: string): Promise<AgentSecret | undefined> {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s ? clone(s) : undefined;
  }

  private emit(e: PodEvent): void {
    for (const h of [...this.handlers]) h(clone(e));
  }
}

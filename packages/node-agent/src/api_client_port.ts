// The real ApiPort: the pod lifecycle engine's view of the API server over
// @mkube/client. Pods of this node come from an informer (fieldSelector
// spec.nodeName=<node>); status is written as a merge patch on pods/status
// (fields that vanished are nulled); deletions carry a uid precondition and
// gracePeriodSeconds 0. While the API server is unreachable the informer
// retries with back-off, the engine keeps running what it has, failed status
// writes are retried by the pod workers and converge on reconnect.
// Writes go through a small priority gate (status writes and deletes before
// events, a bounded number in flight): a burst of pods then reuses the
// client's keep-alive connections instead of opening (TLS-handshaking) one
// per request, and events never delay status writes. Events beyond
// maxPendingEvents are dropped, as kubelet's recorder drops over its limit.
import { randomBytes } from 'node:crypto';
import { ApiError, Informer, Resources, type KubeClient, type KubeObject, type ResourceClient } from '@mkube/client';
import type { ApiPort, PodEvent } from './api_port.js';
import type { AgentConfigMap, EventType, ObjectReference, AgentPod, AgentPodStatus, AgentSecret } from './api_types.js';
import { silentLogger, type Logger } from './logger.js';
import { PrioritySemaphore } from './runtime/priority_semaphore.js';
import type { ServiceAccountTokenSource, TokenRequestSpec } from './runtime/projected_volume.js';
import type { ServiceLike, ServiceListSource } from './runtime/service_env.js';
import { resourceFor, type PersistentVolume, type PersistentVolumeClaim } from '@mkube/api';
import type { StorageSource } from './runtime/pvc_volume.js';

type KPod = AgentPod & KubeObject;

export interface ApiClientPortOptions {
  client: KubeClient;
  nodeName: string;
  logger?: Logger;
  /** Component name in events (default "kubelet", as kubectl describe expects). */
  component?: string;
  /** Status writes, deletes and events in flight (default 8). */
  maxInflightWrites?: number;
  /** Events waiting to be sent beyond which new ones are dropped (default 1000). */
  maxPendingEvents?: number;
}

const WRITE_PRIORITY = { status: 0, event: 1 } as const;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class ApiClientPort implements ApiPort, ServiceAccountTokenSource, ServiceListSource, StorageSource {
  readonly pods: Informer<KPod>;
  private readonly podClient: ResourceClient<KPod>;
  private readonly log: Logger;
  private started = false;
  /** Status writes that went through (for metrics/tests). */
  statusWrites = 0;
  statusWriteFailures = 0;
  /** Events dropped because too many were waiting. */
  eventsDropped = 0;
  private pendingEvents = 0;
  private readonly writes: PrioritySemaphore;

  constructor(private readonly o: ApiClientPortOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'api-port' });
    this.podClient = o.client.resource<KPod>(Resources.pods);
    this.writes = new PrioritySemaphore(o.maxInflightWrites ?? 8, 2);
    this.pods = new Informer<KPod>(this.podClient, {
      fieldSelector: `spec.nodeName=${o.nodeName}`,
      backoffInitialMs: 200,
      backoffMaxMs: 5_000,
      onError: (err) => this.log.debug({ err: String(err) }, 'pod list/watch failed'),
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.pods.start();
  }

  stop(): void {
    this.pods.stop();
  }

  // ---------------------------------------------------------------- PodSource

  async listPods(): Promise<AgentPod[]> {
    this.start();
    for (;;) {
      try {
        await this.pods.waitForSync(30_000);
        break;
      } catch {
        this.log.warn({}, 'still waiting for the first pod list from the API server');
      }
    }
    return this.pods.list().map((p) => structuredClone(p));
  }

  watchPods(handler: (event: PodEvent) => void): () => void {
    this.start();
    let active = true;
    const emit = (type: PodEvent['type'], pod: KPod) => {
      if (active) handler({ type, pod: structuredClone(pod) });
    };
    this.pods.addEventHandler({
      add: (p) => emit('ADDED', p),
      update: (_old, p) => emit('MODIFIED', p),
      delete: (p) => emit('DELETED', p),
    });
    return () => {
      active = false;
    };
  }

  // ---------------------------------------------------------------- StatusSink

  async writePodStatus(namespace: string, name: string, uid: string, status: AgentPodStatus): Promise<void> {
    const cached = this.pods.get(`${namespace}/${name}`);
    if (cached && cached.metadata.uid !== uid) {
      throw Object.assign(new Error(`pod ${namespace}/${name} is now a different pod (uid ${cached.metadata.uid}, not ${uid})`), { code: 'NotFound' });
    }
    const patchStatus: Record<string, unknown> = { ...status };
    for (const k of Object.keys((cached?.status ?? {}) as object)) if (!(k in status)) patchStatus[k] = null;
    try {
      await this.writes.run(WRITE_PRIORITY.status, () => this.podClient.patch(namespace, name, { metadata: { uid }, status: patchStatus }, 'merge', 'status'));
      this.statusWrites++;
    } catch (err) {
      this.statusWriteFailures++;
      if (ApiError.isNotFound(err)) throw Object.assign(new Error(`pod ${namespace}/${name} not found`), { code: 'NotFound' });
      throw err;
    }
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.writes.run(WRITE_PRIORITY.status, () => this.podClient.delete(namespace, name, { gracePeriodSeconds: 0, preconditions: { uid } }));
    } catch (err) {
      // 404: gone already; 409: the name now belongs to another pod.
      if (ApiError.isNotFound(err) || (err instanceof ApiError && err.code === 409)) {
        throw Object.assign(new Error(`pod ${namespace}/${name} with uid ${uid} not found: ${(err as Error).message}`), { code: 'NotFound' });
      }
      throw err;
    }
  }

  async recordEvent(involvedObject: ObjectReference, type: EventType, reason: string, message: string): Promise<void> {
    const ns = involvedObject.namespace ?? 'default';
    const now = rfc3339(Date.now());
    const component = this.o.component ?? 'kubelet';
    if (this.pendingEvents >= (this.o.maxPendingEvents ?? 1000)) {
      this.eventsDropped++;
      throw Object.assign(new Error(`event ${reason} for ${ns}/${involvedObject.name ?? ''} dropped: too many events pending`), { code: 'TooManyEvents' });
    }
    this.pendingEvents++;
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${involvedObject.name ?? 'unknown'}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject,
      reason,
      message,
      type,
      source: { component, host: this.o.nodeName },
      reportingComponent: component,
      reportingInstance: this.o.nodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as KubeObject;
    try {
      await this.writes.run(WRITE_PRIORITY.event, () => this.o.client.resource(Resources.events).create(ns, body));
    } finally {
      this.pendingEvents--;
    }
  }

  // ---------------------------------------------------------------- tokens and services

  /** The agent's view of the Services (its informer), for the containers' environment. */
  serviceList?: () => ServiceLike[];

  listServices(): ServiceLike[] {
    return this.serviceList?.() ?? [];
  }

  /** TokenRequest for a pod's projected volume, as the node (the Node authorizer allows it for pods bound here). */
  async requestServiceAccountToken(namespace: string, serviceAccount: string, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string }> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
    const r = (await this.o.client.request('POST', path, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec })) as { status?: { token?: string; expirationTimestamp?: string } };
    if (!r?.status?.token || !r.status.expirationTimestamp) throw Object.assign(new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`), { code: 'ETOKEN' });
    return { token: r.status.token, expirationTimestamp: r.status.expirationTimestamp };
  }

  // ---------------------------------------------------------------- ConfigSource

  async getConfigMap(namespace: string, name: string): Promise<AgentConfigMap | undefined> {
    try {
      return (await this.o.client.resource(Resources.configmaps).get(namespace, name)) as unknown as AgentConfigMap;
    } catch (err) {
      if (ApiError.isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getSecret(namespace: string, name: string): Promise<AgentSecret | undefined> {
    try {
      return (await this.o.client.resource(Resources.secrets).get(namespace, name)) as unknown as AgentSecret;
    } catch (err) {
      if (ApiError.isNotFound(err)) return undefined;
      throw err;
    }
  }

  // ---------------------------------------------------------------- StorageSource (runtime/pvc_volume.ts)

  async getPersistentVolumeClaim(namespace: string, name: string): Promise<PersistentVolumeClaim | undefined> {
    try {
      return await this.o.client.resource<PersistentVolumeClaim & KubeObject>(resourceFor('persistentvolumeclaims')).get(namespace, name);
    } catch (err) {
      if (ApiError.isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getPersistentVolume(name: string): Promise<PersistentVolume | undefined> {
    try {
      return await this.o.client.resource<PersistentVolume & KubeObject>(resourceFor('persistentvolumes')).get(undefined, name);
    } catch (err) {
      if (ApiError.isNotFound(err)) return undefined;
      throw err;
    }
  }
}

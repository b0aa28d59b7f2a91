/**
 * The `kubernetes` Service in `default` and its Endpoints, kept by the API
 * server as kube-apiserver's bootstrap controller does: ClusterIP the first
 * address of the service range, port 443 "https" to the secure port, and
 * Endpoints listing the API server's advertise address. Checked at start and
 * every 10 s (a deleted or edited object comes back).
 *
 * The endpoint part is an EndpointReconciler (--endpoint-reconciler-type):
 * `lease` (the default, lease_endpoint_reconciler.ts) lists every live API
 * server; `none` leaves the endpoints alone; SingleServerEndpointReconciler
 * writes this server's address only. stop() removes this server's endpoint
 * (graceful shutdown).
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Logger } from 'pino';
import { ApiError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { LeaseEndpointReconciler } from './lease_endpoint_reconciler.js';

type Obj = JsonObject;

export const KUBERNETES_SERVICE = 'kubernetes';
const NAMESPACE = 'default';
const PORT_NAME = 'https';
const LABELS = { component: 'apiserver', provider: 'kubernetes' };
/** How long a graceful stop waits to remove this API server's endpoint. */
const REMOVE_TIMEOUT_MS = 3000;

export interface EndpointReconciler {
  /** Makes default/kubernetes's Endpoints list this API server (ip) on `port`. */
  reconcile(ip: string, port: number): Promise<void>;
  /** Removes this API server from the Endpoints on shutdown (no-op for a single server). */
  remove(ip: string, port?: number): Promise<void>;
}

/** kube-apiserver's --endpoint-reconciler-type values mkube has (master-count is deprecated upstream). */
export const ENDPOINT_RECONCILER_TYPES = ['lease', 'none'] as const;
export type EndpointReconcilerType = (typeof ENDPOINT_RECONCILER_TYPES)[number];

/** `none`: the API server does not manage the kubernetes Service's endpoints. */
export class NoneEndpointReconciler implements EndpointReconciler {
  async reconcile(): Promise<void> {}
  async remove(): Promise<void> {}
}

export function endpointReconciler(type: EndpointReconcilerType, registry: Registry, ttlSeconds?: number): EndpointReconciler {
  return type === 'none' ? new NoneEndpointReconciler() : new LeaseEndpointReconciler(registry, { ttlSeconds });
}

/** One API server: the Endpoints hold exactly its address. */
export class SingleServerEndpointReconciler implements EndpointReconciler {
  constructor(private readonly registry: Registry) {}

  async reconcile(ip: string, port: number): Promise<void> {
    const info = findResource('', 'v1', 'endpoints')!;
    const want: Obj = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: KUBERNETES_SERVICE, namespace: NAMESPACE, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets: [{ addresses: [{ ip }], ports: [{ name: PORT_NAME, port, protocol: 'TCP' }] }],
    };
    await this.registry.update(info, NAMESPACE, KUBERNETES_SERVICE, (cur) => ({ ...cur, metadata: { ...(cur.metadata as Obj), labels: (want.metadata as Obj).labels }, subsets: want.subsets }), { createIfMissing: () => want });
  }

  async remove(): Promise<void> {}
}

export interface KubernetesServiceOptions {
  registry: Registry;
  log: Logger;
  advertiseAddress: string;
  securePort: number;
  endpoints?: EndpointReconciler;
  intervalMs?: number;
}

export class KubernetesServiceController {
  private timer: NodeJS.Timeout | undefined;
  private readonly endpoints: EndpointReconciler;
  private running: Promise<void> | undefined;
  private warnedLoopback = false;

  constructor(private readonly o: KubernetesServiceOptions) {
    this.endpoints = o.endpoints ?? new SingleServerEndpointReconciler(o.registry);
  }

  /** Reconciles now (a failure is logged; the next round retries) and every intervalMs. */
  async start(): Promise<void> {
    await this.reconcile().catch((err: unknown) => this.o.log.warn({ err }, 'reconciling the kubernetes service failed'));
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.reconcile()
        .catch((err: unknown) => this.o.log.warn({ err }, 'reconciling the kubernetes service failed'))
        .finally(() => (this.running = undefined));
    }, this.o.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Stops reconciling and removes this API server's endpoint (its lease key), leaving the others listed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    if (isLoopback(this.o.advertiseAddress)) return;
    // Bounded: with the store down the shutdown must not wait for its retries (the lease then expires by itself).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(() => resolve(this.o.log.warn({ timeoutMs: REMOVE_TIMEOUT_MS }, 'removing this API server from the kubernetes endpoints timed out; its lease expires by itself')), REMOVE_TIMEOUT_MS)));
    const removal = this.endpoints.remove(this.o.advertiseAddress, this.o.securePort).catch((err: unknown) => this.o.log.warn({ err }, 'removing this API server from the kubernetes endpoints failed'));
    await Promise.race([removal, bound]);
    clearTimeout(timer);
  }

  /** The Service (created, or its ports and labels put back) and then its Endpoints. */
  async reconcile(): Promise<void> {
    const info = findResource('', 'v1', 'services')!;
    const ports = [{ name: PORT_NAME, port: 443, protocol: 'TCP', targetPort: this.o.securePort }];
    const current = await this.o.registry.get(info, NAMESPACE, KUBERNETES_SERVICE).catch((err: unknown) => {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    });
    if (!current || !portsMatch(current, ports)) {
      const want: Obj = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: KUBERNETES_SERVICE, namespace: NAMESPACE, labels: LABELS },
        spec: { type: 'ClusterIP', clusterIP: this.o.registry.allocators.firstIp(), ports, sessionAffinity: 'None' },
      };
      try {
        await this.o.registry.update(info, NAMESPACE, KUBERNETES_SERVICE, (cur) => ({ ...cur, metadata: { ...(cur.metadata as Obj), labels: LABELS }, spec: { ...(cur.spec as Obj), ports } }), { createIfMissing: () => want });
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409)) throw err;
      }
    }
    // Endpoints may not hold loopback addresses (validation, as upstream): a loopback-only API server has none.
    if (isLoopback(this.o.advertiseAddress)) {
      if (!this.warnedLoopback) this.o.log.warn({ advertiseAddress: this.o.advertiseAddress }, 'advertise address is loopback: the kubernetes service gets no endpoints');
      this.warnedLoopback = true;
      return;
    }
    await this.endpoints.reconcile(this.o.advertiseAddress, this.o.securePort);
  }
}

function portsMatch(svc: Obj, ports: Array<{ name: string; port: number; protocol: string; targetPort: number }>): boolean {
  const have = ((svc.spec ?? {}) as Obj).ports;
  if (!Array.isArray(have) || have.length !== 1) return false;
  const p = have[0] as Obj;
  return p.name === ports[0]!.name && p.port === ports[0]!.port && p.protocol === 'TCP' && p.targetPort === ports[0]!.targetPort;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip === 'localhost';
}

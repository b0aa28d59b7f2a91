/**
 * LeaseEndpointReconciler: the `kubernetes` Service's endpoints with several
 * API servers, as kube-apiserver's --endpoint-reconciler-type=lease. Each
 * API server keeps a key `<prefix>/masterleases/<IP>` alive with a store
 * lease of `ttlSeconds` (15 s, rewritten every reconcile, every 10 s); the
 * Endpoints default/kubernetes and the EndpointSlice default/kubernetes list
 * exactly the IPs with a live key (sorted), port the secure port. A killed
 * API server drops out when its key's lease expires; a stopped one deletes
 * its key and reconciles the rest at once.
 */
import { findResource, type JsonObject } from '@mkube/api';
import { ApiError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { EndpointReconciler } from './kubernetes_service.js';

type Obj = JsonObject;

const SERVICE = 'kubernetes';
const NAMESPACE = 'default';
const PORT_NAME = 'https';
/** kube-apiserver's DefaultEndpointReconcilerTTL. */
export const DEFAULT_ENDPOINT_RECONCILER_TTL_SECONDS = 15;

export interface LeaseEndpointReconcilerOptions {
  ttlSeconds?: number;
}

export class LeaseEndpointReconciler implements EndpointReconciler {
  private readonly ttl: number;
  private stopping = false;

  constructor(
    private readonly registry: Registry,
    o: LeaseEndpointReconcilerOptions = {},
  ) {
    this.ttl = o.ttlSeconds ?? DEFAULT_ENDPOINT_RECONCILER_TTL_SECONDS;
  }

  /** Where this API server's lease key lives. */
  leaseKey(ip: string): string {
    return `${this.registry.prefix}/masterleases/${ip}`;
  }

  /** Renews our lease key, then writes the Endpoints and EndpointSlice for every live lease. */
  async reconcile(ip: string, port: number): Promise<void> {
    if (this.stopping) return;
    const { id } = await this.registry.client.leaseGrant(this.ttl);
    // The value is the Endpoints upstream stores under the key (its name the IP).
    const value: Obj = { kind: 'Endpoints', apiVersion: 'v1', metadata: { name: ip }, subsets: [{ addresses: [{ ip }] }] };
    await this.registry.client.put(this.leaseKey(ip), JSON.stringify(value), { lease: id });
    await this.write(await this.liveIps(), port);
  }

  /** Deletes our lease key and reconciles the others (graceful shutdown); later reconciles do nothing. */
  async remove(ip: string, port?: number): Promise<void> {
    this.stopping = true;
    await this.registry.client.delete(this.leaseKey(ip));
    if (port !== undefined) await this.write((await this.liveIps()).filter((x) => x !== ip), port);
  }

  /** The IPs with a live lease key, sorted as upstream sorts them. */
  async liveIps(): Promise<string[]> {
    const prefix = `${this.registry.prefix}/masterleases/`;
    const res = await this.registry.client.get(prefix, { prefix: true, keysOnly: true });
    return res.kvs.map((kv) => kv.key.toString('utf8').slice(prefix.length)).sort();
  }

  private async write(ips: string[], port: number): Promise<void> {
    await this.writeEndpoints(ips, port);
    await this.writeSlice(ips, port);
  }

  private async writeEndpoints(ips: string[], port: number): Promise<void> {
    const info = findResource('', 'v1', 'endpoints')!;
    const subsets = ips.length === 0 ? [] : [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: PORT_NAME, port, protocol: 'TCP' }] }];
    const labels = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    const want: Obj = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: SERVICE, namespace: NAMESPACE, labels }, subsets };
    await conflictTolerant(() =>
      this.registry.update(info, NAMESPACE, SERVICE, (cur) => ({ ...cur, metadata: { ...(cur.metadata as Obj), labels: { ...((cur.metadata as Obj).labels as Obj | undefined), ...labels } }, subsets }), { createIfMissing: () => want }),
    );
  }

  private async writeSlice(ips: string[], port: number): Promise<void> {
    const info = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
    const labels = { 'kubernetes.io/service-name': SERVICE };
    const endpoints = ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } }));
    const ports = [{ name: PORT_NAME, port, protocol: 'TCP' }];
    const want: Obj = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: SERVICE, namespace: NAMESPACE, labels }, addressType: ips.some((ip) => ip.includes(':')) ? 'IPv6' : 'IPv4', endpoints, ports };
    await conflictTolerant(() =>
      this.registry.update(info, NAMESPACE, SERVICE, (cur) => ({ ...cur, metadata: { ...(cur.metadata as Obj), labels: { ...((cur.metadata as Obj).labels as Obj | undefined), ...labels } }, endpoints, ports }), { createIfMissing: () => want }),
    );
  }
}

/** Two API servers writing at once: the loser's create meets AlreadyExists / its CAS a conflict; the next round converges. */
async function conflictTolerant(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 409)) throw err;
  }
}

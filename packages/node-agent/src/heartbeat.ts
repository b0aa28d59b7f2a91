// Node registration and heartbeats: creates or updates this agent's Node
// (labels, taints on create, capacity, addresses, nodeInfo, daemon endpoint),
// renews the Lease kube-node-lease/<node> every leaseRenewMs, recomputes the
// conditions every statusCheckMs and writes node status when they changed or
// statusUpdateMs passed. The pod CIDR is read from the Node (allocated by the
// controller manager); the --pod-cidr fallback is written to spec.podCIDR
// only when the Node has none.
import { ApiError, Resources, type KubeClient, type KubeObject } from '@mkube/client';
import type { Image, StatusResponse } from './cri/types.js';
import { nodeImages } from './node_images.js';
import { silentLogger, type Logger } from './logger.js';
import {
  computeConditions,
  conditionsChanged,
  mergeConditions,
  nodeLabels,
  nodeStatusFields,
  probeMachine,
  probePressure,
  type MachineFacts,
  type NodeCondition,
  type NodeIdentity,
} from './node_status.js';

export const LEASE_NAMESPACE = 'kube-node-lease';

export interface HeartbeatOptions {
  client: KubeClient;
  identity: NodeIdentity;
  rootDir: string;
  /** Fallback pod CIDR when the Node has none (tests, no IPAM). */
  podCIDR?: string;
  cri: { status(verbose?: boolean): Promise<StatusResponse>; listImages?(): Promise<Image[]> };
  leaseRenewMs?: number;
  leaseDurationSeconds?: number;
  statusUpdateMs?: number;
  statusCheckMs?: number;
  logger?: Logger;
  /** Called whenever a fresh Node object was read or written. */
  onNode?: (node: KubeObject) => void;
}

function now3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function microTime(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

export class NodeHeartbeat {
  private readonly log: Logger;
  private facts?: MachineFacts;
  private node?: KubeObject;
  private lease?: KubeObject;
  private lastConditions?: NodeCondition[];
  private lastStatusWrite = 0;
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private stopped = false;
  leaseRenewals = 0;
  statusUpdates = 0;

  constructor(private readonly o: HeartbeatOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'heartbeat', node: o.identity.nodeName });
  }

  get podCIDR(): string | undefined {
    return (this.node?.spec?.podCIDR as string | undefined) ?? this.o.podCIDR;
  }

  /** Registers the node (retrying until the API server answers), then starts the loops. */
  async start(): Promise<void> {
    let delay = 200;
    while (!this.stopped) {
      try {
        await this.register();
        break;
      } catch (err) {
        this.log.warn({ err: String(err) }, 'node registration failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
    if (this.stopped) return;
    await this.renewLease().catch((err) => this.log.warn({ err: String(err) }, 'lease renewal failed'));
    this.leaseTimer = setInterval(() => {
      this.renewLease().catch((err) => this.log.warn({ err: String(err) }, 'lease renewal failed'));
    }, this.o.leaseRenewMs ?? 10_000);
    this.statusTimer = setInterval(() => {
      this.maybeUpdateStatus().catch((err) => this.log.warn({ err: String(err) }, 'node status update failed'));
    }, this.o.statusCheckMs ?? Math.min(10_000, this.o.statusUpdateMs ?? 60_000));
  }

  stop(): void {
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
  }

  private setNode(n: KubeObject): void {
    this.node = n;
    this.o.onNode?.(n);
  }

  private async conditions(): Promise<NodeCondition[]> {
    const pressure = await probePressure(this.o.rootDir);
    let runtimeReady = true;
    let runtimeMessage: string | undefined;
    try {
      const st = await this.o.cri.status();
      const bad = (st.status?.conditions ?? []).filter((c) => !c.status);
      if (bad.length) {
        runtimeReady = false;
        runtimeMessage = bad.map((c) => `${c.type}=false reason:${c.reason} message:${c.message}`).join('; ');
      }
    } catch (err) {
      runtimeReady = false;
      runtimeMessage = `container runtime is down: ${String(err)}`;
    }
    return computeConditions({ pressure, runtimeReady, runtimeMessage });
  }

  async register(): Promise<KubeObject> {
    const id = this.o.identity;
    this.facts ??= await probeMachine(this.o.rootDir);
    const nodes = this.o.client.resource(Resources.nodes);
    const labels = nodeLabels(id, this.facts);
    let node: KubeObject;
    try {
      const existing = await nodes.get(undefined, id.nodeName);
      const spec = { ...(existing.spec ?? {}) };
      let changed = false;
      if (!spec.podCIDR && this.o.podCIDR) {
        spec.podCIDR = this.o.podCIDR;
        spec.podCIDRs = [this.o.podCIDR];
        changed = true;
      }
      const merged = { ...(existing.metadata.labels ?? {}), ...labels };
      if (JSON.stringify(merged) !== JSON.stringify(existing.metadata.labels ?? {})) changed = true;
      node = changed ? await nodes.update({ ...existing, metadata: { ...existing.metadata, labels: merged }, spec }) : existing;
      this.log.info({ podCIDR: spec.podCIDR }, 'node already registered; updated');
    } catch (err) {
      if (!ApiError.isNotFound(err)) throw err;
      node = await nodes.create(undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: id.nodeName, labels },
        spec: {
          ...(this.o.podCIDR ? { podCIDR: this.o.podCIDR, podCIDRs: [this.o.podCIDR] } : {}),
          ...(id.taints.length ? { taints: id.taints } : {}),
        },
      });
      this.log.info({ podCIDR: this.o.podCIDR }, 'node registered');
    }
    this.setNode(node);
    await this.writeStatus(await this.conditions());
    return this.node!;
  }

  private async writeStatus(next: NodeCondition[]): Promise<void> {
    const id = this.o.identity;
    const conds = mergeConditions(this.lastConditions ?? (this.node?.status?.conditions as NodeCondition[] | undefined), next, now3339());
    const images = this.o.cri.listImages ? await this.o.cri.listImages().then(nodeImages, (err: unknown) => (this.log.warn({ err }, 'listing images failed'), undefined)) : undefined;
    const status = { ...nodeStatusFields(id, this.facts!), conditions: conds, ...(images ? { images } : {}) };
    const n = await this.o.client.resource(Resources.nodes).patch(undefined, id.nodeName, { status }, 'merge', 'status');
    this.setNode(n);
    this.lastConditions = conds;
    this.lastStatusWrite = Date.now();
    this.statusUpdates++;
  }

  /** Writes status when the conditions changed or the update period passed. */
  async maybeUpdateStatus(): Promise<void> {
    const next = await this.conditions();
    const due = Date.now() - this.lastStatusWrite >= (this.o.statusUpdateMs ?? 60_000);
    if (due || conditionsChanged(this.lastConditions, next)) await this.writeStatus(next);
    else {
      // keep the Node fresh for pod CIDR changes by the IPAM
      this.setNode(await this.o.client.resource(Resources.nodes).get(undefined, this.o.identity.nodeName));
    }
  }

  async renewLease(): Promise<void> {
    const leases = this.o.client.resource(Resources.leases);
    const name = this.o.identity.nodeName;
    const spec = { holderIdentity: name, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: microTime() };
    if (this.lease) {
      try {
        this.lease = await leases.update({ ...this.lease, spec: { ...this.lease.spec, ...spec } });
        this.leaseRenewals++;
        return;
      } catch (err) {
        if (!ApiError.isConflict(err) && !ApiError.isNotFound(err)) throw err;
        this.lease = undefined;
      }
    }
    try {
      const cur = await leases.get(LEASE_NAMESPACE, name);
      this.lease = await leases.update({ ...cur, spec: { ...cur.spec, ...spec } });
    } catch (err) {
      if (!ApiError.isNotFound(err)) throw err;
      const owner = this.node?.metadata.uid
        ? [{ apiVersion: 'v1', kind: 'Node', name, uid: this.node.metadata.uid }]
        : undefined;
      this.lease = await leases.create(LEASE_NAMESPACE, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: LEASE_NAMESPACE, ...(owner ? { ownerReferences: owner } : {}) },
        spec: { ...spec, acquireTime: spec.renewTime },
      });
    }
    this.leaseRenewals++;
  }
}

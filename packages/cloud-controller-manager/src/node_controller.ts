// The cloud node controllers of the cloud controller manager (upstream's k8s.io/cloud-provider
// controllers/node and controllers/nodelifecycle), on the provider's InstancesV2:
// - initialisation: a Node without addresses gets the provider's (InternalIP, Hostname), one
//   without spec.providerID gets it, the topology and instance-type labels are added when missing,
//   and the taint node.cloudprovider.kubernetes.io/uninitialized is taken off;
// - lifecycle: every monitor period, a Node that is not Ready and whose machine the provider says
//   does not exist is deleted (event DeletingNode), as upstream's cloud node lifecycle controller.
import type { Node } from '@mkube/api';
import { Informer, keyOf, Resources, WorkQueue, type KubeClient } from '@mkube/client';
import { EventRecorder } from '@mkube/controllers';
import type { Logger } from '@mkube/component-base';
import type { InstancesV2 } from './cloudprovider.js';

export const UNINITIALIZED_TAINT = 'node.cloudprovider.kubernetes.io/uninitialized';
const NODE_REF = { apiVersion: 'v1', kind: 'Node' };

export interface CloudNodeControllerOptions {
  client: KubeClient;
  instances: InstancesV2;
  log: Logger;
  nodes: Informer<Node>;
  /** How often not-Ready Nodes are checked against the provider (upstream's --node-monitor-period, 5 s). */
  monitorPeriodMs?: number;
}

const isReady = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export class CloudNodeController {
  readonly queue = new WorkQueue<string>({ baseDelayMs: 200, maxDelayMs: 30_000 });
  private readonly events: EventRecorder;
  deleted = 0;

  constructor(private readonly o: CloudNodeControllerOptions) {
    this.events = new EventRecorder(o.client, o.log, 'cloud-node-lifecycle-controller', () => Date.now());
    o.nodes.addEventHandler({ add: (n) => this.queue.add(keyOf(n)), update: (_o, n) => this.queue.add(keyOf(n)) });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.o.nodes.waitForSync();
    if (signal.aborted) return;
    signal.addEventListener('abort', () => this.queue.shutDown(), { once: true });
    const timer = setInterval(() => void this.monitor().catch((err: unknown) => this.o.log.warn({ err }, 'node lifecycle check failed')), this.o.monitorPeriodMs ?? 5000);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.initialise(key);
        this.queue.forget(key);
      } catch (err) {
        this.o.log.warn({ err, node: key }, 'node not initialised: retrying');
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async initialise(key: string): Promise<void> {
    const node = this.o.nodes.get(key);
    if (!node) return;
    const labels = node.metadata.labels ?? {};
    const taints = node.spec?.taints ?? [];
    const needs =
      !node.spec?.providerID || (node.status?.addresses ?? []).length === 0 || !labels['topology.kubernetes.io/zone'] || taints.some((t) => t.key === UNINITIALIZED_TAINT);
    if (!needs) return;
    if (!(await this.o.instances.instanceExists(node))) return; // not a machine of ours: the lifecycle part decides
    const meta = await this.o.instances.instanceMetadata(node);
    const nodes = this.o.client.resource<Node>(Resources.nodes);
    const newLabels: Record<string, string> = {};
    if (!labels['topology.kubernetes.io/zone'] && meta.zone) newLabels['topology.kubernetes.io/zone'] = meta.zone;
    if (!labels['topology.kubernetes.io/region'] && meta.region) newLabels['topology.kubernetes.io/region'] = meta.region;
    if (!labels['node.kubernetes.io/instance-type'] && meta.instanceType) newLabels['node.kubernetes.io/instance-type'] = meta.instanceType;
    const spec: Record<string, unknown> = {};
    if (!node.spec?.providerID) spec.providerID = meta.providerID;
    if (taints.some((t) => t.key === UNINITIALIZED_TAINT)) spec.taints = taints.filter((t) => t.key !== UNINITIALIZED_TAINT);
    if (Object.keys(newLabels).length > 0 || Object.keys(spec).length > 0) {
      await nodes.patch(undefined, node.metadata.name, { metadata: { labels: newLabels, resourceVersion: node.metadata.resourceVersion }, spec }, 'merge');
    }
    if ((node.status?.addresses ?? []).length === 0 && meta.nodeAddresses.length > 0) {
      await nodes.patch(undefined, node.metadata.name, { status: { addresses: meta.nodeAddresses } }, 'merge', 'status');
    }
  }

  /** Deletes the not-Ready Nodes whose machine is gone. */
  async monitor(): Promise<void> {
    for (const node of this.o.nodes.list()) {
      if (isReady(node)) continue;
      if (await this.o.instances.instanceExists(node)) continue;
      this.o.log.info({ node: node.metadata.name }, 'deleting node: its machine does not exist');
      this.events.record(node, NODE_REF, { type: 'Normal', reason: 'DeletingNode', message: `Deleting node ${node.metadata.name} because it does not exist in the cloud provider` });
      await this.o.client
        .resource<Node>(Resources.nodes)
        .delete(undefined, node.metadata.name)
        .then(() => this.deleted++)
        .catch((err: unknown) => this.o.log.warn({ err, node: node.metadata.name }, 'node not deleted'));
    }
  }
}

// A real API server on a real etcd 3.4 for the scheduler's tests, with the
// nodes, pods and namespaces they create and a condition poll.
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { ApiError, KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { eventually as poll, startApiFixture } from '@mkube/testing';

export interface Cluster {
  server: ApiServer;
  client(): KubeClient;
  stop(): Promise<void>;
}

/** @mkube/testing's API server fixture (real etcd 3.4) and clients from its admin kubeconfig. */
export async function startCluster(): Promise<Cluster> {
  const fx = await startApiFixture(startApiServer, { name: 'mkube-scheduler-test', store: 'etcd' });
  const clients: KubeClient[] = [];
  return {
    server: fx.server,
    client() {
      const c = new KubeClient(loadKubeconfig(fx.server.kubeconfigPath));
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await fx.stop();
    },
  };
}

/** @mkube/testing's eventually with the scheduler's default of 15 s. */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  return poll(what, fn, timeoutMs) as Promise<T>;
}

export function nodeObj(name: string, cpu: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: { capacity: { cpu, memory: '8Gi', pods: '110' }, allocatable: { cpu, memory: '8Gi', pods: '110' } },
  };
}

export function podObj(name: string, cpu: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu, memory: '64Mi' } } }] },
  };
}

export async function ensureNamespace(c: KubeClient, name: string): Promise<void> {
  try {
    await c.resource(Resources.namespaces).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (err) {
    if (!ApiError.isAlreadyExists(err)) throw err;
  }
}

export async function createNode(c: KubeClient, name: string, cpu: string): Promise<void> {
  const nodes = c.resource(Resources.nodes);
  const created = await nodes.create(undefined, nodeObj(name, cpu));
  if (!created.status?.allocatable) await nodes.updateStatus({ ...created, status: nodeObj(name, cpu).status });
}


// A real API server on a real etcd 3.4 for the scheduler's tests, with the
// nodes, pods and namespaces they create and a condition poll.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { ApiError, KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { pino } from 'pino';
import { startEtcdCluster, type EtcdCluster } from '../../store/test/helpers/etcd_process.js';

export interface Cluster {
  server: ApiServer;
  client(): KubeClient;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-scheduler-test-'));
  const clients: KubeClient[] = [];
  let etcd: EtcdCluster | undefined;
  let server: ApiServer | undefined;
  const stop = async () => {
    for (const c of clients) c.close();
    await server?.stop().catch(() => undefined);
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    etcd = await startEtcdCluster({ members: 1 });
    server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }) });
  } catch (err) {
    await stop();
    throw err;
  }
  const s = server;
  return {
    server: s,
    client() {
      const c = new KubeClient(loadKubeconfig(s.kubeconfigPath));
      clients.push(c);
      return c;
    },
    stop,
  };
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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


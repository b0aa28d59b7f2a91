// Integration fixture: a real etcd 3.4, an in-process API server on it and a
// ControllerManager (all controllers) against the API server; a client for
// the test. No node agents run: tests play the kubelet by writing pod status.
// Register `stop()` with t.teardown / test.after.always.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { pino } from 'pino';
import { startEtcdCluster, type EtcdCluster } from '../../../store/test/helpers/etcd_process.js';
import { ControllerManager, type ManagerOptions } from '../../src/manager.js';

export interface Fixture {
  dir: string;
  server: ApiServer;
  client: KubeClient;
  manager: ControllerManager;
  stop(): Promise<void>;
}

export async function startFixture(opts: Partial<ManagerOptions> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-controllers-test-'));
  let etcd: EtcdCluster | undefined;
  let server: ApiServer | undefined;
  let manager: ControllerManager | undefined;
  let client: KubeClient | undefined;
  const stop = async () => {
    await manager?.stop().catch(() => undefined);
    client?.close();
    await server?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    etcd = await startEtcdCluster({ members: 1 });
    // Like a real cluster (mkube up): the API server's DefaultTolerationSeconds uses the same unreachable toleration.
    const tolerationSeconds = (opts.config as { defaultUnreachableTolerationSeconds?: number } | undefined)?.defaultUnreachableTolerationSeconds;
    server = await startApiServer({
      dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }),
      ...(tolerationSeconds !== undefined ? { defaultUnreachableTolerationSeconds: tolerationSeconds } : {}),
    });
    const cfg = loadKubeconfig(server.kubeconfigPath);
    client = new KubeClient(cfg);
    manager = new ControllerManager({
      clientConfig: cfg,
      leaderElect: true,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      metricsPort: 0,
      logger: pino({ level: process.env.MKUBE_TEST_LOG ?? 'silent' }),
      ...opts,
    });
    await manager.start();
    return { dir, server, client, manager, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}

let ipSeq = 1;
/** Plays the kubelet for one pod: Running with an IP and Ready=True (or False). */
export async function setPodReady(client: KubeClient, pod: KubeObject, ready: boolean): Promise<KubeObject> {
  const pods = client.resource(Resources.pods);
  const cur = await pods.get(pod.metadata.namespace, pod.metadata.name);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ip = cur.status?.podIP ?? `10.213.1.${(ipSeq++ % 250) + 2}`;
  cur.status = {
    ...(cur.status ?? {}),
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    conditions: [
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
      { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
    ],
  };
  return pods.updateStatus(cur);
}

export const isReady = (p: KubeObject): boolean => !!(p.status?.conditions ?? []).find((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

// Integration fixture: @mkube/testing's API server fixture (a real etcd 3.4
// and an in-process API server) and a ControllerManager (all controllers) against the API server; a client for
// the test. No node agents run: tests play the kubelet by writing pod status.
// Register `stop()` with t.teardown / test.after.always.
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { eventually as poll, startApiFixture, type ApiFixture } from '@mkube/testing';
import { pino } from 'pino';
import { ControllerManager, type ManagerOptions } from '../../src/manager.js';

export { sleep } from '@mkube/testing';

export interface Fixture {
  dir: string;
  server: ApiServer;
  client: KubeClient;
  manager: ControllerManager;
  stop(): Promise<void>;
}

export async function startFixture(opts: Partial<ManagerOptions> = {}): Promise<Fixture> {
  // Like a real cluster (mkube up): the API server's DefaultTolerationSeconds uses the same unreachable toleration.
  const tolerationSeconds = (opts.config as { defaultUnreachableTolerationSeconds?: number } | undefined)?.defaultUnreachableTolerationSeconds;
  const api: ApiFixture<ApiServer> = await startApiFixture(startApiServer, {
    name: 'mkube-controllers-test',
    store: 'etcd',
    extra: tolerationSeconds !== undefined ? { defaultUnreachableTolerationSeconds: tolerationSeconds } : {},
  });
  let manager: ControllerManager | undefined;
  let client: KubeClient | undefined;
  const stop = async () => {
    await manager?.stop().catch(() => undefined);
    client?.close();
    await api.stop();
  };
  try {
    const cfg = loadKubeconfig(api.server.kubeconfigPath);
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
    return { dir: api.dir, server: api.server, client, manager, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** @mkube/testing's eventually with the controllers' default of 20 s. */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  return poll(what, fn, timeoutMs, 100) as Promise<T>;
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

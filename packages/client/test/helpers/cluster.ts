// Test fixture: a real etcd 3.4 (startEtcdCluster from the store's test
// helpers) and an in-process API server on a temp data dir; the API server can
// be restarted on the same etcd and data dir. Register `stop()` with
// t.teardown.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { EtcdClient } from '@mkube/store/client';
import { pino } from 'pino';
import { startEtcdCluster, type EtcdCluster } from '../../../store/test/helpers/etcd_process.js';
import { KubeClient } from '../../src/client.js';
import { loadKubeconfig } from '../../src/config.js';

export interface Fixture {
  dir: string;
  etcd: EtcdCluster;
  server: ApiServer;
  /** Stops the API server and starts a new one on the same etcd, data dir and port (`between` runs while it is down). */
  restartApiServer(between?: () => Promise<void>): Promise<ApiServer>;
  /** Another API server on the same etcd and data dir (port 0); the caller stops it. */
  startExtraApiServer(): Promise<ApiServer>;
  /** A client from the current API server's admin kubeconfig (closed by stop()). */
  client(extra?: { userAgent?: string }): KubeClient;
  /** Compacts etcd at its current revision; returns that revision. */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

export async function startFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-client-test-'));
  const clients: KubeClient[] = [];
  let etcd: EtcdCluster | undefined;
  let server: ApiServer | undefined;
  const start = (port = 0) =>
    startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd!.endpoints, securePort: port, compactionIntervalMs: 0, logger: pino({ level: 'silent' }) });
  try {
    etcd = await startEtcdCluster({ members: 1 });
    server = await start();
  } catch (err) {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const fx: Fixture = {
    dir,
    etcd,
    server,
    async restartApiServer(between) {
      await fx.server.stop();
      if (between) await between();
      // Same data dir (same PKI) and the same port, so existing clients reconnect.
      fx.server = await start(fx.server.port);
      return fx.server;
    },
    startExtraApiServer() {
      return start();
    },
    client(extra) {
      // The kubeconfig is shared with extra API servers (same data dir): take the URL from this one.
      const c = new KubeClient({ ...loadKubeconfig(fx.server.kubeconfigPath), server: fx.server.url, ...extra });
      clients.push(c);
      return c;
    },
    async compactEtcd() {
      const c = new EtcdClient({ endpoints: etcd!.endpoints });
      try {
        const st = await c.status();
        const rev = Number(st.header.revision);
        await c.compact(rev);
        return rev;
      } finally {
        c.close();
      }
    },
    async stop() {
      for (const c of clients) c.close();
      await fx.server.stop().catch(() => undefined);
      await etcd!.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn() is truthy or the timeout passes (then throws with `what`). */
export async function eventually<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// The client's tests on @mkube/testing's API server fixture (a real etcd 3.4
// and an in-process API server, restartable on the same etcd, data dir and
// port), plus KubeClients from its admin kubeconfig. Register `stop()` with
// t.teardown.
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { startApiFixture, type ApiFixture, type EtcdCluster } from '@mkube/testing';
import { KubeClient } from '../../src/client.js';
import { loadKubeconfig } from '../../src/config.js';

export { eventually, sleep } from '@mkube/testing';

export interface Fixture extends Omit<ApiFixture<ApiServer>, 'etcd'> {
  etcd: EtcdCluster;
  /** A client from the current API server's admin kubeconfig (closed by stop()). */
  client(extra?: { userAgent?: string }): KubeClient;
}

export async function startFixture(): Promise<Fixture> {
  const base = await startApiFixture(startApiServer, { name: 'mkube-client-test', store: 'etcd' });
  const clients: KubeClient[] = [];
  const stopBase = base.stop;
  const fx: Fixture = Object.assign(base, {
    etcd: base.etcd!,
    client(extra?: { userAgent?: string }) {
      // The kubeconfig is shared with extra API servers (same data dir): take the URL from this one.
      const c = new KubeClient({ ...loadKubeconfig(fx.server.kubeconfigPath), server: fx.server.url, ...extra });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await stopBase();
    },
  });
  return fx;
}

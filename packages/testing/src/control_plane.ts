// A control plane for node agents and whole-cluster tests: the API server
// fixture (etcd + in-process API server on DIR/api, restartable on the same
// port, no gRPC listener) plus a client for the test. The API server's start
// function and the client constructor are passed in (@mkube/apiserver,
// @mkube/client), as for the API server fixture.
import { join } from 'node:path';
import { freePort } from '@mkube/component-base';
import { startApiFixture, type ApiFixture, type ApiServerLike, type FixtureApiServerOptions } from './api_server.js';

export interface ControlPlaneOptions<O> {
  /** Bind the API server here (agents in other network namespaces dial it). */
  bindAddress?: string;
  advertiseAddress?: string;
  /** More API server options. */
  api?: Partial<O>;
}

export interface ControlPlane<S extends ApiServerLike, C extends { close(): void }> {
  dir: string;
  fixture: ApiFixture<S>;
  /** The running API server (throws after stopApi until restartApi). */
  readonly api: S;
  port: number;
  kubeconfigPath: string;
  /** DIR/api/pki: the cluster CA (ca.crt, ca.key) and the components' certificates. */
  pkiDir: string;
  client: C;
  restartApi(): Promise<void>;
  stopApi(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlaneDeps<S, O, C> {
  startApiServer: (opts: O) => Promise<S>;
  /** A client from the admin kubeconfig (closed by stop()). */
  client: (kubeconfigPath: string) => C;
}

export async function startControlPlane<S extends ApiServerLike, O extends FixtureApiServerOptions, C extends { close(): void }>(
  deps: ControlPlaneDeps<S, O, C>,
  name: string,
  opts: ControlPlaneOptions<O> = {},
): Promise<ControlPlane<S, C>> {
  const port = await freePort();
  const fixture = await startApiFixture(deps.startApiServer, {
    name: `${name}-cp`,
    store: 'etcd',
    port,
    dataDirName: 'api',
    extra: {
      grpcPort: -1,
      ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}),
      ...(opts.advertiseAddress ? { advertiseAddress: opts.advertiseAddress } : {}),
      ...(process.env.MKUBE_DEBUG ? { logLevel: 'debug', logger: undefined } : {}),
      ...opts.api,
    } as unknown as Partial<O>,
  });
  let running = true;
  let client: C;
  try {
    client = deps.client(fixture.server.kubeconfigPath);
  } catch (err) {
    await fixture.stop();
    throw err;
  }
  return {
    dir: fixture.dir,
    fixture,
    get api() {
      if (!running) throw new Error('the API server is stopped (restartApi starts it)');
      return fixture.server;
    },
    port,
    kubeconfigPath: fixture.server.kubeconfigPath,
    pkiDir: join(fixture.dir, 'api', 'pki'),
    client,
    async stopApi() {
      running = false;
      await fixture.stopApiServer();
    },
    async restartApi() {
      await fixture.restartApiServer();
      running = true;
    },
    async stop() {
      client.close();
      await fixture.stop();
    },
  };
}

// Whole-cluster tests' control plane: @mkube/testing's (etcd 3.4 and an
// in-process API server on DIR/api) with @mkube/apiserver and a KubeClient.
import { startApiServer, type ApiServer, type ApiServerOptions } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { startControlPlane as startTestingControlPlane, type ControlPlane as TestingControlPlane } from '@mkube/testing';

export type ControlPlane = TestingControlPlane<ApiServer, KubeClient>;

/** etcd + API server; `bindAddress`/`advertiseAddress` for agents in lab network namespaces. */
export function startControlPlane(name: string, opts: { bindAddress?: string; advertiseAddress?: string; api?: Partial<ApiServerOptions> } = {}): Promise<ControlPlane> {
  return startTestingControlPlane({ startApiServer, client: (kubeconfigPath) => new KubeClient({ ...loadKubeconfig(kubeconfigPath), timeoutMs: 10_000 }) }, name, opts);
}

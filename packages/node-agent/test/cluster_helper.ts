// The node agent's tests against a real control plane: @mkube/testing's
// control plane (etcd 3.4 and an in-process API server on DIR/api, restartable
// on the same port) with a KubeClient, and its mkube-node-agent processes
// (optionally inside a lab worker's network namespace). Everything is removed
// by `stop()`.
import { startApiServer, type ApiServer, type ApiServerOptions } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { startControlPlane as startTestingControlPlane, type ControlPlane as TestingControlPlane } from '@mkube/testing';

export { freePort, kubectl, run, sleep, startAgent, tmpRoot, waitFor, type AgentProcess, type Kubectl } from '@mkube/testing';

export type ControlPlane = TestingControlPlane<ApiServer, KubeClient>;

/** etcd + API server; `bindAddress`/`advertiseAddress` for agents in other network namespaces. */
export function startControlPlane(name: string, opts: { bindAddress?: string; advertiseAddress?: string; api?: Partial<ApiServerOptions> } = {}): Promise<ControlPlane> {
  return startTestingControlPlane({ startApiServer, client: (kubeconfigPath) => new KubeClient({ ...loadKubeconfig(kubeconfigPath), timeoutMs: 10_000 }) }, name, opts);
}

/**
 * The API side of "the cluster is healthy" shared by both ChaosCluster implementations: every API
 * server of the admin kubeconfig answers /readyz, and every Node is Ready.
 */
import { KubeClient, Resources, type ClientConfig } from '@mkube/client';
import { isConditionTrue, type Node } from '@mkube/api';

/** '' when the API server answers /readyz, else what went wrong. */
export async function readyzProblem(kubeconfig: ClientConfig, server: string): Promise<string> {
  const c = new KubeClient({ ...kubeconfig, server, servers: undefined, timeoutMs: 2000, userAgent: 'mkube-chaos/health' });
  try {
    const body = await c.request('GET', '/readyz').catch((err: unknown) => err as Error);
    return body instanceof Error ? `API server ${server}: ${body.message}` : '';
  } finally {
    c.close();
  }
}

/** '' when every API server is ready and every Node Ready, else the first problem. */
export async function apiProblem(kubeconfig: ClientConfig, admin: KubeClient): Promise<string> {
  for (const server of kubeconfig.servers ?? [kubeconfig.server]) {
    const problem = await readyzProblem(kubeconfig, server);
    if (problem) return problem;
  }
  const nodes = await admin.resource<Node>(Resources.nodes).list().catch((err: unknown) => err as Error);
  if (nodes instanceof Error) return `listing nodes: ${nodes.message}`;
  const notReady = nodes.items.filter((n) => !isConditionTrue(n.status?.conditions, 'Ready')).map((n) => n.metadata.name);
  if (notReady.length > 0) return `node${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} not Ready`;
  return '';
}

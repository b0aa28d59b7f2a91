// `mkube start --refresh-etcd-servers` on a worker: the API servers its kubeconfigs list (the mkube.io/servers
// extension the clients fail over with) are those cluster-info named when it joined; after later control-plane
// joins they are made every API server cluster-info names now (read anonymously, as discovery does, but over TLS
// verified with the cluster CA the node already trusts). The node agent's kubeconfig (kept by the agent across
// restarts: it reuses a kubeconfig whose certificate is valid) and the Ingress controller's are rewritten, and
// the node agent, mkube-dns and mkube-ingress restarted with their recorded command lines (a client's server
// list is fixed when it starts); mkube ingress-identity reads the node kubeconfig at every renewal.
import { request } from 'node:https';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadKubeconfig, SERVERS_EXTENSION } from '@mkube/client';
import { waitFor } from './api_probe.js';
import { ingressKubeconfigPath, writeIngressKubeconfig } from './ingress_identity.js';
import { isRunning, readState, startComponent, stopComponent, writeState } from './processes.js';

const CLUSTER_INFO_PATH = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

export class WorkerRefreshError extends Error {
  constructor(readonly code: 'REFRESH_NO_WORKER' | 'REFRESH_CLUSTER_INFO', message: string) {
    super(message);
    this.name = 'WorkerRefreshError';
  }
}

/** The API servers cluster-info names (its server first), from the first of `servers` that answers over TLS verified with `ca`. */
export async function clusterInfoServers(servers: string[], ca: Buffer, timeoutMs = 5000): Promise<string[]> {
  const errors: string[] = [];
  for (const server of servers) {
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(new URL(CLUSTER_INFO_PATH, server), { ca, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
          let t = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (t += d));
          res.on('end', () => (res.statusCode === 200 ? resolve(t) : reject(new Error(`HTTP ${res.statusCode}`))));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end();
      });
      const content = (JSON.parse(body) as { data?: Record<string, string> }).data?.kubeconfig ?? '';
      const cluster = (parse(content) as { clusters?: { cluster?: { server?: string; extensions?: { name?: string; extension?: { servers?: unknown } }[] } }[] })?.clusters?.[0]?.cluster;
      if (!cluster?.server) throw new Error('no server in its kubeconfig');
      const listed = cluster.extensions?.find((e) => e?.name === SERVERS_EXTENSION)?.extension?.servers;
      const all = Array.isArray(listed) ? listed.filter((x): x is string => typeof x === 'string' && /^https:\/\/[^\s/]+$/.test(x)) : [];
      return [cluster.server, ...all.filter((s) => s !== cluster.server)];
    } catch (err) {
      errors.push(`${server}: ${(err as Error).message}`);
    }
  }
  throw new WorkerRefreshError('REFRESH_CLUSTER_INFO', `reading cluster-info failed on every API server (${errors.join('; ')})`);
}

/** Rewrites every cluster of a kubeconfig file to list `servers` (its own server first), 0600, atomically. */
function rewriteServers(path: string, servers: string[]): void {
  const doc = parse(readFileSync(path, 'utf8')) as { clusters?: { cluster: { server: string; extensions?: { name: string; extension: unknown }[] } }[] };
  for (const { cluster } of doc.clusters ?? []) {
    const list = [cluster.server, ...servers.filter((s) => s !== cluster.server)];
    cluster.extensions = [...(cluster.extensions ?? []).filter((e) => e.name !== SERVERS_EXTENSION), { name: SERVERS_EXTENSION, extension: { servers: list } }];
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, stringify(doc), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Brings a worker's kubeconfigs to every API server cluster-info names; restarts what runs with them when that changed. */
export async function refreshWorkerKubeconfigs(dataDir: string, timeoutMs = 60_000): Promise<{ servers: string[]; restarted: string[] }> {
  const state = readState(dataDir);
  const nodeKc = state?.kubeconfig;
  if (!state || !nodeKc || !existsSync(nodeKc)) throw new WorkerRefreshError('REFRESH_NO_WORKER', `no worker in ${dataDir} (no node kubeconfig recorded)`);
  const node = loadKubeconfig(nodeKc);
  const known = [node.server, ...(node.servers ?? []).filter((s) => s !== node.server)];
  const listed = await clusterInfoServers(known, node.ca!);
  const all = [...known.filter((s) => listed.includes(s)), ...listed.filter((s) => !known.includes(s))];
  if (all.length === known.length && all.every((s) => known.includes(s))) return { servers: known, restarted: [] };
  rewriteServers(nodeKc, all);
  const ingressKc = ingressKubeconfigPath(state.dataDir);
  if (existsSync(ingressKc)) {
    const pair = loadKubeconfig(ingressKc);
    writeIngressKubeconfig(ingressKc, nodeKc, { certPem: pair.cert!.toString('utf8'), keyPem: pair.key!.toString('utf8') });
  }
  const restarted: string[] = [];
  for (const rec of state.components) {
    if (!/^(node-agent|dns|ingress)-/.test(rec.name) || rec.name.startsWith('ingress-identity-')) continue;
    await stopComponent(rec, 10_000);
    rec.pid = startComponent(state.dataDir, rec.name, rec.command).pid;
    writeState(state);
    restarted.push(rec.name);
  }
  // Started again and still running a moment later (the agent's start-up reads its kubeconfig and certificates).
  await waitFor('the restarted components to stay up', timeoutMs, async () => {
    await new Promise((r) => setTimeout(r, 2000));
    const dead = state.components.filter((c) => restarted.includes(c.name) && !isRunning(c));
    if (dead.length) throw new Error(`${dead.map((c) => c.name).join(', ')} exited after the restart (see ${join(state.dataDir, 'logs')})`);
    return true;
  });
  return { servers: all, restarted };
}

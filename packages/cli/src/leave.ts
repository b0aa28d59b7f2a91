// `mkube leave` and `mkube remove-member NAME`. On a control plane, leave removes its store member first (refused
// when the voters left would not have a started majority — etcd's strict reconfiguration check — unless --force,
// with a warning), then stops its controller manager, scheduler, API server (gracefully: its endpoint lease goes
// with it; the key is also deleted here) and store member, removes it from kube-system/mkube-control-plane and from
// cluster-info's API servers, and deletes its store data and PKI (as `kubeadm reset`). On a worker, leave drains
// its Node (cordon, evict its pods but DaemonSets' and mirror pods, wait until they are gone) with an admin
// kubeconfig, takes its DNS server out of kube-system/kube-dns, stops its node agent and add-ons and deletes the
// Node. `mkube remove-member NAME`, on a live control plane, removes a dead control plane's member and records.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { adminCreds, waitFor, type AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';
import { listControlPlanes, recordControlPlane, type ControlPlaneEntry } from './control_plane.js';
import { publishClusterInfo } from './discovery.js';
import { METRICS_HA_PORT, updateKubeDnsEndpoints } from './join_addons.js';
import { ensureMetricsApi } from './metrics_server.js';
import { readState, statePath, type ClusterState, stopComponent } from './processes.js';
import { Progress } from './progress.js';
import { removalKeepsQuorum, viewStore, type StoreView } from './store_cluster.js';
import { readMemberRecord, storeClient, storePkiFiles } from './store_member.js';

export class LeaveError extends Error {
  constructor(readonly code: 'LEAVE_NO_STATE' | 'LEAVE_QUORUM' | 'LEAVE_LAST_MEMBER' | 'LEAVE_NO_MEMBER' | 'LEAVE_NO_API' | 'LEAVE_NEEDS_ADMIN' | 'LEAVE_DRAIN', message: string) {
    super(message);
    this.name = 'LeaveError';
  }
}

export interface LeaveOptions {
  dataDir: string;
  force?: boolean;
  /** An admin kubeconfig (a worker's leave drains and deletes its Node with it). */
  kubeconfig?: string;
  drainTimeoutMs?: number;
  progress?: Progress;
  warn: (m: string) => void;
}

/** Admin credentials from a kubeconfig with inline client certificate data (as mkube writes them). */
export function credsFromKubeconfig(path: string): AdminCreds {
  const doc = parse(readFileSync(path, 'utf8')) as { 'current-context'?: string; contexts: { name: string; context: { cluster: string; user: string } }[]; clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[]; users: { name: string; user: Record<string, string> }[] };
  const ctx = doc.contexts.find((c) => c.name === doc['current-context']) ?? doc.contexts[0]!;
  const cluster = doc.clusters.find((c) => c.name === ctx.context.cluster)!.cluster;
  const user = doc.users.find((u) => u.name === ctx.context.user)!.user;
  const b = (k: string) => Buffer.from(user[k] ?? '', 'base64');
  return { server: cluster.server, ca: Buffer.from(cluster['certificate-authority-data'], 'base64'), cert: b('client-certificate-data'), key: b('client-key-data') };
}

/** The first API server (of `servers`) that answers, with this control plane's admin certificate. */
async function liveApi(apiDir: string, servers: string[]): Promise<AdminCreds> {
  for (const s of servers) {
    const c = adminCreds(apiDir, s);
    const r = await apiCall(c, 'GET', '/readyz', undefined, 2000).catch(() => undefined);
    if (r?.status === 200) return c;
  }
  throw new LeaveError('LEAVE_NO_API', `no API server answers (${servers.join(', ')})`);
}

/** Every API server this control plane knows: its own and those in its admin kubeconfig. */
function knownServers(state: ClusterState): string[] {
  const out = [state.apiServer];
  try {
    const doc = parse(readFileSync(state.kubeconfig, 'utf8')) as { clusters?: { cluster?: { server?: string } }[] };
    for (const c of doc.clusters ?? []) if (c.cluster?.server) out.push(c.cluster.server);
  } catch {
    // no kubeconfig
  }
  return [...new Set(out)];
}

async function publishServers(c: AdminCreds, apiDir: string, planes: ControlPlaneEntry[]): Promise<void> {
  if (planes.length === 0) return;
  await publishClusterInfo(c, planes[0]!.apiServer, readFileSync(join(apiDir, 'pki', 'ca.crt'), 'utf8'), planes.map((p) => p.apiServer));
}

/** Removes store member `name` after the quorum check (or with force and a warning). */
async function removeStoreMember(apiDir: string, view: StoreView, endpoints: string[], name: string, force: boolean, warn: (m: string) => void): Promise<void> {
  const m = view.members.find((x) => x.name === name);
  if (!m) return;
  const q = removalKeepsQuorum(view, m.id);
  if (q.voters === 0) throw new LeaveError('LEAVE_LAST_MEMBER', `${name} is the store's only voting member: removing it would leave no store (stop the cluster with mkube down instead)`);
  if (!q.ok) {
    const why = `etcdserver: re-configuration failed due to not enough started members: without ${name} the store has ${q.voters} voting members of which ${q.started} are started, and a quorum needs ${q.needed}`;
    if (!force) throw new LeaveError('LEAVE_QUORUM', `${why} (use --force to remove it anyway)`);
    warn(`WARNING: ${why}; removing ${name} anyway (--force): the store cannot accept writes until enough members are back`);
  }
  const client = storeClient(storePkiFiles(apiDir), endpoints);
  try {
    await client.memberRemove(BigInt(`0x${m.id}`).toString());
  } finally {
    client.close();
  }
}

async function leaveControlPlane(state: ClusterState, o: LeaveOptions, progress: Progress): Promise<string> {
  const apiDir = join(state.dataDir, 'apiserver');
  const me = readMemberRecord(apiDir)!;
  const api = await liveApi(apiDir, knownServers(state));
  const planes = await listControlPlanes(api);
  const others = planes.filter((p) => p.name !== me.name);
  const endpoints = others.map((p) => p.storeClientURL);
  await progress.step(`Removing store member ${me.name}`, async () => {
    const view = await viewStore(storePkiFiles(apiDir), [...endpoints, me.clientURL]);
    if (view.error) throw new LeaveError('LEAVE_NO_MEMBER', `cannot read the store's members: ${view.error}`);
    await removeStoreMember(apiDir, view, endpoints.length ? endpoints : [me.clientURL], me.name, o.force === true, o.warn);
  }, () => `Store member ${me.name} removed`);
  await progress.step(`Stopping the control plane processes of ${me.name}`, async () => {
    for (const name of ['controller-manager', 'scheduler', 'apiserver', 'store']) {
      for (const c of state.components.filter((x) => x.name === name)) await stopComponent(c, name === 'apiserver' ? 15_000 : 5_000);
    }
    for (const c of state.components) await stopComponent(c, 5_000);
  }, () => 'Controller manager, scheduler, API server and store member stopped');
  const live = others.length ? await liveApi(apiDir, others.map((p) => p.apiServer)) : undefined;
  if (live) {
    await progress.step('Removing its records (endpoint lease, kube-system/mkube-control-plane, cluster-info)', async () => {
      // The API server deletes its endpoint lease on a graceful stop; a hard stop leaves it to its TTL: delete it anyway.
      const ip = new URL(state.apiServer).hostname;
      const client = storeClient(storePkiFiles(apiDir), endpoints);
      try {
        await client.delete(`/registry/masterleases/${ip}`);
      } finally {
        client.close();
      }
      await recordControlPlane(live, { remove: me.name });
      await publishServers(live, apiDir, others);
      // The metrics API lists the metrics-servers of the control planes left.
      if (state.components.some((c) => c.name === 'metrics-server')) await ensureMetricsApi(live, others.map((p) => new URL(p.apiServer).hostname), METRICS_HA_PORT);
    }, () => `${me.name} no longer listed`);
  }
  // As kubeadm reset: the member's data and this host's PKI (the CA key) go.
  rmSync(join(state.dataDir, 'store'), { recursive: true, force: true });
  rmSync(apiDir, { recursive: true, force: true });
  rmSync(join(state.dataDir, 'kubeconfigs'), { recursive: true, force: true });
  rmSync(state.kubeconfig, { force: true });
  return me.name;
}

interface PodItem {
  metadata: { name: string; namespace: string; ownerReferences?: { kind: string }[]; annotations?: Record<string, string> };
}

async function leaveWorker(state: ClusterState, o: LeaveOptions, progress: Progress): Promise<string> {
  const agent = state.components.find((c) => c.name.startsWith('node-agent-'));
  const nodeName = agent ? agent.name.slice('node-agent-'.length) : undefined;
  if (!nodeName) throw new LeaveError('LEAVE_NO_STATE', `no node agent in ${statePath(state.dataDir)}`);
  if (!o.kubeconfig) throw new LeaveError('LEAVE_NEEDS_ADMIN', `a worker leaves by draining and deleting its Node, which its node credentials may not do: give an admin kubeconfig with --kubeconfig`);
  const c = credsFromKubeconfig(o.kubeconfig);
  const nodePath = `/api/v1/nodes/${nodeName}`;
  await progress.step(`Draining node ${nodeName}`, async (h) => {
    for (let i = 0; ; i++) {
      const n = await apiCall(c, 'GET', nodePath);
      if (n.status === 404) return;
      const node = n.body as { spec?: Record<string, unknown> };
      const u = await apiCall(c, 'PUT', nodePath, { ...node, spec: { ...(node.spec ?? {}), unschedulable: true } });
      if (u.status === 200) break;
      if (u.status !== 409 || i > 10) throw new LeaveError('LEAVE_DRAIN', `cordoning node ${nodeName}: HTTP ${u.status}`);
    }
    await waitFor(`the pods of ${nodeName} to be evicted`, o.drainTimeoutMs ?? 120_000, async () => {
      const r = await apiCall(c, 'GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${nodeName}`)}`);
      if (r.status !== 200) throw new LeaveError('LEAVE_DRAIN', `listing the pods of ${nodeName}: HTTP ${r.status}`);
      // As kubectl drain --ignore-daemonsets: DaemonSet pods and mirror pods stay.
      const pods = ((r.body as { items?: PodItem[] }).items ?? []).filter((p) => !p.metadata.ownerReferences?.some((x) => x.kind === 'DaemonSet') && !p.metadata.annotations?.['kubernetes.io/config.mirror']);
      if (pods.length === 0) return true;
      for (const p of pods) {
        const e = await apiCall(c, 'POST', `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata.name, namespace: p.metadata.namespace } });
        h.waiting(`evicting ${p.metadata.namespace}/${p.metadata.name} (HTTP ${e.status})`);
      }
      return undefined;
    });
  }, () => `Node ${nodeName} cordoned and drained`);
  // Its DNS server leaves the kube-dns Service's endpoints before it stops (join_addons.ts).
  const dns = state.components.find((x) => x.name === `dns-${nodeName}`);
  const dnsIP = dns ? dns.command[dns.command.indexOf('--dns-bind-address') + 1] : undefined;
  if (dnsIP) await progress.step(`Removing ${dnsIP} from kube-system/kube-dns`, async () => updateKubeDnsEndpoints(c, { remove: dnsIP }), (left) => `kube-dns lists ${left.length} DNS server${left.length === 1 ? '' : 's'}`);
  await progress.step(`Stopping the node agent of ${nodeName}`, async () => {
    for (const x of [...state.components].reverse()) await stopComponent(x, 10_000);
  }, () => 'Node agent stopped');
  await progress.step(`Deleting node ${nodeName}`, async () => {
    const d = await apiCall(c, 'DELETE', nodePath);
    if (d.status !== 200 && d.status !== 404) throw new LeaveError('LEAVE_DRAIN', `deleting node ${nodeName}: HTTP ${d.status}`);
  }, () => `Node ${nodeName} deleted`);
  return nodeName;
}

/** `mkube leave`: this host leaves the cluster; returns its name. */
export async function leave(o: LeaveOptions): Promise<{ name: string; role: 'control-plane' | 'worker' }> {
  const dataDir = resolve(o.dataDir);
  const state = readState(dataDir);
  if (!state) throw new LeaveError('LEAVE_NO_STATE', `nothing to leave: no state in ${dataDir} (${statePath(dataDir)})`);
  const progress = o.progress ?? new Progress(process.stdout);
  const controlPlane = existsSync(join(dataDir, 'apiserver', 'store-member.json'));
  const name = controlPlane ? await leaveControlPlane(state, o, progress) : await leaveWorker(state, o, progress);
  rmSync(statePath(dataDir), { force: true });
  return { name, role: controlPlane ? 'control-plane' : 'worker' };
}

/** `mkube remove-member NAME` on a live control plane: a dead control plane's store member and records. */
export async function removeMember(o: { dataDir: string; name: string; force?: boolean; progress?: Progress; warn: (m: string) => void }): Promise<void> {
  const dataDir = resolve(o.dataDir);
  const state = readState(dataDir);
  const apiDir = join(dataDir, 'apiserver');
  if (!state || !readMemberRecord(apiDir)) throw new LeaveError('LEAVE_NO_STATE', `no control plane in ${dataDir}: run mkube remove-member on a live control plane`);
  const progress = o.progress ?? new Progress(process.stdout);
  const api = await liveApi(apiDir, knownServers(state));
  const planes = await listControlPlanes(api);
  const endpoints = planes.filter((p) => p.name !== o.name).map((p) => p.storeClientURL);
  await progress.step(`Removing store member ${o.name}`, async () => {
    const view = await viewStore(storePkiFiles(apiDir), endpoints);
    if (view.error) throw new LeaveError('LEAVE_NO_MEMBER', `cannot read the store's members: ${view.error}`);
    if (!view.members.some((m) => m.name === o.name) && !planes.some((p) => p.name === o.name)) throw new LeaveError('LEAVE_NO_MEMBER', `no control plane or store member named ${o.name}`);
    const target = view.members.find((m) => m.name === o.name);
    if (target?.started && !o.force) o.warn(`WARNING: store member ${o.name} is still started: prefer "mkube leave" on that machine`);
    await removeStoreMember(apiDir, view, endpoints, o.name, o.force === true, o.warn);
  }, () => `Store member ${o.name} removed`);
  await progress.step(`Removing ${o.name} from kube-system/mkube-control-plane and cluster-info`, async () => {
    await recordControlPlane(api, { remove: o.name });
    await publishServers(api, apiDir, planes.filter((p) => p.name !== o.name));
    if (state.components.some((c) => c.name === 'metrics-server')) await ensureMetricsApi(api, planes.filter((p) => p.name !== o.name).map((p) => new URL(p.apiServer).hostname), METRICS_HA_PORT);
  }, () => `${o.name} no longer listed`);
}

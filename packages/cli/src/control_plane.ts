// One control plane's processes on this machine, shared by `mkube init` (the first) and `mkube join
// --control-plane` (the others): its store member (mkube-store, client and peer TLS), its API server on
// --etcd-servers of every member, and the leader-elected scheduler and controller manager, which talk to this
// host's API server (as kubeadm's scheduler.conf / controller-manager.conf name the local API endpoint). Also the
// kube-system/mkube-control-plane ConfigMap: one entry per control plane (its API server and store member),
// what a joining control plane, `mkube leave` and `mkube status` read. And the restart of an API server with every
// store member after later joins (`mkube start --refresh-etcd-servers`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, freePort } from '@mkube/apiserver';
import { adminCreds, apiGet, waitFor, type AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';
import { componentBin } from './paths.js';
import { readState, startComponent, writeState, type ClusterState, type ComponentRecord, stopComponent } from './processes.js';
import type { Progress } from './progress.js';
import { readMemberRecord, storeArgs, storeClient, storePkiFiles, type StoreMemberOptions, type StorePki } from './store_member.js';
import { checkAlive, componentKubeconfig, httpStatus, waitHealthy } from './up.js';

export const CONTROL_PLANE_CONFIGMAP = 'mkube-control-plane';
const CM_PATH = `/api/v1/namespaces/kube-system/configmaps/${CONTROL_PLANE_CONFIGMAP}`;

/** One control plane as recorded in the ConfigMap (data key: its name). */
export interface ControlPlaneEntry {
  name: string;
  apiServer: string;
  storeClientURL: string;
  storePeerURL: string;
}

export interface HostContext {
  dataDir: string;
  state: ClusterState;
  components: ComponentRecord[];
  progress: Progress;
}

function add(ctx: HostContext, rec: ComponentRecord): void {
  ctx.components.push(rec);
  writeState(ctx.state);
}

/** Starts this host's store member and waits until it answers /health (it has a leader). */
export async function startStoreMember(ctx: HostContext, pki: StorePki, o: Omit<StoreMemberOptions, 'metricsPort'>, title: string): Promise<ComponentRecord> {
  const metricsPort = await freePort();
  return ctx.progress.step(title, async (h) => {
    const rec = startComponent(ctx.dataDir, 'store', [process.execPath, componentBin('store', 'mkube-store'), ...storeArgs(pki, { ...o, metricsPort })]);
    rec.health = `http://127.0.0.1:${metricsPort}/health`;
    add(ctx, rec);
    await waitFor('the store member to be healthy', 90_000, async () => {
      checkAlive(rec);
      const code = await httpStatus(rec.health!).catch(() => 0);
      if (code === 200) return true;
      h.waiting(`${rec.health} (${code ? `HTTP ${code}` : 'not listening yet'})`);
      return undefined;
    });
    return rec;
  }, (rec) => `Store member ${o.name} healthy on ${o.advertiseAddress} (pid ${rec.pid})`);
}

export interface ApiServerStart {
  apiDir: string;
  advertiseAddress: string;
  apiPort: number;
  etcdServers: string[];
  storePki: StorePki;
  extraArgs?: string[];
}

/** Starts this host's API server on the store members and waits until /readyz answers 200. */
export async function startControlPlaneApiServer(ctx: HostContext, o: ApiServerStart): Promise<ComponentRecord> {
  const server = `https://${o.advertiseAddress}:${o.apiPort}`;
  return ctx.progress.step(`Starting the API server on the store (${o.etcdServers.length} member${o.etcdServers.length === 1 ? '' : 's'})`, async (h) => {
    const rec = startComponent(ctx.dataDir, 'apiserver', [process.execPath, componentBin('apiserver', 'mkube-apiserver'), '--data-dir', o.apiDir, '--secure-port', String(o.apiPort),
      '--bind-address', o.advertiseAddress, '--advertise-address', o.advertiseAddress, '--enable-bootstrap-token-auth',
      '--etcd-servers', o.etcdServers.join(','), '--etcd-cafile', o.storePki.caFile, '--etcd-certfile', o.storePki.clientCert, '--etcd-keyfile', o.storePki.clientKey,
      ...(o.extraArgs ?? [])]);
    rec.health = `${server}/readyz`;
    add(ctx, rec);
    await waitFor('the API server to be ready', 90_000, async () => {
      checkAlive(rec);
      const res = await apiGet(adminCreds(o.apiDir, server), '/readyz');
      if (res.status === 200) return true;
      h.waiting(`${server}/readyz (HTTP ${res.status})`);
      return undefined;
    });
    return rec;
  }, (rec) => `API server ready on ${server} (pid ${rec.pid})`);
}

/** The leader-elected scheduler and controller manager (CSR signer on the cluster CA), on this host's API server. */
export async function startControlPlaneComponents(ctx: HostContext, o: { pki: string; server: string; clusterSigningDuration?: string }): Promise<void> {
  const kcDir = join(ctx.dataDir, 'kubeconfigs');
  ensurePrivateDir(kcDir);
  const ca = readFileSync(join(o.pki, 'ca.crt'), 'utf8');
  const schedPort = await freePort();
  await ctx.progress.step('Starting the scheduler (leader-elected)', async (h) => {
    const kc = componentKubeconfig(o.pki, kcDir, o.server, ca, 'scheduler', '/CN=system:kube-scheduler');
    const rec = startComponent(ctx.dataDir, 'scheduler', [process.execPath, componentBin('scheduler', 'mkube-scheduler'), '--kubeconfig', kc, '--bind-address', '127.0.0.1', '--metrics-port', String(schedPort)]);
    rec.health = `http://127.0.0.1:${schedPort}/healthz`;
    add(ctx, rec);
    await waitHealthy(h, rec, 60_000);
  }, () => 'Scheduler healthy');
  const cmPort = await freePort();
  await ctx.progress.step('Starting the controller manager (leader-elected; CSR signer on the cluster CA)', async (h) => {
    const kc = componentKubeconfig(o.pki, kcDir, o.server, ca, 'controller-manager', '/CN=system:kube-controller-manager');
    const rec = startComponent(ctx.dataDir, 'controller-manager', [process.execPath, componentBin('controllers', 'mkube-controller-manager'), '--kubeconfig', kc,
      '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(cmPort),
      '--cluster-signing-cert-file', join(o.pki, 'ca.crt'), '--cluster-signing-key-file', join(o.pki, 'ca.key'),
      ...(o.clusterSigningDuration ? ['--cluster-signing-duration', o.clusterSigningDuration] : [])]);
    rec.health = `http://127.0.0.1:${cmPort}/healthz`;
    add(ctx, rec);
    await waitHealthy(h, rec, 60_000);
  }, () => 'Controller manager healthy');
  ctx.state.endpoints = { controllerManagerMetrics: `http://127.0.0.1:${cmPort}/metrics`, schedulerMetrics: `http://127.0.0.1:${schedPort}/metrics` };
  writeState(ctx.state);
}

/** The control planes recorded in kube-system/mkube-control-plane (empty when there is none). */
export async function listControlPlanes(c: AdminCreds): Promise<ControlPlaneEntry[]> {
  const r = await apiCall(c, 'GET', CM_PATH);
  if (r.status === 404) return [];
  if (r.status !== 200) throw new Error(`GET ${CM_PATH}: HTTP ${r.status}`);
  const data = (r.body as { data?: Record<string, string> }).data ?? {};
  return Object.keys(data).sort().map((k) => JSON.parse(data[k]!) as ControlPlaneEntry);
}

/** Adds (entry) or removes (name only) a control plane in the ConfigMap, with optimistic concurrency. */
export async function recordControlPlane(c: AdminCreds, change: { add?: ControlPlaneEntry; remove?: string }): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await apiCall(c, 'GET', CM_PATH);
    if (r.status === 404) {
      if (!change.add) return;
      const created = await apiCall(c, 'POST', '/api/v1/namespaces/kube-system/configmaps', {
        apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONTROL_PLANE_CONFIGMAP, namespace: 'kube-system' }, data: { [change.add.name]: JSON.stringify(change.add) },
      });
      if (created.status === 201) return;
      if (created.status === 409) continue;
      throw new Error(`creating kube-system/${CONTROL_PLANE_CONFIGMAP}: HTTP ${created.status}`);
    }
    if (r.status !== 200) throw new Error(`GET ${CM_PATH}: HTTP ${r.status}`);
    const cm = r.body as { metadata: Record<string, unknown>; data?: Record<string, string> };
    const data = { ...(cm.data ?? {}) };
    if (change.add) data[change.add.name] = JSON.stringify(change.add);
    if (change.remove) delete data[change.remove];
    const u = await apiCall(c, 'PUT', CM_PATH, { ...cm, data });
    if (u.status === 200) return;
    if (u.status !== 409) throw new Error(`updating kube-system/${CONTROL_PLANE_CONFIGMAP}: HTTP ${u.status}`);
  }
  throw new Error(`updating kube-system/${CONTROL_PLANE_CONFIGMAP}: conflicts did not stop`);
}

/**
 * Restarts a control plane's API server with `etcdServers` (its own member first) when its recorded
 * --etcd-servers lack one of them: how an API server that joined before learns the members added after it (as
 * kubeadm's static pod manifest edit; the store client's endpoints are fixed when it is made). The command line in
 * the host's cluster.json is rewritten, so `mkube start` keeps the new list. Resolves once /readyz answers 200.
 */
export async function restartApiServerWithMembers(hostDataDir: string, etcdServers: string[], opts: { netns?: string; timeoutMs?: number } = {}): Promise<boolean> {
  const state = readState(hostDataDir);
  const rec = state?.components.find((c) => c.name === 'apiserver');
  if (!state || !rec) throw new Error(`no API server recorded in ${hostDataDir}`);
  const argv = rec.command[0] === 'nsenter' ? rec.command.slice(2) : rec.command;
  const i = argv.indexOf('--etcd-servers');
  if (i < 0) throw new Error(`the API server of ${hostDataDir} has no --etcd-servers (an embedded store)`);
  const current = argv[i + 1]!.split(',');
  const own = current[0]!;
  const wanted = [own, ...etcdServers.filter((u) => u !== own)];
  if (wanted.every((u) => current.includes(u))) return false;
  const next = [...argv];
  next[i + 1] = wanted.join(',');
  await stopComponent(rec, 15_000);
  const started = startComponent(hostDataDir, 'apiserver', next, { netns: opts.netns });
  rec.pid = started.pid;
  rec.command = started.command;
  writeState(state);
  const server = rec.health ? new URL(rec.health).origin : state.apiServer;
  await waitFor(`the API server of ${hostDataDir} to be ready again`, opts.timeoutMs ?? 90_000, async () => {
    checkAlive(rec);
    const res = await apiGet(adminCreds(join(hostDataDir, 'apiserver'), server), '/readyz');
    return res.status === 200 ? true : undefined;
  });
  return true;
}

/**
 * `mkube start --refresh-etcd-servers` on a control plane: its API server restarted with every voting store
 * member (the MemberList of its own member) when its --etcd-servers lack one — after other control planes joined.
 */
export async function refreshEtcdServers(dataDir: string): Promise<{ restarted: boolean; servers: string[] }> {
  const apiDir = join(dataDir, 'apiserver');
  const me = readMemberRecord(apiDir);
  if (!me) throw new Error(`no control plane in ${dataDir} (no store member record ${join(apiDir, 'store-member.json')})`);
  const client = storeClient(storePkiFiles(apiDir), [me.clientURL]);
  let servers: string[];
  try {
    const { members } = await client.memberList();
    servers = members.filter((m) => !m.isLearner).flatMap((m) => m.clientURLs.slice(0, 1));
  } finally {
    client.close();
  }
  return { restarted: await restartApiServerWithMembers(dataDir, servers), servers };
}

// `mkube status`: the health of a cluster from its state file (DIR/cluster.json): each component (pid alive, its
// /readyz or /healthz) — per lab host for `mkube up --control-planes N` (each host's own cluster.json) —, the
// store (the API server's embedded member, or the control planes' mkube-store members: each member started or
// not, the leader, learners, revision — over https with the store client certificate under
// DIR/apiserver/pki/etcd), the control planes' API servers (/readyz of each), the component leaders (the
// kube-system Leases' holders, named by host when a host's process holds them) and the nodes with their Ready
// condition (through the API with the admin credentials). Healthy means every line is healthy; the exit status
// says so (0) or not (1).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EtcdClient } from '@mkube/store/client';
import { adminCreds, apiGet, type AdminCreds } from './api_probe.js';
import { listControlPlanes } from './control_plane.js';
import { readState, statePath, type ClusterState, type ComponentRecord, type HostRecord, isRunning } from './processes.js';
import { viewStore } from './store_cluster.js';
import { readMemberRecord, storePkiFiles } from './store_member.js';
import { httpStatus, notReadyNodes } from './up.js';

export interface ComponentStatus {
  name: string;
  pid: number;
  running: boolean;
  health: string;
  healthy: boolean;
}

export interface StoreStatus {
  endpoint: string;
  members: Array<{ id: string; name: string; clientURLs: string[]; leader: boolean; learner: boolean; started?: boolean }>;
  leader?: string;
  revision?: number;
  raftTerm?: number;
  raftIndex?: number;
  error?: string;
  healthy: boolean;
}

export interface NodeReadiness {
  name: string;
  ready: string;
  reason: string;
  healthy: boolean;
}

export interface HostStatus {
  name: string;
  role: HostRecord['role'];
  address: string;
  /** Its processes; none when it left (its state file is gone). */
  components: ComponentStatus[];
  left: boolean;
}

export interface ApiServerStatus {
  name: string;
  server: string;
  health: string;
  healthy: boolean;
}

export interface LeaderStatus {
  lease: string;
  holder?: string;
  /** The host whose process holds it (lab clusters). */
  host?: string;
}

export interface ClusterStatus {
  dataDir: string;
  apiServer: string;
  components: ComponentStatus[];
  hosts?: HostStatus[];
  apiServers?: ApiServerStatus[];
  leaders?: LeaderStatus[];
  store?: StoreStatus;
  nodes: NodeReadiness[];
  nodesError?: string;
  healthy: boolean;
}

/** A state file is there but says no cluster runs (mkube down removes it). */
export class NoCluster extends Error {
  readonly code = 'NO_CLUSTER';
}

/** The HTTP status of a plain-http health URL inside a lab host's network namespace (its loopback). */
function statusInNetns(netns: string, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=/run/netns/${netns}`, 'curl', '-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', url], { timeout: 4000 }, (err, out) => {
      const code = Number(out.trim());
      if (code > 0) return resolve(code);
      reject(new Error(err ? `unreachable (${err.message.split('\n')[0]})` : 'no answer'));
    });
  });
}

async function componentStatus(c: ComponentRecord, creds: AdminCreds | undefined, netns?: string): Promise<ComponentStatus> {
  const running = isRunning(c);
  if (!running) return { name: c.name, pid: c.pid, running, health: `not running (see ${c.log})`, healthy: false };
  if (!c.health) return { name: c.name, pid: c.pid, running, health: 'running (no health endpoint reachable from this host)', healthy: true };
  try {
    const code = c.health.startsWith('https:') && creds ? (await apiGet({ ...creds, server: new URL(c.health).origin }, new URL(c.health).pathname)).status
      : netns && /^http:\/\/127\.0\.0\.1:/.test(c.health) ? await statusInNetns(netns, c.health) : await httpStatus(c.health);
    return { name: c.name, pid: c.pid, running, health: `${c.health} ${code === 200 ? 'ok' : `HTTP ${code}`}`, healthy: code === 200 };
  } catch (err) {
    return { name: c.name, pid: c.pid, running, health: `${c.health} ${(err as Error).message}`, healthy: false };
  }
}

/** The embedded store's client URL and the client certificate to reach it (DIR/apiserver/...). */
function embeddedStore(apiDir: string): { endpoint: string; tls: { ca: string; cert: string; key: string } } | undefined {
  const portsFile = join(apiDir, 'store', 'embedded.json');
  if (!existsSync(portsFile)) return undefined;
  const { client } = JSON.parse(readFileSync(portsFile, 'utf8')) as { client: number };
  const pki = join(apiDir, 'pki', 'etcd');
  return { endpoint: `https://127.0.0.1:${client}`, tls: { ca: join(pki, 'ca.crt'), cert: join(pki, 'client.crt'), key: join(pki, 'client.key') } };
}

async function storeStatus(apiDir: string): Promise<StoreStatus | undefined> {
  const store = embeddedStore(apiDir);
  if (!store) return undefined;
  const client = new EtcdClient({ endpoints: [store.endpoint], tls: store.tls, dialTimeoutMs: 2000, requestTimeoutMs: 3000 });
  try {
    const [{ members }, status] = await Promise.all([client.memberList(), client.status()]);
    const hex = (id: string) => BigInt(id).toString(16);
    const leader = hex(status.leader);
    return {
      endpoint: store.endpoint,
      members: members.map((m) => ({ id: hex(m.id), name: m.name, clientURLs: m.clientURLs, leader: hex(m.id) === leader, learner: m.isLearner })),
      leader: leader !== '0' ? leader : undefined,
      revision: status.header.revision,
      raftTerm: status.raftTerm,
      raftIndex: status.raftIndex,
      healthy: leader !== '0' && status.errors.length === 0,
      ...(status.errors.length ? { error: status.errors.join('; ') } : {}),
    };
  } catch (err) {
    return { endpoint: store.endpoint, members: [], error: (err as Error).message.split('\n')[0], healthy: false };
  } finally {
    client.close();
  }
}

/** The control planes' store members (mkube init/join, or the lab's control-plane hosts). */
async function membersStatus(apiDir: string, endpoints: string[]): Promise<StoreStatus> {
  const view = await viewStore(storePkiFiles(apiDir), endpoints);
  const endpoint = endpoints.join(',');
  if (view.error) return { endpoint, members: [], error: view.error, healthy: false };
  const down = view.members.filter((m) => !m.started);
  return {
    endpoint,
    members: view.members.map((m) => ({ id: m.id, name: m.name || '(not started)', clientURLs: m.clientURLs, leader: m.leader, learner: m.learner, started: m.started })),
    leader: view.leader,
    revision: view.revision,
    raftTerm: view.raftTerm,
    raftIndex: view.raftIndex,
    healthy: view.leader !== undefined && down.length === 0,
    ...(down.length ? { error: `not started: ${down.map((m) => m.name || m.id).join(', ')}` } : {}),
  };
}

const LEADER_LEASES = ['kube-controller-manager', 'kube-scheduler', 'cloud-controller-manager'];

async function leaders(creds: AdminCreds, hosts: HostRecord[], own: ClusterState): Promise<LeaderStatus[]> {
  const out: LeaderStatus[] = [];
  for (const lease of LEADER_LEASES) {
    const r = await apiGet(creds, `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${lease}`).catch(() => undefined);
    if (r?.status !== 200) continue;
    const holder = (r.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity;
    // Identities are "<hostname>_<pid>_<random>": lab hosts share the machine's hostname, the pid says which.
    const pid = Number(holder?.split('_')[1]);
    const host = hosts.find((h) => (readState(h.dataDir)?.components ?? []).some((c) => c.pid === pid))?.name
      ?? (own.components.some((c) => c.pid === pid) ? 'this machine' : undefined);
    out.push({ lease, holder, ...(host ? { host } : {}) });
  }
  return out;
}

interface NodeItem {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

export async function clusterStatus(dataDirArg: string): Promise<ClusterStatus> {
  const dataDir = resolve(dataDirArg);
  const state: ClusterState | undefined = readState(dataDir);
  if (!state) throw new NoCluster(`no cluster in ${dataDir} (${statePath(dataDir)} not found): start one with "mkube up --data-dir ${dataDirArg}"`);
  const hostRecords = state.hosts ?? [];
  const planes = hostRecords.filter((h) => h.role === 'control-plane' && readState(h.dataDir));
  // The admin credentials: this directory's API server PKI, or (lab hosts) a live control plane's.
  const apiDir = hostRecords.length ? join((planes[0] ?? hostRecords[0])?.dataDir ?? dataDir, 'apiserver') : join(dataDir, 'apiserver');
  let creds: AdminCreds | undefined;
  for (const server of [state.apiServer, ...planes.map((h) => h.apiServer!)].filter(Boolean)) {
    try {
      const c = adminCreds(apiDir, server);
      if (!planes.length || (await apiGet(c, '/readyz', 2000).catch(() => undefined))?.status === 200) {
        creds = c;
        break;
      }
    } catch {
      creds = undefined;
    }
  }
  const member = readMemberRecord(apiDir);
  const storeEndpoints = planes.length ? planes.map((h) => h.storeClientURL!) : member ? [member.clientURL] : [];
  const [components, store, hosts] = await Promise.all([
    Promise.all(state.components.map((c) => componentStatus(c, creds))),
    storeEndpoints.length ? membersStatus(apiDir, storeEndpoints) : storeStatus(apiDir),
    Promise.all(hostRecords.map(async (h): Promise<HostStatus> => {
      const hs = readState(h.dataDir);
      return { name: h.name, role: h.role, address: h.address, left: !hs, components: await Promise.all((hs?.components ?? []).map((c) => componentStatus(c, creds, h.netns))) };
    })),
  ]);
  let apiServers: ApiServerStatus[] | undefined;
  let leaderList: LeaderStatus[] | undefined;
  if (creds && (planes.length || member)) {
    const entries = await listControlPlanes(creds).catch(() => []);
    apiServers = await Promise.all(entries.map(async (e): Promise<ApiServerStatus> => {
      const r = await apiGet({ ...creds!, server: e.apiServer }, '/readyz', 2000).catch((err: Error) => ({ status: 0, body: err.message }));
      return { name: e.name, server: e.apiServer, health: r.status ? `/readyz HTTP ${r.status}` : String(r.body), healthy: r.status === 200 };
    }));
    leaderList = await leaders(creds, hostRecords, state);
  }
  const nodes: NodeReadiness[] = [];
  let nodesError: string | undefined;
  if (!creds) nodesError = 'no admin credentials yet (the API server has not started)';
  else {
    try {
      const res = await apiGet(creds, '/api/v1/nodes');
      if (res.status !== 200) throw new Error(`GET /api/v1/nodes: HTTP ${res.status}`);
      const items = (res.body as { items?: NodeItem[] }).items ?? [];
      for (const it of items) {
        const ready = it.status?.conditions?.find((c) => c.type === 'Ready');
        const waiting = notReadyNodes([it], [it.metadata.name]);
        nodes.push({ name: it.metadata.name, ready: ready?.status ?? 'Unknown', reason: ready ? `${ready.reason ?? ''}${ready.message && ready.status !== 'True' ? `: ${ready.message}` : ''}` : 'no Ready condition', healthy: waiting.length === 0 });
      }
    } catch (err) {
      nodesError = (err as Error).message;
    }
  }
  const hostsUp = hosts.filter((h) => !h.left);
  const anyComponents = state.components.length > 0 || hostsUp.some((h) => h.components.length > 0);
  const healthy = anyComponents && components.every((c) => c.healthy) && hostsUp.every((h) => h.components.every((c) => c.healthy)) && (store?.healthy ?? true)
    && (apiServers ?? []).every((a) => a.healthy) && !nodesError && nodes.length > 0 && nodes.every((n) => n.healthy);
  return { dataDir, apiServer: state.apiServer, components, ...(hostRecords.length ? { hosts } : {}), ...(apiServers ? { apiServers } : {}), ...(leaderList ? { leaders: leaderList } : {}), store, nodes, nodesError, healthy };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function formatStatus(s: ClusterStatus): string {
  let out = `Cluster in ${s.dataDir} (API server ${s.apiServer || 'not started'}): ${s.healthy ? 'healthy' : 'NOT healthy'}\n\n`;
  if (s.components.length || !s.hosts) out += table([['COMPONENT', 'PID', 'STATE', 'HEALTH'], ...s.components.map((c) => [c.name, String(c.pid), c.running ? 'running' : 'exited', c.health])]);
  if (s.hosts) {
    const rows = s.hosts.flatMap((h) => (h.left ? [[h.name, h.role, h.address, '-', '-', 'left the cluster', '']] : h.components.map((c) => [h.name, h.role, h.address, c.name, String(c.pid), c.running ? 'running' : 'exited', c.health])));
    out += table([['HOST', 'ROLE', 'ADDRESS', 'COMPONENT', 'PID', 'STATE', 'HEALTH'], ...rows]);
  }
  if (s.apiServers?.length) out += `\nAPI servers:\n${table([['CONTROL PLANE', 'SERVER', 'HEALTH'], ...s.apiServers.map((a) => [a.name, a.server, a.health])])}`;
  if (s.leaders?.length) out += `\nLeaders:\n${table([['LEASE', 'HOLDER', 'HOST'], ...s.leaders.map((l) => [`kube-system/${l.lease}`, l.holder ?? '<none>', l.host ?? ''])])}`;
  if (s.store) {
    out += s.store.members.some((m) => m.started !== undefined) ? `\nStore (mkube-store members, ${s.store.endpoint}): ` : `\nStore (embedded in the API server, ${s.store.endpoint}): `;
    out += s.store.error && s.store.members.length === 0
      ? `unreachable: ${s.store.error}\n`
      : `${s.store.leader ? `leader ${s.store.leader}` : 'NO leader'}, revision ${s.store.revision}, raft term ${s.store.raftTerm}, index ${s.store.raftIndex}${s.store.error ? `, errors: ${s.store.error}` : ''}\n`;
    if (s.store.members.length) out += table([['MEMBER', 'ID', 'CLIENT URLS', 'ROLE'], ...s.store.members.map((m) => [m.name, m.id, m.clientURLs.join(','), `${m.leader ? 'leader' : m.learner ? 'learner' : 'follower'}${m.started === false ? ' (not started)' : ''}`])]);
  }
  out += '\n';
  if (s.nodesError) out += `Nodes: cannot list them: ${s.nodesError}\n`;
  else if (s.nodes.length === 0) out += 'Nodes: none registered\n';
  else out += table([['NODE', 'READY', 'REASON'], ...s.nodes.map((n) => [n.name, n.ready, n.reason])]);
  return out;
}

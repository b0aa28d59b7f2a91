// `mkube status`: the health of a local cluster started by `mkube up`, from its state file
// (DIR/cluster.json): each component (pid alive, its /readyz or /healthz), the API server's embedded
// store (members, leader, revision — over https with the client certificate in DIR/apiserver/pki/etcd)
// and the nodes with their Ready condition (through the API with the admin credentials).
// Healthy means every line is healthy; the exit status says so (0) or not (1).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EtcdClient } from '@mkube/store/client';
import { adminCreds, apiGet, type AdminCreds } from './api_probe.js';
import { isAlive, readState, statePath, type ClusterState, type ComponentRecord } from './processes.js';
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
  members: Array<{ id: string; name: string; clientURLs: string[]; leader: boolean; learner: boolean }>;
  leader?: string;
  revision?: number;
  raftTerm?: number;
  raftIndex?: number;
  error?: string;
  healthy: boolean;
}

export interface NodeStatus {
  name: string;
  ready: string;
  reason: string;
  healthy: boolean;
}

export interface ClusterStatus {
  dataDir: string;
  apiServer: string;
  components: ComponentStatus[];
  store?: StoreStatus;
  nodes: NodeStatus[];
  nodesError?: string;
  healthy: boolean;
}

/** A state file is there but says no cluster runs (mkube down removes it). */
export class NoCluster extends Error {
  readonly code = 'NO_CLUSTER';
}

async function componentStatus(c: ComponentRecord, creds: AdminCreds | undefined): Promise<ComponentStatus> {
  const running = isAlive(c.pid);
  if (!running) return { name: c.name, pid: c.pid, running, health: `not running (see ${c.log})`, healthy: false };
  if (!c.health) return { name: c.name, pid: c.pid, running, health: 'running (no health endpoint reachable from this host)', healthy: true };
  try {
    const code = c.health.startsWith('https:') && creds ? (await apiGet(creds, new URL(c.health).pathname)).status : await httpStatus(c.health);
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

interface NodeItem {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

export async function clusterStatus(dataDirArg: string): Promise<ClusterStatus> {
  const dataDir = resolve(dataDirArg);
  const state: ClusterState | undefined = readState(dataDir);
  if (!state) throw new NoCluster(`no cluster in ${dataDir} (${statePath(dataDir)} not found): start one with "mkube up --data-dir ${dataDirArg}"`);
  const apiDir = join(dataDir, 'apiserver');
  let creds: AdminCreds | undefined;
  try {
    creds = state.apiServer ? adminCreds(apiDir, state.apiServer) : undefined;
  } catch {
    creds = undefined;
  }
  const [components, store] = await Promise.all([Promise.all(state.components.map((c) => componentStatus(c, creds))), storeStatus(apiDir)]);
  const nodes: NodeStatus[] = [];
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
  const healthy = state.components.length > 0 && components.every((c) => c.healthy) && (store?.healthy ?? true) && !nodesError && nodes.length > 0 && nodes.every((n) => n.healthy);
  return { dataDir, apiServer: state.apiServer, components, store, nodes, nodesError, healthy };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function formatStatus(s: ClusterStatus): string {
  let out = `Cluster in ${s.dataDir} (API server ${s.apiServer || 'not started'}): ${s.healthy ? 'healthy' : 'NOT healthy'}\n\n`;
  out += table([['COMPONENT', 'PID', 'STATE', 'HEALTH'], ...s.components.map((c) => [c.name, String(c.pid), c.running ? 'running' : 'exited', c.health])]);
  if (s.store) {
    out += `\nStore (embedded in the API server, ${s.store.endpoint}): `;
    out += s.store.error && s.store.members.length === 0
      ? `unreachable: ${s.store.error}\n`
      : `${s.store.leader ? `leader ${s.store.leader}` : 'NO leader'}, revision ${s.store.revision}, raft term ${s.store.raftTerm}, index ${s.store.raftIndex}${s.store.error ? `, errors: ${s.store.error}` : ''}\n`;
    if (s.store.members.length) out += table([['MEMBER', 'ID', 'CLIENT URLS', 'ROLE'], ...s.store.members.map((m) => [m.name, m.id, m.clientURLs.join(','), m.leader ? 'leader' : m.learner ? 'learner' : 'follower'])]);
  }
  out += '\n';
  if (s.nodesError) out += `Nodes: cannot list them: ${s.nodesError}\n`;
  else if (s.nodes.length === 0) out += 'Nodes: none registered\n';
  else out += table([['NODE', 'READY', 'REASON'], ...s.nodes.map((n) => [n.name, n.ready, n.reason])]);
  return out;
}

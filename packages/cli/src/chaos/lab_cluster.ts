/**
 * The chaos suite's view of a cluster built on this machine (`mkube up --control-planes N
 * --workers M` in the network-namespace lab, or hosts started by `mkube init/join` with their
 * own data directories): each host's processes come from its DIR/cluster.json (killed, paused
 * and started again with the same command lines), the store leader from every member's Status
 * (the leader named at the highest term: an isolated old leader still names itself), lease
 * holders from the Leases, and a partition is a chain of DROP rules inside the host's network
 * namespace (loopback kept), removed on heal and on cleanup.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeClient, Resources, type ClientConfig } from '@mkube/client';
import { isConditionTrue, type Lease, type Node } from '@mkube/api';
import type { EtcdClient } from '@mkube/store/client';
import { isAlive, readState, startComponent, writeState, type ComponentRecord } from '../processes.js';
import { storeClient, storePkiFiles } from '../store_member.js';
import type { ChaosCluster, ChaosHost, ComponentKind } from './cluster.js';

const run = promisify(execFile);
export const CHAOS_CHAIN = 'MKUBE-CHAOS';

export interface LabHost extends ChaosHost {
  /** Its data directory (DIR/cluster.json lists its processes). */
  dataDir: string;
  /** Its network namespace (required to partition it). */
  netns?: string;
  /** Its store member's client URL (control planes). */
  storeClientURL?: string;
  /** Its API server (control planes). */
  apiServer?: string;
}

export function componentKind(name: string): ComponentKind {
  if (name === 'store' || name.startsWith('store-')) return 'store';
  if (name === 'apiserver' || name.startsWith('apiserver-')) return 'apiserver';
  if (name === 'scheduler' || name.startsWith('scheduler-')) return 'scheduler';
  if (name === 'controller-manager' || name.startsWith('controller-manager-')) return 'controller-manager';
  if (name.startsWith('node-agent')) return 'node-agent';
  return 'other';
}

/** The iptables-restore input that isolates a host (also a pure function for tests). */
export function isolationRules(): string {
  return ['*filter', `:${CHAOS_CHAIN} - [0:0]`, `-A ${CHAOS_CHAIN} -i lo -j RETURN`, `-A ${CHAOS_CHAIN} -o lo -j RETURN`, `-A ${CHAOS_CHAIN} -j DROP`,
    `-I INPUT 1 -j ${CHAOS_CHAIN}`, `-I OUTPUT 1 -j ${CHAOS_CHAIN}`, `-I FORWARD 1 -j ${CHAOS_CHAIN}`, 'COMMIT', ''].join('\n');
}

const NETNS = /^[a-z0-9][a-z0-9-]{0,30}$/;
const STATUS_TIMEOUT_MS = 1000;
const LEADER_STATUS_TIMEOUT_MS = 300;
const RESTART_TIMEOUT_MS = 60_000;

export class LabChaosCluster implements ChaosCluster {
  readonly hosts: LabHost[];
  private readonly stores = new Map<string, EtcdClient>();
  private readonly admin: KubeClient;
  private readonly isolated = new Set<string>();

  constructor(hosts: LabHost[], readonly kubeconfig: ClientConfig, private readonly storePkiApiDir: string) {
    for (const h of hosts) if (h.netns !== undefined && !NETNS.test(h.netns)) throw new Error(`chaos: host ${h.name}: invalid network namespace name ${JSON.stringify(h.netns)}`);
    this.hosts = hosts;
    this.admin = new KubeClient({ ...kubeconfig, timeoutMs: 2000, userAgent: 'mkube-chaos/observer' });
  }

  nodePortUrls(nodePort: number): string[] {
    return this.hosts.filter((h) => h.role === 'worker').map((h) => `http://${h.address}:${nodePort}/`);
  }

  private host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`chaos: no host ${name}`);
    return h;
  }

  private store(h: LabHost): EtcdClient | undefined {
    if (!h.storeClientURL) return undefined;
    let c = this.stores.get(h.name);
    if (!c) {
      c = storeClient(storePkiFiles(this.storePkiApiDir), [h.storeClientURL]);
      this.stores.set(h.name, c);
    }
    return c;
  }

  /** A member's Status, or undefined when it does not answer within STATUS_TIMEOUT_MS (isolated, paused, dead). */
  private async status(h: LabHost, timeoutMs = STATUS_TIMEOUT_MS): Promise<Awaited<ReturnType<EtcdClient['status']>> | undefined> {
    const s = this.store(h);
    if (!s) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
    try {
      return await Promise.race([s.status().catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async storeLeader(): Promise<string | undefined> {
    // Polled while a fault is on: a member that does not answer quickly is taken as gone (an
    // isolated or paused old leader, which would still name itself, is not reachable anyway).
    const answers = await Promise.all(this.hosts.map(async (h) => {
      const s = await this.status(h, LEADER_STATUS_TIMEOUT_MS);
      return s ? { host: h.name, self: s.header.memberId, leader: s.leader, term: s.raftTerm } : undefined;
    }));
    const live = answers.filter((a): a is NonNullable<typeof a> => a !== undefined);
    const best = live.filter((a) => a.leader !== '0').sort((a, b) => b.term - a.term)[0];
    if (!best) return undefined;
    return live.find((a) => a.self === best.leader)?.host;
  }

  async leaseHolder(lease: string): Promise<string | undefined> {
    const l = await this.admin.resource<Lease>(Resources.leases).get('kube-system', lease).catch(() => undefined);
    const holder = l?.spec?.holderIdentity;
    if (!holder) return undefined;
    // Identities are "<hostname>_<pid>_<random>": lab hosts share the machine's hostname, so the pid says which.
    const pid = Number(holder.split('_')[1]);
    const byPid = this.hosts.find((h) => (readState(h.dataDir)?.components ?? []).some((c) => c.pid === pid));
    return byPid?.name ?? this.hosts.find((h) => holder === h.name || holder.startsWith(`${h.name}_`))?.name;
  }

  private records(h: LabHost, kinds: ComponentKind[]): ComponentRecord[] {
    const state = readState(h.dataDir);
    if (!state) throw new Error(`chaos: host ${h.name}: no cluster.json in ${h.dataDir}`);
    return state.components.filter((c) => kinds.includes(componentKind(c.name)));
  }

  async signal(host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<number> {
    let n = 0;
    for (const c of this.records(this.host(host), kinds)) {
      if (!isAlive(c.pid)) continue;
      process.kill(c.pid, signal);
      n++;
    }
    return n;
  }

  /**
   * Starts again, inside the host's network namespace, its processes of these kinds that are not
   * running: the store member first (the API server exits when its store does not answer at
   * start), then the API server once the member answers, the rest once the API server is ready.
   */
  async restart(host: string, kinds: ComponentKind[]): Promise<void> {
    const h = this.host(host);
    const state = readState(h.dataDir);
    if (!state) throw new Error(`chaos: host ${h.name}: no cluster.json in ${h.dataDir}`);
    const order: ComponentKind[] = ['store', 'apiserver', 'scheduler', 'controller-manager', 'node-agent', 'other'];
    for (const kind of order) {
      if (!kinds.includes(kind)) continue;
      let started = false;
      for (const [i, c] of state.components.entries()) {
        if (componentKind(c.name) !== kind || isAlive(c.pid)) continue;
        // A host's processes were started inside its network namespace (by mkube init/join run there).
        const inNetns = c.command[0] === 'nsenter' || !h.netns;
        const fresh = startComponent(h.dataDir, c.name, c.command, inNetns ? {} : { netns: h.netns });
        state.components[i] = { ...c, pid: fresh.pid, command: fresh.command };
        writeState(state);
        started = true;
      }
      if (!started) continue;
      if (kind === 'store') await this.until(`the store member on ${h.name} to answer`, RESTART_TIMEOUT_MS, async () => (await this.status(h)) !== undefined ? '' : 'no answer');
      if (kind === 'apiserver' && h.apiServer) await this.until(`the API server on ${h.name} to be ready`, RESTART_TIMEOUT_MS, () => this.readyz(h.apiServer!));
    }
  }

  /** Polls `problem` (empty: fine) until it is empty; rejects after timeoutMs naming the last problem. */
  private async until(what: string, timeoutMs: number, problem: () => Promise<string>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = await problem().catch((err: unknown) => (err as Error).message);
      if (!last) return;
      if (Date.now() > deadline) throw new Error(`chaos: timed out after ${timeoutMs} ms waiting for ${what}: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** '' when the API server answers /readyz, else what went wrong. */
  private async readyz(server: string): Promise<string> {
    const c = new KubeClient({ ...this.kubeconfig, server, servers: undefined, timeoutMs: 2000, userAgent: 'mkube-chaos/health' });
    try {
      const body = await c.request('GET', '/readyz').catch((err: unknown) => err as Error);
      return body instanceof Error ? `API server ${server}: ${body.message}` : '';
    } finally {
      c.close();
    }
  }

  async isolate(host: string): Promise<void> {
    const h = this.host(host);
    if (!h.netns) throw new Error(`chaos: host ${host} has no network namespace to partition`);
    const child = execFile('ip', ['netns', 'exec', h.netns, 'iptables-restore', '--noflush']);
    const done = new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`chaos: iptables-restore in ${h.netns} exited ${code}`)))));
    child.stdin!.end(isolationRules());
    await done;
    this.isolated.add(host);
  }

  async rejoin(host: string): Promise<void> {
    const h = this.host(host);
    if (!h.netns) return;
    for (const chain of ['INPUT', 'OUTPUT', 'FORWARD']) {
      // Delete every jump (a failed run may have left more than one).
      while (await run('ip', ['netns', 'exec', h.netns, 'iptables', '-D', chain, '-j', CHAOS_CHAIN]).then(() => true, () => false));
    }
    await run('ip', ['netns', 'exec', h.netns, 'iptables', '-F', CHAOS_CHAIN]).catch(() => undefined);
    await run('ip', ['netns', 'exec', h.netns, 'iptables', '-X', CHAOS_CHAIN]).catch(() => undefined);
    this.isolated.delete(host);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let problem = '';
    for (;;) {
      problem = await this.unhealthy();
      if (!problem) return;
      if (Date.now() > until) throw new Error(`chaos: the cluster is not healthy after ${timeoutMs} ms: ${problem}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async unhealthy(): Promise<string> {
    const leaders = new Set<string>();
    for (const h of this.hosts) {
      if (!h.storeClientURL) continue;
      const st = await this.status(h);
      if (!st) return `store member on ${h.name} does not answer`;
      if (st.leader === '0') return `store member on ${h.name} has no leader`;
      leaders.add(st.leader);
    }
    if (leaders.size > 1) return 'store members name different leaders';
    for (const server of this.kubeconfig.servers ?? [this.kubeconfig.server]) {
      const problem = await this.readyz(server);
      if (problem) return problem;
    }
    for (const h of this.hosts) {
      const dead = (readState(h.dataDir)?.components ?? []).filter((c) => !isAlive(c.pid)).map((c) => c.name);
      if (dead.length > 0) return `${h.name}: ${dead.join(', ')} not running`;
    }
    const nodes = await this.admin.resource<Node>(Resources.nodes).list().catch((err: unknown) => err as Error);
    if (nodes instanceof Error) return `listing nodes: ${nodes.message}`;
    const notReady = nodes.items.filter((n) => !isConditionTrue(n.status?.conditions, 'Ready')).map((n) => n.metadata.name);
    if (notReady.length > 0) return `node${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} not Ready`;
    return '';
  }

  async cleanup(): Promise<void> {
    for (const h of this.hosts) {
      if (h.netns) await this.rejoin(h.name).catch(() => undefined);
      for (const c of readState(h.dataDir)?.components ?? []) if (componentKind(c.name) === 'store' && isAlive(c.pid)) process.kill(c.pid, 'SIGCONT');
    }
    for (const c of this.stores.values()) c.close();
    this.stores.clear();
    this.admin.close();
  }
}

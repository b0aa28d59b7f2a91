/**
 * The chaos suite's view of a cluster built on this machine (`mkube up --control-planes N
 * --workers M` in the network-namespace lab, or hosts started by `mkube init/join` with their
 * own data directories): each host's processes come from its DIR/cluster.json (killed, paused
 * and started again with the same command lines), the store leader from every member's Status
 * (the leader named at the highest term: an isolated old leader still names itself), lease
 * holders from the Leases, and a partition is a chain of DROP rules inside the host's network
 * namespace (loopback kept), removed on heal and on cleanup.
 */
import { KubeClient, Resources, type ClientConfig } from '@mkube/client';
import type { Lease } from '@mkube/api';
import type { EtcdClient } from '@mkube/store/client';
import { readState, isRunning } from '../processes.js';
import { storeClient, storePkiFiles } from '../store_member.js';
import type { ChaosCluster, ChaosHost, ComponentKind, FaultTime } from './cluster.js';
import { apiProblem, readyzProblem } from './api_health.js';
import { componentRecords, deadComponents, isolateNetns, rejoinNetns, restartHost, signalHost, until } from './host_ops.js';

export { CHAOS_CHAIN, componentKind, isolationRules } from './host_ops.js';

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

/** A fault time taken in this process (wallNow) as a FaultTime. */
function localFaultTime(wallMs: number, start: number): FaultTime {
  return { at: wallMs - performance.timeOrigin, uncertaintyMs: 0, command: { start, end: performance.now() } };
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

  async signal(host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<{ signalled: number; at?: FaultTime }> {
    const start = performance.now();
    const r = signalHost(this.host(host), kinds, signal);
    return { signalled: r.signalled, at: r.at === undefined ? undefined : localFaultTime(r.at, start) };
  }

  /**
   * Starts again, inside the host's network namespace, its processes of these kinds that are not
   * running: the store member first (the API server exits when its store does not answer at
   * start), then the API server once the member answers, the rest once the API server is ready.
   */
  async restart(host: string, kinds: ComponentKind[]): Promise<void> {
    const h = this.host(host);
    await restartHost(h, kinds, async (kind) => {
      if (kind === 'store') await until(`the store member on ${h.name} to answer`, RESTART_TIMEOUT_MS, async () => (await this.status(h)) !== undefined ? '' : 'no answer');
      if (kind === 'apiserver' && h.apiServer) await until(`the API server on ${h.name} to be ready`, RESTART_TIMEOUT_MS, () => this.readyz(h.apiServer!));
    });
  }

  private readyz(server: string): Promise<string> {
    return readyzProblem(this.kubeconfig, server);
  }

  async isolate(host: string): Promise<FaultTime> {
    const h = this.host(host);
    if (!h.netns) throw new Error(`chaos: host ${host} has no network namespace to partition`);
    const start = performance.now();
    const at = await isolateNetns(h.netns);
    this.isolated.add(host);
    return localFaultTime(at, start);
  }

  async rejoin(host: string): Promise<void> {
    const h = this.host(host);
    if (!h.netns) return;
    await rejoinNetns(h.netns);
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
    for (const h of this.hosts) {
      const dead = deadComponents(h);
      if (dead.length > 0) return `${h.name}: ${dead.join(', ')} not running`;
    }
    return apiProblem(this.kubeconfig, this.admin);
  }

  async cleanup(): Promise<void> {
    for (const h of this.hosts) {
      if (h.netns) await this.rejoin(h.name).catch(() => undefined);
      for (const c of readState(h.dataDir) ? componentRecords(h, ['store']) : []) if (isRunning(c)) process.kill(c.pid, 'SIGCONT');
    }
    for (const c of this.stores.values()) c.close();
    this.stores.clear();
    this.admin.close();
  }
}

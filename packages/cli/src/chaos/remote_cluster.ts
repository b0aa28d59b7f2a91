/**
 * The chaos suite's view of a cluster on machines it reaches through a command (a hosts file:
 * `ssh root@ADDR`, or `nsenter --net=/run/netns/NS` in the lab): every per-host operation runs
 * `COMMAND... MKUBE chaos-host --data-dir DIR <op>` on that host (host_command.ts) and reads its
 * JSON; lease holders and API health come from the admin kubeconfig; NodePort URLs from the
 * worker addresses. A fault's time is the one the host printed (taken where the fault happened), moved
 * into this process's clock by the host's clock offset measured at the start (measureClocks).
 */
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { KubeClient, Resources, type ClientConfig } from '@mkube/client';
import type { Lease } from '@mkube/api';
import { apiProblem } from './api_health.js';
import type { ChaosCluster, ChaosHost, ClockOffset, ComponentKind, FaultTime } from './cluster.js';
import { wallNow } from './host_ops.js';
import type { HostHealth, StoreStatus } from './host_command.js';
import type { HostsFileEntry } from './hosts_file.js';

/** How long one host operation may take (a command's start-up plus the operation: a Node.js start took over 15 s at load 30 here). */
const OP_TIMEOUT_MS = 45_000;
const RESTART_TIMEOUT_MS = 150_000;
/** A store member's Status while a fault is on: a member that does not answer in time is taken as gone. */
const LEADER_STATUS_TIMEOUT_MS = 1000;
const PIDS_REFRESH_MS = 2000;
/** Round trips per host when measuring its clock offset (the shortest one is used). */
const CLOCK_ROUNDS = 10;
/** How long `chaos-host clock` may take to start and answer its round trips. */
const CLOCK_TIMEOUT_MS = 90_000;

export class RemoteChaosCluster implements ChaosCluster {
  readonly hosts: ChaosHost[];
  private readonly entries: Map<string, HostsFileEntry>;
  private readonly admin: KubeClient;
  private readonly pids = new Map<string, number[]>();
  private pidsAt = 0;
  /** Every host's clock offset (measureClocks, before the first fault). */
  clockOffsets?: ClockOffset[];

  /** `mkube` is the argv that runs mkube on every host (e.g. ['mkube'] or ['node', '/opt/mkube/dist/src/bin/mkube.js']). */
  constructor(entries: HostsFileEntry[], readonly kubeconfig: ClientConfig, private readonly mkube: string[]) {
    this.entries = new Map(entries.map((e) => [e.name, e]));
    this.hosts = entries.map((e) => ({ name: e.name, role: e.role, address: e.address }));
    this.admin = new KubeClient({ ...kubeconfig, timeoutMs: 2000, userAgent: 'mkube-chaos/observer' });
  }

  /** Runs `mkube chaos-host` on the host; resolves its JSON output, rejects with its stderr. */
  private op<T>(host: string, args: string[], timeoutMs = OP_TIMEOUT_MS): Promise<T> {
    const e = this.entries.get(host);
    if (!e) return Promise.reject(new Error(`chaos: no host ${host}`));
    const argv = [...e.command.slice(1), ...this.mkube, 'chaos-host', '--data-dir', e.dataDir, ...args];
    return new Promise((resolve, reject) => {
      execFile(e.command[0]!, argv, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) {
          const why = (err as { killed?: boolean }).killed ? `no answer within ${timeoutMs} ms (killed)` : stderr.trim() || err.message;
          return reject(Object.assign(new Error(`chaos: ${host}: chaos-host ${args.join(' ')}: ${why}`), { code: 'HOST_OP_FAILED' }));
        }
        try {
          resolve(JSON.parse(stdout) as T);
        } catch {
          reject(Object.assign(new Error(`chaos: ${host}: chaos-host ${args.join(' ')} printed no JSON: ${stdout.slice(0, 200)}`), { code: 'HOST_OP_FAILED' }));
        }
      });
    });
  }

  nodePortUrls(nodePort: number): string[] {
    return this.hosts.filter((h) => h.role === 'worker').map((h) => `http://${h.address}:${nodePort}/`);
  }

  private status(host: string, timeoutMs: number): Promise<StoreStatus | undefined> {
    return this.op<StoreStatus>(host, ['store-status', String(timeoutMs)], timeoutMs + OP_TIMEOUT_MS).catch(() => undefined);
  }

  async storeLeader(): Promise<string | undefined> {
    const planes = this.hosts.filter((h) => h.role === 'control-plane');
    const answers = await Promise.all(planes.map(async (h) => ({ host: h.name, s: await this.status(h.name, LEADER_STATUS_TIMEOUT_MS) })));
    const live = answers.filter((a): a is { host: string; s: StoreStatus } => a.s !== undefined);
    // The leader named at the highest term (an isolated old leader still names itself).
    const best = live.filter((a) => a.s.leader !== '0').sort((a, b) => b.s.term - a.s.term)[0];
    if (!best) return undefined;
    return live.find((a) => a.s.memberId === best.s.leader)?.host;
  }

  private async refreshPids(): Promise<void> {
    if (Date.now() - this.pidsAt < PIDS_REFRESH_MS) return;
    this.pidsAt = Date.now();
    await Promise.all(this.hosts.map(async (h) => {
      const r = await this.op<{ running: Array<{ pid: number }> }>(h.name, ['healthy']).catch(() => undefined);
      if (r) this.pids.set(h.name, r.running.map((c) => c.pid));
    }));
  }

  async leaseHolder(lease: string): Promise<string | undefined> {
    const l = await this.admin.resource<Lease>(Resources.leases).get('kube-system', lease).catch(() => undefined);
    const holder = l?.spec?.holderIdentity;
    if (!holder) return undefined;
    // Identities are "<hostname>_<pid>_<random>": a VM's hostname names it; hosts sharing a hostname (the lab) by the pid.
    const byName = this.hosts.find((h) => holder === h.name || holder.startsWith(`${h.name}_`));
    if (byName) return byName.name;
    const pid = Number(holder.split('_')[1]);
    const find = () => [...this.pids].find(([, pids]) => pids.includes(pid))?.[0];
    if (find() === undefined) await this.refreshPids();
    return find();
  }

  async signal(host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<{ signalled: number; at?: FaultTime }> {
    const start = performance.now();
    const r = await this.op<{ signalled: number; at?: number }>(host, ['signal', kinds.join(','), signal]);
    return { signalled: r.signalled, at: r.at === undefined ? undefined : this.faultTime(host, r.at, start) };
  }

  async restart(host: string, kinds: ComponentKind[]): Promise<void> {
    await this.op(host, ['restart', kinds.join(',')], RESTART_TIMEOUT_MS);
    this.pidsAt = 0;
  }

  async isolate(host: string): Promise<FaultTime> {
    const start = performance.now();
    const r = await this.op<{ at: number }>(host, ['isolate']);
    return this.faultTime(host, r.at, start);
  }

  /** A host's wall-clock reading moved into this process's performance.now() clock by its measured offset. */
  private faultTime(host: string, hostWallMs: number, start: number): FaultTime {
    const end = performance.now();
    const off = this.clockOffsets?.find((o) => o.host === host);
    if (!off) throw Object.assign(new Error(`chaos: no clock offset measured for ${host} (measureClocks first)`), { code: 'NO_CLOCK_OFFSET' });
    return { at: hostWallMs - off.offsetMs - performance.timeOrigin, uncertaintyMs: off.uncertaintyMs, hostWallMs, command: { start, end } };
  }

  /**
   * Measures every host's clock against this one as NTP does: `mkube chaos-host clock` started once on the host
   * (its start-up is not inside any sample), then CLOCK_ROUNDS round trips t0 → host reads t1 → t3 here; the sample
   * with the shortest round trip gives offset = t1 − (t0 + t3) / 2, within ± (t3 − t0) / 2.
   */
  async measureClocks(): Promise<ClockOffset[]> {
    this.clockOffsets = await Promise.all(this.hosts.map((h) => this.measureClock(h.name)));
    return this.clockOffsets;
  }

  private measureClock(host: string): Promise<ClockOffset> {
    const e = this.entries.get(host)!;
    const child = spawn(e.command[0]!, [...e.command.slice(1), ...this.mkube, 'chaos-host', '--data-dir', e.dataDir, 'clock'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
    const fail = (why: string) => Object.assign(new Error(`chaos: ${host}: measuring its clock: ${why}${stderr ? `: ${stderr.trim().slice(0, 300)}` : ''}`), { code: 'CLOCK_FAILED' });
    const next = async (): Promise<number> => {
      const r = await lines.next();
      if (r.done) throw fail(`chaos-host clock ended after ${Date.now() - started} ms (exit ${child.exitCode ?? child.signalCode ?? 'unknown'})`);
      const t = (JSON.parse(r.value) as { t?: unknown }).t;
      if (typeof t !== 'number') throw fail(`unexpected line ${JSON.stringify(r.value.slice(0, 100))}`);
      return t;
    };
    // A Node.js start on a loaded host takes seconds (10 s seen here with 5 starting at once); the round trips do not.
    const started = Date.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOCK_TIMEOUT_MS);
    return (async () => {
      try {
        await next();
        const samples: Array<{ rtt: number; offset: number }> = [];
        for (let i = 0; i < CLOCK_ROUNDS; i++) {
          const t0 = wallNow();
          child.stdin.write('\n');
          const t1 = await next();
          const t3 = wallNow();
          samples.push({ rtt: t3 - t0, offset: t1 - (t0 + t3) / 2 });
        }
        const best = samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
        return { host, offsetMs: best.offset, uncertaintyMs: best.rtt / 2, rttMs: samples.map((s) => Math.round(s.rtt * 100) / 100) };
      } finally {
        clearTimeout(timer);
        child.stdin.end();
        if (child.exitCode === null) await new Promise((r) => { child.once('close', r); setTimeout(() => { child.kill('SIGKILL'); }, 5000).unref(); });
      }
    })();
  }

  async rejoin(host: string): Promise<void> {
    await this.op(host, ['rejoin']);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const problem = await this.unhealthy();
      if (!problem) return;
      if (Date.now() > until) throw Object.assign(new Error(`chaos: the cluster is not healthy after ${timeoutMs} ms: ${problem}`), { code: 'NOT_HEALTHY' });
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async unhealthy(): Promise<string> {
    // One command per host: its processes and, on a control plane, its store member's Status.
    const health = await Promise.all(this.hosts.map(async (h) => ({ host: h, r: await this.op<HostHealth>(h.name, ['healthy']).catch((err: unknown) => err as Error) })));
    const leaders = new Set<string>();
    for (const { host, r } of health) {
      if (r instanceof Error) return r.message;
      this.pids.set(host.name, r.running.map((c) => c.pid));
      if (host.role !== 'control-plane') continue;
      if (!r.store) return `store member on ${host.name} does not answer`;
      if (r.store.leader === '0') return `store member on ${host.name} has no leader`;
      leaders.add(r.store.leader);
    }
    if (leaders.size > 1) return 'store members name different leaders';
    for (const { host, r } of health) if (!(r instanceof Error) && r.notRunning.length > 0) return `${host.name}: ${r.notRunning.join(', ')} not running`;
    return apiProblem(this.kubeconfig, this.admin);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.hosts.map(async (h) => {
      await this.rejoin(h.name).catch(() => undefined);
      if (h.role === 'control-plane') await this.signal(h.name, ['store'], 'SIGCONT').catch(() => undefined);
    }));
    this.admin.close();
  }
}

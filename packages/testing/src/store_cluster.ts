// The mkube-store launcher: real mkube-store processes (the built binary,
// packages/store/dist) as a 1-, 3- or 5-member cluster on free loopback ports,
// with temp data dirs; kills and restarts members; cleans everything up.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@mkube/component-base';
import { PeerProxy } from './peer_proxy.js';
import { REPO_ROOT } from './repo_root.js';

export const STORE_BIN = join(REPO_ROOT, 'packages', 'store', 'dist', 'src', 'bin', 'mkube-store.js');

export interface StoreMemberProcess {
  name: string;
  clientURL: string;
  /** The URL the other members dial (advertised; a PeerProxy's with peerProxies). */
  peerURL: string;
  /** The URL the member listens on for peers (peerURL unless a proxy sits in front). */
  listenPeerURL: string;
  /** The proxy in front of the member's peer listener (peerProxies). */
  proxy: PeerProxy | undefined;
  metricsURL: string;
  dataDir: string;
  proc: ChildProcess | undefined;
  stderr: string[];
  /** The member's log (its stdout: JSON lines), kept with the `logs` option. */
  logs: string[];
  extraArgs: string[];
  state: 'new' | 'existing';
}

export interface StoreClusterOptions {
  members?: number;
  extraArgs?: string[];
  token?: string;
  /** Scheme of client and peer URLs (https needs the TLS flags in extraArgs). */
  scheme?: 'http' | 'https';
  /** Put a PeerProxy (peer_proxy.ts) in front of every member's peer listener. */
  peerProxies?: boolean;
  /** Runs before the members first start, e.g. to mount a small tmpfs on a data dir (created empty). */
  prepareDataDir?: (dataDir: string) => Promise<void>;
  /** Keep each member's log output (stdout) in `logs`, the last 2000 chunks. */
  logs?: boolean;
}

export class StoreCluster {
  readonly members: StoreMemberProcess[] = [];
  private initialCluster = '';

  private constructor(
    readonly baseDir: string,
    private readonly opts: StoreClusterOptions,
  ) {}

  static async start(opts: StoreClusterOptions = {}): Promise<StoreCluster> {
    if (!existsSync(STORE_BIN)) throw new Error(`${STORE_BIN} is missing: build first (npx tsc -b)`);
    const c = new StoreCluster(mkdtempSync(join(tmpdir(), 'mkube-store-test-')), opts);
    const n = opts.members ?? 3;
    for (let i = 0; i < n; i++) c.members.push(await c.describe(`m${i + 1}`, 'new'));
    c.initialCluster = c.members.map((m) => `${m.name}=${m.peerURL}`).join(',');
    try {
      for (const m of c.members) {
        if (opts.prepareDataDir) {
          mkdirSync(m.dataDir, { recursive: true });
          await opts.prepareDataDir(m.dataDir);
        }
        await m.proxy?.start();
      }
      for (const m of c.members) c.spawn(m);
      await c.waitHealthy();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async describe(name: string, state: 'new' | 'existing'): Promise<StoreMemberProcess> {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    const listenPeer = this.opts.peerProxies ? await freePort() : peer;
    return {
      name,
      clientURL: `${this.opts.scheme ?? 'http'}://127.0.0.1:${client}`,
      peerURL: `${this.opts.scheme ?? 'http'}://127.0.0.1:${peer}`,
      listenPeerURL: `${this.opts.scheme ?? 'http'}://127.0.0.1:${listenPeer}`,
      proxy: this.opts.peerProxies ? new PeerProxy(peer, listenPeer, await freePort()) : undefined,
      metricsURL: `http://127.0.0.1:${metrics}`,
      dataDir: join(this.baseDir, name),
      proc: undefined,
      stderr: [],
      logs: [],
      extraArgs: [...(this.opts.extraArgs ?? [])],
      state,
    };
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientURL.replace(/^https?:\/\//, ''));
  }

  args(m: StoreMemberProcess): string[] {
    return [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientURL, '--advertise-client-urls', m.clientURL,
      '--listen-peer-urls', m.listenPeerURL, '--initial-advertise-peer-urls', m.peerURL,
      '--listen-metrics-urls', m.metricsURL,
      '--initial-cluster', this.initialCluster, '--initial-cluster-state', m.state,
      '--initial-cluster-token', this.opts.token ?? 'mkube-test',
      '--log-level', process.env.MKUBE_TEST_LOG_LEVEL ?? 'warn',
      ...m.extraArgs,
    ];
  }

  spawn(m: StoreMemberProcess): ChildProcess {
    // MKUBE_STORE_NODE_ARGS: extra node flags for the members (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p" from a benchmark).
    const nodeArgs = (process.env.MKUBE_STORE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const env = m.proxy ? { ...process.env, ...m.proxy.egressEnv() } : process.env;
    const proc = spawn(process.execPath, [...nodeArgs, STORE_BIN, ...this.args(m)], { stdio: ['ignore', this.opts.logs ? 'pipe' : 'ignore', 'pipe'], env });
    m.stderr = [];
    m.logs = [];
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => {
      m.logs.push(d);
      if (m.logs.length > 2000) m.logs.shift();
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      m.stderr.push(d);
      if (m.stderr.length > 200) m.stderr.shift();
    });
    m.proc = proc;
    return proc;
  }

  /** Adds a member process for one added with `member add` (starts it with --initial-cluster-state existing). */
  async addMemberProcess(name: string): Promise<StoreMemberProcess> {
    const m = await this.describe(name, 'existing');
    this.members.push(m);
    return m;
  }

  startAdded(m: StoreMemberProcess): void {
    this.initialCluster = this.members.filter((x) => x.proc || x === m).map((x) => `${x.name}=${x.peerURL}`).join(',');
    this.spawn(m);
  }

  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.members[i]!;
    const p = m.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
  }

  restart(i: number): void {
    this.spawn(this.members[i]!);
  }

  async health(m: StoreMemberProcess): Promise<{ health: string; reason: string } | undefined> {
    try {
      const res = await fetch(`${m.metricsURL}/health`, { signal: AbortSignal.timeout(1000) });
      return (await res.json()) as { health: string; reason: string };
    } catch {
      return undefined;
    }
  }

  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.members.filter((m) => m.proc && m.proc.exitCode === null);
      const hs = await Promise.all(running.map((m) => this.health(m)));
      if (hs.every((h) => h?.health === 'true')) return;
      if (Date.now() > deadline) {
        throw new Error(`cluster not healthy after ${timeoutMs} ms: ${JSON.stringify(hs)}\n${running.map((m) => `${m.name}: ${m.stderr.join('').slice(-2000)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async metrics(m: StoreMemberProcess): Promise<string> {
    return (await fetch(`${m.metricsURL}/metrics`)).text();
  }

  /** Index of the member that reports itself leader (through /metrics), or -1. */
  async leaderIndex(): Promise<number> {
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i]!;
      if (!m.proc || m.proc.exitCode !== null) continue;
      try {
        const text = await this.metrics(m);
        if (/^etcd_server_is_leader 1$/m.test(text)) return i;
      } catch {
        // not up
      }
    }
    return -1;
  }

  async stop(): Promise<void> {
    // Members run with extra node flags (profiling) get SIGTERM, so they exit normally and write their output.
    const signal = process.env.MKUBE_STORE_NODE_ARGS ? 'SIGTERM' : 'SIGKILL';
    await Promise.all(this.members.map((_, i) => this.kill(i, signal)));
    await Promise.all(this.members.map((m) => m.proxy?.close()));
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

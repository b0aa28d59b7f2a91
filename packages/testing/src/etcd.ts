// The etcd launcher: real etcd 3.4 processes (/usr/bin/etcd, or $ETCD_BIN)
// for tests and benchmarks: a 1- or 3-member cluster on free 127.0.0.1 ports
// with data dirs under os.tmpdir(). Readiness and leadership are read from
// etcd's JSON gateway (POST /v3/maintenance/status), so this needs no store
// code. Register `cluster.stop()` with t.teardown so everything is killed and
// removed even when a test fails.
//
//   const cluster = await startEtcdCluster({ members: 3 });
//   t.teardown(() => cluster.stop());
//   cluster.endpoints            // ['127.0.0.1:41234', ...] (host:port, no scheme)
//   await cluster.members[0].kill();   // SIGKILL, waits for exit
//   await cluster.members[0].start();  // restarts on the same data dir and ports

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@mkube/component-base';
import { sleep } from './wait.js';

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

export interface StartEtcdOptions {
  /** Number of members (default 1). */
  members?: number;
  /** Extra command-line flags for every member, e.g. ['--auto-compaction-retention=0']. */
  extraArgs?: string[];
  /** How long to wait for the cluster to elect a leader (default 20 s). */
  readyTimeoutMs?: number;
  /** Keep member logs in memory (default true); `member.log()` returns them. */
  captureLogs?: boolean;
}

export interface EtcdMemberProcess {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** host:port for gRPC clients. */
  readonly endpoint: string;
  readonly clientURL: string;
  readonly peerURL: string;
  readonly dataDir: string;
  running(): boolean;
  /** SIGKILL the process and wait for it to exit. */
  kill(): Promise<void>;
  /** SIGTERM the process and wait for it to exit. */
  stop(): Promise<void>;
  /** (Re)starts the process on the same data dir and ports. */
  start(): Promise<void>;
  log(): string;
}

export interface EtcdCluster {
  readonly endpoints: string[];
  readonly members: EtcdMemberProcess[];
  readonly rootDir: string;
  /** Waits until every running member reports the same non-zero leader. */
  waitForLeader(timeoutMs?: number): Promise<void>;
  /** Kills every member and removes the data dirs. Safe to call twice. */
  stop(): Promise<void>;
}


async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

class MemberProcess implements EtcdMemberProcess {
  readonly endpoint: string;
  readonly clientURL: string;
  readonly peerURL: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private logs: string[] = [];

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly initialCluster: string,
    private readonly clusterToken: string,
    private readonly extraArgs: string[],
    private readonly captureLogs: boolean,
  ) {
    this.endpoint = `127.0.0.1:${clientPort}`;
    this.clientURL = `http://127.0.0.1:${clientPort}`;
    this.peerURL = `http://127.0.0.1:${peerPort}`;
  }

  running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const args = [
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientURL}`,
      `--advertise-client-urls=${this.clientURL}`,
      `--listen-peer-urls=${this.peerURL}`,
      `--initial-advertise-peer-urls=${this.peerURL}`,
      `--initial-cluster=${this.initialCluster}`,
      `--initial-cluster-token=${this.clusterToken}`,
      '--initial-cluster-state=new',
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      ...this.extraArgs,
    ];
    const child = spawn(ETCD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const onData = (buf: Buffer) => {
      if (this.captureLogs) this.logs.push(buf.toString());
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', (err) => {
        this.logs.push(`spawn error: ${err.message}\n`);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  log(): string {
    return this.logs.join('');
  }
}

/** Asks one member for its status through the JSON gateway: the leader's id ('0' if none). */
export async function memberLeader(clientURL: string, timeoutMs: number): Promise<string> {
  const res = await fetch(`${clientURL}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`status of ${clientURL}: HTTP ${res.status}`);
  const status = (await res.json()) as { leader?: string };
  return status.leader ?? '0';
}

/** Compacts the key space at its current revision (JSON gateway); returns that revision. */
export async function compactEtcd(clientURL: string): Promise<number> {
  const res = await fetch(`${clientURL}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5000) });
  const rev = Number(((await res.json()) as { header: { revision: string } }).header.revision);
  const c = await fetch(`${clientURL}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(rev) }), signal: AbortSignal.timeout(10_000) });
  if (!c.ok) throw new Error(`compaction of ${clientURL} at ${rev}: HTTP ${c.status} ${await c.text()}`);
  return rev;
}

export async function startEtcdCluster(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const n = opts.members ?? 1;
  const rootDir = await mkdtemp(join(tmpdir(), 'mkube-etcd-'));
  const ports = await distinctFreePorts(2 * n);
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const token = `mkube-test-${process.pid}-${Date.now()}`;
  const members: MemberProcess[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = join(rootDir, names[i]!);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    members.push(
      new MemberProcess(names[i]!, ports[2 * i]!, ports[2 * i + 1]!, dataDir, initialCluster, token, opts.extraArgs ?? [], opts.captureLogs ?? true),
    );
  }
  let stopped = false;
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.endpoint),
    members,
    rootDir,
    async waitForLeader(timeoutMs = 20_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      let lastErr: unknown;
      while (Date.now() < deadline) {
        try {
          const running = members.filter((m) => m.running());
          if (running.length === 0) throw new Error('no member is running');
          const leaders = await Promise.all(running.map((m) => memberLeader(m.clientURL, 1000)));
          if (leaders.every((l) => l !== '0' && l === leaders[0])) return;
          lastErr = new Error(`leaders: ${leaders.join(',')}`);
        } catch (err) {
          lastErr = err;
        }
        await sleep(100);
      }
      throw new Error(
        `etcd cluster not ready after ${timeoutMs} ms: ${String(lastErr)}\n` +
          members.map((m) => `--- ${m.name}\n${m.log().slice(-2000)}`).join('\n'),
      );
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => m.kill()));
      await rm(rootDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((m) => m.start()));
    await cluster.waitForLeader(opts.readyTimeoutMs ?? 20_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

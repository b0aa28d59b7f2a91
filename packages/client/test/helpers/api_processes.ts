// Several real mkube-apiserver processes (the built bin) on one etcd 3.4 and
// one data dir (the first creates the PKI and admin kubeconfig, the others
// reuse them), each on its own port of 127.0.0.1: what the failover tests
// kill (SIGKILL) and freeze (SIGSTOP). Register `stop()` with t.teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, startEtcdCluster, waitFor, type EtcdCluster } from '@mkube/testing';

const BIN = join(REPO_ROOT, 'packages', 'apiserver', 'dist', 'src', 'bin', 'mkube-apiserver.js');

export interface ApiProcess {
  readonly url: string;
  readonly port: number;
  running(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  log(): string;
}

export interface ApiProcesses {
  etcd: EtcdCluster;
  dataDir: string;
  servers: ApiProcess[];
  kubeconfigPath: string;
  ca: Buffer;
  stop(): Promise<void>;
}

/** GET /readyz anonymously; the status code or 0 when nothing answered. */
function readyz(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(new URL('/readyz', url), { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

export async function startApiProcesses(n: number): Promise<ApiProcesses> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-client-failover-'));
  const etcd = await startEtcdCluster({ members: 1 });
  const dataDir = join(dir, 'data');
  const children: ChildProcess[] = [];
  const servers: ApiProcess[] = [];
  const out: ApiProcesses = {
    etcd,
    dataDir,
    servers,
    kubeconfigPath: join(dataDir, 'admin.kubeconfig'),
    ca: Buffer.alloc(0),
    async stop() {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGCONT');
          c.kill('SIGKILL');
          await new Promise((r) => c.once('exit', r));
        }
      }
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const logs: string[] = [];
      const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, '--secure-port', String(port), '--grpc-port=-1', '--bind-address', '127.0.0.1', '--etcd-servers', etcd.endpoints.join(','), '--compaction-interval', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      child.stdout!.on('data', (c: Buffer) => logs.push(c.toString()));
      child.stderr!.on('data', (c: Buffer) => logs.push(c.toString()));
      const url = `https://127.0.0.1:${port}`;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const proc: ApiProcess = {
        url,
        port,
        running: () => child.exitCode === null && child.signalCode === null,
        async kill(signal: NodeJS.Signals = 'SIGKILL') {
          if (proc.running()) child.kill(signal);
          await exited;
        },
        signal: (s) => child.kill(s),
        log: () => logs.join(''),
      };
      // The first creates the PKI: wait for it before starting the next (they share the data dir).
      await waitFor(`mkube-apiserver ${i} ready`, 60_000, async () => {
        if (!proc.running()) throw new Error(`mkube-apiserver ${i} exited: ${proc.log()}`);
        return (await readyz(url)) === 200 ? true : undefined;
      }, 200);
      if (out.ca.length === 0) out.ca = readFileSync(join(dataDir, 'pki', 'ca.crt'));
      servers.push(proc);
    }
    return out;
  } catch (err) {
    await out.stop();
    throw err;
  }
}

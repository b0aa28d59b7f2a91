// Helpers of the e2e tests on lab clusters of several control planes (ha_five.test.ts, restore_ha.test.ts): running
// mkube on the machine or inside a lab host's network namespace, kubectl through the cluster's admin kubeconfig,
// direct HTTPS requests to one API server with the admin credentials, a store member's Status with the control
// plane's client certificate, waiting on a condition, SIGKILLing a host's processes, their resident memory.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readState, waitFor } from '@mkube/cli';
import { EtcdClient } from '@mkube/store/client';

export const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
export const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
export const KUBECTL_127 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';

export interface Run { code: number; out: string; err: string }
export function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 32 << 20, killSignal: 'SIGKILL' }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

export interface HostRecord { name: string; role: 'control-plane' | 'worker'; address: string; dataDir: string; netns?: string; apiServer?: string; storeClientURL?: string }

export interface Status {
  healthy: boolean;
  store?: { leader?: string; revision?: number; members: { id: string; name: string; leader: boolean; learner: boolean; started?: boolean }[] };
  apiServers?: { name: string; server: string; healthy: boolean }[];
  leaders?: { lease: string; host?: string }[];
}

export const mkube = (args: string[], timeoutMs = 120_000) => run(process.execPath, [MKUBE, ...args], timeoutMs);
/** mkube ARGS inside a lab host's network namespace (what an operator runs on that machine). */
export const mkubeOn = (h: HostRecord, args: string[], timeoutMs = 120_000) => run('nsenter', [`--net=/run/netns/${h.netns!}`, process.execPath, MKUBE, ...args], timeoutMs);

/** The CLI's poll loop (api_probe.ts), under the name these tests use. */
export const waitUntil = waitFor;

export class Lab {
  hosts: HostRecord[] = [];
  constructor(readonly dir: string, readonly home: string) {}
  load(): void {
    this.hosts = readState(this.dir)!.hosts as HostRecord[];
  }
  get kubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }
  planes(): HostRecord[] {
    return this.hosts.filter((h) => h.role === 'control-plane');
  }
  workers(): HostRecord[] {
    return this.hosts.filter((h) => h.role === 'worker');
  }
  kubectl(args: string[], bin = KUBECTL): Promise<Run> {
    return run(bin, args, 60_000, { ...process.env, KUBECONFIG: this.kubeconfig, HOME: this.home });
  }
  async status(): Promise<Status> {
    const r = await mkube(['status', '--data-dir', this.dir, '-o', 'json'], 60_000);
    return JSON.parse(r.out) as Status;
  }
  /** The admin credentials of the admin kubeconfig, for direct HTTPS requests to any API server. */
  adminTls(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const doc = parse(readFileSync(this.kubeconfig, 'utf8')) as { clusters: { cluster: { 'certificate-authority-data': string } }[]; users: { user: Record<string, string> }[] };
    const u = doc.users[0]!.user;
    return { ca: Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data'], 'base64'), cert: Buffer.from(u['client-certificate-data']!, 'base64'), key: Buffer.from(u['client-key-data']!, 'base64') };
  }
  /** One request to one API server: its status code and body. */
  https(server: string, method: string, path: string, body?: unknown, timeoutMs = 1000): Promise<{ status: number; body: string }> {
    const tls = this.adminTls();
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(new URL(path, server), { method, ...tls, timeout: timeoutMs, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(data);
    });
  }
  /** The Status of one store member (its own answer: revision, leader, raft index), with a control plane's client certificate. */
  async memberStatus(h: HostRecord, through: HostRecord = h): Promise<{ revision: number; leader: string; raftIndex: number }> {
    const pki = join(through.dataDir, 'apiserver', 'pki', 'etcd');
    const client = new EtcdClient({ endpoints: [h.storeClientURL!], tls: { ca: join(pki, 'ca.crt'), cert: join(pki, 'apiserver-etcd-client.crt'), key: join(pki, 'apiserver-etcd-client.key') }, dialTimeoutMs: 2000, requestTimeoutMs: 3000 });
    try {
      const s = await client.status();
      return { revision: s.header.revision, leader: s.leader, raftIndex: s.raftIndex };
    } finally {
      client.close();
    }
  }
}

/** SIGKILLs the named processes of a host (every one without names), from its cluster.json; their pids. */
export function killOnHost(h: HostRecord, names?: string[]): number[] {
  const pids: number[] = [];
  for (const c of readState(h.dataDir)?.components ?? []) {
    if (names && !names.includes(c.name)) continue;
    try {
      process.kill(c.pid, 'SIGKILL');
      pids.push(c.pid);
    } catch {
      // gone
    }
  }
  return pids;
}

/** Resident memory (VmRSS, kB) of a host's recorded processes, by component name. */
export function hostRss(h: HostRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of readState(h.dataDir)?.components ?? []) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'));
      if (m) out[c.name] = Number(m[1]);
    } catch {
      // not running
    }
  }
  return out;
}

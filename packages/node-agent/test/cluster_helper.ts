// Test fixture for the node agent against a real control plane: etcd 3.4
// (/usr/bin/etcd) on free ports, an in-process API server (restartable on the
// same port), and mkube-node-agent processes (optionally inside a lab
// worker's network namespace). Everything is removed by `stop()`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer, type ApiServerOptions } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { REPO_ROOT, run, sleep, waitFor, type LabNode } from './lab_helper.js';
import { freePort } from '../../store/src/util/free_port.js';

export { freePort };


export interface ControlPlane {
  dir: string;
  api: ApiServer;
  port: number;
  kubeconfigPath: string;
  client: KubeClient;
  restartApi(): Promise<void>;
  stopApi(): Promise<void>;
  stop(): Promise<void>;
}

async function startEtcd(dir: string): Promise<{ endpoint: string; proc: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${client}`;
  const proc = spawn('/usr/bin/etcd', [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`,
  ], { stdio: 'ignore' });
  await waitFor('etcd health', 20_000, async () => {
    const r = await fetch(`http://${endpoint}/health`).catch(() => undefined);
    return r?.ok ? true : undefined;
  });
  return { endpoint, proc };
}

/** etcd + API server; `bindAddress`/`advertiseAddress` for agents in other network namespaces. */
export async function startControlPlane(name: string, opts: { bindAddress?: string; advertiseAddress?: string; api?: Partial<ApiServerOptions> } = {}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-cp-`));
  const etcd = await startEtcd(dir);
  const port = await freePort();
  const start = () => startApiServer({ dataDir: join(dir, 'api'), etcdServers: [etcd.endpoint], securePort: port, grpcPort: -1, bindAddress: opts.bindAddress, advertiseAddress: opts.advertiseAddress, logLevel: process.env.MKUBE_DEBUG ? 'debug' : 'silent', ...opts.api });
  let api: ApiServer | undefined = await start();
  const client = new KubeClient({ ...loadKubeconfig(api.kubeconfigPath), timeoutMs: 10_000 });
  const cp: ControlPlane = {
    dir,
    get api() {
      return api!;
    },
    port,
    kubeconfigPath: api.kubeconfigPath,
    client,
    async stopApi() {
      await api?.stop();
      api = undefined;
    },
    async restartApi() {
      if (api) await api.stop();
      api = await start();
    },
    async stop() {
      client.close();
      await api?.stop().catch(() => undefined);
      etcd.proc.kill('SIGKILL');
      await sleep(100);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cp;
}

export interface AgentProcess {
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  logs(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const BIN = join(REPO_ROOT, 'packages', 'node-agent', 'src', 'bin', 'mkube-node-agent.ts');

/** Starts mkube-node-agent for a lab node (inside its netns when it has one); resolves once it printed its ready line. */
export async function startAgent(cp: ControlPlane, node: LabNode, rootDir: string, extra: string[] = [], opts: { netns?: boolean; kubeconfig?: string } = {}): Promise<AgentProcess> {
  const args = [
    '--import', 'tsx', BIN,
    '--kubeconfig', opts.kubeconfig ?? cp.kubeconfigPath,
    '--node-name', node.name,
    '--node-ip', node.nodeIP,
    '--container-runtime-endpoint', node.criAddress,
    '--root-dir', rootDir,
    '--pod-logs-dir', node.logDir,
    '--cgroup-root', node.cgroupParent,
    '--cluster-ca-cert', join(cp.dir, 'api', 'pki', 'ca.crt'),
    '--cluster-ca-key', join(cp.dir, 'api', 'pki', 'ca.key'),
    '--port', '0',
    '--metrics-port', '0',
    ...extra,
  ];
  const useNs = opts.netns && node.netns;
  // Outside a lab namespace the agent would program the host's nat table: no service proxy there.
  if (!useNs && !extra.includes('--proxy-mode')) args.push('--proxy-mode', 'none');
  const proc = useNs
    ? spawn('nsenter', [`--net=/run/netns/${node.netns}`, process.execPath, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 2_000_000) err = err.slice(-1_000_000);
    if (process.env.MKUBE_DEBUG) process.stderr.write(d);
  });
  const ready = await new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${node.name} not ready after 60 s:\n${err.slice(-4000)}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { port: number; metricsPort: number });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${node.name} exited with ${code}:\n${err.slice(-4000)}`));
    });
  });
  return {
    proc,
    ...ready,
    logs: () => err,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await Promise.race([exited, sleep(10_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

export interface Kubectl {
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl (dispatcher) with a hard timeout. */
export async function kubectl(cp: ControlPlane, args: string[], timeoutMs = 30_000): Promise<Kubectl> {
  return run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], timeoutMs);
}

export function tmpRoot(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-agent-`));
}

export { run, sleep, waitFor };

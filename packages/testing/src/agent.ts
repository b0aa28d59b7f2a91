// Node agent processes for tests: mkube-node-agent (from its sources through
// tsx) for a lab node, inside the node's network namespace when asked,
// resolved once it printed its ready line; the real kubectl with a hard
// timeout; temp root dirs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type LabNode, type RunResult } from './lab.js';
import { REPO_ROOT } from './repo_root.js';
import { sleep } from './wait.js';

/** What an agent needs of the control plane (a ControlPlane has it). */
export interface AgentControlPlane {
  kubeconfigPath: string;
  /** The cluster CA's ca.crt and ca.key. */
  pkiDir: string;
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
export async function startAgent(cp: AgentControlPlane, node: LabNode, rootDir: string, extra: string[] = [], opts: { netns?: boolean; kubeconfig?: string } = {}): Promise<AgentProcess> {
  const args = [
    '--import', 'tsx', BIN,
    '--kubeconfig', opts.kubeconfig ?? cp.kubeconfigPath,
    '--node-name', node.name,
    '--node-ip', node.nodeIP,
    '--container-runtime-endpoint', node.criAddress,
    '--root-dir', rootDir,
    '--pod-logs-dir', node.logDir,
    '--cgroup-root', node.cgroupParent,
    '--cluster-ca-cert', join(cp.pkiDir, 'ca.crt'),
    '--cluster-ca-key', join(cp.pkiDir, 'ca.key'),
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

export type Kubectl = RunResult;

/** Runs the real kubectl (dispatcher) with a hard timeout. */
export async function kubectl(cp: Pick<AgentControlPlane, 'kubeconfigPath'>, args: string[], timeoutMs = 30_000): Promise<Kubectl> {
  return run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], timeoutMs);
}

export function tmpRoot(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-agent-`));
}

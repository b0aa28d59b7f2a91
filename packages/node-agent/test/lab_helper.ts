// Test helpers: drive deploy/lab/lab.sh and build CRI pod configs.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeepPartial, PodSandboxConfig, ContainerConfig } from '../src/cri/types.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const LAB_SCRIPT = join(REPO_ROOT, 'deploy', 'lab', 'lab.sh');
export const LAB_ROOT = '/var/lib/mkube-lab';

export interface LabNode {
  name: string;
  netns: string;
  nodeIP: string;
  podCIDR: string;
  podGateway: string;
  criSocket: string;
  criAddress: string;
  cgroupParent: string;
  stateDir: string;
  logDir: string;
}

export interface LabSummary {
  name: string;
  mode: 'workers' | 'host-node';
  bridge: string;
  gateway: string;
  workers: LabNode[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard timeout; rejects with stdout/stderr in the message. */
export function run(file: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${file} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr}\n${stdout}`, { cause: err }));
      } else {
        resolvePromise({ stdout, stderr });
      }
    });
  });
}

/** `lab.sh up ...`: installs what is missing, builds images, starts the lab. */
export async function labUp(args: string[], timeoutMs = 90_000): Promise<LabSummary> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (netns, cgroups, containerd)');
  const { stdout } = await run('bash', [LAB_SCRIPT, 'up', ...args], timeoutMs);
  return JSON.parse(stdout.trim()) as LabSummary;
}

export async function labDown(name: string, timeoutMs = 60_000): Promise<void> {
  await run('bash', [LAB_SCRIPT, 'down', '--name', name], timeoutMs);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 100 ms until it returns a value other than undefined. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface PodSpec {
  node: LabNode;
  name: string;
  uid: string;
  namespace?: string;
}

/** A sandbox config as the node agent will build it: own cgroup parent, own log dir. */
export function sandboxConfig(p: PodSpec): DeepPartial<PodSandboxConfig> {
  const ns = p.namespace ?? 'default';
  const logDir = join(p.node.logDir, `${ns}_${p.name}_${p.uid}`);
  return {
    metadata: { name: p.name, uid: p.uid, namespace: ns, attempt: 0 },
    hostname: p.name,
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': p.name, 'io.kubernetes.pod.namespace': ns, 'io.kubernetes.pod.uid': p.uid },
    linux: {
      cgroup_parent: `${p.node.cgroupParent}/pod${p.uid}`,
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

/** Creates the pod log dir and the container's subdir, as kubelet does. */
export function prepareLogDir(sandbox: DeepPartial<PodSandboxConfig>, container: DeepPartial<ContainerConfig>): string {
  const path = join(sandbox.log_directory!, container.log_path!);
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

export function busybox(name: string, script: string): DeepPartial<ContainerConfig> {
  return {
    metadata: { name, attempt: 0 },
    image: { image: 'docker.io/library/busybox:latest' },
    command: ['sh', '-c', script],
    log_path: `${name}/0.log`,
    labels: { 'io.kubernetes.container.name': name },
  };
}

export function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Names in /sys/fs/cgroup/<hierarchy>/ across all v1 hierarchies matching re. */
export function cgroupDirs(re: RegExp): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const base = join('/sys/fs/cgroup', h);
    let entries: string[] = [];
    try {
      if (!statSync(base).isDirectory()) continue;
      entries = readdirSync(base);
    } catch {
      continue;
    }
    for (const e of entries) if (re.test(e)) out.push(join(base, e));
  }
  return out;
}

/** rmdir a cgroup path (e.g. "/mk-host/pod<uid>") under every hierarchy, depth-first. */
export function removeCgroup(path: string): void {
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, path);
    if (!existsSync(dir)) continue;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      try {
        rmdirSync(d);
      } catch {
        /* busy or gone: lab down retries */
      }
    };
    walk(dir);
  }
}

/** pids whose command line mentions `needle`. */
export function pidsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

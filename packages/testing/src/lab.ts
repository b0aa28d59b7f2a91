// The lab fixture: drives deploy/lab/lab.sh (network namespaces, bridges, a
// containerd per worker) and reads what a test checks afterwards on the host
// (cgroups, processes); `run` executes a command with a hard timeout.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo_root.js';

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

/**
 * Removes a test's directory tree after unmounting what is mounted below it (deepest first, lazily):
 * a node agent killed with SIGKILL leaves its tmpfs emptyDirs and volume mounts behind, and rmdir on a
 * mount point fails with EBUSY. Mount points come from /proc/self/mounts (octal escapes decoded).
 */
export function removeTree(root: string): void {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === root || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
}

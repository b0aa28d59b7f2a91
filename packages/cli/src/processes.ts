// Background component processes of a local cluster: started detached with their
// logs in DIR/logs, recorded in DIR/cluster.json so that `mkube down` finds them.
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ComponentRecord {
  name: string;
  pid: number;
  command: string[];
  log: string;
  /** Its health endpoint (/readyz or /healthz), when reachable from this host. */
  health?: string;
}

/** One lab host of a cluster built by `mkube up --control-planes N`: its own data directory (its cluster.json). */
export interface HostRecord {
  name: string;
  role: 'control-plane' | 'worker';
  /** Its address on the lab network. */
  address: string;
  dataDir: string;
  netns?: string;
  /** Its store member's client URL (control planes). */
  storeClientURL?: string;
  /** Its API server (control planes). */
  apiServer?: string;
}

export interface ClusterState {
  dataDir: string;
  apiServer: string;
  kubeconfig: string;
  lab?: string;
  components: ComponentRecord[];
  /** Health/metrics URLs of the components. */
  endpoints?: Record<string, string>;
  /** The lab hosts, each with its own state (`mkube up --control-planes N`); their processes are in their states. */
  hosts?: HostRecord[];
}

export function statePath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

export function readState(dataDir: string): ClusterState | undefined {
  const p = statePath(dataDir);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ClusterState) : undefined;
}

export function writeState(s: ClusterState): void {
  writeFileSync(statePath(s.dataDir), JSON.stringify(s, null, 2));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `argv` detached (it outlives `mkube up`), stdout/stderr appended to DIR/logs/<name>.log. */
export function startComponent(dataDir: string, name: string, argv: string[], opts: { netns?: string } = {}): ComponentRecord {
  const logs = join(dataDir, 'logs');
  mkdirSync(logs, { recursive: true, mode: 0o700 });
  chmodSync(logs, 0o700);
  const log = join(logs, `${name}.log`);
  const fd = openSync(log, 'a', 0o600);
  const command = opts.netns ? ['nsenter', `--net=/run/netns/${opts.netns}`, ...argv] : argv;
  const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  if (child.pid === undefined) throw new Error(`cannot start ${name}: ${command.join(' ')}`);
  return { name, pid: child.pid, command, log };
}

/**
 * Whether a recorded component is still the process with that pid. Pids are reused (pid_max is
 * often 32768 and a busy machine wraps it within minutes), so a pid alone from cluster.json may name
 * some other process by now: its command line must still be the recorded one (or, for a process
 * started through `nsenter --net=...`, which execs it, the recorded one without the nsenter part).
 */
export function isRunning(rec: { pid: number; command: string[] }): boolean {
  if (!isAlive(rec.pid)) return false;
  const actual = commandLine(rec.pid);
  return actual !== undefined && sameCommand(actual, rec.command);
}

/**
 * /proc/PID/cmdline as arguments; undefined once the process is gone or a zombie. While a process
 * is in execve (nsenter exec-ing the component, just after `mkube up` spawned it) the file reads
 * empty for a moment — seen in CI as "ingress-w2 exited" 0.3 s after its start — so an empty read
 * of a live, non-zombie process is read again (for at most 100 ms).
 */
function commandLine(pid: number): string[] | undefined {
  for (let attempt = 0; ; attempt++) {
    let raw: string;
    let state: string | undefined;
    try {
      raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    } catch {
      return undefined;
    }
    if (state === 'Z' || state === 'X') return undefined;
    if (raw !== '' || attempt >= 100) {
      const args = raw.split('\0');
      if (args.at(-1) === '') args.pop();
      return args;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/** The recorded command line against a process's (see isRunning). */
export function sameCommand(actual: readonly string[], recorded: readonly string[]): boolean {
  const eq = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (eq(actual, recorded)) return true;
  if (recorded[0] !== 'nsenter') return false;
  let i = 1;
  while (i < recorded.length && recorded[i]!.startsWith('-')) i++;
  return eq(actual, recorded.slice(i));
}

/** stopProcess for a recorded component: nothing is signalled unless the pid is still that component (isRunning). */
export async function stopComponent(rec: { pid: number; command: string[] }, graceMs: number): Promise<void> {
  if (!isRunning(rec)) return;
  await stopProcess(rec.pid, graceMs);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The last line of a component's log that is not a JSON log record: what a binary prints on stderr
 * when it cannot start (`mkube-apiserver: cannot listen on ...`). Reads only the log's tail.
 */
export function lastPlainLogLine(logPath: string, tailBytes = 64 * 1024): string | undefined {
  let fd: number;
  try {
    fd = openSync(logPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, tailBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('{'));
    return lines.pop();
  } finally {
    closeSync(fd);
  }
}

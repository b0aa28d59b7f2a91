/**
 * The per-host chaos operations, one implementation for both ways of reaching a host: the lab
 * implementation (lab_cluster.ts) calls them directly for each host's data directory and network
 * namespace, and `mkube chaos-host` (host_command.ts) runs them on the host itself for the remote
 * implementation (remote_cluster.ts): signal / restart a host's processes recorded in its
 * DIR/cluster.json, and isolate / rejoin its network namespace with an iptables chain.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readState, startComponent, writeState, type ComponentRecord, isRunning } from '../processes.js';
import type { ComponentKind } from './cluster.js';

const run = promisify(execFile);
export const CHAOS_CHAIN = 'MKUBE-CHAOS';
/** The order restart() starts kinds in: the store member first (the API server exits when its store does not answer at start), then the API server, then the rest. */
export const RESTART_ORDER: ComponentKind[] = ['store', 'apiserver', 'scheduler', 'controller-manager', 'node-agent', 'other'];
export const COMPONENT_KINDS: readonly ComponentKind[] = RESTART_ORDER;

export function componentKind(name: string): ComponentKind {
  if (name === 'store' || name.startsWith('store-')) return 'store';
  if (name === 'apiserver' || name.startsWith('apiserver-')) return 'apiserver';
  if (name === 'scheduler' || name.startsWith('scheduler-')) return 'scheduler';
  if (name === 'controller-manager' || name.startsWith('controller-manager-')) return 'controller-manager';
  if (name.startsWith('node-agent')) return 'node-agent';
  return 'other';
}

/**
 * The iptables-restore input that isolates a host (also a pure function for tests): loopback kept;
 * with keepSsh also TCP port 22 both ways (a VM reached over ssh keeps its session and the
 * heal's ssh gets in; no established-traffic rule, which would keep the store's peer connections).
 */
export function isolationRules(opts: { keepSsh?: boolean } = {}): string {
  const ssh = opts.keepSsh ? [`-A ${CHAOS_CHAIN} -p tcp --dport 22 -j RETURN`, `-A ${CHAOS_CHAIN} -p tcp --sport 22 -j RETURN`] : [];
  return ['*filter', `:${CHAOS_CHAIN} - [0:0]`, `-A ${CHAOS_CHAIN} -i lo -j RETURN`, `-A ${CHAOS_CHAIN} -o lo -j RETURN`, ...ssh, `-A ${CHAOS_CHAIN} -j DROP`,
    `-I INPUT 1 -j ${CHAOS_CHAIN}`, `-I OUTPUT 1 -j ${CHAOS_CHAIN}`, `-I FORWARD 1 -j ${CHAOS_CHAIN}`, 'COMMIT', ''].join('\n');
}

/** A host's processes: its data directory and, in the lab, the network namespace they run in (undefined: the current one). */
export interface HostProcesses {
  name: string;
  dataDir: string;
  netns?: string;
}

function hostState(h: HostProcesses) {
  const state = readState(h.dataDir);
  if (!state) throw Object.assign(new Error(`chaos: host ${h.name}: no cluster.json in ${h.dataDir}`), { code: 'NO_CLUSTER_STATE' });
  return state;
}

export function componentRecords(h: HostProcesses, kinds: readonly ComponentKind[]): ComponentRecord[] {
  return hostState(h).components.filter((c) => kinds.includes(componentKind(c.name)));
}

/** This host's wall clock in ms with sub-ms resolution (what a fault's time is taken with, here and by chaos-host). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Sends `signal` to the host's running processes of these kinds; returns how many got it and the wall-clock time
 * (wallNow) taken just before the first kill — the fault's time (undefined when none was running).
 */
export function signalHost(h: HostProcesses, kinds: readonly ComponentKind[], signal: NodeJS.Signals): { signalled: number; at?: number } {
  let n = 0;
  let at: number | undefined;
  for (const c of componentRecords(h, kinds)) {
    if (!isRunning(c)) continue;
    at ??= wallNow();
    process.kill(c.pid, signal);
    n++;
  }
  return { signalled: n, at };
}

/** The host's recorded processes that are not running. */
export function deadComponents(h: HostProcesses): string[] {
  return (readState(h.dataDir)?.components ?? []).filter((c) => !isRunning(c)).map((c) => c.name);
}

/** Waits after a kind was started again: '' when ready, else what is not (polled by the caller's until). */
export type ReadyProbe = (kind: ComponentKind) => Promise<void>;

/**
 * Starts again the host's processes of these kinds that are not running (same command lines, in
 * its network namespace), kind by kind in RESTART_ORDER, awaiting `ready(kind)` after a kind was started.
 */
export async function restartHost(h: HostProcesses, kinds: readonly ComponentKind[], ready: ReadyProbe): Promise<void> {
  const state = hostState(h);
  for (const kind of RESTART_ORDER) {
    if (!kinds.includes(kind)) continue;
    let started = false;
    for (const [i, c] of state.components.entries()) {
      if (componentKind(c.name) !== kind || isRunning(c)) continue;
      // A host's processes were started inside its network namespace (by mkube init/join run there).
      const inNetns = c.command[0] === 'nsenter' || !h.netns;
      const fresh = startComponent(h.dataDir, c.name, c.command, inNetns ? {} : { netns: h.netns });
      state.components[i] = { ...c, pid: fresh.pid, command: fresh.command };
      writeState(state);
      started = true;
    }
    if (started) await ready(kind);
  }
}

/** Polls `problem` (empty: fine) until it is empty; rejects after timeoutMs naming the last problem. */
export async function until(what: string, timeoutMs: number, problem: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    last = await problem().catch((err: unknown) => (err as Error).message);
    if (!last) return;
    if (Date.now() > deadline) throw Object.assign(new Error(`chaos: timed out after ${timeoutMs} ms waiting for ${what}: ${last}`), { code: 'TIMEOUT' });
    await new Promise((r) => setTimeout(r, 100));
  }
}

function inNetns(netns: string | undefined, argv: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, ...argv]] : [argv[0]!, argv.slice(1)];
}

/**
 * Adds the isolation chain in `netns` (undefined: this process's network namespace); resolves the wall-clock time
 * (wallNow) at which iptables-restore had committed the rules (it exited): the fault's time.
 */
export async function isolateNetns(netns: string | undefined, opts: { keepSsh?: boolean } = {}): Promise<number> {
  const [cmd, args] = inNetns(netns, ['iptables-restore', '--noflush']);
  const child = execFile(cmd, args);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(Object.assign(new Error(`chaos: iptables-restore in ${netns ?? 'this network namespace'} exited ${code}`), { code: 'IPTABLES_FAILED' }))));
  });
  child.stdin!.end(isolationRules(opts));
  await done;
  return wallNow();
}

/** Removes every jump to the isolation chain and the chain itself (idempotent). */
export async function rejoinNetns(netns: string | undefined): Promise<void> {
  const ipt = (...a: string[]) => { const [cmd, args] = inNetns(netns, ['iptables', ...a]); return run(cmd, args); };
  for (const chain of ['INPUT', 'OUTPUT', 'FORWARD']) {
    // Delete every jump (a failed run may have left more than one).
    while (await ipt('-D', chain, '-j', CHAOS_CHAIN).then(() => true, () => false));
  }
  await ipt('-F', CHAOS_CHAIN).catch(() => undefined);
  await ipt('-X', CHAOS_CHAIN).catch(() => undefined);
}

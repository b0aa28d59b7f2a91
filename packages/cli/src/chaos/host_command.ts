/**
 * `mkube chaos-host --data-dir DIR <op>` (internal: what `mkube chaos --hosts-file` runs on each
 * host through its command): the per-host operations of host_ops.ts on this host's data directory
 * and network namespace — `signal KINDS SIG`, `restart KINDS`, `isolate`, `rejoin`,
 * `store-status` (this host's store member's Status through its local store PKI), `healthy` (its
 * recorded processes, running or not, and a control plane's member Status), `clock` (this host's
 * wall clock for every line on stdin: the driver's clock-offset round trips). signal and isolate
 * print the wall-clock time (ms) at which the fault took effect here. KINDS is a comma-separated list of store, apiserver,
 * scheduler, controller-manager, node-agent, other. JSON on stdout; errors on stderr, exit 1.
 */
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { readState, isRunning } from '../processes.js';
import { readMemberRecord, storeClient, storePkiFiles } from '../store_member.js';
import type { ComponentKind } from './cluster.js';
import { COMPONENT_KINDS, componentRecords, deadComponents, isolateNetns, rejoinNetns, restartHost, signalHost, until, wallNow, type HostProcesses } from './host_ops.js';

const RESTART_TIMEOUT_MS = 60_000;
/**
 * A member's Status from this freshly started process: its first call includes loading the store client and a TLS
 * handshake, which took over 2 s at load 25 here (every healthy check then said "does not answer"). A member that
 * is down or cut off does not answer at all, so a longer wait only makes a poll during such a fault slower.
 */
const STATUS_TIMEOUT_MS = 10_000;
const MIN_STATUS_TIMEOUT_MS = 5000;

export interface StoreStatus { memberId: string; leader: string; term: number }
/** What `healthy` prints: the recorded processes running and not, and a control plane's member Status (null: no answer). */
export interface HostHealth { running: Array<{ name: string; pid: number }>; notRunning: string[]; store?: StoreStatus | null }

function parseKinds(list: string | undefined): ComponentKind[] {
  const kinds = (list ?? '').split(',').filter(Boolean);
  if (kinds.length === 0) throw Object.assign(new Error('chaos-host: no component kinds given'), { code: 'BAD_ARGS' });
  for (const k of kinds) if (!(COMPONENT_KINDS as readonly string[]).includes(k)) throw Object.assign(new Error(`chaos-host: unknown component kind ${JSON.stringify(k)} (known: ${COMPONENT_KINDS.join(', ')})`), { code: 'BAD_ARGS' });
  return kinds as ComponentKind[];
}

/** This host's store member's Status, or undefined when it has none or it does not answer in time. */
async function storeStatus(dataDir: string, timeoutMs: number): Promise<StoreStatus | undefined> {
  const apiDir = join(dataDir, 'apiserver');
  const member = readMemberRecord(apiDir);
  if (!member) return undefined;
  const c = storeClient(storePkiFiles(apiDir), [member.clientURL]);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
    const s = await Promise.race([c.status().catch(() => undefined), timeout]);
    return s ? { memberId: s.header.memberId, leader: s.leader, term: s.raftTerm } : undefined;
  } finally {
    clearTimeout(timer);
    c.close();
  }
}

/** '' when this host's API server answers /readyz with the host's own kubeconfig (no kubeconfig: not checked here). */
async function readyz(dataDir: string): Promise<string> {
  const state = readState(dataDir);
  if (!state?.kubeconfig || !state.apiServer) return '';
  const c = new KubeClient({ ...loadKubeconfig(state.kubeconfig), server: state.apiServer, servers: undefined, timeoutMs: 2000, userAgent: 'mkube-chaos-host/health' });
  try {
    const r = await c.request('GET', '/readyz').catch((err: unknown) => err as Error);
    return r instanceof Error ? `API server ${state.apiServer}: ${r.message}` : '';
  } finally {
    c.close();
  }
}

/**
 * `clock`: one JSON line {"t": wall ms} at start and one for every line read on stdin, until stdin ends — the
 * driver's round trips (remote_cluster.ts measureClocks) without a process start inside them.
 */
async function clockSession(): Promise<void> {
  const say = () => process.stdout.write(`${JSON.stringify({ t: wallNow() })}\n`);
  say();
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line === '') say();
  }
}

export async function runChaosHostCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { 'data-dir': { type: 'string' } } });
  if (!values['data-dir']) throw Object.assign(new Error('chaos-host: --data-dir is required'), { code: 'BAD_ARGS' });
  const dataDir = resolve(values['data-dir']);
  const h: HostProcesses = { name: dataDir, dataDir };
  const [op, ...args] = positionals;
  const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
  switch (op) {
    case 'signal': {
      const sig = args[1];
      if (!sig || !/^SIG[A-Z0-9]+$/.test(sig)) throw Object.assign(new Error(`chaos-host signal: expected a signal name like SIGKILL, got ${JSON.stringify(sig)}`), { code: 'BAD_ARGS' });
      // `at`: this host's wall clock (ms) just before the first kill — the fault's time (remote_cluster.ts moves it by the clock offset).
      out(signalHost(h, parseKinds(args[0]), sig as NodeJS.Signals));
      return 0;
    }
    case 'restart':
      await restartHost(h, parseKinds(args[0]), async (kind) => {
        if (kind === 'store') await until('the store member to answer', RESTART_TIMEOUT_MS, async () => (await storeStatus(dataDir, STATUS_TIMEOUT_MS)) ? '' : 'no answer');
        if (kind === 'apiserver') await until('the API server to be ready', RESTART_TIMEOUT_MS, () => readyz(dataDir));
      });
      out({ restarted: true });
      return 0;
    case 'isolate':
      out({ isolated: true, at: await isolateNetns(undefined, { keepSsh: true }) });
      return 0;
    case 'clock':
      await clockSession();
      return 0;
    case 'rejoin':
      await rejoinNetns(undefined);
      out({ isolated: false });
      return 0;
    case 'store-status': {
      const s = await storeStatus(dataDir, Number(args[0]) > 0 ? Math.max(Number(args[0]), MIN_STATUS_TIMEOUT_MS) : STATUS_TIMEOUT_MS);
      if (!s) throw Object.assign(new Error(`chaos-host: the store member of ${dataDir} does not answer`), { code: 'NO_ANSWER' });
      out(s);
      return 0;
    }
    case 'healthy': {
      const running = componentRecords(h, COMPONENT_KINDS).filter((c) => isRunning(c)).map((c) => ({ name: c.name, pid: c.pid }));
      // A control plane's member Status too (null: it does not answer), so that one command per host checks it.
      const store = readMemberRecord(join(dataDir, 'apiserver')) ? (await storeStatus(dataDir, STATUS_TIMEOUT_MS)) ?? null : undefined;
      out({ running, notRunning: deadComponents(h), store } satisfies HostHealth);
      return 0;
    }
    default:
      throw Object.assign(new Error(`chaos-host: unknown operation ${JSON.stringify(op)} (signal, restart, isolate, rejoin, store-status, healthy, clock)`), { code: 'BAD_ARGS' });
  }
}

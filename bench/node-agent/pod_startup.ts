// Pod startup latency through the whole node path: API server (real etcd) →
// mkube-node-agent (in a lab worker's netns) → containerd. Creates BENCH_PODS
// (default 100) pods bound round-robin to 2 lab workers at BENCH_RATE/s
// (default 10) with the busybox image present, and measures create → the
// first watch event in which every container of the pod is running.
// Prints p50/p90/p99/max, and the same percentiles of each startup phase
// from the agents' "pod started" log lines (ms since create: watch event
// seen by the agent, first sync, RunPodSandbox asked for / sent past the
// agent's start gate / done, CreateContainer sent/done, StartContainer
// sent/done, running status written, status observed).
// Not a test: it measures. Needs root.
//
//   node --import tsx bench/node-agent/pod_startup.ts
//   BENCH_PODS=50 BENCH_RATE=5 node --import tsx bench/node-agent/pod_startup.ts
//   BENCH_AGENT_ARGS='--runtime-start-concurrency 0' node --import tsx bench/node-agent/pod_startup.ts
//   BENCH_CPU_PROF=/tmp/prof node --import tsx bench/node-agent/pod_startup.ts   # .cpuprofile of each agent
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { Resources, type KubeObject } from '@mkube/client';
import { startAgent, startControlPlane, tmpRoot, type AgentProcess, type ControlPlane } from '../../packages/node-agent/test/cluster_helper.js';
import { labDown, labUp, sleep } from '../../packages/node-agent/test/lab_helper.js';

/** Busy and idle CPU-seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; idle: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  const hz = 100;
  return { busy: (user + nice + system + irq + softirq + steal) / hz, idle: (idle + iowait) / hz };
}

/**
 * CPU-seconds of every process by pid: its own, and what it has collected
 * from children it reaped (runc, CNI plugins and shim launches show up in
 * containerd's and the shims' "reaped" time).
 */
function processCpu(): Map<string, { comm: string; self: number; reaped: number }> {
  const out = new Map<string, { comm: string; self: number; reaped: number }>();
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
      let name = comm;
      if (comm === 'node' || comm.startsWith('MainThread')) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        name = argv.some((a) => a.includes('mkube-node-agent')) ? 'mkube-node-agent' : argv.some((a) => a.includes('pod_startup')) ? 'bench (API server, client)' : `node ${argv.slice(1, 3).join(' ')}`;
      }
      // Agents, containerd and shims of other labs (tests running meanwhile) are not this bench's.
      if (/^(containerd|mkube-node-agent)/.test(name) && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(LAB)) name += ' (other labs)';
      out.set(pid, { comm: name, self: (f[11]! + f[12]!) / 100, reaped: (f[13]! + f[14]!) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function printCpuByProcess(before: ReturnType<typeof processCpu>, after: ReturnType<typeof processCpu>, pods: number): void {
  const agg = new Map<string, { self: number; reaped: number; n: number }>();
  for (const [pid, r] of after) {
    const p = before.get(pid) ?? { self: 0, reaped: 0 };
    const self = r.self - p.self;
    const reaped = r.reaped - p.reaped;
    if (self + reaped < 0.05) continue;
    const name = r.comm.startsWith('containerd-shim') ? `containerd-shim-*${r.comm.endsWith('(other labs)') ? ' (other labs)' : ''}` : r.comm;
    const a = agg.get(name) ?? { self: 0, reaped: 0, n: 0 };
    a.self += self;
    a.reaped += reaped;
    a.n++;
    agg.set(name, a);
  }
  console.log('CPU by process (CPU-ms per pod: own + reaped children):');
  for (const [name, a] of [...agg].sort((x, y) => y[1].self + y[1].reaped - (x[1].self + x[1].reaped)).slice(0, 12)) {
    console.log(`  ${name.padEnd(34)} ${((1000 * a.self) / pods).toFixed(0).padStart(4)} + ${((1000 * a.reaped) / pods).toFixed(0).padStart(4)}  (${a.n} processes)`);
  }
}

const PODS = Number(process.env.BENCH_PODS ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const LAB = 'mkbench';
const SUBNET = 180;
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** Extra mkube-node-agent flags, space-separated (e.g. "--runtime-start-concurrency 0"). */
const AGENT_ARGS = (process.env.BENCH_AGENT_ARGS ?? '').split(' ').filter(Boolean);
const PHASES = ['seenAt', 'sync', 'sandbox', 'sandboxSent', 'sandboxReady', 'createSent', 'created', 'startSent', 'started', 'statusWritten'] as const;

/** Per pod: ms since create of each phase, from the agents' "pod started" lines. */
function phasesOf(logs: string, createdWall: Map<string, number>): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of logs.split('\n')) {
    if (!line.includes('"pod started"')) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const name = String(rec.pod ?? '').split('/')[1] ?? '';
    const c = createdWall.get(name);
    if (c === undefined || typeof rec.seenAt !== 'number') continue;
    const seen = rec.seenAt - c;
    const ph: Record<string, number> = { seenAt: seen };
    for (const k of PHASES.slice(1)) if (typeof rec[k] === 'number') ph[k] = seen + (rec[k] as number);
    out.set(name, ph);
  }
  return out;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)]);
  let cp: ControlPlane | undefined;
  const agents: AgentProcess[] = [];
  const roots: string[] = [];
  try {
    cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
    for (const w of lab.workers) {
      const root = tmpRoot(`${LAB}-${w.name}`);
      roots.push(root);
      if (CPU_PROF) process.env.MKUBE_CPU_PROF_DIR = CPU_PROF; // inherited by the agent processes
      agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, '--log-level', 'info', ...AGENT_ARGS], { netns: true }));
    }
    const pods = cp.client.resource(Resources.pods);
    const created = new Map<string, number>();
    const createdWall = new Map<string, number>();
    const started = new Map<string, number>();
    const { resourceVersion } = await pods.list('default');
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((r) => (resolveAll = r));
    const watch = pods.watch('default', { resourceVersion }, (type, obj: KubeObject) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      const name = obj.metadata.name;
      if (started.has(name) || !created.has(name)) return;
      const cs = (obj.status?.containerStatuses ?? []) as { state?: { running?: unknown } }[];
      const want = (obj.spec?.containers ?? []).length;
      if (want > 0 && cs.length === want && cs.every((c) => c.state?.running)) {
        started.set(name, performance.now());
        if (started.size === PODS) resolveAll();
      }
    });
    const cpuBefore = machineCpu();
    const procBefore = processCpu();
    const t0 = performance.now();
    for (let i = 0; i < PODS; i++) {
      const at = t0 + (i * 1000) / RATE;
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      const name = `bench-${i}`;
      const pod: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          nodeName: lab.workers[i % lab.workers.length]!.name,
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
        },
      };
      created.set(name, performance.now());
      createdWall.set(name, Date.now());
      void pods.create('default', pod).catch((err) => console.error(`create ${name}: ${String(err)}`));
    }
    const timeout = sleep(120_000).then(() => 'timeout' as const);
    const outcome = await Promise.race([all.then(() => 'done' as const), timeout]);
    const cpuAfter = machineCpu();
    const procAfter = processCpu();
    watch.stop();
    const lat = [...started].map(([n, t]) => t - created.get(n)!).sort((a, b) => a - b);
    const wall = (Math.max(...started.values()) - t0) / 1000;
    console.log(`pods: ${PODS} at ${RATE}/s over ${lab.workers.length} nodes; running: ${lat.length}${outcome === 'timeout' ? ' (TIMED OUT after 120 s)' : ''}; wall ${wall.toFixed(1)} s`);
    const busy = cpuAfter.busy - cpuBefore.busy;
    const total = busy + cpuAfter.idle - cpuBefore.idle;
    console.log(`machine CPU from first create to last pod running: ${busy.toFixed(1)} CPU-s busy of ${total.toFixed(1)} (${((100 * busy) / total).toFixed(0)}% of ${cpus().length} CPUs); ${((1000 * busy) / Math.max(lat.length, 1)).toFixed(0)} CPU-ms per pod (every process: containerd, shims, runc, CNI plugins, agents, API server, etcd)`);
    printCpuByProcess(procBefore, procAfter, Math.max(lat.length, 1));
    if (lat.length) {
      const f = (x: number) => `${x.toFixed(0)} ms`;
      console.log(`create → all containers running (watch): p50 ${f(pct(lat, 50))}  p90 ${f(pct(lat, 90))}  p99 ${f(pct(lat, 99))}  max ${f(lat.at(-1)!)}`);
    }
    await sleep(1_000); // the agents' last "pod started" lines may trail the watch event
    const phases = phasesOf(agents.map((a) => a.logs()).join('\n'), createdWall);
    for (const [name, ph] of phases) {
      const s = started.get(name);
      if (s !== undefined) ph.observed = s - created.get(name)!;
    }
    if (phases.size) {
      console.log(`phases (ms since create, ${phases.size} pods traced):`);
      for (const k of [...PHASES, 'observed']) {
        const xs = [...phases.values()].map((p) => p[k]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
        if (xs.length) console.log(`  ${k.padEnd(14)} p50 ${pct(xs, 50).toFixed(0).padStart(6)}  p90 ${pct(xs, 90).toFixed(0).padStart(6)}  p99 ${pct(xs, 99).toFixed(0).padStart(6)}`);
      }
    }
  } finally {
    // SIGTERM first: the agent exits cleanly (and writes its CPU profile); pods are removed with the lab.
    for (const a of agents) await a.kill(CPU_PROF ? 'SIGTERM' : 'SIGKILL');
    await cp?.stop();
    await labDown(LAB);
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

// Scheduler throughput on the pure framework: BENCH_NODES synthetic nodes (3
// zones), BENCH_PODS pods with mixed requests (a share of them with topology
// spread or anti-affinity), the default plugin profile, and "hollow" binding:
// each bind is confirmed at once, as if the pod came back through the watch.
// Prints pods/s (wall clock and per CPU second) and the p50/p99 scheduling-cycle
// latency (pop → assumed). Not a test: it measures.
//
//   npx tsx bench/scheduler/throughput.ts
//   BENCH_NODES=5000 BENCH_PODS=20000 BENCH_SPREAD_PERCENT=10 npx tsx bench/scheduler/throughput.ts
import { SchedulerCore, type SchedulerEffects } from '../../packages/scheduler/src/core.js';
import type { Node, Pod } from '../../packages/scheduler/src/types.js';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const PODS = Number(process.env.BENCH_PODS ?? 10_000);
const SPREAD_PERCENT = Number(process.env.BENCH_SPREAD_PERCENT ?? 0);
const ANTI_PERCENT = Number(process.env.BENCH_ANTI_PERCENT ?? 0);

function makeNode(i: number): Node {
  const name = `node-${i}`;
  return {
    metadata: { name, uid: `n-${i}`, labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
    spec: {},
    status: { allocatable: { cpu: '32', memory: '128Gi', pods: '110', 'ephemeral-storage': '100Gi' } },
  };
}

function makePod(i: number): Pod {
  const app = `app-${i % 50}`;
  const pod: Pod = {
    metadata: { name: `pod-${i}`, namespace: 'bench', uid: `p-${i}`, labels: { app } },
    spec: {
      schedulerName: 'default-scheduler',
      containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: `${100 + (i % 5) * 100}m`, memory: `${128 * (1 + (i % 4))}Mi` } } }],
    },
  };
  if ((i % 100) < SPREAD_PERCENT) {
    pod.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app } } }];
  } else if ((i % 100) < SPREAD_PERCENT + ANTI_PERCENT) {
    pod.metadata.labels = { app: `anti-${i}` };
    pod.spec.affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: `anti-${i}` } }, topologyKey: 'kubernetes.io/hostname' }] } };
  }
  return pod;
}

async function main(): Promise<void> {
  let core!: SchedulerCore;
  let bound = 0;
  const effects: SchedulerEffects = {
    async bind(pod, nodeName) {
      bound++;
      core.onPodUpdate(undefined, { ...pod, spec: { ...pod.spec, nodeName } });
    },
    async updatePodStatus() {},
    recordEvent() {},
    async deletePod() {},
  };
  const latencies: number[] = [];
  core = new SchedulerCore({
    effects,
    now: () => performance.now(),
    observer: { attempt: (_r, ms) => latencies.push(ms) },
  });
  for (let i = 0; i < NODES; i++) core.onNodeAdd(makeNode(i));
  const pods = Array.from({ length: PODS }, (_, i) => makePod(i));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const p of pods) core.onPodAdd(p);
  let failures = 0;
  while (bound + failures < PODS) {
    const q = core.queue.tryPop();
    if (!q) break;
    await core.runCycle(q);
    if (core.queue.pending().unschedulable + core.queue.pending().backoff > failures) failures = core.queue.pending().unschedulable + core.queue.pending().backoff;
  }
  await core.waitForBindings();
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!;
  console.log(JSON.stringify({
    nodes: NODES, pods: PODS, spreadPercent: SPREAD_PERCENT, antiAffinityPercent: ANTI_PERCENT,
    scheduled: bound, unscheduled: PODS - bound, seconds: Number(secs.toFixed(2)),
    podsPerSecond: Math.round(bound / secs),
    // Wall-clock rates suffer when other processes share the cores; CPU time does not.
    cpuSeconds: Number(cpuSecs.toFixed(2)), podsPerCpuSecond: Math.round(bound / cpuSecs),
    cycleLatencyMs: { p50: Number(pct(50).toFixed(3)), p99: Number(pct(99).toFixed(3)), max: Number(latencies.at(-1)!.toFixed(3)) },
  }));
}

await main();

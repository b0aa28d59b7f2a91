// The pod lifecycle engine's own CPU per pod, without containerd or the API
// server: the engine (ENGINE_SRC, default this tree's packages/node-agent/src;
// point it at another checkout's src to compare builds) over the in-memory
// FakeRuntime and InMemoryApiPort of this tree. Starts BENCH_PODS (default
// 300) one-container pods at once, measures this process's CPU (user+sys)
// and the CRI calls from the first pod to the last Running status, then over
// BENCH_STEADY_MS (default 5000) of steady state (PLEG relists, resyncs).
// Deterministic enough to compare builds on a busy machine. Not a test.
//
//   node --import tsx bench/node-agent/engine_cpu.ts
//   ENGINE_SRC=/path/to/other/checkout/packages/node-agent/src node --import tsx bench/node-agent/engine_cpu.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeRuntime } from '../../packages/node-agent/src/cri/fake_runtime.js';
import type { PodLifecycleEngine as Engine, PodLifecycleEngineOptions } from '../../packages/node-agent/src/sync.js';
import type { InMemoryApiPort as ApiPort } from '../../packages/node-agent/src/api_port.js';

const PODS = Number(process.env.BENCH_PODS ?? 300);
const STEADY_MS = Number(process.env.BENCH_STEADY_MS ?? 5000);
const SRC = resolve(process.env.ENGINE_SRC ?? join(import.meta.dirname, '../../packages/node-agent/src'));

const { PodLifecycleEngine } = (await import(pathToFileURL(join(SRC, 'sync.ts')).href)) as { PodLifecycleEngine: new (o: PodLifecycleEngineOptions) => Engine };
const { InMemoryApiPort } = (await import(pathToFileURL(join(SRC, 'api_port.ts')).href)) as { InMemoryApiPort: new () => ApiPort };

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const dir = mkdtempSync(join(tmpdir(), 'mkube-engine-cpu-'));
const fake = new FakeRuntime();
const api = new InMemoryApiPort();
const engine = new PodLifecycleEngine({
  nodeName: 'bench-node',
  nodeIP: '10.213.0.11',
  cri: fake,
  api,
  rootDir: join(dir, 'root'),
  podLogsDir: join(dir, 'pods'),
  cgroupFsRoot: join(dir, 'cgroup'),
  startConcurrency: 4,
});
await engine.start();

const uids: string[] = [];
for (let i = 0; i < PODS; i++) uids.push(`bench-uid-${i}`);
const running = (): number => uids.filter((u) => api.statusHistory(u).at(-1)?.containerStatuses?.[0]?.state?.running).length;

const t0 = performance.now();
const c0 = cpuMs();
const calls0 = fake.calls.length;
for (const uid of uids) {
  api.putPod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: uid.replace('bench-uid', 'p'), namespace: 'default', uid },
    spec: { nodeName: 'bench-node', containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent' }] },
    status: { phase: 'Pending' },
  } as Parameters<ApiPort['putPod']>[0]);
}
while (running() < PODS) await new Promise((r) => setTimeout(r, 20));
const c1 = cpuMs();
const t1 = performance.now();
const calls1 = fake.calls.length;
await new Promise((r) => setTimeout(r, STEADY_MS));
const c2 = cpuMs();
const calls2 = fake.calls.length;

const byMethod = (from: number, to: number): string => {
  const m = new Map<string, number>();
  for (const c of fake.calls.slice(from, to)) {
    const k = c.split(' ')[0]!;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(n / PODS).toFixed(2)}`).join(', ');
};
console.log(`engine: ${SRC}`);
console.log(`${PODS} pods to Running in ${(t1 - t0).toFixed(0)} ms; CPU ${(c1 - c0).toFixed(0)} ms = ${((c1 - c0) / PODS).toFixed(2)} ms per pod; CRI calls per pod ${((calls1 - calls0) / PODS).toFixed(1)} (${byMethod(calls0, calls1)})`);
console.log(`steady ${STEADY_MS} ms: CPU ${(c2 - c1).toFixed(0)} ms = ${(((c2 - c1) / PODS) * (1000 / STEADY_MS)).toFixed(3)} ms per pod per second; CRI calls per pod per second ${(((calls2 - calls1) / PODS) * (1000 / STEADY_MS)).toFixed(2)}`);
await engine.stop();
rmSync(dir, { recursive: true, force: true });

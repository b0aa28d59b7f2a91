// Job controller at scale: N Jobs of P pods each (completions = parallelism = P)
// against a real API server (in this process, embedded store), the Job
// controller alone in its own mkube-controller-manager process, and a
// FakeKubelet (packages/controllers/test/helpers/fake_kubelet.ts: marks every
// pod Succeeded, runs no containers). Reports Jobs completed per second and
// the controller process's CPU (utime+stime from /proc) per pod.
//
//   BENCH_JOBS=1000 BENCH_PODS=10 npx tsx bench/controllers/job_scale.ts
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Job } from '@mkube/api';
import { Informer, KubeClient, loadKubeconfig, Resources } from '@mkube/client';
import { startApiServer } from '../../packages/apiserver/src/server.js';
import { FakeKubelet } from '../../packages/controllers/test/helpers/fake_kubelet.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const PODS = Number(process.env.BENCH_PODS ?? 10);
const CREATE_IN_FLIGHT = 16;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 1_800_000);

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
}

const dir = await mkdtemp(join(tmpdir(), 'mkube-bench-jobs-'));
const server = await startApiServer({ dataDir: join(dir, 'data'), securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'warn' }) });
const client = new KubeClient(loadKubeconfig(server.kubeconfigPath));
const cm = spawn(process.execPath, ['--import', 'tsx', 'packages/controllers/src/bin/mkube-controller-manager.ts', '--kubeconfig', server.kubeconfigPath, '--controllers', 'job', '--leader-elect=false', '--metrics-port', '-1', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
const kubelet = new FakeKubelet(client, { exitCode: () => 0 }, 'bench');
const stop = async () => {
  kubelet.stop();
  cm.kill('SIGTERM');
  client.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
};
try {
  await client.resource(Resources.namespaces).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
  kubelet.start();
  const jobs = new Informer<Job>(client.resource<Job>(Resources.jobs), { namespace: 'bench' });
  let completed = 0;
  let lastDone = 0;
  const seen = new Set<string>();
  const onJob = (j: Job) => {
    if (seen.has(j.metadata?.name ?? '')) return;
    if ((j.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True')) {
      seen.add(j.metadata?.name ?? '');
      completed++;
      lastDone = Date.now();
    }
  };
  jobs.addEventHandler({ add: onJob, update: (_o, j) => onJob(j) });
  jobs.start();
  await jobs.waitForSync(60_000);
  // Let the controller process start and sync before measuring its CPU.
  await new Promise((r) => setTimeout(r, 8000));
  const cpu0 = await cpuSeconds(cm.pid!);
  const t0 = Date.now();
  let next = 0;
  const creator = async () => {
    while (next < JOBS) {
      const i = next++;
      await client.resource<Job>(Resources.jobs).create('bench', {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: `job-${i}` },
        spec: { completions: PODS, parallelism: PODS, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } } },
      });
    }
  };
  await Promise.all(Array.from({ length: CREATE_IN_FLIGHT }, creator));
  const created = Date.now();
  while (completed < JOBS) {
    if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`timed out: ${completed}/${JOBS} Jobs complete`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const cpu1 = await cpuSeconds(cm.pid!);
  const secs = (lastDone - t0) / 1000;
  const result = {
    jobs: JOBS,
    podsPerJob: PODS,
    createSeconds: (created - t0) / 1000,
    completeSeconds: secs,
    jobsPerSecond: JOBS / secs,
    podsPerSecond: (JOBS * PODS) / secs,
    controllerCpuSeconds: cpu1 - cpu0,
    controllerCpuMsPerPod: ((cpu1 - cpu0) * 1000) / (JOBS * PODS),
    kubeletErrors: kubelet.errors.length,
  };
  jobs.stop();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await stop();
}

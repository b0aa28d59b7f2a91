// The runtime's own ceiling for pod startup: RunPodSandbox + CreateContainer
// + StartContainer of BENCH_PODS (default 40) busybox pods straight over CRI
// on one lab worker, with at most C pods starting at once, for each C in
// BENCH_CONCURRENCY (default "1,2,4,8,0"; 0 = all at once). Prints pods/s and
// per-call p50/p99. Everything is removed between rounds. Needs root.
//
//   node --import tsx bench/node-agent/cri_throughput.ts
import { randomUUID } from 'node:crypto';
import { CriClient } from '../../packages/node-agent/src/cri/cri_client.js';
import { busybox, labDown, labUp, prepareLogDir, removeCgroup, sandboxConfig } from '../../packages/node-agent/test/lab_helper.js';

const PODS = Number(process.env.BENCH_PODS ?? 40);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,2,4,8,0').split(',').map(Number);
const LAB = 'mkcrib';
const SUBNET = 185;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = lab.workers[0]!;
  const cri = await CriClient.connect(node.criAddress);
  try {
    await cri.waitReady(30_000);
    for (const c of LEVELS) {
      const times = { sandbox: [] as number[], create: [] as number[], start: [] as number[], pod: [] as number[] };
      const made: { sb: string; uid: string }[] = [];
      let next = 0;
      const t0 = performance.now();
      const worker = async () => {
        while (next < PODS) {
          const i = next++;
          const uid = randomUUID();
          const sbCfg = sandboxConfig({ node, name: `crib-${i}`, uid });
          const ctr = busybox('main', 'sleep 3600');
          prepareLogDir(sbCfg, ctr);
          const a = performance.now();
          const sb = await cri.runPodSandbox(sbCfg);
          made.push({ sb, uid });
          const b = performance.now();
          const id = await cri.createContainer(sb, ctr, sbCfg);
          const d = performance.now();
          await cri.startContainer(id);
          const e = performance.now();
          times.sandbox.push(b - a);
          times.create.push(d - b);
          times.start.push(e - d);
          times.pod.push(e - a);
        }
      };
      await Promise.all(Array.from({ length: c > 0 ? c : PODS }, worker));
      const wall = (performance.now() - t0) / 1000;
      const f = (xs: number[]) => {
        const s = [...xs].sort((x, y) => x - y);
        return `p50 ${pct(s, 50).toFixed(0)} p99 ${pct(s, 99).toFixed(0)}`;
      };
      console.log(
        `concurrency ${c > 0 ? c : 'all'}: ${PODS} pods in ${wall.toFixed(1)} s = ${(PODS / wall).toFixed(2)} pods/s; ms RunPodSandbox ${f(times.sandbox)}, CreateContainer ${f(times.create)}, StartContainer ${f(times.start)}, pod ${f(times.pod)}`,
      );
      await Promise.all(
        made.map(async ({ sb, uid }) => {
          await cri.stopPodSandbox(sb).catch(() => undefined);
          await cri.removePodSandbox(sb).catch(() => undefined);
          removeCgroup(`${node.cgroupParent}/pod${uid}`);
        }),
      );
    }
  } finally {
    cri.close();
    await labDown(LAB);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

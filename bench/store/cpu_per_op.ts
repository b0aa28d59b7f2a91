// CPU per put: the same closed-loop put workload (256-byte values, N in flight over
// 8 gRPC connections) against 3-member etcd 3.4 and 3-member mkube-store, with the
// CPU time each process spent per acknowledged put (from /proc: user + system, all
// threads) — the benchmark's own client included. Not a test: it measures.
//
//   npx tsx bench/store/cpu_per_op.ts            # BENCH_SECONDS=5 BENCH_IN_FLIGHT=256 BENCH_ONLY=etcd|mkube
//   BENCH_AB=grpc-js npx tsx bench/store/cpu_per_op.ts   # also mkube-store serving with grpc-js' server
//                                                        # (MKUBE_STORE_GRPC_SERVER=grpc-js), same run
import * as grpc from '@grpc/grpc-js';
import { readdirSync, readFileSync } from 'node:fs';
import { loadEtcdProto } from '@mkube/store';
import { startEtcdCluster } from '@mkube/testing';
import { StoreCluster } from '@mkube/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 256);
const ONLY = process.env.BENCH_ONLY;
const VALUE = Buffer.alloc(256, 'v');

type Cb = (err: grpc.ServiceError | null, res: unknown) => void;
interface KV extends grpc.Client {
  Put(req: object, cb: Cb): void;
}

/** CPU ms of this process ('bench') and of every process whose command line matches. */
function cpuByProcess(match: (cmdline: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const self = Number(pid) === process.pid;
      if (!self && !match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))) continue;
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(self ? 'bench' : `pid ${pid}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the process ended
    }
  }
  return out;
}

async function run(label: string, endpoints: string[], match: (c: string) => boolean): Promise<void> {
  const proto = loadEtcdProto().etcdserverpb;
  const KVC = proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => KV;
  const kvs = Array.from({ length: 8 }, (_, i) => new KVC(endpoints[i % endpoints.length]!, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'mkube.bench.channel': i }));
  const put = (w: number, i: number) => new Promise((resolve, reject) => kvs[w % kvs.length]!.Put({ key: Buffer.from(`bench/${w}/${i % 1000}`), value: VALUE }, (e, r) => (e ? reject(e) : resolve(r))));
  await Promise.all(Array.from({ length: 64 }, (_, w) => put(w, 0))); // connections up, code warm
  const before = cpuByProcess(match);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now();
        await put(w, i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const after = cpuByProcess(match);
  for (const c of kvs) c.close();
  lat.sort((a, b) => a - b);
  const ops = lat.length;
  let total = 0;
  const per: string[] = [];
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? v);
    total += d;
    per.push(`${k} ${((d / ops) * 1000).toFixed(0)}`);
  }
  console.log(
    `${label}: ${(ops / elapsed).toFixed(0)} puts/s, p50 ${lat[ops >> 1]!.toFixed(1)} ms, p99 ${lat[Math.floor(ops * 0.99)]!.toFixed(1)} ms; ` +
      `CPU per put ${((total / ops) * 1000).toFixed(0)} µs (${per.join(', ')} µs); machine ${(total / elapsed / 10).toFixed(0)}% of one core`,
  );
}

console.log(`3 members, puts of 256 bytes, ${IN_FLIGHT} in flight over 8 connections, ${SECONDS} s`);
if (ONLY !== 'mkube') {
  const etcd = await startEtcdCluster({ members: 3, captureLogs: false });
  try {
    // Only this run's members (their data dirs are under the cluster's root): other etcd or
    // mkube-store processes on a shared machine are not counted.
    await run('etcd 3.4   ', etcd.endpoints, (c) => c.startsWith('/usr/bin/etcd') && c.includes(etcd.rootDir));
  } finally {
    await etcd.stop();
  }
}
for (const server of process.env.BENCH_AB === 'grpc-js' ? ['grpc-js', 'http2'] : ['http2']) {
  if (ONLY === 'etcd') break;
  if (server === 'grpc-js') process.env.MKUBE_STORE_GRPC_SERVER = 'grpc-js';
  const store = await StoreCluster.start({ members: 3 });
  delete process.env.MKUBE_STORE_GRPC_SERVER;
  try {
    await run(server === 'http2' ? 'mkube-store' : 'mkube-store, grpc-js server', store.endpoints, (c) => c.includes('mkube-store.js') && c.includes(store.baseDir));
  } finally {
    await store.stop();
  }
}
process.exit(0);

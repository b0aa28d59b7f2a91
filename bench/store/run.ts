// Store benchmark: the same workloads against mkube-store and etcd 3.4 (Debian),
// 1 member and 3 members on loopback, in the same run; prints each figure and the
// ratio mkube/etcd. Not a test: it measures.
//
//   npm run bench:store                       # everything
//   BENCH_SECONDS=3 BENCH_MEMBERS=3 npm run bench:store
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProto } from '@mkube/store';
import { startEtcdCluster } from '@mkube/testing';
import { StoreCluster } from '@mkube/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const MEMBER_COUNTS = (process.env.BENCH_MEMBERS ?? '1,3').split(',').map(Number);
const CONNECTIONS = 8;
const VALUE = Buffer.alloc(256, 'v');

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
interface KV extends grpc.Client {
  Put(req: object, cb: Cb<{ header: { revision: number } }>): void;
  Range(req: object, cb: Cb<{ kvs: Array<{ modRevision: number; value: Buffer }> }>): void;
  Txn(req: object, cb: Cb<{ succeeded: boolean }>): void;
}
interface WatchClient extends grpc.Client {
  Watch(): grpc.ClientDuplexStream<object, { created: boolean; events: Array<{ kv: { value: Buffer } }> }>;
}

function p(fn: (cb: Cb<unknown>) => void): Promise<unknown> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

interface Figure {
  opsPerSec: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `op` with `inFlight` concurrent loops for SECONDS; latency in ms. */
async function closedLoop(inFlight: number, op: (worker: number, i: number) => Promise<unknown>): Promise<Figure> {
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  let errors = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      let i = 0;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await op(w, i++);
          lat.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  if (errors > 0) console.error(`  (${errors} errors)`);
  lat.sort((a, b) => a - b);
  return { opsPerSec: lat.length / elapsed, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
}

async function watchLatency(kvs: KV[], watch: WatchClient): Promise<Figure> {
  const stream = watch.Watch();
  const lat: number[] = [];
  const created = new Promise<void>((resolve) => {
    stream.on('data', (res) => {
      if (res.created) resolve();
      for (const ev of res.events) {
        const sent = Number(ev.kv.value.subarray(0, 20).toString().trim());
        lat.push(performance.now() - sent);
      }
    });
  });
  stream.on('error', () => undefined);
  stream.write({ createRequest: { key: Buffer.from('watch/'), rangeEnd: Buffer.from('watch0') } });
  await created;
  // 1000 puts/s for SECONDS, from 16 writers.
  const rate = 1000;
  const total = rate * SECONDS;
  let sentCount = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      while (sentCount < total) {
        const due = t0 + (sentCount / rate) * 1000;
        sentCount++;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const stamp = Buffer.from(String(performance.now()).padEnd(20, ' '));
        await p((cb) => kvs[w % kvs.length]!.Put({ key: Buffer.from(`watch/${w}`), value: Buffer.concat([stamp, VALUE.subarray(20)]) }, cb as Cb<never>)).catch(() => undefined);
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  stream.cancel();
  lat.sort((a, b) => a - b);
  return { opsPerSec: lat.length / SECONDS, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
}

async function workloads(endpoints: string[]): Promise<Record<string, Figure>> {
  const proto = loadEtcdProto().etcdserverpb;
  const KVC = proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => KV;
  const WC = proto.Watch as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => WatchClient;
  // Separate channels so that many requests in flight are not serialized on one HTTP/2 connection.
  const kvs = Array.from({ length: CONNECTIONS }, (_, i) => new KVC(endpoints[i % endpoints.length]!, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, [`mkube.bench.channel`]: i }));
  const leaderKvs = kvs;
  const out: Record<string, Figure> = {};
  const put = (w: number, i: number) => p((cb) => leaderKvs[w % leaderKvs.length]!.Put({ key: Buffer.from(`bench/${w}/${i % 1000}`), value: VALUE }, cb as Cb<never>));
  out['put, 1 client (seq)'] = await closedLoop(1, put);
  out['put, 16 in flight'] = await closedLoop(16, put);
  out['put, 256 in flight'] = await closedLoop(256, put);
  out['linearizable get, 16 in flight'] = await closedLoop(16, (w, i) => p((cb) => kvs[w % kvs.length]!.Range({ key: Buffer.from(`bench/${w}/${i % 1000}`) }, cb as Cb<never>)));
  // Compare-and-swap on 8 hot keys: read the mod revision, then txn(mod == rev) put.
  let casOk = 0;
  let casConflict = 0;
  out['txn CAS on 8 hot keys, 16 in flight'] = await closedLoop(16, async (w) => {
    const c = kvs[w % kvs.length]!;
    const key = Buffer.from(`hot/${w % 8}`);
    const r = (await p((cb) => c.Range({ key }, cb as Cb<never>))) as { kvs: Array<{ modRevision: number }> };
    const rev = r.kvs[0]?.modRevision ?? 0;
    const t = (await p((cb) =>
      c.Txn({ compare: [{ key, target: 'MOD', result: 'EQUAL', modRevision: rev }], success: [{ requestPut: { key, value: VALUE } }], failure: [] }, cb as Cb<never>),
    )) as { succeeded: boolean };
    if (t.succeeded) casOk++;
    else casConflict++;
  });
  console.error(`  CAS: ${casOk} succeeded, ${casConflict} conflicts`);
  out['watch delivery (1000 puts/s)'] = await watchLatency(kvs, new WC(endpoints[0]!, grpc.credentials.createInsecure(), {}));
  for (const c of kvs) c.close();
  return out;
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  const rows: string[] = [];
  rows.push('| members | workload | mkube ops/s | etcd ops/s | ratio | mkube p50 ms | etcd p50 ms | mkube p99 ms | etcd p99 ms | p99 ratio |');
  rows.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const n of MEMBER_COUNTS) {
    console.error(`== ${n} member(s): etcd 3.4`);
    const etcd = await startEtcdCluster({ members: n, captureLogs: false });
    let etcdRes: Record<string, Figure>;
    try {
      etcdRes = await workloads(etcd.endpoints);
    } finally {
      await etcd.stop();
    }
    console.error(`== ${n} member(s): mkube-store`);
    const store = await StoreCluster.start({ members: n });
    let mkRes: Record<string, Figure>;
    try {
      mkRes = await workloads(store.endpoints);
    } finally {
      await store.stop();
    }
    for (const name of Object.keys(etcdRes)) {
      const m = mkRes[name]!;
      const e = etcdRes[name]!;
      rows.push(`| ${n} | ${name} | ${fmt(m.opsPerSec, 0)} | ${fmt(e.opsPerSec, 0)} | ${fmt(m.opsPerSec / e.opsPerSec, 2)} | ${fmt(m.p50, 2)} | ${fmt(e.p50, 2)} | ${fmt(m.p99, 2)} | ${fmt(e.p99, 2)} | ${fmt(m.p99 / e.p99, 2)} |`);
    }
  }
  console.log(`\nmkube-store vs etcd 3.4, ${SECONDS} s per workload, 256-byte values, ${CONNECTIONS} gRPC connections, loopback, ${new Date().toISOString()}\n`);
  console.log(rows.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

// Store benchmark: the same workloads against mkube-store and etcd 3.4 (Debian),
// 3 members each (BENCH_MEMBERS) on loopback, in the same run, with the same
// client; prints each figure and the ratios mkube/etcd of throughput and p99.
// Not a test: it measures. The machine's load average is printed with every
// round (the shared 2-core box runs other engineers' tests); BENCH_ROUNDS > 1
// alternates etcd and mkube-store rounds and prints each ratio's range.
//
//   npm run bench:store                                   # every workload, 3 members
//   BENCH_SECONDS=3 BENCH_ROUNDS=2 npx tsx bench/store/run.ts
//   BENCH_ONLY='watchers|read-only' npx tsx bench/store/run.ts   # workloads whose name matches
//   MKUBE_STORE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' ...  # CPU profiles of the members
//   BENCH_AB=grpc-js ...   # also a third cluster per round whose members serve with grpc-js' server
//                          # (MKUBE_STORE_GRPC_SERVER=grpc-js): the A/B of server/grpc in the same run
import * as grpc from '@grpc/grpc-js';
import { loadavg } from 'node:os';
import { loadEtcdProto } from '@mkube/store';
import { startEtcdCluster } from '@mkube/testing';
import { StoreCluster } from '@mkube/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const MEMBER_COUNTS = (process.env.BENCH_MEMBERS ?? '3').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
const AB = process.env.BENCH_AB === 'grpc-js';
const CONNECTIONS = 8;
const WATCHERS = 32;
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

function figure(lat: number[], perSecond: number): Figure {
  lat.sort((a, b) => a - b);
  return { opsPerSec: perSecond, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
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
  return figure(lat, lat.length / elapsed);
}

const stampOf = (value: Buffer): number => Number(value.subarray(0, 20).toString().trim());
const stamped = (): Buffer => Buffer.concat([Buffer.from(String(performance.now()).padEnd(20, ' ')), VALUE.subarray(20)]);

/** One watch stream on `prefix`; every event's delivery latency goes to `lat`, `onEvent` counts. */
async function openWatch(wc: WatchClient, prefix: string, lat: number[] | undefined, onEvent: () => void): Promise<grpc.ClientDuplexStream<object, unknown>> {
  const stream = wc.Watch();
  const created = new Promise<void>((resolve) => {
    stream.on('data', (res: { created: boolean; events: Array<{ kv: { value: Buffer } }> }) => {
      if (res.created) resolve();
      const now = performance.now();
      for (const ev of res.events) {
        lat?.push(now - stampOf(ev.kv.value));
        onEvent();
      }
    });
  });
  stream.on('error', () => undefined);
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  stream.write({ createRequest: { key: Buffer.from(prefix), rangeEnd: end } });
  await created;
  return stream;
}

/** One watcher, 1000 puts/s from 16 writers: delivery latency at a steady rate. */
async function watchLatency(kvs: KV[], wc: WatchClient): Promise<Figure> {
  const lat: number[] = [];
  const stream = await openWatch(wc, 'watch/', lat, () => undefined);
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
        await p((cb) => kvs[w % kvs.length]!.Put({ key: Buffer.from(`watch/${w}`), value: stamped() }, cb as Cb<never>)).catch(() => undefined);
      }
    }),
  );
  for (const until = performance.now() + 5000; lat.length < total && performance.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  stream.cancel();
  return figure(lat, lat.length / SECONDS);
}

/**
 * WATCHERS streams (over the CONNECTIONS channels) watch one prefix while 64 writers put into it as
 * fast as the store takes them: the figure is puts delivered per second to each watcher (every event
 * delivered to all of them, counted until the last one arrived), the latency put -> delivery.
 */
async function fanOut(kvs: KV[], wcs: WatchClient[]): Promise<Figure> {
  const lat: number[] = [];
  let delivered = 0;
  let lastDelivery = 0;
  const streams = await Promise.all(
    Array.from({ length: WATCHERS }, (_, i) =>
      openWatch(wcs[i % wcs.length]!, 'fan/', i % 4 === 0 ? lat : undefined, () => {
        delivered++;
        lastDelivery = performance.now();
      }),
    ),
  );
  let acked = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      while (performance.now() < end) {
        await p((cb) => kvs[w % kvs.length]!.Put({ key: Buffer.from(`fan/${w}`), value: stamped() }, cb as Cb<never>)).then(
          () => acked++,
          () => undefined,
        );
      }
    }),
  );
  for (const until = performance.now() + 10_000; delivered < acked * WATCHERS && performance.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  if (delivered < acked * WATCHERS) console.error(`  (fan-out: ${delivered} of ${acked * WATCHERS} events delivered)`);
  for (const s of streams) s.cancel();
  return figure(lat, delivered / WATCHERS / ((lastDelivery - t0) / 1000));
}

type Workload = [name: string, run: (kvs: KV[], wcs: WatchClient[]) => Promise<Figure>];

function workloadList(): Workload[] {
  const put = (kvs: KV[]) => (w: number, i: number) => p((cb) => kvs[w % kvs.length]!.Put({ key: Buffer.from(`bench/${w}/${i % 1000}`), value: VALUE }, cb as Cb<never>));
  const list: Workload[] = [
    ['put, 1 in flight (seq)', (kvs) => closedLoop(1, put(kvs))],
    ['put, 16 in flight', (kvs) => closedLoop(16, put(kvs))],
    ['put, 256 in flight', (kvs) => closedLoop(256, put(kvs))],
    ['linearizable get, 16 in flight', (kvs) => closedLoop(16, (w, i) => p((cb) => kvs[w % kvs.length]!.Range({ key: Buffer.from(`bench/${w % 16}/${i % 1000}`) }, cb as Cb<never>)))],
    // etcd's read-only txn (Kubernetes' GuaranteedUpdate reads): a compare on the key's mod revision and a range in either branch.
    [
      'read-only txn, 16 in flight',
      (kvs) =>
        closedLoop(16, (w, i) => {
          const key = Buffer.from(`bench/${w % 16}/${i % 1000}`);
          const range = { requestRange: { key } };
          return p((cb) => kvs[w % kvs.length]!.Txn({ compare: [{ key, target: 'MOD', result: 'GREATER', modRevision: 0 }], success: [range], failure: [range] }, cb as Cb<never>));
        }),
    ],
    // The same txn with a put in a branch never taken: not read-only, so it goes through Raft (how every txn was served before).
    [
      'same txn + untaken put (through Raft), 16 in flight',
      (kvs) =>
        closedLoop(16, (w, i) => {
          const key = Buffer.from(`bench/${w % 16}/${i % 1000}`);
          return p((cb) =>
            kvs[w % kvs.length]!.Txn(
              { compare: [{ key, target: 'MOD', result: 'GREATER', modRevision: 0 }], success: [{ requestRange: { key } }], failure: [{ requestPut: { key: Buffer.from('unused'), value: VALUE } }] },
              cb as Cb<never>,
            ),
          );
        }),
    ],
    [
      'txn CAS on 8 hot keys, 16 in flight',
      async (kvs) => {
        // Compare-and-swap: read the mod revision, then txn(mod == rev) put.
        let ok = 0;
        let conflict = 0;
        const f = await closedLoop(16, async (w) => {
          const c = kvs[w % kvs.length]!;
          const key = Buffer.from(`hot/${w % 8}`);
          const r = (await p((cb) => c.Range({ key }, cb as Cb<never>))) as { kvs: Array<{ modRevision: number }> };
          const rev = r.kvs[0]?.modRevision ?? 0;
          const t = (await p((cb) => c.Txn({ compare: [{ key, target: 'MOD', result: 'EQUAL', modRevision: rev }], success: [{ requestPut: { key, value: VALUE } }], failure: [] }, cb as Cb<never>))) as {
            succeeded: boolean;
          };
          if (t.succeeded) ok++;
          else conflict++;
        });
        console.error(`  CAS: ${ok} succeeded, ${conflict} conflicts`);
        return f;
      },
    ],
    [`${WATCHERS} watchers, 64 writers (delivered puts/s per watcher)`, (kvs, wcs) => fanOut(kvs, wcs)],
    ['watch delivery (1000 puts/s, 1 watcher)', (kvs, wcs) => watchLatency(kvs, wcs[0]!)],
  ];
  return list.filter(([name]) => !ONLY || ONLY.test(name));
}

async function workloads(endpoints: string[]): Promise<Record<string, Figure>> {
  const proto = loadEtcdProto().etcdserverpb;
  const KVC = proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => KV;
  const WC = proto.Watch as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => WatchClient;
  // Separate channels so that many requests in flight are not serialized on one HTTP/2 connection.
  const opts = (i: number) => ({ 'grpc.use_local_subchannel_pool': 1, [`mkube.bench.channel`]: i });
  const kvs = Array.from({ length: CONNECTIONS }, (_, i) => new KVC(endpoints[i % endpoints.length]!, grpc.credentials.createInsecure(), opts(i)));
  const wcs = Array.from({ length: CONNECTIONS }, (_, i) => new WC(endpoints[i % endpoints.length]!, grpc.credentials.createInsecure(), opts(100 + i)));
  // Keys for the reads, connections up (a put that fails on a just-started cluster is retried: this is setup, not measured).
  const prefill = async (key: string): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await p((cb) => kvs[0]!.Put({ key: Buffer.from(key), value: VALUE }, cb as Cb<never>));
        return;
      } catch (err) {
        if (attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  await prefill('bench/ready');
  await Promise.all(Array.from({ length: 16 }, async (_, w) => {
    for (let i = 0; i < 64; i++) await prefill(`bench/${w}/${i}`);
  }));
  const out: Record<string, Figure> = {};
  for (const [name, run] of workloadList()) {
    const load0 = loadavg()[0]!;
    out[name] = await run(kvs, wcs);
    console.error(`  ${name}: ${fmt(out[name].opsPerSec, 0)}/s, p99 ${fmt(out[name].p99, 2)} ms (load ${load0.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)})`);
  }
  for (const c of [...kvs, ...wcs]) c.close();
  return out;
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const abHead = AB ? ' grpc-js server ops/s | its ratio | its p99 ms | its p99 ratio |' : '';
  rows.push(`| round | members | workload | mkube ops/s | etcd ops/s | ratio | mkube p50 ms | etcd p50 ms | mkube p99 ms | etcd p99 ms | p99 ratio | load |${abHead}`);
  rows.push(`|---|---|---|---|---|---|---|---|---|---|---|---|${AB ? '---|---|---|---|' : ''}`);
  const ratios = new Map<string, { tput: number[]; p99: number[]; abTput: number[]; abP99: number[] }>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const n of MEMBER_COUNTS) {
      const load0 = loadavg()[0]!;
      console.error(`== round ${round}, ${n} member(s): etcd 3.4 (load ${load0.toFixed(1)})`);
      const etcd = await startEtcdCluster({ members: n, captureLogs: false });
      let etcdRes: Record<string, Figure>;
      try {
        etcdRes = await workloads(etcd.endpoints);
      } finally {
        await etcd.stop();
      }
      const runStore = async (server: 'http2' | 'grpc-js'): Promise<Record<string, Figure>> => {
        console.error(`== round ${round}, ${n} member(s): mkube-store, ${server} server (load ${loadavg()[0]!.toFixed(1)})`);
        if (server === 'grpc-js') process.env.MKUBE_STORE_GRPC_SERVER = 'grpc-js';
        const store = await StoreCluster.start({ members: n });
        delete process.env.MKUBE_STORE_GRPC_SERVER;
        try {
          return await workloads(store.endpoints);
        } finally {
          await store.stop();
        }
      };
      const abRes = AB ? await runStore('grpc-js') : undefined;
      const mkRes = await runStore('http2');
      const load = `${load0.toFixed(0)}-${loadavg()[0]!.toFixed(0)}`;
      for (const name of Object.keys(etcdRes)) {
        const m = mkRes[name]!;
        const e = etcdRes[name]!;
        const r = ratios.get(`${n}|${name}`) ?? { tput: [], p99: [], abTput: [], abP99: [] };
        r.tput.push(m.opsPerSec / e.opsPerSec);
        r.p99.push(m.p99 / e.p99);
        const a = abRes?.[name];
        if (a) {
          r.abTput.push(a.opsPerSec / e.opsPerSec);
          r.abP99.push(a.p99 / e.p99);
        }
        ratios.set(`${n}|${name}`, r);
        const abCols = a ? ` ${fmt(a.opsPerSec, 0)} | ${fmt(a.opsPerSec / e.opsPerSec, 2)} | ${fmt(a.p99, 2)} | ${fmt(a.p99 / e.p99, 2)} |` : '';
        rows.push(
          `| ${round} | ${n} | ${name} | ${fmt(m.opsPerSec, 0)} | ${fmt(e.opsPerSec, 0)} | ${fmt(m.opsPerSec / e.opsPerSec, 2)} | ${fmt(m.p50, 2)} | ${fmt(e.p50, 2)} | ${fmt(m.p99, 2)} | ${fmt(e.p99, 2)} | ${fmt(m.p99 / e.p99, 2)} | ${load} |${abCols}`,
        );
      }
    }
  }
  console.log(`\nmkube-store vs etcd 3.4, ${SECONDS} s per workload, 256-byte values, ${CONNECTIONS} gRPC connections, loopback, ${new Date().toISOString()}\n`);
  console.log(rows.join('\n'));
  if (ROUNDS > 1) {
    const range = (xs: number[]) => `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;
    console.log(`\n| members | workload | throughput ratio (range over ${ROUNDS} rounds) | p99 ratio |${AB ? ' grpc-js server: throughput ratio | p99 ratio |' : ''}\n|---|---|---|---|${AB ? '---|---|' : ''}`);
    for (const [k, r] of ratios) {
      const [n, name] = k.split('|');
      console.log(`| ${n} | ${name} | ${range(r.tput)} | ${range(r.p99)} |${AB ? ` ${range(r.abTput)} | ${range(r.abP99)} |` : ''}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

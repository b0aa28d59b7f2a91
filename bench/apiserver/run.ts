// API server benchmark on the embedded mkube-store: 64 concurrent clients
// issuing create / get / list / update of ConfigMaps at a target total rate
// (500 requests/s) for a fixed time, over REST (HTTPS+JSON) and over gRPC
// (Kubernetes protobuf); then 1000 concurrent gRPC watchers receiving a
// stream of updates. Prints p50/p99 per verb and the watch delivery latency
// (from the update call being issued to the event arriving at each watcher).
// The API server runs in a child process; this process is the clients.
// Not a test: it measures.
//
//   node --import tsx bench/apiserver/run.ts
//   BENCH_SECONDS=20 BENCH_RATE=500 BENCH_CLIENTS=64 BENCH_WATCHERS=1000 BENCH_TRANSPORTS=rest,grpc node --import tsx bench/apiserver/run.ts
//   BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'   # node flags for the API server process
import { reportLoopStats } from './loop_stats.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { messageType, type JsonObject } from '@mkube/api';
import { ResourcesClient } from '../../packages/apiserver/src/grpc/client.js';

if (process.env.BENCH_LOOP_STATS === '1') reportLoopStats(process.env.BENCH_CLIENT_SLICE ? `client ${String((JSON.parse(process.env.BENCH_CLIENT_SLICE) as { first: number }).first)}` : 'bench');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
/** Unmeasured load before each transport's measured run (JIT, connections, TLS handshakes). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const CLIENT_PROCS = Number(process.env.BENCH_CLIENT_PROCS ?? 1);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const WATCH_UPDATES_PER_SEC = Number(process.env.BENCH_WATCH_RATE ?? 10);
const WATCH_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'rest,grpc').split(',');
const VERBS = ['create', 'get', 'list', 'update'] as const;
const CONFIGMAP = messageType('k8s.io.api.core.v1.ConfigMap');
type Verb = (typeof VERBS)[number];

interface ServerInfo {
  url: string;
  grpcPort: number;
  caCert: string;
  adminCert: string;
  adminKey: string;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startServer(dir: string): Promise<{ info: ServerInfo; proc: ChildProcess }> {
  const script = process.env.BENCH_SERVER_SCRIPT ?? join(fileURLToPath(new URL('.', import.meta.url)), 'server.ts');
  const proc = spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`API server exited with ${code}`)));
  });
  return { info: JSON.parse(line) as ServerInfo, proc };
}

/** Cumulative bucket counts of apiserver_request_duration_seconds for configmaps, by verb (all codes). */
type ServerHistogram = Map<string, Map<number, number>>;

/** Scrapes the server's /metrics: request latency as the API server itself measures it. */
async function scrapeLatency(s: ServerInfo): Promise<ServerHistogram> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(new URL('/metrics', s.url), { ca: s.caCert, cert: s.adminCert, key: s.adminKey }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
  const out: ServerHistogram = new Map();
  for (const line of text.split('\n')) {
    const m = /^apiserver_request_duration_seconds_bucket\{(.*)\} (\d+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.resource !== 'configmaps') continue;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    const byLe = out.get(labels.verb!) ?? new Map<number, number>();
    byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
    out.set(labels.verb!, byLe);
  }
  return out;
}

/** Server-side percentile of one verb between two scrapes (linear within a bucket, as histogram_quantile does). */
function serverPercentile(before: ServerHistogram, after: ServerHistogram, verb: string, q: number): number {
  const a = after.get(verb);
  if (!a) return NaN;
  const b = before.get(verb) ?? new Map<number, number>();
  const les = [...a.keys()].sort((x, y) => x - y);
  const counts = les.map((le) => (a.get(le) ?? 0) - (b.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (counts[i]! >= rank) {
      const lo = i === 0 ? 0 : les[i - 1]!;
      const hi = les[i]!;
      if (!Number.isFinite(hi)) return lo * 1000;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      return (lo + ((hi - lo) * (rank - below)) / Math.max(inBucket, 1)) * 1000;
    }
  }
  return NaN;
}

const SERVER_VERB: Record<string, string> = { create: 'POST', get: 'GET', list: 'LIST', update: 'PUT' };

/** The four verbs over one transport, for one client. */
interface Ops {
  create(ns: string, obj: JsonObject): Promise<JsonObject>;
  get(ns: string, name: string): Promise<JsonObject>;
  list(ns: string): Promise<unknown>;
  update(ns: string, obj: JsonObject): Promise<JsonObject>;
  close(): void;
}

function restOps(s: ServerInfo): Ops {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: s.caCert, cert: s.adminCert, key: s.adminKey });
  const call = (method: string, path: string, body?: unknown): Promise<JsonObject> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (payload) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(Buffer.byteLength(payload));
      }
      const req = request(new URL(path, s.url), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonObject;
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${String(parsed.message)}`));
          else resolve(parsed);
        });
      });
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  return {
    create: (ns, obj) => call('POST', `/api/v1/namespaces/${ns}/configmaps`, obj),
    get: (ns, name) => call('GET', `/api/v1/namespaces/${ns}/configmaps/${name}`),
    list: (ns) => call('GET', `/api/v1/namespaces/${ns}/configmaps?limit=50`),
    update: (ns, obj) => call('PUT', `/api/v1/namespaces/${ns}/configmaps/${String((obj.metadata as JsonObject).name)}`, obj),
    close: () => agent.destroy(),
  };
}

function grpcClient(s: ServerInfo): ResourcesClient {
  return new ResourcesClient({ address: `127.0.0.1:${s.grpcPort}`, caCert: s.caCert, cert: s.adminCert, key: s.adminKey, channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
}

function grpcOps(s: ServerInfo): Ops {
  const c = grpcClient(s);
  return {
    create: (ns, obj) => c.create({ resource: 'configmaps', namespace: ns }, obj),
    get: (ns, name) => c.get({ resource: 'configmaps', namespace: ns }, name),
    list: (ns) => c.list({ resource: 'configmaps', namespace: ns }, { limit: 50 }),
    update: async (ns, obj) => (await c.update({ resource: 'configmaps', namespace: ns }, obj)).object,
    close: () => c.close(),
  };
}

interface LoadResult {
  transport: string;
  achieved: number;
  errors: number;
  latency: Record<Verb, number[]>;
}

interface SliceResult {
  total: number;
  errors: number;
  latency: Record<Verb, number[]>;
}

/**
 * Clients first..first+count-1 of CLIENTS, each cycling create → get → update → list at
 * RATE/CLIENTS requests/s. Every client connects, then `go` says when the clock starts
 * (epoch ms, the same for every client process).
 */
async function runClients(transport: string, s: ServerInfo, seconds: number, tag: string, first: number, count: number, go: () => Promise<number>): Promise<SliceResult> {
  const latency: Record<Verb, number[]> = { create: [], get: [], list: [], update: [] };
  let errors = 0;
  let total = 0;
  const interval = (1000 * CLIENTS) / RATE;
  const clients = await Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const i = first + k;
      const ops = transport === 'grpc' ? grpcOps(s) : restOps(s);
      const ns = `bench-${transport}-${tag}-${i}`;
      await ops.list(ns); // connection up before the clock starts
      return { i, ops, ns };
    }),
  );
  const started = (await go()) - performance.timeOrigin;
  const end = started + seconds * 1000;
  const one = async ({ i, ops, ns }: (typeof clients)[number]) => {
    let seq = 0;
    let last: JsonObject | undefined;
    // Spread the clients' start over one interval.
    let next = started + (interval * i) / CLIENTS;
    while (performance.now() < end) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      next += interval;
      const verb: Verb = last === undefined ? 'create' : VERBS[seq % 4]!;
      const t0 = performance.now();
      try {
        if (verb === 'create') {
          last = await ops.create(ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${seq}` }, data: { n: String(seq), pad: 'x'.repeat(200) } });
        } else if (verb === 'get') await ops.get(ns, String((last!.metadata as JsonObject).name));
        else if (verb === 'update') last = await ops.update(ns, { ...last!, data: { n: String(seq), pad: 'y'.repeat(200) } });
        else await ops.list(ns);
        latency[verb].push(performance.now() - t0);
      } catch (err) {
        errors++;
        if (errors <= 3) console.error(`${transport} ${verb}: ${(err as Error).message}`);
        last = undefined;
      }
      total++;
      seq++;
    }
    ops.close();
  };
  await Promise.all(clients.map(one));
  return { total, errors, latency };
}

/** A client process (BENCH_CLIENT_SLICE set): runs its clients, prints its SliceResult as JSON. */
async function clientProcess(spec: { transport: string; info: ServerInfo; seconds: number; tag: string; first: number; count: number }): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const r = await runClients(spec.transport, spec.info, spec.seconds, spec.tag, spec.first, spec.count, async () => {
    process.stdout.write('ready\n');
    return Number((await lines.next()).value);
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

/** CLIENTS clients over CLIENT_PROCS processes (each its own event loop, as independent clients have). */
async function load(transport: string, s: ServerInfo, seconds: number, tag: string): Promise<LoadResult> {
  // Namespaces first (not measured), then the load.
  const admin = grpcClient(s);
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => admin.create({ resource: 'namespaces' }, { metadata: { name: `bench-${transport}-${tag}-${i}` } })));
  admin.close();
  const procs = Math.max(1, Math.min(CLIENT_PROCS, CLIENTS));
  let slices: SliceResult[];
  if (procs === 1) {
    slices = [await runClients(transport, s, seconds, tag, 0, CLIENTS, async () => Date.now() + 100)];
  } else {
    const per = Math.ceil(CLIENTS / procs);
    const children = Array.from({ length: procs }, (_, p) => {
      const first = p * per;
      const spec = { transport, info: s, seconds, tag, first, count: Math.max(0, Math.min(per, CLIENTS - first)) };
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_CLIENT_SLICE: JSON.stringify(spec) }, stdio: ['pipe', 'pipe', 'inherit'] });
      const out = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      return { child, out };
    });
    try {
      for (const c of children) if ((await c.out.next()).value !== 'ready') throw new Error('client process did not start');
      const startAt = Date.now() + 200;
      for (const c of children) c.child.stdin!.write(`${startAt}\n`);
      slices = await Promise.all(children.map(async (c) => JSON.parse(String((await c.out.next()).value)) as SliceResult));
    } finally {
      for (const c of children) c.child.kill();
    }
  }
  const latency: Record<Verb, number[]> = { create: [], get: [], list: [], update: [] };
  for (const sl of slices) for (const v of VERBS) latency[v].push(...sl.latency[v]);
  for (const v of VERBS) latency[v].sort((a, b) => a - b);
  const total = slices.reduce((a, sl) => a + sl.total, 0);
  return { transport, achieved: total / seconds, errors: slices.reduce((a, sl) => a + sl.errors, 0), latency };
}

/** WATCHERS gRPC watch streams on one namespace; a writer updates one ConfigMap WATCH_UPDATES_PER_SEC times a second. */
async function watchBench(s: ServerInfo): Promise<{ samples: number[]; expected: number; received: number }> {
  const channels = Array.from({ length: 16 }, () => grpcClient(s));
  const admin = channels[0]!;
  await admin.create({ resource: 'namespaces' }, { metadata: { name: 'bench-watch' } }).catch(() => undefined);
  let obj = await admin.create({ resource: 'configmaps', namespace: 'bench-watch' }, { metadata: { name: 'ticker' }, data: { seq: '0' } });
  const rv = String((obj.metadata as JsonObject).resourceVersion);
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  let received = 0;
  const streams = Array.from({ length: WATCHERS }, (_, i) =>
    channels[i % channels.length]!.watchRaw({ resource: 'configmaps', namespace: 'bench-watch' }, { resourceVersion: rv }, (ev) => {
      const at = performance.now();
      // Protobuf decode only (no JSON conversion): the client side stays cheap.
      const seq = String((CONFIGMAP.decode(ev.object) as unknown as { data?: Record<string, string> }).data?.seq ?? '');
      const t0 = sentAt.get(seq);
      if (ev.type === 'MODIFIED' && t0 !== undefined) {
        samples.push(at - t0);
        received++;
      }
    }),
  );
  await sleep(2000); // every stream established
  const n = WATCH_UPDATES_PER_SEC * WATCH_SECONDS;
  for (let i = 1; i <= n; i++) {
    const t0 = performance.now();
    sentAt.set(String(i), t0);
    obj = (await admin.update({ resource: 'configmaps', namespace: 'bench-watch' }, { ...obj, data: { seq: String(i) } })).object;
    const wait = t0 + 1000 / WATCH_UPDATES_PER_SEC - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await sleep(2000);
  for (const st of streams) st.cancel();
  for (const c of channels) c.close();
  samples.sort((a, b) => a - b);
  return { samples, expected: n * WATCHERS, received };
}

/** CPU time (ms) of a process' main thread and of its other threads (workers, libuv pool, GC), from /proc. */
function threadCpu(pid: number): { main: number; other: number } {
  const out = { main: 0, other: 0 };
  const tick = 1000 / 100; // USER_HZ
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * tick;
      if (Number(tid) === pid) out.main += ms;
      else out.other += ms;
    } catch {
      // the thread ended
    }
  }
  return out;
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : ms.toFixed(1));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-bench-apiserver-'));
  const { info, proc } = await startServer(join(dir, 'data'));
  try {
    console.log(`API server on the embedded mkube-store: ${info.url}, gRPC 127.0.0.1:${info.grpcPort}; ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`load: ${CLIENTS} clients in ${CLIENT_PROCS} processes, target ${RATE} requests/s, ${SECONDS} s per transport; verbs create/get/update/list (limit 50) of ConfigMaps, 1 namespace per client`);
    const rows: string[] = [];
    for (const transport of TRANSPORTS) {
      if (WARMUP_SECONDS > 0) await load(transport, info, WARMUP_SECONDS, 'warmup');
      const before = await scrapeLatency(info);
      const cpuBefore = threadCpu(proc.pid!);
      const r = await load(transport, info, SECONDS, 'run');
      const after = await scrapeLatency(info);
      const cpuAfter = threadCpu(proc.pid!);
      const n = VERBS.reduce((a, v) => a + r.latency[v].length, 0);
      const mainMs = cpuAfter.main - cpuBefore.main;
      const otherMs = cpuAfter.other - cpuBefore.other;
      console.log(`${transport}: achieved ${r.achieved.toFixed(0)} requests/s, ${r.errors} errors; server CPU per request ${((mainMs + otherMs) / n).toFixed(2)} ms (main thread ${(mainMs / n).toFixed(2)} ms = ${((100 * mainMs) / (SECONDS * 1000)).toFixed(0)}% busy, other threads ${(otherMs / n).toFixed(2)} ms)`);
      for (const v of VERBS) {
        const l = r.latency[v];
        const sv = SERVER_VERB[v]!;
        rows.push(`| ${transport} | ${v} | ${l.length} | ${fmt(percentile(l, 0.5))} | ${fmt(percentile(l, 0.99))} | ${fmt(serverPercentile(before, after, sv, 0.5))} | ${fmt(serverPercentile(before, after, sv, 0.99))} |`);
      }
      rows.push(`| ${transport} | (all, ${r.achieved.toFixed(0)} req/s achieved, ${r.errors} errors) | ${VERBS.reduce((a, v) => a + r.latency[v].length, 0)} | | | | |`);
    }
    console.log('\n(client: measured by the benchmark clients; server: apiserver_request_duration_seconds, interpolated within its buckets)');
    console.log('\n| transport | verb | requests | client p50 ms | client p99 ms | server p50 ms | server p99 ms |\n|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
    if (WATCHERS > 0) {
      const w = await watchBench(info);
      console.log(`\nwatch: ${WATCHERS} gRPC watchers (16 channels), ${WATCH_UPDATES_PER_SEC} updates/s for ${WATCH_SECONDS} s: ${w.received}/${w.expected} events delivered`);
      console.log(`watch delivery latency (update issued -> event at watcher): p50 ${fmt(percentile(w.samples, 0.5))} ms, p99 ${fmt(percentile(w.samples, 0.99))} ms, max ${fmt(w.samples[w.samples.length - 1] ?? NaN)} ms`);
    }
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.env.BENCH_CLIENT_SLICE) await clientProcess(JSON.parse(process.env.BENCH_CLIENT_SLICE));
else await main();

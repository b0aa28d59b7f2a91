// Where the time of one put goes when puts go one at a time: the same sequential
// put loop against 3-member etcd 3.4 and 3-member mkube-store (same client, same
// run), then each member's own figures from /metrics over that loop: the WAL's
// synced writes (etcd_disk_wal_fsync_duration_seconds, count and mean) and, for
// mkube-store, the apply of an entry. Put latency minus the leader's and a
// follower's synced write is what the request path (gRPC, Raft turns, peer
// messages, apply, response) costs. Not a test: it measures.
//
//   npx tsx bench/store/seq_path.ts          # BENCH_SECONDS=5
import * as grpc from '@grpc/grpc-js';
import { loadavg } from 'node:os';
import { loadEtcdProto } from '@mkube/store';
import { startEtcdCluster, StoreCluster } from '@mkube/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const VALUE = Buffer.alloc(256, 'v');

interface KV extends grpc.Client {
  Put(req: object, cb: (err: grpc.ServiceError | null) => void): void;
}

/** Sum and count of a histogram (all label sets) in a Prometheus text page. */
function histogram(text: string, name: string): { sum: number; count: number } {
  const get = (suffix: string) =>
    [...text.matchAll(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  return { sum: get('sum'), count: get('count') };
}

async function loop(endpoint: string): Promise<number[]> {
  const KVC = loadEtcdProto().etcdserverpb.KV as unknown as new (a: string, c: grpc.ChannelCredentials) => KV;
  const kv = new KVC(endpoint, grpc.credentials.createInsecure());
  const put = (i: number) => new Promise<void>((resolve, reject) => kv.Put({ key: Buffer.from(`seq/${i % 100}`), value: VALUE }, (e) => (e ? reject(e) : resolve())));
  for (let i = 0; i < 20; i++) await put(i); // warm
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  for (let i = 0; performance.now() < end; i++) {
    const t0 = performance.now();
    await put(i);
    lat.push(performance.now() - t0);
  }
  kv.close();
  return lat.sort((a, b) => a - b);
}

function report(label: string, lat: number[], pages: string[], leader: number): void {
  const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))]!.toFixed(2);
  console.log(`${label}: ${(lat.length / SECONDS).toFixed(0)} puts/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms (load ${loadavg()[0]!.toFixed(1)})`);
  pages.forEach((text, i) => {
    const f = histogram(text, 'etcd_disk_wal_fsync_duration_seconds');
    const a = histogram(text, 'mkube_store_apply_duration_seconds');
    const apply = a.count > 0 ? `, apply ${((a.sum / a.count) * 1e6).toFixed(0)} µs mean over ${a.count}` : '';
    console.log(`  member ${i}${i === leader ? ' (leader)' : ''}: synced writes ${f.count}, mean ${((f.sum / Math.max(1, f.count)) * 1000).toFixed(2)} ms${apply}`);
  });
}

async function pagesOf(urls: string[]): Promise<string[]> {
  return Promise.all(urls.map(async (u) => (await fetch(u)).text()));
}

/** Per-member difference of two scrapes, as a page with only the histogram sums and counts. */
function diff(before: string[], after: string[]): string[] {
  return after.map((text, i) => {
    const lines: string[] = [];
    for (const name of ['etcd_disk_wal_fsync_duration_seconds', 'mkube_store_apply_duration_seconds']) {
      const a = histogram(text, name);
      const b = histogram(before[i]!, name);
      if (a.count === 0) continue;
      lines.push(`${name}_sum ${a.sum - b.sum}`, `${name}_count ${a.count - b.count}`);
    }
    return lines.join('\n');
  });
}

const leaderOf = (pages: string[]) => pages.findIndex((t) => /^etcd_server_is_leader 1$/m.test(t));

const etcd = await startEtcdCluster({ members: 3, captureLogs: false });
try {
  const urls = etcd.endpoints.map((e) => `http://${e}/metrics`);
  const before = await pagesOf(urls);
  const lat = await loop(etcd.endpoints[0]!);
  const after = await pagesOf(urls);
  report('etcd 3.4   ', lat, diff(before, after), leaderOf(after));
} finally {
  await etcd.stop();
}
const store = await StoreCluster.start({ members: 3 });
try {
  const urls = store.members.map((m) => `${m.metricsURL}/metrics`);
  const before = await pagesOf(urls);
  const lat = await loop(store.endpoints[0]!);
  const after = await pagesOf(urls);
  report('mkube-store', lat, diff(before, after), leaderOf(after));
} finally {
  await store.stop();
}
process.exit(0);

// Chaos with real processes: a 3-member mkube-store cluster under concurrent
// writes and reads from several clients while its leader is killed with SIGKILL
// and restarted, again and again. Afterwards every acknowledged write is still
// there (at the revision it was acknowledged with) and the recorded history is
// linearizable. The time from each kill to the next successful write is reported.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { HistoryRecorder, checkKvHistory, type KvInput, type KvOutput } from '../../packages/store/src/check/index.js';
import { loadEtcdProto } from '../../packages/store/src/api/etcd_proto.js';
import { StoreCluster } from '../../packages/store/test/helpers/store_cluster.js';

const KILLS = Number(process.env.CHAOS_KILLS ?? 6);
const CLIENTS = 4;
const KEYS = ['k0', 'k1', 'k2', 'k3'];

type KVClient = grpc.Client & {
  Put(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { header: { revision: number } }) => void): void;
  Range(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { kvs: Array<{ value: Buffer; modRevision: number }> }) => void): void;
};

function call<T>(fn: (cb: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

test('leader killed with SIGKILL and restarted repeatedly: no acknowledged write lost, history linearizable', async (t) => {
  t.timeout(180_000);
  const cluster = await StoreCluster.start({ members: 3 });
  t.teardown(() => cluster.stop());
  const KV = loadEtcdProto().etcdserverpb.KV as unknown as new (addr: string, creds: grpc.ChannelCredentials) => KVClient;
  const clients = cluster.endpoints.map((ep) => new KV(ep, grpc.credentials.createInsecure()));
  t.teardown(() => clients.forEach((c) => c.close()));

  const recorder = new HistoryRecorder<KvInput, KvOutput>();
  const acked: Array<{ key: string; value: string; revision: number }> = [];
  /** [sent, answered] wall-clock times of every acknowledged write. */
  const writeSuccesses: Array<[number, number]> = [];
  let running = true;
  let seq = 0;
  const t0 = performance.now();
  const now = () => performance.now() - t0;

  const clientLoop = async (id: number) => {
    let ep = id % clients.length;
    while (running) {
      const key = KEYS[Math.floor(Math.random() * KEYS.length)]!;
      const isWrite = Math.random() < 0.6;
      const deadline = new Date(Date.now() + 2000);
      if (isWrite) {
        const value = `c${id}-${++seq}`;
        const op = recorder.call(id, { op: 'put', key, value }, now());
        const sentAt = Date.now();
        try {
          const res = await call<{ header: { revision: number } }>((cb) => clients[ep]!.Put({ key: Buffer.from(key), value: Buffer.from(value) }, { deadline }, cb));
          recorder.ok(op, { op: 'put' }, now());
          acked.push({ key, value, revision: res.header.revision });
          writeSuccesses.push([sentAt, Date.now()]);
        } catch {
          recorder.unknown(op); // it may or may not have been committed
          ep = (ep + 1) % clients.length;
          await new Promise((r) => setTimeout(r, 10));
        }
      } else {
        const op = recorder.call(id, { op: 'get', key }, now());
        try {
          const res = await call<{ kvs: Array<{ value: Buffer }> }>((cb) => clients[ep]!.Range({ key: Buffer.from(key) }, { deadline }, cb));
          recorder.ok(op, { op: 'get', value: res.kvs[0]?.value.toString() }, now());
        } catch {
          recorder.fail(op); // a failed read has no effect
          ep = (ep + 1) % clients.length;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    }
  };
  const loops = Array.from({ length: CLIENTS }, (_, i) => clientLoop(i));

  const recoveries: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    for (let k = 0; k < KILLS; k++) {
      let leader = -1;
      for (let i = 0; i < 100 && leader < 0; i++) {
        leader = await cluster.leaderIndex();
        if (leader < 0) await new Promise((r) => setTimeout(r, 50));
      }
      t.true(leader >= 0, `round ${k}: a leader exists`);
      const killedAt = Date.now();
      await cluster.kill(leader, 'SIGKILL');
      const limit = killedAt + 10_000;
      // The first write sent after the kill that is acknowledged (writes in flight at the kill do not count).
      const firstAfter = () => writeSuccesses.find(([sent]) => sent > killedAt);
      while (Date.now() < limit && !firstAfter()) await new Promise((r) => setTimeout(r, 5));
      const first = firstAfter();
      t.truthy(first, `round ${k}: writes resume after the leader was killed`);
      recoveries.push(first![1] - killedAt);
      await new Promise((r) => setTimeout(r, 500));
      cluster.restart(leader);
      await cluster.waitHealthy(15_000);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }

  const sorted = [...recoveries].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  t.log(`kill → next successful write (ms): ${recoveries.join(', ')}; median ${median}, max ${sorted[sorted.length - 1]}`);
  t.log(`operations: ${recorder.size}, acknowledged writes: ${acked.length}`);
  t.true(acked.length > 50, 'the clients made progress');

  // Every acknowledged write is present at the revision it was acknowledged with, on every member.
  // waitForReady: a channel to a member that was just restarted may still be in its reconnect back-off.
  await cluster.waitHealthy();
  for (const c of clients) {
    for (const a of acked) {
      const res = await call<{ kvs: Array<{ value: Buffer; modRevision: number }> }>((cb) =>
        c.Range({ key: Buffer.from(a.key), revision: a.revision }, { deadline: new Date(Date.now() + 10_000), waitForReady: true }, cb),
      );
      if (res.kvs[0]?.value.toString() !== a.value || res.kvs[0]?.modRevision !== a.revision) {
        t.fail(`acknowledged write ${a.key}=${a.value} at revision ${a.revision} is missing: found ${res.kvs[0]?.value.toString()} at ${res.kvs[0]?.modRevision}`);
        return;
      }
    }
  }
  t.pass('every acknowledged write is present on every member');

  const result = checkKvHistory(recorder.history(), { timeBudgetMs: 60_000 });
  t.not(result.ok, false, `history is not linearizable: ${JSON.stringify(result).slice(0, 2000)}`);
  t.log(`linearizability: ${String(result.ok)}`);
});

// A restarted member answers each new proposal with that proposal's own
// result. A member replays the committed entries of its Raft log after a
// restart (everything since its last Raft snapshot); entries it proposed in its
// previous run carry its member id as origin. The proposal ids of a new run must
// not repeat those of an earlier run, or a replayed old entry resolves a new
// client's put: the client is told "OK at revision R" for a write that is not at
// R (or, if its own proposal is then dropped, not anywhere) — an acknowledged
// write lost. etcd's request ids are member id + start time in ms + counter
// (pkg/idutil) for this reason.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProto } from '../../src/api/etcd_proto.js';
import { StoreCluster } from '../helpers/store_cluster.js';

type KVClient = grpc.Client & {
  Put(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { header: { revision: number } }) => void): void;
  Put(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { header: { revision: number } }) => void): void;
  Range(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { kvs: Array<{ value: Buffer; modRevision: number }> }) => void): void;
};

function call<T>(fn: (cb: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

test.serial('a restarted member answers its new proposals with their own results, not with replayed entries of its previous run', async (t) => {
  t.timeout(120_000);
  // No snapshot during the test: the restarted member replays its whole log.
  const c = await StoreCluster.start({ members: 3, extraArgs: ['--snapshot-count', '1000000'] });
  t.teardown(() => c.stop());
  const KV = loadEtcdProto().etcdserverpb.KV as unknown as new (addr: string, creds: grpc.ChannelCredentials) => KVClient;
  const clients: KVClient[] = [];
  t.teardown(() => {
    for (const cl of clients) cl.close();
  });
  const client = (i: number) => {
    const cl = new KV(c.endpoints[i]!, grpc.credentials.createInsecure());
    clients.push(cl);
    return cl;
  };
  const leader = await c.leaderIndex();
  const f = (leader + 1) % 3;
  // Many entries proposed through the follower f: its log holds them with origin f.
  const before = client(f);
  const deadline = () => ({ deadline: new Date(Date.now() + 10_000) });
  for (let round = 0; round < 30; round++) {
    await Promise.all(Array.from({ length: 100 }, (_, i) => call((cb) => before.Put({ key: Buffer.from(`old/${round}/${i}`), value: Buffer.from('x') }, deadline(), cb))));
  }
  await c.kill(f, 'SIGKILL');
  c.restart(f);
  // New puts through f from the moment it accepts them, while it replays its log.
  const after = client(f);
  const acked: Array<{ key: string; value: string; revision: number }> = [];
  let seq = 0;
  // Each put waits for the channel to be ready (grpc-js: a Metadata option), so the first ones are
  // in flight when the member starts serving; the puts go on for 3 s after the first answer.
  const waitForReady = new grpc.Metadata();
  waitForReady.setOptions({ waitForReady: true });
  let until = Date.now() + 30_000;
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      while (Date.now() < until) {
        const key = `new/${w}`;
        const value = `v${++seq}`;
        try {
          const res = await call<{ header: { revision: number } }>((cb) => after.Put({ key: Buffer.from(key), value: Buffer.from(value) }, waitForReady, { deadline: new Date(Date.now() + 5000) }, cb));
          if (acked.length === 0) until = Date.now() + 3000;
          acked.push({ key, value, revision: Number(res.header.revision) });
        } catch {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }),
  );
  t.true(acked.length > 20, `puts through the restarted member were acknowledged (${acked.length})`);
  const reader = client(leader);
  const wrong: string[] = [];
  for (const a of acked) {
    const res = await call<{ kvs: Array<{ value: Buffer; modRevision: number }> }>((cb) => reader.Range({ key: Buffer.from(a.key), revision: a.revision }, deadline(), cb));
    const kv = res.kvs[0];
    if (kv?.value.toString() !== a.value || Number(kv.modRevision) !== a.revision) {
      wrong.push(`${a.key}=${a.value} acknowledged at revision ${a.revision}, found ${kv?.value.toString()} at ${kv?.modRevision}`);
    }
  }
  t.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${acked.length} acknowledged puts are not where their answer says`);
  t.log(`${acked.length} puts acknowledged by the restarted member, each at its revision`);
});

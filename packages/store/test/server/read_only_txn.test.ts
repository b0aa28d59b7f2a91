// Read-only Txn (only Ranges in both branches) served like Range on a real
// 3-member mkube-store: linearizable on every member (a write acknowledged by
// one member is seen by a read-only txn on another at once), and no Raft entry
// (the Raft index does not move); a txn with any write still goes through Raft.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProto } from '@mkube/store';
import { StoreCluster } from '@mkube/testing';

// Not a failover test: a spurious election on the loaded shared machine would add a Raft entry (the new leader's empty one).
const RAFT_TIMING = ['--heartbeat-interval', '100', '--election-timeout', '3000'];

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
interface RangeRes {
  header: { revision: string | number };
  kvs: Array<{ key: Buffer; value: Buffer; modRevision: string | number }>;
}
interface TxnRes {
  header: { revision: string | number };
  succeeded: boolean;
  responses: Array<{ responseRange?: RangeRes; responsePut?: object }>;
}
interface KV extends grpc.Client {
  Put(req: object, cb: Cb<{ header: { revision: string | number } }>): void;
  Txn(req: object, cb: Cb<TxnRes>): void;
}
interface Maintenance extends grpc.Client {
  Status(req: object, cb: Cb<{ raftIndex: string | number }>): void;
}

function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

function clients(endpoints: string[]): { kv: KV[]; mt: Maintenance[]; close(): void } {
  const proto = loadEtcdProto().etcdserverpb;
  const KVC = proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials) => KV;
  const MC = proto.Maintenance as unknown as new (a: string, c: grpc.ChannelCredentials) => Maintenance;
  const kv = endpoints.map((e) => new KVC(e.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure()));
  const mt = endpoints.map((e) => new MC(e.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure()));
  return { kv, mt, close: () => [...kv, ...mt].forEach((c) => c.close()) };
}

const raftIndex = async (m: Maintenance): Promise<number> => Number((await call<{ raftIndex: string | number }>((cb) => m.Status({}, cb))).raftIndex);

/** Txn: if key's value == expect then get key else get key (read-only either way). */
function readTxn(kv: KV, key: string, expect: string, serializable = false): Promise<TxnRes> {
  const range = { requestRange: { key: Buffer.from(key), serializable } };
  return call<TxnRes>((cb) => kv.Txn({ compare: [{ key: Buffer.from(key), target: 'VALUE', result: 'EQUAL', value: Buffer.from(expect) }], success: [range], failure: [range] }, cb));
}

test.serial('a read-only txn is linearizable on every member and makes no Raft entry; a txn with a write goes through Raft', async (t) => {
  t.timeout(120_000);
  const c = await StoreCluster.start({ members: 3, extraArgs: RAFT_TIMING });
  t.teardown(() => c.stop());
  const cl = clients(c.endpoints);
  t.teardown(() => cl.close());
  await call((cb) => cl.kv[0]!.Put({ key: Buffer.from('ro/k'), value: Buffer.from('v0') }, cb));

  // Each write is acknowledged by one member; the read-only txn on the next one must see it at once.
  for (let i = 1; i <= 60; i++) {
    const writer = i % 3;
    const reader = (i + 1) % 3;
    const put = await call<{ header: { revision: string | number } }>((cb) => cl.kv[writer]!.Put({ key: Buffer.from('ro/k'), value: Buffer.from(`v${i}`) }, cb));
    const r = await readTxn(cl.kv[reader]!, 'ro/k', `v${i}`);
    t.true(r.succeeded, `round ${i}: member ${reader} sees the value acknowledged by member ${writer}`);
    t.is(r.responses[0]?.responseRange?.kvs[0]?.value.toString(), `v${i}`);
    t.true(Number(r.header.revision) >= Number(put.header.revision), `round ${i}: header revision ${r.header.revision} >= the put's ${put.header.revision}`);
  }

  // No Raft entry: the commit index of every member stays where it was over many read-only txns.
  const before = await Promise.all(cl.mt.map(raftIndex));
  for (let i = 0; i < 30; i++) {
    await readTxn(cl.kv[i % 3]!, 'ro/k', 'v60');
    await readTxn(cl.kv[i % 3]!, 'ro/k', 'v60', true);
  }
  const empty = await call<TxnRes>((cb) => cl.kv[1]!.Txn({ compare: [], success: [], failure: [] }, cb));
  t.true(empty.succeeded);
  const after = await Promise.all(cl.mt.map(raftIndex));
  t.deepEqual(after, before, 'read-only txns did not add Raft entries');

  // A write in either branch makes it a write txn: one Raft entry, a new revision (the branch taken reads).
  const revBefore = Number((await readTxn(cl.kv[2]!, 'ro/k', 'v60')).header.revision);
  const w = await call<TxnRes>((cb) =>
    cl.kv[2]!.Txn(
      {
        compare: [{ key: Buffer.from('ro/k'), target: 'VALUE', result: 'EQUAL', value: Buffer.from('v60') }],
        success: [{ requestRange: { key: Buffer.from('ro/k') } }],
        failure: [{ requestPut: { key: Buffer.from('ro/other'), value: Buffer.from('x') } }],
      },
      cb,
    ),
  );
  t.true(w.succeeded);
  t.is(Number(w.header.revision), revBefore, 'the success branch wrote nothing: same revision');
  const afterWrite = await Promise.all(cl.mt.map(raftIndex));
  t.true(afterWrite.every((x, i) => x === after[i]! + 1), `a txn with a put is one Raft entry on every member (${after} -> ${afterWrite})`);
  const w2 = await call<TxnRes>((cb) =>
    cl.kv[0]!.Txn({ compare: [], success: [{ requestRange: { key: Buffer.from('ro/k') } }, { requestPut: { key: Buffer.from('ro/k'), value: Buffer.from('v61') } }], failure: [] }, cb),
  );
  t.is(Number(w2.header.revision), revBefore + 1, 'the put in the txn made a new revision');
  t.is(w2.responses[0]?.responseRange?.kvs[0]?.value.toString(), 'v60', 'ranges see the txn start');
  const seen = await readTxn(cl.kv[1]!, 'ro/k', 'v61');
  t.true(seen.succeeded, 'another member sees the txn write at once');
});

test.serial('a serializable read-only txn is answered by a member without a quorum', async (t) => {
  t.timeout(120_000);
  const c = await StoreCluster.start({ members: 3, extraArgs: RAFT_TIMING });
  t.teardown(() => c.stop());
  const cl = clients(c.endpoints);
  t.teardown(() => cl.close());
  await call((cb) => cl.kv[0]!.Put({ key: Buffer.from('ro/s'), value: Buffer.from('kept') }, cb));
  // Every member has applied it before the others go (a linearizable read-only txn on each).
  for (const kv of cl.kv) t.true((await readTxn(kv, 'ro/s', 'kept')).succeeded);
  await c.kill(1);
  await c.kill(2);
  const r = await readTxn(cl.kv[0]!, 'ro/s', 'kept', true);
  t.true(r.succeeded);
  t.is(r.responses[0]?.responseRange?.kvs[0]?.value.toString(), 'kept');
});

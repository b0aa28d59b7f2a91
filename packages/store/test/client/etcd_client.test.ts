// EtcdClient against a real single-member etcd 3.4.

import test from 'ava';
import { status } from '@grpc/grpc-js';
import { EtcdClient, EtcdClientError, EtcdCompactedError, Compare, Op, type WatchBatch, type Watcher } from '../../src/client/index.js';
import { startEtcdCluster, type EtcdCluster } from '@mkube/testing';

let cluster: EtcdCluster;
let client: EtcdClient;

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 });
  client = new EtcdClient({ endpoints: cluster.endpoints.map((e) => `http://${e}`), dialTimeoutMs: 2000, requestTimeoutMs: 5000 });
});

test.after.always(async () => {
  client?.close();
  await cluster?.stop();
});

const s = (b: Buffer) => b.toString();

/** Collects watch events until `n` have arrived (or times out). */
function collect(w: Watcher, n: number, timeoutMs = 10_000): Promise<WatchBatch['events']> {
  return new Promise((resolve, reject) => {
    const events: WatchBatch['events'] = [];
    const timer = setTimeout(() => reject(new Error(`timeout: got ${events.length}/${n} events`)), timeoutMs);
    w.on('data', (b: WatchBatch) => {
      events.push(...b.events);
      if (events.length >= n) {
        clearTimeout(timer);
        resolve(events);
      }
    });
  });
}

test.serial('put, get and delete a key with revisions and versions', async (t) => {
  const p1 = await client.put('/crud/a', 'one');
  t.true(p1.header.revision > 0);
  t.regex(p1.header.clusterId, /^\d+$/);
  const p2 = await client.put('/crud/a', 'two', { prevKv: true });
  t.is(p2.header.revision, p1.header.revision + 1);
  t.is(s(p2.prevKv!.value), 'one');

  const g = await client.get('/crud/a');
  t.is(g.count, 1);
  t.is(s(g.kvs[0]!.value), 'two');
  t.is(g.kvs[0]!.version, 2);
  t.is(g.kvs[0]!.createRevision, p1.header.revision);
  t.is(g.kvs[0]!.modRevision, p2.header.revision);
  t.is(g.kvs[0]!.lease, '0');

  const old = await client.get('/crud/a', { revision: p1.header.revision });
  t.is(s(old.kvs[0]!.value), 'one');

  const d = await client.delete('/crud/a', { prevKv: true });
  t.is(d.deleted, 1);
  t.is(s(d.prevKvs[0]!.value), 'two');
  const gone = await client.get('/crud/a');
  t.is(gone.count, 0);
  t.deepEqual(gone.kvs, []);

  const future = await t.throwsAsync(client.get('/crud/a', { revision: d.header.revision + 1000 }), { instanceOf: EtcdClientError });
  t.is(future.code, status.OUT_OF_RANGE);
  t.is(future.etcdMessage, 'etcdserver: mvcc: required revision is a future revision');
});

test.serial('prefix, range end, limit, sort, countOnly and keysOnly', async (t) => {
  for (const k of ['b', 'a', 'c', 'd']) await client.put(`/pfx/${k}`, `v-${k}`);
  await client.put('/pfy', 'outside');

  const all = await client.get('/pfx/', { prefix: true });
  t.deepEqual(all.kvs.map((kv) => s(kv.key)), ['/pfx/a', '/pfx/b', '/pfx/c', '/pfx/d']);
  t.is(all.count, 4);

  const limited = await client.get('/pfx/', { prefix: true, limit: 2 });
  t.is(limited.kvs.length, 2);
  t.true(limited.more);
  t.is(limited.count, 4);

  const desc = await client.get('/pfx/', { prefix: true, sort: { target: 'KEY', order: 'DESCEND' } });
  t.deepEqual(desc.kvs.map((kv) => s(kv.key)), ['/pfx/d', '/pfx/c', '/pfx/b', '/pfx/a']);

  const range = await client.get('/pfx/b', { rangeEnd: '/pfx/d' });
  t.deepEqual(range.kvs.map((kv) => s(kv.key)), ['/pfx/b', '/pfx/c']);

  const count = await client.get('/pfx/', { prefix: true, countOnly: true });
  t.is(count.count, 4);
  t.is(count.kvs.length, 0);

  const keys = await client.get('/pfx/', { prefix: true, keysOnly: true });
  t.is(keys.kvs.length, 4);
  t.is(keys.kvs[0]!.value.length, 0);

  const fromKey = await client.get('/pfx/d', { fromKey: true });
  t.deepEqual(fromKey.kvs.map((kv) => s(kv.key)).filter((k) => k.startsWith('/pf')), ['/pfx/d', '/pfy']);

  const del = await client.delete('/pfx/', { prefix: true });
  t.is(del.deleted, 4);
  t.is((await client.get('/pfy')).count, 1);
});

test.serial('txn: compare on value/version/mod/create/lease, then and else branches', async (t) => {
  const p = await client.put('/txn/k', 'v1');
  const ok = await client
    .txn()
    .if(
      Compare.value('/txn/k', '=', 'v1'),
      Compare.version('/txn/k', '=', 1),
      Compare.modRevision('/txn/k', '=', p.header.revision),
      Compare.createRevision('/txn/k', '<', p.header.revision + 1),
      Compare.lease('/txn/k', '=', 0),
    )
    .then(Op.put('/txn/k', 'v2'), Op.get('/txn/k'), Op.put('/txn/other', 'x'))
    .else(Op.get('/txn/k'))
    .commit();
  t.true(ok.succeeded);
  t.is(ok.responses.length, 3);
  t.is(ok.responses[0]!.type, 'put');
  const r1 = ok.responses[1]!;
  if (r1.type !== 'range') return t.fail('expected a range response');
  t.is(s(r1.kvs[0]!.value), 'v2');
  t.is(ok.header.revision, p.header.revision + 1);

  const failed = await client
    .txn()
    .if(Compare.value('/txn/k', '=', 'v1'))
    .then(Op.put('/txn/k', 'never'))
    .else(Op.get('/txn/k'), Op.delete('/txn/other'))
    .commit();
  t.false(failed.succeeded);
  const r2 = failed.responses[0]!;
  if (r2.type !== 'range') return t.fail('expected a range response');
  t.is(s(r2.kvs[0]!.value), 'v2');
  const d = failed.responses[1]!;
  if (d.type !== 'delete') return t.fail('expected a delete response');
  t.is(d.deleted, 1);

  // A missing key has create revision 0: the classic "create if absent".
  const create = await client.txn().if(Compare.createRevision('/txn/new', '=', 0)).then(Op.put('/txn/new', 'n')).commit();
  t.true(create.succeeded);
  const again = await client.txn().if(Compare.createRevision('/txn/new', '=', 0)).then(Op.put('/txn/new', 'n2')).commit();
  t.false(again.succeeded);

  const dup = await t.throwsAsync(client.txn().then(Op.put('/txn/d', '1'), Op.put('/txn/d', '2')).commit(), { instanceOf: EtcdClientError });
  t.is(dup.code, status.INVALID_ARGUMENT);
  t.is(dup.etcdMessage, 'etcdserver: duplicate key given in txn request');
});

test.serial('compaction makes old revisions and watches from them fail with typed errors', async (t) => {
  const p1 = await client.put('/compact/k', '1');
  await client.put('/compact/k', '2');
  const p3 = await client.put('/compact/k', '3');
  await client.compact(p3.header.revision);

  const err = await t.throwsAsync(client.get('/compact/k', { revision: p1.header.revision }), { instanceOf: EtcdCompactedError });
  t.is(err.code, status.OUT_OF_RANGE);
  t.is(err.etcdMessage, 'etcdserver: mvcc: required revision has been compacted');
  t.is(s((await client.get('/compact/k')).kvs[0]!.value), '3');

  // etcd confirms the watch first, then cancels it with the compact revision.
  const w = await client.watch('/compact/k', { startRevision: p1.header.revision });
  const werr = await t.throwsAsync(
    (async () => {
      for await (const b of w) t.fail(`unexpected batch ${JSON.stringify(b.header)}`);
    })(),
    { instanceOf: EtcdCompactedError },
  );
  t.is(werr.compactRevision, p3.header.revision);
  t.true(w.isClosed);

  const again = await t.throwsAsync(client.compact(p1.header.revision), { instanceOf: EtcdClientError });
  t.is(again.etcdMessage, 'etcdserver: mvcc: required revision has been compacted');
});

test.serial('watch delivers puts and deletes with prevKv, from a start revision, with filters and progress', async (t) => {
  const p0 = await client.put('/watch/a', 'before');
  const w = await client.watch('/watch/', { prefix: true, prevKv: true });
  t.teardown(() => w.cancel());
  const got = collect(w, 3);
  await client.put('/watch/a', 'x');
  await client.put('/watch/b', 'y');
  await client.delete('/watch/a');
  const events = await got;
  t.deepEqual(
    events.map((e) => [e.type, s(e.kv.key)]),
    [
      ['PUT', '/watch/a'],
      ['PUT', '/watch/b'],
      ['DELETE', '/watch/a'],
    ],
  );
  t.is(s(events[0]!.prevKv!.value), 'before');
  t.is(s(events[2]!.prevKv!.value), 'x');
  t.is(w.nextRevision, events[2]!.kv.modRevision + 1);

  // History replay from a start revision, with DELETE events filtered out.
  const h = await client.watch('/watch/', { prefix: true, startRevision: p0.header.revision, filters: ['NODELETE'] });
  t.teardown(() => h.cancel());
  const replay = await collect(h, 3);
  t.deepEqual(
    replay.map((e) => [e.type, s(e.kv.key), s(e.kv.value)]),
    [
      ['PUT', '/watch/a', 'before'],
      ['PUT', '/watch/a', 'x'],
      ['PUT', '/watch/b', 'y'],
    ],
  );

  // Async iteration; breaking out cancels the watcher.
  const it = await client.watch('/watch/iter');
  void client.put('/watch/iter', '1');
  for await (const batch of it) {
    t.is(s(batch.events[0]!.kv.value), '1');
    break;
  }
  t.true(it.isClosed);
});

test.serial('lease grant, keep-alive, time-to-live, leases, revoke and expiry', async (t) => {
  const g = await client.leaseGrant(2);
  t.is(g.ttl, 2);
  t.regex(g.id, /^\d+$/);
  await client.put('/lease/k', 'v', { lease: g.id });
  t.is((await client.get('/lease/k')).kvs[0]!.lease, g.id);

  const ttl = await client.leaseTimeToLive(g.id, { keys: true });
  t.is(ttl.grantedTtl, 2);
  t.true(ttl.ttl > 0 && ttl.ttl <= 2);
  t.deepEqual(ttl.keys.map(s), ['/lease/k']);
  t.true((await client.leaseLeases()).leases.includes(g.id));

  // Kept alive well past its TTL.
  const keeper = await client.leaseKeepAlive(g.id);
  let renewals = 0;
  keeper.on('keepalive', () => renewals++);
  await new Promise((r) => setTimeout(r, 3500));
  t.true(renewals >= 3, `renewals: ${renewals}`);
  t.is((await client.get('/lease/k')).count, 1);

  // Revoking it makes the keeper report loss.
  await client.leaseRevoke(g.id);
  const lost = await keeper.lost;
  t.is(lost.leaseId, g.id);
  t.is((await client.get('/lease/k')).count, 0);

  // Without keep-alive a lease expires and takes its keys.
  const e = await client.leaseGrant(1);
  await client.put('/lease/e', 'v', { lease: e.id });
  const deadline = Date.now() + 8000;
  while ((await client.get('/lease/e')).count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.is((await client.get('/lease/e')).count, 0);
  t.is((await client.leaseTimeToLive(e.id)).ttl, -1);

  const nf = await t.throwsAsync(client.leaseRevoke(e.id), { instanceOf: EtcdClientError });
  t.is(nf.code, status.NOT_FOUND);
  t.is(nf.etcdMessage, 'etcdserver: requested lease not found');
  await t.throwsAsync(client.leaseKeepAlive(e.id), { message: /TTL 0/ });
  const put = await t.throwsAsync(client.put('/lease/x', 'v', { lease: e.id }), { instanceOf: EtcdClientError });
  t.is(put.etcdMessage, 'etcdserver: requested lease not found');
});

test.serial('member list and status', async (t) => {
  const ml = await client.memberList();
  t.is(ml.members.length, 1);
  t.is(ml.members[0]!.name, 'm0');
  t.deepEqual(ml.members[0]!.clientURLs, [cluster.members[0]!.clientURL]);
  t.deepEqual(ml.members[0]!.peerURLs, [cluster.members[0]!.peerURL]);
  t.is(ml.members[0]!.id, ml.header.memberId);

  const st = await client.status();
  t.regex(st.version, /^3\.4\./);
  t.is(st.leader, ml.members[0]!.id);
  t.true(st.raftIndex > 0);
  t.true(st.dbSize > 0);
  t.false(st.isLearner);
  const pinned = await client.status(cluster.endpoints[0]!);
  t.is(pinned.header.memberId, st.header.memberId);
});

test.serial('errors are typed: empty key and unreachable endpoints', async (t) => {
  const empty = await t.throwsAsync(client.put('', 'v'), { instanceOf: EtcdClientError });
  t.is(empty.code, status.INVALID_ARGUMENT);
  t.is(empty.etcdMessage, 'etcdserver: key is not provided');

  const dead = new EtcdClient({ endpoints: ['127.0.0.1:1'], dialTimeoutMs: 300, maxAttempts: 2 });
  t.teardown(() => dead.close());
  const err = await t.throwsAsync(dead.get('a'), { instanceOf: EtcdClientError });
  t.is(err.code, status.UNAVAILABLE);
});

// The etcd v3 service layer over real gRPC with a real gRPC client, on the
// in-memory FakeBackend: validation, etcd 3.4 error codes/messages, headers,
// watch and keep-alive stream semantics; plus etcdctl 3.4 and EtcdClient smoke tests.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { addEtcdServices } from '../../src/server/services/index.js';
import { loadEtcdProto } from '../../src/api/etcd_proto.js';
import type { EtcdErrorName } from '../../src/server/backend.js';
import type { WatchResponse__Output } from '../../src/gen/etcdserverpb/WatchResponse.js';
import type { WatchRequest } from '../../src/gen/etcdserverpb/WatchRequest.js';
import type { LeaseKeepAliveResponse__Output } from '../../src/gen/etcdserverpb/LeaseKeepAliveResponse.js';
import type { LeaseKeepAliveRequest } from '../../src/gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { RequestOp } from '../../src/gen/etcdserverpb/RequestOp.js';
import { EtcdClient, Compare, Op } from '../../src/client/index.js';
import { FakeBackend } from './fake_backend.js';

const execFileP = promisify(execFile);
const pkg = loadEtcdProto().etcdserverpb;
const S = grpc.status;

interface Harness {
  backend: FakeBackend;
  address: string;
  kv: InstanceType<typeof pkg.KV>;
  watch: InstanceType<typeof pkg.Watch>;
  lease: InstanceType<typeof pkg.Lease>;
  cluster: InstanceType<typeof pkg.Cluster>;
  maintenance: InstanceType<typeof pkg.Maintenance>;
}

async function start(t: ExecutionContext, maxRequestBytes = 1.5 * 1024 * 1024): Promise<Harness> {
  const backend = new FakeBackend();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxRequestBytes + 512 * 1024 });
  addEtcdServices(server, backend, { maxRequestBytes });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const h: Harness = {
    backend,
    address,
    kv: new pkg.KV(address, creds),
    watch: new pkg.Watch(address, creds),
    lease: new pkg.Lease(address, creds),
    cluster: new pkg.Cluster(address, creds),
    maintenance: new pkg.Maintenance(address, creds),
  };
  t.teardown(() => {
    for (const c of [h.kv, h.watch, h.lease, h.cluster, h.maintenance]) c.close();
    server.forceShutdown();
  });
  return h;
}

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

function call<Req, Res>(fn: Unary<Req, Res>, self: object, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(self, req, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

async function expectError(t: ExecutionContext, p: Promise<unknown>, code: grpc.status, details: string): Promise<void> {
  const err = (await t.throwsAsync(p)) as grpc.ServiceError;
  t.is(err.code, code, `code for "${details}"`);
  t.is(err.details, details);
}

const b = (s: string) => Buffer.from(s);

test('KV: CRUD round trip with response headers from the backend', async (t) => {
  const h = await start(t);
  const put = await call(h.kv.Put, h.kv, { key: b('a'), value: b('1') });
  t.deepEqual(put.header, { clusterId: 1001, memberId: 2002, revision: 2, raftTerm: 3 });
  const got = await call(h.kv.Range, h.kv, { key: b('a') });
  t.is(got.kvs[0]!.value.toString(), '1');
  t.is(got.count, 1);
  t.is(got.header!.revision, 2);
  const del = await call(h.kv.DeleteRange, h.kv, { key: b('a'), prevKv: true });
  t.is(del.deleted, 1);
  t.is(del.prevKvs[0]!.value.toString(), '1');
  t.is(del.header!.revision, 3);
  const comp = await call(h.kv.Compact, h.kv, { revision: 2 });
  t.is(comp.header!.memberId, 2002);
});

test('KV: empty keys, ignore_value / ignore_lease misuse and request size are rejected like etcd', async (t) => {
  const h = await start(t, 64 * 1024);
  const empty = 'etcdserver: key is not provided';
  await expectError(t, call(h.kv.Range, h.kv, {}), S.INVALID_ARGUMENT, empty);
  await expectError(t, call(h.kv.Put, h.kv, { value: b('v') }), S.INVALID_ARGUMENT, empty);
  await expectError(t, call(h.kv.DeleteRange, h.kv, {}), S.INVALID_ARGUMENT, empty);
  await expectError(t, call(h.kv.Txn, h.kv, { compare: [{ key: b(''), target: 'VERSION', version: 0 }] }), S.INVALID_ARGUMENT, empty);
  await expectError(t, call(h.kv.Txn, h.kv, { success: [{ requestPut: { key: b('') } }] }), S.INVALID_ARGUMENT, empty);
  await expectError(t, call(h.kv.Put, h.kv, { key: b('k'), value: b('v'), ignoreValue: true }), S.INVALID_ARGUMENT, 'etcdserver: value is provided');
  await expectError(t, call(h.kv.Put, h.kv, { key: b('k'), lease: 5, ignoreLease: true }), S.INVALID_ARGUMENT, 'etcdserver: lease is provided');
  await expectError(t, call(h.kv.Put, h.kv, { key: b('k'), ignoreValue: true }), S.INVALID_ARGUMENT, 'etcdserver: key not found');

  const big = Buffer.alloc(64 * 1024 + 1, 0x61);
  await expectError(t, call(h.kv.Put, h.kv, { key: b('big'), value: big }), S.INVALID_ARGUMENT, 'etcdserver: request is too large');
  await expectError(t, call(h.kv.Txn, h.kv, { success: [{ requestPut: { key: b('big'), value: big } }] }), S.INVALID_ARGUMENT, 'etcdserver: request is too large');
  // Just below the limit is fine.
  await call(h.kv.Put, h.kv, { key: b('ok'), value: Buffer.alloc(60 * 1024) });
  t.is(h.backend.revision, 2);
});

test('Txn: op count limit and duplicate keys (puts, put vs delete range, nested txns)', async (t) => {
  const h = await start(t);
  const put = (k: string): RequestOp => ({ requestPut: { key: b(k), value: b('v') } });
  const many = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
  await expectError(t, call(h.kv.Txn, h.kv, { success: many }), S.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request');
  await expectError(
    t,
    call(h.kv.Txn, h.kv, { compare: Array.from({ length: 129 }, (_, i) => ({ key: b(`c${i}`) })) }),
    S.INVALID_ARGUMENT,
    'etcdserver: too many operations in txn request',
  );
  const ok128 = await call(h.kv.Txn, h.kv, { success: many.slice(0, 128) });
  t.true(ok128.succeeded);
  t.is(ok128.responses.length, 128);

  const dup = 'etcdserver: duplicate key given in txn request';
  await expectError(t, call(h.kv.Txn, h.kv, { success: [put('x'), put('x')] }), S.INVALID_ARGUMENT, dup);
  await expectError(t, call(h.kv.Txn, h.kv, { failure: [put('x'), put('x')] }), S.INVALID_ARGUMENT, dup);
  await expectError(
    t,
    call(h.kv.Txn, h.kv, { success: [{ requestDeleteRange: { key: b('p/'), rangeEnd: b('p0') } }, put('p/a')] }),
    S.INVALID_ARGUMENT,
    dup,
  );
  await expectError(t, call(h.kv.Txn, h.kv, { success: [put('n'), { requestTxn: { success: [put('n')] } }] }), S.INVALID_ARGUMENT, dup);
  // Allowed: the same key in success and failure, in both branches of a nested txn, two overlapping deletes, reads.
  const allowed = await call(h.kv.Txn, h.kv, {
    success: [
      put('y'),
      { requestTxn: { success: [put('z')], failure: [put('z')] } },
      { requestDeleteRange: { key: b('q'), rangeEnd: b('r') } },
      { requestDeleteRange: { key: b('q'), rangeEnd: b('s') } },
      { requestRange: { key: b('y') } },
    ],
    failure: [put('y')],
  });
  t.true(allowed.succeeded);
  t.is(allowed.responses.length, 5);
});

test('backend EtcdErrors map to etcd 3.4 gRPC codes and messages', async (t) => {
  const h = await start(t);
  const table: Array<[EtcdErrorName, grpc.status, string]> = [
    ['Compacted', S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
    ['FutureRev', S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
    ['NoLeader', S.UNAVAILABLE, 'etcdserver: no leader'],
    ['NotLeader', S.FAILED_PRECONDITION, 'etcdserver: not leader'],
    ['LeaderChanged', S.UNAVAILABLE, 'etcdserver: leader changed'],
    ['Timeout', S.UNAVAILABLE, 'etcdserver: request timed out'],
    ['TimeoutDueToLeaderFail', S.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'],
    ['Stopped', S.UNAVAILABLE, 'etcdserver: server stopped'],
    ['TooManyRequests', S.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
    ['NoSpace', S.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
    ['RequestTooLarge', S.INVALID_ARGUMENT, 'etcdserver: request is too large'],
    ['KeyNotFound', S.INVALID_ARGUMENT, 'etcdserver: key not found'],
    ['LeaseNotFound', S.NOT_FOUND, 'etcdserver: requested lease not found'],
    ['LeaseExist', S.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
    ['LeaseTTLTooLarge', S.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
    ['MemberExist', S.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
    ['PeerURLExist', S.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
    ['MemberNotFound', S.NOT_FOUND, 'etcdserver: member not found'],
    ['MemberNotLearner', S.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
    ['LearnerNotReady', S.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'],
    ['TooManyLearners', S.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],
    ['UnhealthyCluster', S.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
    ['NotCapable', S.UNAVAILABLE, 'etcdserver: not capable'],
    ['Corrupt', S.DATA_LOSS, 'etcdserver: corrupt cluster'],
  ];
  for (const [name, code, message] of table) {
    h.backend.failNext = name;
    await expectError(t, call(h.kv.Range, h.kv, { key: b('k') }), code, message);
  }
  // The same mapping on other services.
  h.backend.failNext = 'NoLeader';
  await expectError(t, call(h.lease.LeaseGrant, h.lease, { TTL: 5 }), S.UNAVAILABLE, 'etcdserver: no leader');
  h.backend.failNext = 'Timeout';
  await expectError(t, call(h.cluster.MemberList, h.cluster, {}), S.UNAVAILABLE, 'etcdserver: request timed out');
  // Real MVCC outcomes through the fake.
  await call(h.kv.Put, h.kv, { key: b('k'), value: b('1') });
  await call(h.kv.Put, h.kv, { key: b('k'), value: b('2') });
  await call(h.kv.Compact, h.kv, { revision: 3 });
  await expectError(t, call(h.kv.Range, h.kv, { key: b('k'), revision: 2 }), S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
  await expectError(t, call(h.kv.Range, h.kv, { key: b('k'), revision: 99 }), S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
});

test('Lease: grant/revoke/time-to-live/leases and TTL limit', async (t) => {
  const h = await start(t);
  await expectError(t, call(h.lease.LeaseGrant, h.lease, { TTL: 9_000_000_001 }), S.OUT_OF_RANGE, 'etcdserver: too large lease TTL');
  const g = await call(h.lease.LeaseGrant, h.lease, { TTL: 9_000_000_000 });
  t.is(g.TTL, 9_000_000_000);
  t.is(g.error, '');
  t.is(g.header!.memberId, 2002);
  const g2 = await call(h.lease.LeaseGrant, h.lease, { TTL: 10, ID: 42 });
  t.is(g2.ID, 42);
  await expectError(t, call(h.lease.LeaseGrant, h.lease, { TTL: 10, ID: 42 }), S.FAILED_PRECONDITION, 'etcdserver: lease already exists');
  await call(h.kv.Put, h.kv, { key: b('leased'), value: b('v'), lease: 42 });
  const ttl = await call(h.lease.LeaseTimeToLive, h.lease, { ID: 42, keys: true });
  t.deepEqual([ttl.ID, ttl.TTL, ttl.grantedTTL, ttl.keys.map(String)], [42, 10, 10, ['leased']]);
  const leases = await call(h.lease.LeaseLeases, h.lease, {});
  t.deepEqual(leases.leases.map((l) => l.ID).sort((a, c) => a - c), [42, g.ID].sort((a, c) => a - c));
  await call(h.lease.LeaseRevoke, h.lease, { ID: 42 });
  t.is((await call(h.kv.Range, h.kv, { key: b('leased') })).count, 0);
  await expectError(t, call(h.lease.LeaseRevoke, h.lease, { ID: 42 }), S.NOT_FOUND, 'etcdserver: requested lease not found');
  const gone = await call(h.lease.LeaseTimeToLive, h.lease, { ID: 42 });
  t.is(gone.TTL, -1);
  t.is(gone.ID, 42);
  await expectError(t, call(h.kv.Put, h.kv, { key: b('x'), value: b('v'), lease: 42 }), S.NOT_FOUND, 'etcdserver: requested lease not found');
});

test('LeaseKeepAlive stream answers each request in order, TTL 0 for unknown leases', async (t) => {
  const h = await start(t);
  await call(h.lease.LeaseGrant, h.lease, { TTL: 7, ID: 10 });
  await call(h.lease.LeaseGrant, h.lease, { TTL: 9, ID: 11 });
  const stream = h.lease.LeaseKeepAlive() as grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output>;
  const got: Array<[number, number]> = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (r: LeaseKeepAliveResponse__Output) => {
      got.push([r.ID, r.TTL]);
      t.is(r.header!.clusterId, 1001);
      if (got.length === 4) resolve();
    });
    stream.on('error', reject);
  });
  for (const id of [10, 99, 11, 10]) stream.write({ ID: id });
  await done;
  t.deepEqual(got, [
    [10, 7],
    [99, 0],
    [11, 9],
    [10, 7],
  ]);
  stream.end();
});

interface WatchProbe {
  stream: grpc.ClientDuplexStream<WatchRequest, WatchResponse__Output>;
  next(): Promise<WatchResponse__Output>;
}

function watchProbe(h: Harness): WatchProbe {
  const stream = h.watch.Watch() as grpc.ClientDuplexStream<WatchRequest, WatchResponse__Output>;
  const queue: WatchResponse__Output[] = [];
  const waiters: Array<(r: WatchResponse__Output) => void> = [];
  stream.on('data', (r: WatchResponse__Output) => {
    const w = waiters.shift();
    if (w) w(r);
    else queue.push(r);
  });
  stream.on('error', () => undefined);
  return {
    stream,
    next: () =>
      new Promise((resolve, reject) => {
        const q = queue.shift();
        if (q) return resolve(q);
        const timer = setTimeout(() => reject(new Error('no watch response within 5 s')), 5000);
        waiters.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
      }),
  };
}

test('Watch: ids from 0, created first, events, progress, cancel, duplicate id, compaction', async (t) => {
  const h = await start(t);
  const p = watchProbe(h);
  t.teardown(() => p.stream.cancel());

  p.stream.write({ createRequest: { key: b('w/'), rangeEnd: b('w0'), prevKv: true } });
  const c0 = await p.next();
  t.true(c0.created);
  t.is(c0.watchId, 0);
  t.is(c0.header!.revision, 1);
  p.stream.write({ createRequest: { key: b('w/a'), filters: ['NOPUT'] } });
  const c1 = await p.next();
  t.true(c1.created);
  t.is(c1.watchId, 1);

  await call(h.kv.Put, h.kv, { key: b('w/a'), value: b('1') });
  await call(h.kv.Put, h.kv, { key: b('w/a'), value: b('2') });
  await call(h.kv.DeleteRange, h.kv, { key: b('w/a') });
  const e1 = await p.next();
  t.is(e1.watchId, 0);
  t.deepEqual(e1.events.map((e) => [e.type, e.kv!.value.toString(), e.kv!.modRevision]), [['PUT', '1', 2]]);
  t.is(e1.header!.revision, 2);
  const e2 = await p.next();
  t.is(e2.events[0]!.prevKv!.value.toString(), '1');
  const e3 = await p.next();
  t.is(e3.watchId, 0);
  t.is(e3.events[0]!.type, 'DELETE');
  const e4 = await p.next();
  t.is(e4.watchId, 1, 'the NOPUT watcher only sees the delete');
  t.is(e4.events[0]!.type, 'DELETE');
  t.is(e4.events[0]!.prevKv, null, 'no prev_kv unless asked for');

  // Progress request: a progress response (no events) per watcher at the current revision.
  p.stream.write({ progressRequest: {} });
  const pr = [await p.next(), await p.next()];
  t.deepEqual(pr.map((r) => [r.watchId, r.events.length, r.header!.revision]).sort(), [
    [0, 0, 4],
    [1, 0, 4],
  ]);

  // Cancel.
  p.stream.write({ cancelRequest: { watchId: 1 } });
  const cancelled = await p.next();
  t.true(cancelled.canceled);
  t.is(cancelled.watchId, 1);
  t.is(h.backend.watcherCount, 1);

  // A requested id: used if free, rejected if taken.
  p.stream.write({ createRequest: { key: b('x'), watchId: 7 } });
  const c7 = await p.next();
  t.is(c7.watchId, 7);
  t.true(c7.created);
  p.stream.write({ createRequest: { key: b('x'), watchId: 7 } });
  const dupId = await p.next();
  t.is(dupId.watchId, -1);
  t.true(dupId.created && dupId.canceled);

  // History replay from a start revision, delivered after `created`.
  p.stream.write({ createRequest: { key: b('w/a'), startRevision: 2 } });
  const c2 = await p.next();
  t.true(c2.created);
  t.is(c2.watchId, 2);
  const replay = await p.next();
  t.deepEqual(replay.events.map((e) => e.kv!.modRevision), [2, 3, 4]);

  // Compacted start revision: created, then compact_revision + canceled.
  await call(h.kv.Compact, h.kv, { revision: 3 });
  p.stream.write({ createRequest: { key: b('w/a'), startRevision: 2 } });
  const c3 = await p.next();
  t.true(c3.created);
  t.is(c3.watchId, 3);
  const comp = await p.next();
  t.is(comp.watchId, 3);
  t.true(comp.canceled);
  t.is(comp.compactRevision, 3);

  // Closing the stream cancels its watchers in the backend.
  p.stream.end();
  const deadline = Date.now() + 3000;
  while (h.backend.watcherCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(h.backend.watcherCount, 0);
});

test('Cluster and Maintenance: member errors, bad URLs, status', async (t) => {
  const h = await start(t);
  const list = await call(h.cluster.MemberList, h.cluster, {});
  t.deepEqual(list.members.map((m) => [m.ID, m.name]), [[2002, 'fake']]);
  t.is(list.header!.clusterId, 1001);
  await expectError(t, call(h.cluster.MemberAdd, h.cluster, { peerURLs: ['http://127.0.0.1:2380'] }), S.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists');
  await expectError(t, call(h.cluster.MemberAdd, h.cluster, { peerURLs: ['not a url'] }), S.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid');
  await expectError(t, call(h.cluster.MemberAdd, h.cluster, { peerURLs: [] }), S.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid');
  const added = await call(h.cluster.MemberAdd, h.cluster, { peerURLs: ['http://127.0.0.1:2390'], isLearner: true });
  t.true(added.member!.isLearner);
  t.is(added.members.length, 2);
  await expectError(t, call(h.cluster.MemberPromote, h.cluster, { ID: 2002 }), S.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member');
  await expectError(
    t,
    call(h.cluster.MemberPromote, h.cluster, { ID: added.member!.ID }),
    S.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  );
  h.backend.learnersReady = true;
  const promoted = await call(h.cluster.MemberPromote, h.cluster, { ID: added.member!.ID });
  t.false(promoted.members.find((m) => m.ID === added.member!.ID)!.isLearner);
  const updated = await call(h.cluster.MemberUpdate, h.cluster, { ID: added.member!.ID, peerURLs: ['http://127.0.0.1:2391'] });
  t.deepEqual(updated.members.find((m) => m.ID === added.member!.ID)!.peerURLs, ['http://127.0.0.1:2391']);
  await call(h.cluster.MemberRemove, h.cluster, { ID: added.member!.ID });
  await expectError(t, call(h.cluster.MemberRemove, h.cluster, { ID: added.member!.ID }), S.NOT_FOUND, 'etcdserver: member not found');

  const st = await call(h.maintenance.Status, h.maintenance, {});
  t.is(st.version, '3.4.0');
  t.is(st.leader, 2002);
  t.is(st.raftIndex, 42);
  t.is(st.header!.memberId, 2002);
  const alarms = await call(h.maintenance.Alarm, h.maintenance, { action: 'GET' });
  t.deepEqual(alarms.alarms, []);
});

test('etcdctl 3.4 talks to the service layer', async (t) => {
  const h = await start(t);
  const ctl = async (...args: string[]) => (await execFileP('/usr/bin/etcdctl', ['--endpoints', h.address, ...args], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout;
  t.is((await ctl('put', '/ctl/a', 'hello')).trim(), 'OK');
  t.is(await ctl('get', '/ctl/a'), '/ctl/a\nhello\n');
  await ctl('put', '/ctl/b', 'world');
  t.is(await ctl('get', '/ctl/', '--prefix', '--keys-only'), '/ctl/a\n\n/ctl/b\n\n');
  const json = JSON.parse(await ctl('get', '/ctl/a', '-w', 'json')) as { header: { revision: number; member_id: number }; kvs: Array<{ version: number }> };
  t.is(json.header.revision, 3);
  t.is(json.header.member_id, 2002);
  t.is(json.kvs[0]!.version, 1);
  t.is((await ctl('del', '/ctl/', '--prefix')).trim(), '2');
  const lease = await ctl('lease', 'grant', '30');
  t.regex(lease, /lease [0-9a-f]+ granted with TTL\(30s\)/);
  t.regex(await ctl('member', 'list'), /7d2, started, fake, http:\/\/127.0.0.1:2380, http:\/\/127.0.0.1:2379, false/);
  t.regex(await ctl('endpoint', 'status'), /3\.4\.0/);
  const err = await t.throwsAsync(ctl('put', '', 'v'));
  t.regex(String((err as { stderr?: string }).stderr), /key is not provided/);
});

test('EtcdClient works against the service layer (txn, watch, keep-alive)', async (t) => {
  const h = await start(t);
  const client = new EtcdClient({ endpoints: [h.address] });
  t.teardown(() => client.close());
  const w = await client.watch('/c/', { prefix: true });
  const seen: string[] = [];
  w.on('data', (batch: { events: Array<{ kv: { key: Buffer } }> }) => seen.push(...batch.events.map((e) => e.kv.key.toString())));
  await client.put('/c/a', '1');
  const r = await client.txn().if(Compare.value('/c/a', '=', '1')).then(Op.put('/c/b', '2'), Op.get('/c/a')).commit();
  t.true(r.succeeded);
  const lease = await client.leaseGrant(30);
  const keeper = await client.leaseKeepAlive(lease.id);
  t.is(keeper.ttl, 30);
  keeper.close();
  const deadline = Date.now() + 3000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  t.deepEqual(seen, ['/c/a', '/c/b']);
  w.cancel();
});

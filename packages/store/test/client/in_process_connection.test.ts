// EtcdClient over an InProcessConnection to a real member (Raft + LevelDB in
// this process) answers exactly as the same client over the member's gRPC
// listener: results, etcd error codes and messages, watch semantics (created,
// events, compaction), lease keep-alive, and UNAVAILABLE once closed.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { parseFlags } from '../../src/server/config.js';
import { startStore, type RunningStore } from '../../src/server/store_server.js';
import { Compare, EtcdClient, EtcdClientError, EtcdCompactedError, Op, type WatchBatch } from '../../src/client/index.js';
import { freePort } from '../helpers/etcd_process.js';

async function member(t: ExecutionContext): Promise<{ store: RunningStore; endpoint: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-inproc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true })); // runs after the test's own teardowns (LIFO)
  const [client, peer] = [await freePort(), await freePort()];
  const parsed = parseFlags([
    '--name', 'm1', '--data-dir', dir,
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
  ]);
  if (parsed.kind !== 'run') throw new Error('flags');
  const store = await startStore(parsed.config, pino({ level: 'warn' }));
  for (let i = 0; i < 200 && store.member.unhealthyReason(); i++) await new Promise((r) => setTimeout(r, 25));
  return { store, endpoint: `127.0.0.1:${client}` };
}

async function errorOf(p: Promise<unknown>): Promise<EtcdClientError> {
  try {
    await p;
  } catch (err) {
    return err as EtcdClientError;
  }
  throw new Error('expected an error');
}

test('in-process and gRPC clients of one member give the same answers and errors', async (t) => {
  const { store, endpoint } = await member(t);
  const inproc = new EtcdClient({ endpoints: [endpoint], connections: [store.connectInProcess()] });
  const remote = new EtcdClient({ endpoints: [endpoint] });
  t.teardown(async () => {
    inproc.close();
    remote.close();
    await store.stop(false);
  });

  // Writes through one are seen by the other, with the same revisions.
  const p1 = await inproc.put('/a/1', 'one');
  const p2 = await remote.put('/a/2', 'two');
  t.is(p2.header.revision, p1.header.revision + 1);
  const [g1, g2] = [await inproc.get('/a/', { prefix: true }), await remote.get('/a/', { prefix: true })];
  t.deepEqual(g1.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision]), g2.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision]));
  t.is(g1.header.revision, g2.header.revision);
  t.is(g1.header.memberId, g2.header.memberId);

  // Compare-and-swap.
  const ok = await inproc.txn().if(Compare.modRevision('/a/1', '=', p1.header.revision)).then(Op.put('/a/1', 'uno')).commit();
  t.true(ok.succeeded);
  const stale = await inproc.txn().if(Compare.modRevision('/a/1', '=', p1.header.revision)).then(Op.put('/a/1', 'eins')).commit();
  t.false(stale.succeeded);

  // etcd's errors, code and message, through both.
  for (const c of [inproc, remote]) {
    const tooBig = await errorOf(c.put('/big', Buffer.alloc(1.6 * 1024 * 1024)));
    t.is(tooBig.code, grpc.status.INVALID_ARGUMENT);
    t.regex(tooBig.message, /etcdserver: request is too large/);
    const future = await errorOf(c.get('/a/1', { revision: 1_000_000 }));
    t.is(future.code, grpc.status.OUT_OF_RANGE);
    t.regex(future.message, /required revision is a future revision/);
    const noLease = await errorOf(c.leaseRevoke('12345'));
    t.is(noLease.code, grpc.status.NOT_FOUND);
  }

  // Watch: events in order; after compaction an old start revision is refused with the compact revision.
  const w = await inproc.watch('/w/', { prefix: true, prevKv: true });
  const seen: string[] = [];
  w.on('data', (b: WatchBatch) => seen.push(...b.events.map((e) => `${e.type}:${e.kv.key.toString()}=${e.kv.value.toString()}`)));
  await remote.put('/w/x', '1');
  await inproc.put('/w/x', '2');
  await inproc.delete('/w/x');
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(seen, ['PUT:/w/x=1', 'PUT:/w/x=2', 'DELETE:/w/x=']);
  w.cancel();
  const head = (await inproc.get('/w/x')).header.revision;
  await inproc.compact(head);
  const old = await inproc.watch('/a/', { prefix: true, startRevision: 2 });
  const compacted = await new Promise<Error>((resolve) => old.once('error', resolve));
  t.true(compacted instanceof EtcdCompactedError);
  t.is((compacted as EtcdCompactedError).compactRevision, head);

  // Lease keep-alive over the bidirectional stream; the leased key goes with the lease.
  const lease = await inproc.leaseGrant(30);
  await inproc.put('/l/k', 'v', { lease: lease.id });
  const keeper = await inproc.leaseKeepAlive(lease.id);
  t.is(keeper.ttl, 30);
  keeper.close();
  await inproc.leaseRevoke(lease.id);
  t.is((await remote.get('/l/k')).kvs.length, 0);
});

test('a closed in-process connection fails requests with UNAVAILABLE; stopping the store closes it', async (t) => {
  const { store, endpoint } = await member(t);
  const conn = store.connectInProcess();
  const client = new EtcdClient({ endpoints: [endpoint], connections: [conn], maxAttempts: 1 });
  t.teardown(() => client.close());
  await client.put('/k', 'v');
  t.is((await client.get('/k')).kvs[0]?.value.toString(), 'v');
  await store.stop(false);
  const err = await errorOf(client.get('/k'));
  t.is(err.code, grpc.status.UNAVAILABLE);
  t.regex(err.message, /in-process connection closed/);
});

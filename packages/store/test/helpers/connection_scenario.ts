// The same answers through a connection that skips the socket (in-process or to a
// worker thread) as through the member's gRPC listener: results, etcd error codes and
// messages, watch semantics (created, events, compaction) and lease keep-alive.
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Compare, EtcdClient, EtcdClientError, EtcdCompactedError, Op, type WatchBatch } from '../../src/client/index.js';

export async function errorOf(p: Promise<unknown>): Promise<EtcdClientError> {
  try {
    await p;
  } catch (err) {
    return err as EtcdClientError;
  }
  throw new Error('expected an error');
}

/** `inproc` and `remote` are clients of the same single member. */
export async function assertSameAnswers(t: ExecutionContext, inproc: EtcdClient, remote: EtcdClient): Promise<void> {
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
}

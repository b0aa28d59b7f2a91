// EtcdClient against a real 3-member etcd 3.4 cluster: failover, watch resume
// after the member the watch was connected to dies, keep-alive across it.

import test from 'ava';
import { EtcdClient, type WatchBatch, type WatchEvent } from '../../src/client/index.js';
import { startEtcdCluster } from '@mkube/testing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial('watch resumes on another member after its member is killed: no event lost or duplicated', async (t) => {
  const cluster = await startEtcdCluster({ members: 3 });
  t.teardown(() => cluster.stop());
  // The watcher starts on member 0; the writer uses members 1 and 2 only.
  const watchClient = new EtcdClient({ endpoints: cluster.endpoints, dialTimeoutMs: 1000 });
  t.teardown(() => watchClient.close());
  const writer = new EtcdClient({ endpoints: cluster.endpoints.slice(1), dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
  t.teardown(() => writer.close());

  const w = await watchClient.watch('/resume/', { prefix: true });
  t.is(w.endpoint, cluster.endpoints[0]);
  const events: WatchEvent[] = [];
  let reconnects = 0;
  w.on('data', (b: WatchBatch) => events.push(...b.events));
  w.on('reconnecting', () => reconnects++);

  const total = 60;
  const written: number[] = [];
  const writes = (async () => {
    for (let i = 0; i < total; i++) {
      // Retry a write only when it failed before being applied is unknowable here,
      // so check by reading back on failure (a leader change can time out a write).
      for (;;) {
        try {
          const r = await writer.put(`/resume/k${i % 7}`, `v${i}`);
          written.push(r.header.revision);
          break;
        } catch {
          const back = await writer.get(`/resume/k${i % 7}`).catch(() => undefined);
          if (back && back.kvs[0]?.value.toString() === `v${i}`) {
            written.push(back.kvs[0].modRevision);
            break;
          }
          await sleep(100);
        }
      }
      if (i === 20) await cluster.members[0]!.kill();
      await sleep(10);
    }
  })();
  await writes;

  const deadline = Date.now() + 15_000;
  while (events.length < total && Date.now() < deadline) await sleep(50);
  t.true(reconnects >= 1, 'the watch stream was re-created');
  t.true(w.resumes >= 1);
  t.not(w.endpoint, cluster.endpoints[0]);
  const revs = events.map((e) => e.kv.modRevision);
  t.deepEqual(revs, [...written].sort((a, b) => a - b), 'every write seen exactly once, in order');
  t.deepEqual(
    events.map((e) => e.kv.value.toString()),
    Array.from({ length: total }, (_, i) => `v${i}`),
  );
  w.cancel();
});

test.serial('reads fail over to a live member; keep-alive survives the loss of its member; member list and status', async (t) => {
  const cluster = await startEtcdCluster({ members: 3 });
  t.teardown(() => cluster.stop());
  const client = new EtcdClient({ endpoints: cluster.endpoints, dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
  t.teardown(() => client.close());

  const ml = await client.memberList();
  t.is(ml.members.length, 3);
  t.deepEqual(ml.members.map((m) => m.name).sort(), ['m0', 'm1', 'm2']);
  const statuses = await Promise.all(cluster.endpoints.map((e) => client.status(e)));
  t.is(new Set(statuses.map((s) => s.leader)).size, 1, 'all members agree on the leader');
  t.true(ml.members.some((m) => m.id === statuses[0]!.leader));

  await client.put('/failover/k', 'v');
  const lease = await client.leaseGrant(3);
  const keeper = await client.leaseKeepAlive(lease.id);
  await client.put('/failover/leased', 'x', { lease: lease.id });
  let lost = false;
  keeper.on('lost', () => (lost = true));

  t.is(client.currentEndpoint, cluster.endpoints[0]);
  await cluster.members[0]!.kill();

  const r = await client.get('/failover/k');
  t.is(r.kvs[0]!.value.toString(), 'v');
  t.not(client.currentEndpoint, cluster.endpoints[0]);
  // A write after failover works too (it reaches a live member; the dead one refuses connections).
  await client.put('/failover/k2', 'v2');

  // Outlive the lease TTL twice: the keeper moved to a live member.
  await sleep(6500);
  t.false(lost);
  t.is((await client.get('/failover/leased')).count, 1);
  const ttl = await client.leaseTimeToLive(lease.id);
  t.true(ttl.ttl > 0);

  keeper.close();
  await client.leaseRevoke(lease.id);
  t.is((await client.get('/failover/leased')).count, 0);

  const ml2 = await client.memberList();
  t.is(ml2.members.length, 3, 'a killed member is still a member');
});

test.serial('member add (as learner), promote fails until in sync, remove', async (t) => {
  const cluster = await startEtcdCluster({ members: 1 });
  t.teardown(() => cluster.stop());
  const client = new EtcdClient({ endpoints: cluster.endpoints });
  t.teardown(() => client.close());

  const added = await client.memberAdd(['http://127.0.0.1:1'], { isLearner: true });
  t.true(added.member.isLearner);
  t.deepEqual(added.member.peerURLs, ['http://127.0.0.1:1']);
  t.is(added.members.length, 2);
  const err = await t.throwsAsync(client.memberPromote(added.member.id));
  t.regex((err as Error).message, /can only promote a learner member which is in sync with leader/);
  const dup = await t.throwsAsync(client.memberAdd(['http://127.0.0.1:1']));
  t.regex((dup as Error).message, /Peer URLs already exists|member ID already exist/);
  const removed = await client.memberRemove(added.member.id);
  t.is(removed.members.length, 1);
  const nf = await t.throwsAsync(client.memberRemove(added.member.id));
  t.regex((nf as Error).message, /member not found/);
});

// etcd's maintenance and revision behaviour on a real 3-member mkube-store,
// through Debian's etcdctl 3.4 — compared with a real etcd 3.4 where the
// behaviour is subtle (revision numbering, HashKV values, alarm output):
// revisions, HashKV on every member, MoveLeader and its errors, Defragment,
// the NOSPACE alarm, the corruption check, auto compaction.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ClassicLevel } from 'classic-level';
import { StoreCluster, startEtcdCluster, type EtcdCluster } from '@mkube/testing';
import { loadEtcdProto } from '../../src/api/etcd_proto.js';

const run = promisify(execFile);

async function startStore(t: ExecutionContext, extraArgs: string[] = []): Promise<StoreCluster> {
  const c = await StoreCluster.start({ members: 3, extraArgs });
  t.teardown(() => c.stop());
  return c;
}

async function startEtcd(t: ExecutionContext, extraArgs: string[] = []): Promise<EtcdCluster> {
  const c = await startEtcdCluster({ members: 1, extraArgs });
  t.teardown(() => c.stop());
  await c.waitForLeader();
  return c;
}

async function ctl(endpoints: string[], args: string[], timeout = '10s'): Promise<string> {
  const { stdout } = await run('etcdctl', [`--endpoints=${endpoints.join(',')}`, `--command-timeout=${timeout}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

/** etcdctl's error line (without the client's JSON retry logs). */
async function ctlFails(endpoints: string[], args: string[], timeout = '10s'): Promise<string> {
  try {
    await ctl(endpoints, args, timeout);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{')).join('\n');
  }
  throw new Error(`etcdctl ${args.join(' ')} unexpectedly succeeded`);
}

interface Status {
  Endpoint: string;
  Status: { header: { member_id: number; revision: number }; leader: number; dbSize: number; dbSizeInUse: number; errors?: string[] };
}

async function statuses(endpoints: string[]): Promise<Status[]> {
  return JSON.parse(await ctl(endpoints, ['endpoint', 'status', '-w', 'json'])) as Status[];
}

interface HashKV {
  Endpoint: string;
  HashKV: { header: { revision: number; member_id: number }; hash: number; compact_revision: number };
}

async function hashkv(endpoints: string[], rev?: number): Promise<HashKV[]> {
  return JSON.parse(await ctl(endpoints, ['endpoint', 'hashkv', '-w', 'json', ...(rev ? [`--rev=${rev}`] : [])])) as HashKV[];
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, onTimeout?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}${onTimeout ? `\n${onTimeout()}` : ''}`);
}

async function leaderOf(c: StoreCluster): Promise<{ index: number; id: number; ids: number[] }> {
  const st = await statuses(c.endpoints);
  const id = st[0]!.Status.leader;
  const index = st.findIndex((s) => s.Status.header.member_id === id);
  return { index, id, ids: st.map((s) => s.Status.header.member_id) };
}

/** The same history on any etcd-compatible cluster: puts, overwrites, a delete, a txn, a compaction. */
async function history(eps: string[]): Promise<{ before: number; compactedAt: number }> {
  for (const [k, v] of [['a', '1'], ['b', '2'], ['a', '3'], ['c', '4']]) await ctl(eps, ['put', k!, v!]);
  await ctl(eps, ['del', 'b']);
  const before = (JSON.parse(await ctl(eps, ['get', 'a', '-w', 'json'])) as { header: { revision: number } }).header.revision;
  await run('sh', ['-c', `printf 'value("a") = "3"\\n\\nput a 5\\nput d 6\\n\\n\\n' | ETCDCTL_API=3 etcdctl --endpoints=${eps.join(',')} txn`]);
  await ctl(eps, ['put', 'e', 'x']);
  const compactedAt = before;
  await ctl(eps, ['compact', String(compactedAt), '--physical']);
  await ctl(eps, ['put', 'a', '7']);
  await ctl(eps, ['del', 'c']);
  return { before, compactedAt };
}

test.serial('revisions as etcd: an empty store is at revision 1, the first write is revision 2 (same as etcd 3.4)', async (t) => {
  const [store, etcd] = [await startStore(t), await startEtcd(t)];
  for (const eps of [store.endpoints, etcd.endpoints]) {
    const empty = JSON.parse(await ctl(eps, ['get', 'k', '-w', 'json'])) as { header: { revision: number } };
    t.is(empty.header.revision, 1);
    const put = JSON.parse(await ctl(eps, ['put', 'k', 'v', '-w', 'json'])) as { header: { revision: number } };
    t.is(put.header.revision, 2);
    const got = JSON.parse(await ctl(eps, ['get', 'k', '-w', 'json'])) as { kvs: Array<{ create_revision: number; mod_revision: number }> };
    t.is(got.kvs[0]!.create_revision, 2);
    t.is(got.kvs[0]!.mod_revision, 2);
    t.is(await ctl(eps, ['get', 'k', '--rev=1']), '', 'revision 1 is the empty key space');
    t.is(await ctl(eps, ['compact', '1']), 'compacted revision 1\n');
  }
});

test.serial('HashKV: equal on every member at the same revision, and equal to etcd 3.4 for the same history', async (t) => {
  const [store, etcd] = [await startStore(t), await startEtcd(t)];
  const h = await history(store.endpoints);
  t.deepEqual(await history(etcd.endpoints), h);
  const mine = await hashkv(store.endpoints);
  const theirs = await hashkv(etcd.endpoints);
  t.is(new Set(mine.map((m) => m.HashKV.hash)).size, 1, `members' hashes: ${JSON.stringify(mine)}`);
  t.is(mine[0]!.HashKV.hash, theirs[0]!.HashKV.hash, 'same hash as etcd 3.4');
  t.is(mine[0]!.HashKV.compact_revision, theirs[0]!.HashKV.compact_revision);
  t.is(mine[0]!.HashKV.header.revision, theirs[0]!.HashKV.header.revision);
  // At an older revision (above the compacted one) too; at or below it: compacted; beyond: future.
  const at = h.compactedAt + 2;
  const mineAt = await hashkv(store.endpoints, at);
  t.is(new Set(mineAt.map((m) => m.HashKV.hash)).size, 1);
  t.is(mineAt[0]!.HashKV.hash, (await hashkv(etcd.endpoints, at))[0]!.HashKV.hash);
  t.not(mineAt[0]!.HashKV.hash, mine[0]!.HashKV.hash);
  for (const eps of [store.endpoints.slice(0, 1), etcd.endpoints]) {
    t.regex(await ctlFails(eps, ['endpoint', 'hashkv', `--rev=${h.compactedAt}`]), /required revision has been compacted/);
    t.regex(await ctlFails(eps, ['endpoint', 'hashkv', '--rev=1000']), /required revision is a future revision/);
  }
  // hash_revision (etcd 3.5.5's field, not shown by etcdctl 3.4) is the revision hashed; Hash is stable.
  const client = maintenanceClient(store.endpoints[1]!);
  t.teardown(() => client.close());
  const call = <T>(method: string, req: object) => new Promise<T>((resolve, reject) => client[method]!(req, (e, r) => (e ? reject(e) : resolve(r as T))));
  const atRes = await call<{ hash: number; hashRevision: number; header: { revision: number } }>('HashKV', { revision: at });
  t.is(atRes.hashRevision, at);
  t.is(atRes.hash, mineAt[0]!.HashKV.hash);
  const cur = await call<{ hashRevision: number; header: { revision: number } }>('HashKV', { revision: 0 });
  t.is(cur.hashRevision, cur.header.revision);
  const h1 = await call<{ hash: number }>('Hash', {});
  t.not(h1.hash, 0);
  t.is((await call<{ hash: number }>('Hash', {})).hash, h1.hash, 'no writes between: the same Hash');
  // A fresh store hashes like a fresh etcd (compact_revision -1 before any compaction).
  const fresh = await startEtcd(t);
  const freshStore = await startStore(t);
  const a = (await hashkv(freshStore.endpoints.slice(0, 1)))[0]!.HashKV;
  const b = (await hashkv(fresh.endpoints))[0]!.HashKV;
  t.is(a.hash, b.hash);
  t.is(a.compact_revision, -1);
  t.is(b.compact_revision, -1);
});

function maintenanceClient(endpoint: string): grpc.Client & Record<string, (req: object, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void> {
  const Maintenance = loadEtcdProto().etcdserverpb.Maintenance as unknown as new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client;
  return new Maintenance(endpoint, grpc.credentials.createInsecure()) as never;
}

test.serial('move-leader: leadership moves to the target; not leader, bad transferee (unknown, learner) and timeout as etcd', async (t) => {
  const c = await startStore(t);
  const before = await leaderOf(c);
  const target = before.ids.find((id) => id !== before.id)!;
  const out = await ctl(c.endpoints, ['move-leader', target.toString(16)]);
  t.is(out, `Leadership transferred from ${before.id.toString(16)} to ${target.toString(16)}\n`);
  t.is((await leaderOf(c)).id, target, 'every member reports the target as leader');
  for (const s of await statuses(c.endpoints)) t.is(s.Status.leader, target);
  await ctl(c.endpoints, ['put', 'after-move', 'ok']);

  const now = await leaderOf(c);
  const followers = c.endpoints.filter((_, i) => i !== now.index);
  t.regex(await ctlFails(followers, ['move-leader', before.id.toString(16)]), /no leader endpoint given at/);
  // A follower asked directly answers "not leader" (FAILED_PRECONDITION), as etcd's maintenance server.
  const client = maintenanceClient(followers[0]!);
  t.teardown(() => client.close());
  const err = await new Promise<grpc.ServiceError | null>((resolve) => client.MoveLeader!({ targetID: before.id }, (e) => resolve(e)));
  t.is(err?.code, grpc.status.FAILED_PRECONDITION);
  t.is(err?.details, 'etcdserver: not leader');

  t.regex(await ctlFails(c.endpoints, ['move-leader', 'ffff']), /^Error: etcdserver: bad leader transferee$/m);
  const added = await ctl(c.endpoints, ['member', 'add', 'lrn', '--learner', '--peer-urls=http://127.0.0.1:9']);
  const learner = /Member\s+([0-9a-f]+) added/.exec(added)![1]!;
  t.regex(await ctlFails(c.endpoints, ['move-leader', learner]), /^Error: etcdserver: bad leader transferee$/m);
  await ctl(c.endpoints, ['member', 'remove', learner]);

  // A target that cannot take over (stopped): as etcd 3.4, the leader waits for the transfer until
  // the request's deadline, and etcdctl reports its context deadline; without a deadline the member
  // gives up after its request timeout: "leader transfer took too long".
  const cur = await leaderOf(c);
  const stuckIndex = [0, 1, 2].find((i) => i !== cur.index)!;
  const stuck = c.members[stuckIndex]!;
  stuck.proc!.kill('SIGSTOP');
  t.teardown(() => void stuck.proc?.kill('SIGCONT'));
  const t0 = Date.now();
  // (Only the leader's endpoint: etcdctl asks each endpoint for its status first, and the stopped one never answers.)
  t.is(await ctlFails([c.endpoints[cur.index]!], ['move-leader', cur.ids[stuckIndex]!.toString(16)], '3s'), 'Error: context deadline exceeded');
  t.log(`etcdctl gave up on the transfer to a stopped member after ${Date.now() - t0} ms`);
  const leaderClient = maintenanceClient(c.endpoints[cur.index]!);
  t.teardown(() => leaderClient.close());
  const t1 = Date.now();
  const tooLong = await new Promise<grpc.ServiceError | null>((resolve) => leaderClient.MoveLeader!({ targetID: cur.ids[stuckIndex]! }, (e) => resolve(e)));
  t.is(tooLong?.details, 'etcdserver: request timed out, leader transfer took too long');
  t.log(`a call without a deadline failed after ${Date.now() - t1} ms`);
  // Resumed, the member reads the TimeoutNow still in its socket and may campaign at once (as an etcd member would).
  stuck.proc!.kill('SIGCONT');
  await c.waitHealthy();
  t.is(await ctl(c.endpoints, ['put', 'after-timeout', 'ok']), 'OK\n');
});

test.serial('defrag compacts each member\'s LevelDB: dbSize on disk drops, dbSizeInUse is the live data', async (t) => {
  const c = await startStore(t);
  const value = Buffer.alloc(20_000, 'v');
  const KV = loadEtcdProto().etcdserverpb.KV as unknown as new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & { Put(req: object, cb: (err: grpc.ServiceError | null) => void): void };
  const kv = new KV(c.endpoints[0]!, grpc.credentials.createInsecure());
  t.teardown(() => kv.close());
  for (let i = 0; i < 300; i++) await new Promise<void>((resolve, reject) => kv.Put({ key: Buffer.from(`k${i % 10}`), value }, (err) => (err ? reject(err) : resolve())));
  const rev = (JSON.parse(await ctl(c.endpoints, ['get', 'k0', '-w', 'json'])) as { header: { revision: number } }).header.revision;
  await ctl(c.endpoints, ['compact', String(rev), '--physical']);
  const before = await statuses(c.endpoints);
  for (const ep of c.endpoints) t.is(await ctl([ep], ['defrag']), `Finished defragmenting etcd member[${ep}]\n`);
  const after = await statuses(c.endpoints);
  for (let i = 0; i < 3; i++) {
    const [b, a] = [before[i]!.Status, after[i]!.Status];
    t.log(`${c.endpoints[i]}: dbSize ${b.dbSize} -> ${a.dbSize} bytes on disk, in use ${a.dbSizeInUse}`);
    t.true(a.dbSize < b.dbSize / 2, `member ${i}: ${b.dbSize} -> ${a.dbSize}`);
    t.true(a.dbSizeInUse < 10 * 21_000, `in use: ${a.dbSizeInUse}`);
    t.true(a.dbSizeInUse > 10 * 20_000);
  }
  // The data is all there.
  t.is((await ctl(c.endpoints, ['get', 'k', '--prefix', '--keys-only'])).split('\n').filter(Boolean).length, 10);
});

test.serial('NOSPACE: raised past --quota-backend-bytes on every member; reads, deletes, compaction work; disarm after compaction + defrag (alarm output as etcd 3.4)', async (t) => {
  // Raft snapshots every 10 entries: a restarted member gets the alarms from its snapshot's data, then the log.
  const c = await startStore(t, ['--quota-backend-bytes', '300000', '--snapshot-count', '10', '--snapshot-catchup-entries', '5']);
  const eps = c.endpoints;
  const value = 'x'.repeat(30_000);
  let refused = '';
  for (let i = 0; i < 20 && !refused; i++) {
    try {
      await ctl(eps, ['put', `big${i}`, value]);
    } catch (err) {
      refused = ((err as { stderr?: string }).stderr ?? '').split('\n').filter((l) => l && !l.startsWith('{')).join('\n');
    }
  }
  t.is(refused, 'Error: etcdserver: mvcc: database space exceeded');
  const ids = (await statuses(eps)).map((s) => s.Status.header.member_id).sort((a, b) => a - b);
  const expected = ids.map((id) => `memberID:${id} alarm:NOSPACE \n`).join('');
  // Every member agrees (the alarm is replicated); the line format is etcd 3.4's (checked below).
  for (const ep of eps) t.is(await ctl([ep], ['alarm', 'list']), expected);
  for (const s of await statuses(eps)) t.deepEqual(s.Status.errors, ids.map((id) => `memberID:${id} alarm:NOSPACE `));
  // Capped: even a small put, a lease grant and a writing txn are refused; reads, deletes, compaction work.
  t.is(await ctlFails(eps, ['put', 'small', '1']), 'Error: etcdserver: mvcc: database space exceeded');
  t.is(await ctlFails(eps, ['lease', 'grant', '10']), 'Error: failed to grant lease (etcdserver: mvcc: database space exceeded)');
  const txn = await run('sh', ['-c', `printf '\nput small 1\n\n\n' | ETCDCTL_API=3 etcdctl --endpoints=${eps.join(',')} txn 2>&1 || true`]);
  t.regex(txn.stdout, /^Error: etcdserver: mvcc: database space exceeded$/m, 'a txn that writes');
  // The alarms are replicated state: a restarted member (snapshot data + log replay) lists them too.
  await c.kill(0);
  c.restart(0);
  await c.waitHealthy();
  t.is(await ctl([eps[0]!], ['alarm', 'list']), expected, 'after a restart');
  t.is(await ctl(eps, ['get', 'big0', '--print-value-only']), `${value}\n`);
  t.regex(await ctl(eps, ['del', 'big', '--prefix']), /^\d+\n$/);
  const rev = (JSON.parse(await ctl(eps, ['get', 'x', '-w', 'json'])) as { header: { revision: number } }).header.revision;
  t.is(await ctl(eps, ['compact', String(rev), '--physical']), `compacted revision ${rev}\n`);
  t.is(await ctlFails(eps, ['put', 'small', '1']), 'Error: etcdserver: mvcc: database space exceeded', 'still capped until disarmed');
  for (const ep of eps) await ctl([ep], ['defrag']);
  t.is(await ctl(eps, ['alarm', 'disarm']), expected);
  for (const ep of eps) t.is(await ctl([ep], ['alarm', 'list']), '');
  t.is(await ctl(eps, ['put', 'small', '1']), 'OK\n');

  // etcd 3.4 with the same quota: same error, same alarm line format.
  const etcd = await startEtcd(t, ['--quota-backend-bytes=300000']);
  let etcdRefused = '';
  for (let i = 0; i < 20 && !etcdRefused; i++) {
    try {
      await ctl(etcd.endpoints, ['put', `big${i}`, value]);
    } catch (err) {
      etcdRefused = ((err as { stderr?: string }).stderr ?? '').split('\n').filter((l) => l && !l.startsWith('{')).join('\n');
    }
  }
  t.is(etcdRefused, refused);
  // (etcd's member ids exceed 2^53: compared as text.)
  t.regex(await ctl(etcd.endpoints, ['alarm', 'list']), /^memberID:\d+ alarm:NOSPACE \n$/);
});

/** Deletes the oldest record of a stopped member's key space straight from its LevelDB. */
async function corruptKeySpace(dataDir: string): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dataDir, 'kv'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const marker = await db.get(Buffer.from([0x6b, 0x76, 0x2f, 0x00]));
    const gen = marker && marker.length === 1 ? marker[0]! : 0;
    const recordPrefix = Buffer.concat([Buffer.from('kv/'), Buffer.from([1, gen]), Buffer.from('r')]);
    for await (const k of db.keys({ gte: recordPrefix, lt: Buffer.concat([recordPrefix.subarray(0, -1), Buffer.from('s')]), limit: 1 })) {
      await db.del(k, { sync: true });
    }
  } finally {
    await db.close();
  }
}

test.serial('corruption check: a member whose key space differs gets a CORRUPT alarm; writes then fail, reads work', async (t) => {
  const c = await startStore(t, ['--experimental-corrupt-check-time', '500ms']);
  for (let i = 0; i < 5; i++) await ctl(c.endpoints, ['put', 'k', String(i)]);
  // Healthy members: several checks pass without an alarm.
  await new Promise((r) => setTimeout(r, 2000)); // four checks run: the absence of an alarm cannot be waited for
  t.is(await ctl(c.endpoints, ['alarm', 'list']), '');
  const lead = await leaderOf(c);
  const victim = [0, 1, 2].find((i) => i !== lead.index)!;
  const victimId = lead.ids[victim]!;
  await c.kill(victim);
  await corruptKeySpace(c.members[victim]!.dataDir);
  c.restart(victim);
  await c.waitHealthy();
  const healthyAt = Date.now();
  const alarms = await until('a CORRUPT alarm', 20_000, async () => {
    const out = await ctl(c.endpoints, ['alarm', 'list']);
    return out.includes('CORRUPT') ? out : undefined;
  });
  t.log(`CORRUPT raised ${Date.now() - healthyAt} ms after the corrupted member was healthy again (check every 500 ms)`);
  t.is(alarms, `memberID:${victimId} alarm:CORRUPT \n`);
  t.is(await ctlFails(c.endpoints, ['put', 'k', 'x']), 'Error: etcdserver: corrupt cluster');
  t.is(await ctl(c.endpoints, ['get', 'k', '--print-value-only']), '4\n');
});

function autoCompactions(metrics: string): number {
  return Number(/^mkube_store_auto_compactions_total (\d+)$/m.exec(metrics)?.[1] ?? 'NaN');
}

test.serial('auto compaction, periodic: only the leader compacts, to the revision of one retention ago; a new leader takes over', async (t) => {
  const c = await startStore(t, ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '2s']);
  const started = Date.now();
  const samples: Array<{ at: number; rev: number }> = [];
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const r = JSON.parse(await ctl(c.endpoints, ['put', 'tick', String(i), '-w', 'json'])) as { header: { revision: number } };
        samples.push({ at: Date.now(), rev: r.header.revision });
      } catch (err) {
        // A put forwarded while leadership moves can be dropped and time out (as with etcd); the load goes on.
        t.log(`put ${i}: ${(err as Error).message.split('\n').pop()}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  t.teardown(() => {
    stop = true;
  });
  const compacted = await until('a compaction', 15_000, async () => {
    const h = (await hashkv(c.endpoints.slice(0, 1)))[0]!.HashKV;
    return h.compact_revision > 1 ? { rev: h.compact_revision, at: Date.now() } : undefined;
  }, () => c.members.map((m) => `${m.name} (exit ${m.proc?.exitCode} ${m.proc?.signalCode}): ${m.stderr.join('').slice(-3000)}`).join('\n'));
  t.true(compacted.at - started >= 2000, 'not before one retention has passed');
  const before = samples.filter((s) => s.at <= compacted.at - 2000 + 300);
  t.true(before.length > 0 && compacted.rev <= before[before.length - 1]!.rev + 1, `compacted at ${compacted.rev}, about one retention back`);
  // A compaction at R keeps R readable and drops what is below it (a slow writer may give R = 2).
  t.regex(await ctlFails(c.endpoints, ['get', 'tick', `--rev=${compacted.rev - 1}`]), /required revision has been compacted/);
  // Only the leader's compactor proposed compactions (each member counts its own).
  const lead = await leaderOf(c);
  const counts = await Promise.all(c.members.map(async (m) => autoCompactions(await c.metrics(m))));
  t.true(counts[lead.index]! >= 1, `leader: ${counts[lead.index]}`);
  t.deepEqual(counts.filter((_, i) => i !== lead.index), [0, 0], 'followers proposed none');
  // Leadership moves: the new leader's compactor resumes and keeps compacting (the old one pauses:
  // test/server/compactor.test.ts).
  const next = lead.ids.find((id) => id !== lead.id)!;
  await ctl(c.endpoints, ['move-leader', next.toString(16)]);
  const later = await until('a compaction under the new leader', 15_000, async () => {
    const h = (await hashkv(c.endpoints.slice(0, 1)))[0]!.HashKV;
    return h.compact_revision > compacted.rev + 10 ? h.compact_revision : undefined;
  });
  stop = true;
  await writer;
  const nextIndex = lead.ids.indexOf(next);
  t.true(autoCompactions(await c.metrics(c.members[nextIndex]!)) >= 1, 'the new leader proposed compactions');
  t.log(`first compaction at revision ${compacted.rev} after ${compacted.at - started} ms; under the new leader at ${later}`);
});

test.serial('auto compaction, revision: the leader keeps the last N revisions', async (t) => {
  const c = await startStore(t, ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10', '--auto-compaction-revision-interval', '500ms']);
  for (let i = 0; i < 30; i++) await ctl(c.endpoints, ['put', 'r', String(i)]);
  const current = (JSON.parse(await ctl(c.endpoints, ['get', 'r', '-w', 'json'])) as { header: { revision: number } }).header.revision;
  t.is(current, 31);
  const h = await until('compaction at current - 10', 10_000, async () => {
    const x = await hashkv(c.endpoints);
    return x.every((m) => m.HashKV.compact_revision === current - 10) ? x : undefined;
  });
  t.is(new Set(h.map((m) => m.HashKV.hash)).size, 1);
  t.is(await ctl(c.endpoints, ['get', 'r', `--rev=${current - 10}`, '--print-value-only']), '19\n');
  t.regex(await ctlFails(c.endpoints, ['get', 'r', `--rev=${current - 11}`]), /required revision has been compacted/);
});

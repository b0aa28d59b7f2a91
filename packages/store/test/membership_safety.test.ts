// Store membership safety with etcdctl 3.4 against real mkube-store processes:
// a member added as a learner to a cluster whose leader has compacted its Raft
// log (snapshot-count 50) catches up through a streamed snapshot; promote is
// refused until it is in sync (and always by a follower, which cannot see the
// learner's progress), then succeeds on the leader; `member remove` of a voter is
// allowed for a dead member (the rest are live), refused with etcd's
// strict-reconfig-check message when the voters left could not form a quorum
// with the live members, and forced through mkube's override (EtcdClient memberRemove {force}) — which
// does leave the cluster without a quorum until the dead member returns.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { StoreCluster, waitFor } from '@mkube/testing';
import { EtcdClient } from '../src/client/index.js';

const run = promisify(execFile);

async function etcdctl(endpoint: string, ...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('etcdctl', ['--endpoints', endpoint, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 });
    return { ok: true, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

interface ListedMember {
  ID: string;
  name: string;
  isLearner?: boolean;
}

async function members(endpoint: string): Promise<ListedMember[]> {
  // IDs are uint64: keep them as text (a JS number would round them).
  const r = await etcdctl(endpoint, 'member', 'list', '-w', 'json');
  if (!r.ok) throw new Error(r.out);
  return (JSON.parse(r.out.replace(/"ID":(\d+)/g, '"ID":"$1"')) as { members: ListedMember[] }).members;
}

test('learner add with a snapshot catch-up (compacted leader), promote refused until in sync, a dead voter removed', async (t) => {
  t.timeout(240_000);
  const cluster = await StoreCluster.start({ members: 3, extraArgs: ['--snapshot-count', '50', '--snapshot-catchup-entries', '10'] });
  const clients: EtcdClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await cluster.stop();
  });
  const url = (i: number) => cluster.members[i]!.clientURL;
  const leader = await cluster.leaderIndex();
  const L = url(leader);

  // Enough writes that the leader snapshots and compacts its log past what a new member could replay.
  const client = new EtcdClient({ endpoints: cluster.endpoints });
  clients.push(client);
  for (let i = 0; i < 300; i++) await client.put(`k/${String(i).padStart(4, '0')}`, `v${i}`);

  // member add --learner; its process is not running yet: promote is refused.
  const added = await cluster.addMemberProcess('m4');
  const add = await etcdctl(L, 'member', 'add', 'm4', '--learner', `--peer-urls=${added.peerURL}`);
  t.true(add.ok, add.out);
  t.regex(add.out, /Member\s+[0-9a-f]+ added to cluster/);
  const learner = (await members(L)).find((m) => m.isLearner);
  t.truthy(learner, 'listed as a learner');
  const learnerHex = BigInt(learner!.ID).toString(16);
  const early = await etcdctl(L, 'member', 'promote', learnerHex);
  t.false(early.ok);
  t.regex(early.out, /etcdserver: can only promote a learner member which is in sync with leader/);
  // A follower cannot see the learner's progress: it refuses too (it used to promote unchecked).
  const viaFollower = await etcdctl(url((leader + 1) % 3), 'member', 'promote', learnerHex);
  t.false(viaFollower.ok);
  t.regex(viaFollower.out, /etcdserver: can only promote a learner member which is in sync with leader/);

  // Start it: it catches up (by snapshot: the leader's log was compacted), then promote succeeds.
  const sentBefore = await snapshotsSent(cluster, leader);
  cluster.startAdded(added);
  const promoted = await waitFor('promote accepted', 60_000, async () => {
    const r = await etcdctl(L, 'member', 'promote', learnerHex);
    if (!r.ok && !/in sync with leader/.test(r.out)) throw new Error(r.out);
    return r.ok ? r.out : undefined;
  }, 300);
  t.regex(promoted, new RegExp(`Member\\s+${learnerHex} promoted in cluster`));
  t.true((await snapshotsSent(cluster, leader)) > sentBefore, 'the leader streamed a snapshot to the learner');
  t.is((await members(L)).filter((m) => !m.isLearner).length, 4);
  const onNew = await etcdctl(url(3), 'get', 'k/0000', '--print-value-only');
  t.is(onNew.out.trim(), 'v0', 'the new member holds keys written before it joined');

  // A dead voter can be removed: the three left are live.
  await cluster.kill(3);
  const rm4 = await etcdctl(L, 'member', 'remove', learnerHex);
  t.true(rm4.ok, rm4.out);
  t.regex(rm4.out, new RegExp(`Member\\s+${learnerHex} removed from cluster`));
  t.is((await members(L)).length, 3);
  t.true((await etcdctl(L, 'put', 'after-remove', 'x')).ok);
});

test('member remove: refused below a live quorum (strict reconfig check), forced through with the override', async (t) => {
  t.timeout(240_000);
  const cluster = await StoreCluster.start({ members: 3 });
  const clients: EtcdClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await cluster.stop();
  });
  const leader = await cluster.leaderIndex();
  const L = cluster.members[leader]!.clientURL;

  // One of three voters dead: removing a live voter would leave {self, dead}: refused.
  const dead = (leader + 1) % 3;
  const live = (leader + 2) % 3;
  await cluster.kill(dead);
  const byName = async (i: number) => BigInt((await members(L)).find((m) => m.name === cluster.members[i]!.name)!.ID).toString(16);
  const liveHex = await byName(live);
  const refused = await etcdctl(L, 'member', 'remove', liveHex);
  t.false(refused.ok);
  t.regex(refused.out, /etcdserver: re-configuration failed due to not enough started members/);
  t.is((await members(L)).length, 3, 'nothing removed');

  // Forced: the removal goes through, and the two voters left ({leader, dead}) have no quorum until the dead one returns.
  const leaderClient = new EtcdClient({ endpoints: [cluster.endpoints[leader]!], requestTimeoutMs: 2000, maxAttempts: 1 });
  clients.push(leaderClient);
  await leaderClient.memberRemove(BigInt(`0x${liveHex}`).toString(), { force: true });
  t.is((await members(L)).length, 2);
  await t.throwsAsync(() => leaderClient.put('during', 'x'), undefined, 'no quorum: {leader alive, dead member down}');
  cluster.restart(dead);
  try {
    await waitFor('writes again once the dead member is back', 30_000, async () => (await etcdctl(L, 'put', 'after', 'y')).ok, 300);
  } catch (err) {
    for (const i of [leader, dead, live]) t.log(`${cluster.members[i]!.name} ${cluster.endpoints[i]} (${i === leader ? 'leader' : i === dead ? 'restarted' : 'removed'}) running=${cluster.members[i]!.proc?.exitCode === null}: ${cluster.members[i]!.stderr.join('').slice(-1500)}`);
    t.log((await etcdctl(cluster.endpoints.join(','), 'endpoint', 'status', '-w', 'table')).out);
    throw err;
  }

  t.deepEqual((await members(L)).map((m) => m.name).sort(), [cluster.members[leader]!.name, cluster.members[dead]!.name].sort());
});

async function snapshotsSent(cluster: StoreCluster, i: number): Promise<number> {
  const text = await cluster.metrics(cluster.members[i]!);
  let n = 0;
  for (const m of text.matchAll(/^mkube_store_snapshots_sent_total\{[^}]*result="(?:ok|success|sent)"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  if (n === 0) for (const m of text.matchAll(/^mkube_store_snapshots_sent_total(?:\{[^}]*\})? (\d+)/gm)) n += Number(m[1]);
  return n;
}

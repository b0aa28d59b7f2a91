// The real etcdctl 3.4 (Debian's etcd-client) against a 3-member mkube-store cluster.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { StoreCluster } from '@mkube/testing';

const run = promisify(execFile);

let cluster: StoreCluster;

test.before(async () => {
  cluster = await StoreCluster.start({ members: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

async function etcdctl(args: string[], opts: { endpoints?: string[]; input?: string } = {}): Promise<string> {
  const argv = [`--endpoints=${(opts.endpoints ?? cluster.endpoints).join(',')}`, '--command-timeout=10s', ...args];
  if (opts.input !== undefined) {
    return new Promise((resolve, reject) => {
      const p = spawn('etcdctl', argv, { env: { ...process.env, ETCDCTL_API: '3' } });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`etcdctl ${args.join(' ')} exited ${code}: ${err}`))));
      p.stdin.end(opts.input);
    });
  }
  const { stdout } = await run('etcdctl', argv, { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

async function etcdctlFails(args: string[]): Promise<string> {
  try {
    await etcdctl(args);
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? (err as Error).message;
  }
  throw new Error(`etcdctl ${args.join(' ')} unexpectedly succeeded`);
}

test.serial('put, get and delete, on every member', async (t) => {
  t.is(await etcdctl(['put', 'foo', 'bar']), 'OK\n');
  for (const ep of cluster.endpoints) t.is(await etcdctl(['get', 'foo'], { endpoints: [ep] }), 'foo\nbar\n');
  t.is(await etcdctl(['get', 'foo', '--print-value-only']), 'bar\n');
  t.is(await etcdctl(['get', 'missing']), '');
  t.is(await etcdctl(['del', 'foo']), '1\n');
  t.is(await etcdctl(['del', 'foo']), '0\n');
  t.is(await etcdctl(['get', 'foo']), '');
});

test.serial('prefixes, ranges, limits, sorting, counts and revisions', async (t) => {
  for (const [k, v] of [['pre/b', '2'], ['pre/a', '1'], ['pre/c', '3'], ['prf', 'x']]) t.is(await etcdctl(['put', k!, v!]), 'OK\n');
  t.is(await etcdctl(['get', 'pre/', '--prefix', '--keys-only']), 'pre/a\n\npre/b\n\npre/c\n\n');
  t.is(await etcdctl(['get', 'pre/a', 'pre/c']), 'pre/a\n1\npre/b\n2\n');
  t.is(await etcdctl(['get', 'pre/', '--prefix', '--limit=2', '--print-value-only']), '1\n2\n');
  t.is(await etcdctl(['get', 'pre/', '--prefix', '--order=DESCEND', '--sort-by=KEY', '--print-value-only']), '3\n2\n1\n');
  const counted = JSON.parse(await etcdctl(['get', 'pre/', '--prefix', '--limit=1', '-w', 'json'])) as { count: number; more: boolean; kvs: unknown[] };
  t.is(counted.count, 3);
  t.true(counted.more);
  t.is(counted.kvs.length, 1);
  const first = JSON.parse(await etcdctl(['put', 'rev', 'one', '-w', 'json'])) as { header: { revision: number; cluster_id: number; member_id: number; raft_term: number } };
  t.true(first.header.revision > 0);
  t.true(first.header.cluster_id !== 0 && first.header.member_id !== 0 && first.header.raft_term > 0);
  await etcdctl(['put', 'rev', 'two']);
  t.is(await etcdctl(['get', 'rev', `--rev=${first.header.revision}`, '--print-value-only']), 'one\n');
  t.is(await etcdctl(['get', 'rev', '--print-value-only']), 'two\n');
  const kv = JSON.parse(await etcdctl(['get', 'rev', '-w', 'json'])) as { kvs: Array<{ key: string; create_revision: number; mod_revision: number; version: number; value: string }> };
  t.is(Buffer.from(kv.kvs[0]!.key, 'base64').toString(), 'rev');
  t.is(kv.kvs[0]!.create_revision, first.header.revision);
  t.is(kv.kvs[0]!.version, 2);
  t.true(kv.kvs[0]!.mod_revision > first.header.revision);
  t.is(await etcdctl(['del', 'pre/', '--prefix']), '3\n');
  t.is(await etcdctl(['put', 'pv', 'old']), 'OK\n');
  t.is(await etcdctl(['put', 'pv', 'new', '--prev-kv']), 'OK\npv\nold\n');
  t.is(await etcdctl(['del', 'pv', '--prev-kv']), '1\npv\nnew\n');
});

test.serial('future and compacted revisions are refused with etcd messages', async (t) => {
  const { header } = JSON.parse(await etcdctl(['put', 'c', '1', '-w', 'json'])) as { header: { revision: number } };
  await etcdctl(['put', 'c', '2']);
  t.regex(await etcdctlFails(['get', 'c', `--rev=${header.revision + 1000}`]), /required revision is a future revision/);
  t.is(await etcdctl(['compaction', String(header.revision + 1)]), `compacted revision ${header.revision + 1}\n`);
  t.regex(await etcdctlFails(['get', 'c', `--rev=${header.revision}`]), /required revision has been compacted/);
  t.is(await etcdctl(['get', 'c', '--print-value-only']), '2\n');
});

test.serial('txn with compares on value, version, create and mod revisions', async (t) => {
  await etcdctl(['put', 'tk', 'v1']);
  const success = await etcdctl(['txn'], { input: 'value("tk") = "v1"\nversion("tk") = "1"\n\nput tk v2\nget tk\n\nput tk failed\n\n' });
  t.is(success, 'SUCCESS\n\nOK\n\ntk\nv2\n');
  const failure = await etcdctl(['txn'], { input: 'mod("tk") < "2"\n\nput tk nope\n\nget tk\n\n' });
  t.is(failure, 'FAILURE\n\ntk\nv2\n');
  const create = await etcdctl(['txn'], { input: 'create("absent") = "0"\n\nput absent created\n\n\n' });
  t.is(create, 'SUCCESS\n\nOK\n');
  t.is(await etcdctl(['get', 'absent', '--print-value-only']), 'created\n');
});

test.serial('watch: live events and events from an old revision', async (t) => {
  const { header } = JSON.parse(await etcdctl(['put', 'w/a', '1', '-w', 'json'])) as { header: { revision: number } };
  await etcdctl(['put', 'w/b', '2']);
  await etcdctl(['del', 'w/a']);
  const proc = spawn('etcdctl', [`--endpoints=${cluster.endpoints.join(',')}`, 'watch', 'w/', '--prefix', `--rev=${header.revision}`], {
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const expected = 'PUT\nw/a\n1\nPUT\nw/b\n2\nDELETE\nw/a\n\nPUT\nw/c\n3\n';
  await new Promise((r) => setTimeout(r, 500));
  await etcdctl(['put', 'w/c', '3']);
  const deadline = Date.now() + 10_000;
  while (out.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  proc.kill();
  t.is(out, expected);
});

test.serial('leases: grant, attach, keep-alive, time-to-live, revoke and expiry', async (t) => {
  const granted = await etcdctl(['lease', 'grant', '30']);
  const m = /^lease ([0-9a-f]+) granted with TTL\(30s\)\n$/.exec(granted);
  t.truthy(m, granted);
  const id = m![1]!;
  t.is(await etcdctl(['put', 'leased', 'v', `--lease=${id}`]), 'OK\n');
  t.regex(await etcdctl(['lease', 'keep-alive', '--once', id]), new RegExp(`^lease ${id} keepalived with TTL\\(30\\)\\n$`));
  const ttl = await etcdctl(['lease', 'timetolive', id, '--keys']);
  t.regex(ttl, new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)\\n$`));
  t.regex(await etcdctl(['lease', 'list']), new RegExp(`found \\d+ leases\\n(.*\\n)*${id}\\n`));
  t.is(await etcdctl(['lease', 'revoke', id]), `lease ${id} revoked\n`);
  t.is(await etcdctl(['get', 'leased']), '');
  t.regex(await etcdctlFails(['lease', 'revoke', id]), /requested lease not found/);
  t.regex(await etcdctlFails(['put', 'x', 'y', `--lease=${id}`]), /requested lease not found/);

  const short = /^lease ([0-9a-f]+) granted/.exec(await etcdctl(['lease', 'grant', '2']))![1]!;
  await etcdctl(['put', 'ephemeral', 'v', `--lease=${short}`]);
  t.is(await etcdctl(['get', 'ephemeral', '--print-value-only']), 'v\n');
  const deadline = Date.now() + 8000;
  let gone = false;
  while (Date.now() < deadline && !gone) {
    await new Promise((r) => setTimeout(r, 250));
    gone = (await etcdctl(['get', 'ephemeral'])) === '';
  }
  t.true(gone, 'a key attached to an expired lease is deleted');
  t.regex(await etcdctl(['lease', 'timetolive', short]), /already expired/);
});

test.serial('bad input gets etcd errors', async (t) => {
  t.regex(await etcdctlFails(['put', '', 'v']), /key is not provided/);
  // etcdctl reads the value from stdin when the command line has none.
  const err = await etcdctl(['put', 'big'], { input: 'x'.repeat(1.6 * 1024 * 1024) }).then(
    () => 'succeeded',
    (e: Error) => e.message,
  );
  t.regex(err, /request is too large/);
  t.is(await etcdctl(['get', 'big']), '');
});

test.serial('endpoint status and health on every member', async (t) => {
  const statuses = JSON.parse(await etcdctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Endpoint: string; Status: { header: { member_id: number; raft_term: number }; leader: number; version: string; raftIndex: number } }>;
  t.is(statuses.length, 3);
  const leaders = new Set(statuses.map((s) => s.Status.leader));
  t.is(leaders.size, 1, 'every member names the same leader');
  const leader = [...leaders][0]!;
  t.true(statuses.some((s) => s.Status.header.member_id === leader));
  for (const s of statuses) t.is(s.Status.version, '3.4.0');
  // etcdctl 3.4 prints the health lines on stderr.
  const { stderr: health } = await run('etcdctl', [`--endpoints=${cluster.endpoints.join(',')}`, 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' } });
  t.is((health.match(/is healthy: successfully committed proposal/g) ?? []).length, 3, JSON.stringify(health));
});

test.serial('member list, add (learner), promote and remove', async (t) => {
  const list = JSON.parse(await etcdctl(['member', 'list', '-w', 'json'])) as { members: Array<{ ID: number; name: string; peerURLs: string[]; clientURLs: string[] }> };
  t.deepEqual(list.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  for (const m of list.members) t.is(m.clientURLs.length, 1);

  const added = await cluster.addMemberProcess('m4');
  const out = await etcdctl(['member', 'add', 'm4', `--peer-urls=${added.peerURL}`, '--learner']);
  const idHex = /Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)/.exec(out)?.[1];
  t.truthy(idHex, out);
  t.regex(out, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
  cluster.startAdded(added);
  // The learner catches up (it gets a snapshot or the log), then it can be promoted.
  let promoted = '';
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      promoted = await etcdctl(['member', 'promote', idHex!]);
      break;
    } catch (err) {
      const msg = (err as { stderr?: string }).stderr ?? '';
      if (!/in sync with leader|no leader|timed out/.test(msg)) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  t.regex(promoted, new RegExp(`Member\\s+${idHex} promoted in cluster`));
  await etcdctl(['put', 'after-join', 'yes']);
  t.is(await etcdctl(['get', 'after-join', '--print-value-only'], { endpoints: [added.clientURL.replace('http://', '')] }), 'yes\n');
  t.is(await etcdctl(['get', 'foo-never', '--consistency=s'], { endpoints: [added.clientURL.replace('http://', '')] }), '');
  // The new member publishes its name and client URLs through Raft once it runs.
  const started = new RegExp(`${idHex}, started, m4, ${added.peerURL}, ${added.clientURL}, false`);
  let table = '';
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    table = await etcdctl(['member', 'list']);
    if (started.test(table)) break;
  }
  t.regex(table, started);

  t.regex(await etcdctl(['member', 'remove', idHex!]), new RegExp(`Member\\s+${idHex} removed from cluster`));
  const after = JSON.parse(await etcdctl(['member', 'list', '-w', 'json'])) as { members: Array<{ name: string }> };
  t.deepEqual(after.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  t.regex(await etcdctlFails(['member', 'remove', idHex!]), /member not found/);
});

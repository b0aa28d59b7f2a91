// Backup and restore of a real 3-member mkube-store cluster with the real etcdctl 3.4:
// `etcdctl snapshot save` under concurrent writes, `mkube-store snapshot status`, a restore
// into three new members (a new cluster) that holds exactly the snapshot's revision and
// continues from it, damaged files refused, a stream cut in transit failing `etcdctl snapshot save`.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, STORE_BIN, StoreCluster } from '@mkube/testing';
import { EtcdClient, saveSnapshot, type KeyValue } from '@mkube/store/client';

const run = promisify(execFile);
const RAFT_TIMING = ['--heartbeat-interval', '100', '--election-timeout', '3000'];
const env = { ...process.env, ETCDCTL_API: '3' };

let cluster: StoreCluster;
let dir: string;
let file: string;
let savedRevision = 0;
/** Every acknowledged write: key -> revision (from writers running while etcdctl saved). */
const acked = new Map<string, number>();
let writesDuringSave = 0;
/** The old cluster's key space at the snapshot's revision. */
let atSnapshot: KeyValue[] = [];
let leaseId = '';

function storeCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [STORE_BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mkube-snapshot-'));
  file = join(dir, 'snapshot.db');
  // Long election timeouts: this test is not about failover, and on the loaded shared machine a spurious
  // election fails a pending put ('request timed out, possibly due to previous leader failure', seen once).
  cluster = await StoreCluster.start({ members: 3, extraArgs: RAFT_TIMING });
  // Generous timeouts: the shared machine can be loaded (a put that times out would fail the setup).
  const client = new EtcdClient({ endpoints: [cluster.members[0]!.clientURL], requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  try {
    const lease = await client.leaseGrant(600);
    leaseId = String(lease.id);
    // Enough data that the snapshot takes a while: 3000 keys of 200 bytes, some on a lease, some deleted and overwritten.
    for (let i = 0; i < 3000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(`pre/${String(i + j).padStart(5, '0')}`, 'x'.repeat(200), (i + j) % 10 === 0 ? { lease: lease.id } : {})));
    }
    for (let i = 0; i < 100; i++) await client.delete(`pre/${String(i).padStart(5, '0')}`);
    for (let i = 100; i < 200; i++) await client.put(`pre/${String(i).padStart(5, '0')}`, `v2-${i}`);
    // Four writers run while etcdctl saves the snapshot from another member.
    let saving = true;
    let n = 0;
    const writer = async (w: number): Promise<void> => {
      while (saving) {
        const key = `live/${w}/${n++}`;
        const r = await client.put(key, `value-${key}`);
        acked.set(key, r.header.revision);
        if (saving) writesDuringSave++;
      }
    };
    const writers = [0, 1, 2, 3].map((w) => writer(w));
    await new Promise((r) => setTimeout(r, 200));
    writesDuringSave = 0;
    try {
      await run('etcdctl', [`--endpoints=${cluster.endpoints[1]}`, '--command-timeout=60s', 'snapshot', 'save', file], { env, timeout: 90_000 });
    } finally {
      saving = false;
      await Promise.all(writers);
    }
    const st = await storeCli(['snapshot', 'status', file, '-w', 'json']);
    if (st.code !== 0) throw new Error(`snapshot status failed: ${st.stderr}`);
    savedRevision = (JSON.parse(st.stdout) as { revision: number }).revision;
    atSnapshot = (await client.get('', { fromKey: true, revision: savedRevision })).kvs;
  } finally {
    client.close();
  }
});

test.after.always(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('etcdctl 3.4 saves a snapshot of a member under concurrent writes; the file is verified', async (t) => {
  t.true(writesDuringSave > 0, 'writes were acknowledged while the snapshot was being saved');
  const size = statSync(file).size;
  t.is(size % 512, 32, 'data padded to 512 bytes, then the sha256 (etcdctl hasChecksum)');
  t.is(statSync(file).mode & 0o777, 0o600);
  const simple = await storeCli(['snapshot', 'status', file]);
  t.is(simple.code, 0, simple.stderr);
  const [hash, revision, totalKeys, totalSize] = simple.stdout.trim().split(', ');
  t.regex(hash!, /^[0-9a-f]+$/);
  t.is(Number(revision), savedRevision);
  // Every stored revision of the prefilled keys (3000 puts, 100 deletions, 100 overwrites), the live writes up to the revision, one lease.
  const liveInSnapshot = [...acked.values()].filter((r) => r <= savedRevision).length;
  t.is(Number(totalKeys), 3200 + liveInSnapshot + 1);
  t.regex(totalSize!, /^\d+(\.\d)? (kB|MB)$/);
  const table = await storeCli(['snapshot', 'status', file, '-w', 'table']);
  t.regex(table.stdout, /\| +HASH \| REVISION \| TOTAL KEYS \| TOTAL SIZE \|/);
  // The file is ours, not bbolt: etcdctl's own status cannot read it (documented).
  const bolt = await run('etcdctl', ['snapshot', 'status', file], { env }).then(() => 'ok', (err: { stderr?: string }) => err.stderr ?? 'failed');
  t.not(bolt, 'ok');
  // What etcdctl wrote is what mkube-store's own client saves from the same cluster (same format, hash checked).
  const mine = await saveSnapshot(cluster.members[2]!.clientURL, join(dir, 'mine.db'));
  t.is(mine.size % 512, 32);
  t.true(mine.size >= size - 512 * 4, 'a later copy of the same key space');
});

interface RestoredMember {
  name: string;
  dataDir: string;
  client: string;
  peer: string;
  metrics: string;
  proc?: ChildProcess;
  stderr: string;
}

async function startRestored(members: RestoredMember[], initialCluster: string, token: string): Promise<void> {
  for (const m of members) {
    const p = spawn(process.execPath, [STORE_BIN, '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.client, '--advertise-client-urls', m.client, '--listen-peer-urls', m.peer,
      '--initial-advertise-peer-urls', m.peer, '--initial-cluster', initialCluster, '--initial-cluster-token', token,
      '--initial-cluster-state', 'new', '--listen-metrics-urls', m.metrics, '--log-level', 'warn', ...RAFT_TIMING], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (d: string) => (m.stderr = (m.stderr + d).slice(-4000)));
    m.proc = p;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const hs = await Promise.all(members.map((m) => fetch(`${m.metrics}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ health: string }>, () => undefined)));
    if (hs.every((h) => h?.health === 'true')) return;
    if (Date.now() > deadline) throw new Error(`restored cluster not healthy: ${JSON.stringify(hs)}\n${members.map((m) => `${m.name}: ${m.stderr}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.serial('restore into three new members: every key of the snapshot revision, a new cluster, revisions continue', async (t) => {
  const members: RestoredMember[] = [];
  for (const name of ['r1', 'r2', 'r3']) {
    members.push({ name, dataDir: join(dir, name), client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}`, metrics: `http://127.0.0.1:${await freePort()}`, stderr: '' });
  }
  t.teardown(() => {
    for (const m of members) m.proc?.kill('SIGKILL');
  });
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
  const ids = new Set<string>();
  for (const m of members) {
    const r = await storeCli(['snapshot', 'restore', file, '--data-dir', m.dataDir, '--name', m.name, '--initial-cluster', initialCluster,
      '--initial-cluster-token', 'restored-cluster', '--initial-advertise-peer-urls', m.peer]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^restored snapshot .* \\(revision ${savedRevision}, .*\\) into .*: member ${m.name} [0-9a-f]+ of cluster [0-9a-f]+\\n$`));
    ids.add(r.stdout.trim().split(' ').pop()!);
    t.is(statSync(m.dataDir).mode & 0o777, 0o700);
  }
  t.is(ids.size, 1, 'one cluster ID for the three members');
  // A data dir that holds anything is refused.
  const again = await storeCli(['snapshot', 'restore', file, '--data-dir', members[0]!.dataDir, '--name', 'r1', '--initial-cluster', initialCluster,
    '--initial-cluster-token', 'restored-cluster', '--initial-advertise-peer-urls', members[0]!.peer]);
  t.is(again.code, 1);
  t.regex(again.stderr, /data-dir ".*r1" not empty or could not be read \[DATA_DIR_NOT_EMPTY\]/);

  await startRestored(members, initialCluster, 'restored-cluster');
  const oldClient = new EtcdClient({ endpoints: [cluster.members[0]!.clientURL], requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  const client = new EtcdClient({ endpoints: members.map((m) => m.client), requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  t.teardown(() => {
    client.close();
    oldClient.close();
  });
  const oldStatus = await oldClient.status();
  const status = await client.status();
  t.not(status.header.clusterId, oldStatus.header.clusterId, 'a new cluster ID');
  for (const m of members) {
    const mc = new EtcdClient({ endpoints: [m.client], requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
    try {
      const all = await mc.get('', { fromKey: true, serializable: false });
      t.is(all.header.revision, savedRevision, `${m.name}: at the snapshot's revision`);
      t.is(all.kvs.length, atSnapshot.length);
      t.deepEqual(
        all.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.createRevision, kv.modRevision, kv.version, String(kv.lease)]),
        atSnapshot.map((kv) => [kv.key.toString(), kv.value.toString(), kv.createRevision, kv.modRevision, kv.version, String(kv.lease)]),
        `${m.name}: the old cluster's key space at revision ${savedRevision}`,
      );
    } finally {
      mc.close();
    }
  }
  // Acknowledged writes: present exactly when at or below the snapshot's revision.
  const restoredKeys = new Set(atSnapshot.map((kv) => kv.key.toString()));
  for (const [key, rev] of acked) t.is(restoredKeys.has(key), rev <= savedRevision, `${key} (revision ${rev})`);
  // History is there: at the revision of the last prefill put, before the deletions, both clusters hold the same 3000 keys.
  const lastPrefill = (await oldClient.get('pre/02999')).kvs[0]!.modRevision;
  const [oldPast, past] = [await oldClient.get('pre/', { prefix: true, revision: lastPrefill }), await client.get('pre/', { prefix: true, revision: lastPrefill })];
  t.is(past.kvs.length, 3000);
  t.deepEqual(past.kvs.map((kv) => [kv.key.toString(), kv.modRevision]), oldPast.kvs.map((kv) => [kv.key.toString(), kv.modRevision]));
  t.true((await client.leaseLeases()).leases.includes(leaseId));
  // The next write continues the revisions.
  const put = await client.put('after-restore', 'x');
  t.is(put.header.revision, savedRevision + 1);
  const got = await client.get('after-restore');
  t.is(got.kvs[0]!.modRevision, savedRevision + 1);
});

test.serial('restore with --bump-revision N --mark-compacted (etcdutl\'s): old revisions compacted for etcdctl get and watch, revisions continue N above', async (t) => {
  const BUMP = 1_000_000_000;
  // etcdutl's rule: the two flags go together.
  for (const flags of [['--mark-compacted'], ['--bump-revision', '5'], ['--bump-revision', '0', '--mark-compacted']]) {
    const r = await storeCli(['snapshot', 'restore', file, '--data-dir', join(dir, 'never'), '--name', 'x', ...flags]);
    t.is(r.code, 2, flags.join(' '));
    t.is(r.stderr, 'Error: --mark-compacted required if --revision-bump > 0\n');
    t.false(existsSync(join(dir, 'never')));
  }
  const neg = await storeCli(['snapshot', 'restore', file, '--data-dir', join(dir, 'never'), '--name', 'x', '--bump-revision', '-3', '--mark-compacted']);
  t.is(neg.code, 2);

  const members: RestoredMember[] = [];
  for (const name of ['b1', 'b2', 'b3']) {
    members.push({ name, dataDir: join(dir, name), client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}`, metrics: `http://127.0.0.1:${await freePort()}`, stderr: '' });
  }
  t.teardown(() => {
    for (const m of members) m.proc?.kill('SIGKILL');
  });
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
  for (const m of members) {
    const r = await storeCli(['snapshot', 'restore', file, '--data-dir', m.dataDir, '--name', m.name, '--initial-cluster', initialCluster,
      '--initial-cluster-token', 'bumped-cluster', '--initial-advertise-peer-urls', m.peer, '--bump-revision', String(BUMP), '--mark-compacted']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`\\(revision ${savedRevision}, .*; latest revision bumped to ${savedRevision + BUMP}, compacted at ${savedRevision + BUMP}\\n$`));
  }
  await startRestored(members, initialCluster, 'bumped-cluster');
  const endpoints = members.map((m) => m.client.replace('http://', '')).join(',');
  // endpoint status: every member at the snapshot's revision + N.
  const st = await run('etcdctl', [`--endpoints=${endpoints}`, 'endpoint', 'status', '-w', 'json'], { env, timeout: 30_000 });
  const statuses = JSON.parse(st.stdout) as { Status: { header: { revision: number } } }[];
  t.deepEqual(statuses.map((s) => s.Status.header.revision), [1, 2, 3].map(() => savedRevision + BUMP));
  // A read at a revision of the old cluster: etcd's compacted error.
  const old = await run('etcdctl', [`--endpoints=${endpoints}`, 'get', 'pre/00150', `--rev=${savedRevision}`], { env, timeout: 30_000 }).then(
    () => undefined, (e: { code?: number; stderr?: string }) => e);
  t.truthy(old, 'get --rev of an old revision fails');
  t.regex(old?.stderr ?? '', /etcdserver: mvcc: required revision has been compacted/);
  // At the new latest revision (the compacted one, as etcd allows) every key is there.
  const atBump = await run('etcdctl', [`--endpoints=${endpoints}`, 'get', 'pre/00150', `--rev=${savedRevision + BUMP}`, '-w', 'json'], { env, timeout: 30_000 });
  t.is((JSON.parse(atBump.stdout) as { count: number }).count, 1);
  // A watch from an old revision is cancelled as compacted (etcdctl exits with the server's reason).
  const watch = await run('etcdctl', [`--endpoints=${members[1]!.client.replace('http://', '')}`, 'watch', 'pre/', '--prefix', `--rev=${savedRevision - 5}`], { env, timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  t.not(watch.code, 0, 'the watch ends');
  t.regex(`${watch.stdout}${watch.stderr}`, /required revision has been compacted/);
  t.is(watch.stdout.trim(), '', 'no events from the old revisions');
  // Keys all present, as in the snapshot.
  const client = new EtcdClient({ endpoints: members.map((m) => m.client), requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  t.teardown(() => client.close());
  const all = await client.get('', { fromKey: true });
  t.is(all.header.revision, savedRevision + BUMP);
  t.deepEqual(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision, kv.version]), atSnapshot.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision, kv.version]));
  // The next write is N+1 above the snapshot's revision.
  const put = await run('etcdctl', [`--endpoints=${endpoints}`, 'put', 'after-bump', 'x', '-w', 'json'], { env, timeout: 30_000 });
  t.is((JSON.parse(put.stdout) as { header: { revision: number } }).header.revision, savedRevision + BUMP + 1);
  const w2 = await client.get('after-bump');
  t.is(w2.kvs[0]!.modRevision, savedRevision + BUMP + 1);
  // After a restart of a member, the bump and compaction stay (from LevelDB).
  members[0]!.proc!.kill('SIGKILL');
  await new Promise<void>((r) => (members[0]!.proc!.exitCode !== null ? r() : members[0]!.proc!.once('exit', () => r())));
  await startRestored([members[0]!], initialCluster, 'bumped-cluster');
  const again = await run('etcdctl', [`--endpoints=${members[0]!.client.replace('http://', '')}`, 'get', 'pre/00150', `--rev=${savedRevision + 1}`], { env, timeout: 30_000 }).then(
    () => '', (e: { stderr?: string }) => e.stderr ?? 'failed');
  t.regex(again, /required revision has been compacted/);
});

test.serial('a damaged or truncated snapshot is refused by status and restore, leaving no data dir', async (t) => {
  const bytes = readFileSync(file);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)]! ^= 0x01;
  const bad = join(dir, 'flipped.db');
  writeFileSync(bad, flipped);
  const target = join(dir, 'never');
  const r = await storeCli(['snapshot', 'restore', bad, '--data-dir', target, '--name', 'x']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^Error: snapshot .*flipped\.db is corrupt: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64} \[SNAPSHOT_CHECKSUM_MISMATCH\]\n$/);
  t.false(existsSync(target));
  const st = await storeCli(['snapshot', 'status', bad]);
  t.is(st.code, 1);
  t.regex(st.stderr, /SNAPSHOT_CHECKSUM_MISMATCH/);

  const truncated = join(dir, 'truncated.db');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
  const tr = await storeCli(['snapshot', 'restore', truncated, '--data-dir', target, '--name', 'x']);
  t.is(tr.code, 1);
  t.regex(tr.stderr, /sha256 checksum not found \[bytes: \d+\].*\[SNAPSHOT_NO_CHECKSUM\]/);
  t.false(existsSync(target));
});

/** A TCP proxy that closes both sides once `limit` bytes came back from the server. */
function cuttingProxy(targetPort: number, limit: number): Promise<{ port: number; server: Server; cut: () => boolean }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    const up = connect(targetPort, '127.0.0.1');
    sockets.add(down).add(up);
    let back = 0;
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      back += d.length;
      if (back > limit) {
        cut = true;
        down.destroy();
        up.destroy();
        return;
      }
      down.write(d);
    });
    for (const s of [up, down]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        up.destroy();
        down.destroy();
      });
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server, cut: () => cut })));
}

test.serial('a stream cut in transit fails etcdctl snapshot save and leaves no file', async (t) => {
  const port = Number(cluster.endpoints[0]!.split(':')[1]);
  const proxy = await cuttingProxy(port, 200 * 1024);
  t.teardown(() => proxy.server.close());
  const out = join(dir, 'cut.db');
  const err = await run('etcdctl', [`--endpoints=127.0.0.1:${proxy.port}`, '--command-timeout=30s', 'snapshot', 'save', out], { env, timeout: 60_000 }).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  t.true(proxy.cut(), 'the proxy cut the stream');
  t.truthy(err, 'etcdctl snapshot save failed');
  t.not(err?.code, 0);
  t.false(existsSync(out));
  t.false(existsSync(`${out}.part`));
  // mkube-store's own save fails the same way.
  await t.throwsAsync(saveSnapshot(`http://127.0.0.1:${proxy.port}`, out, { timeoutMs: 30_000 }), { message: /snapshot from .* failed/ });
  t.false(existsSync(out));
  t.false(existsSync(`${out}.part`));
});

test.serial('the last member of a cluster that lost its quorum still gives its snapshot (recovery from a survivor)', async (t) => {
  // The survivor has applied every acknowledged write (a follower learns the commit index with the next heartbeat).
  const lastAcked = Math.max(...acked.values());
  const survivor = new EtcdClient({ endpoints: [cluster.members[1]!.clientURL], requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  t.teardown(() => survivor.close());
  const deadline = Date.now() + 10_000;
  while ((await survivor.get('live/', { prefix: true, countOnly: true, serializable: true })).header.revision < lastAcked) {
    if (Date.now() > deadline) throw new Error(`member 2 did not apply revision ${lastAcked}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await cluster.kill(0);
  await cluster.kill(2);
  const out = join(dir, 'survivor.db');
  await run('etcdctl', [`--endpoints=${cluster.endpoints[1]}`, '--command-timeout=30s', 'snapshot', 'save', out], { env, timeout: 60_000 });
  const st = await storeCli(['snapshot', 'status', out, '-w', 'json']);
  t.is(st.code, 0, st.stderr);
  // What the survivor had applied (every acknowledged write) is in its copy.
  t.true((JSON.parse(st.stdout) as { revision: number }).revision >= lastAcked);
});

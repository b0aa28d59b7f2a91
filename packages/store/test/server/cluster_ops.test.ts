// Operations on real mkube-store clusters: snapshot catch-up of a lagging
// member, leadership transfer on graceful stop, the backend quota, metrics and
// health, and mutual TLS on client and peer listeners.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StoreCluster } from '@mkube/testing';

const run = promisify(execFile);

async function etcdctl(endpoints: string[], args: string[], extra: string[] = []): Promise<string> {
  const { stdout } = await run('etcdctl', [`--endpoints=${endpoints.join(',')}`, '--command-timeout=10s', ...extra, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

async function metricValue(c: StoreCluster, i: number, name: string): Promise<number> {
  const text = await c.metrics(c.members[i]!);
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

test.serial('a member that missed many entries catches up through a snapshot', async (t) => {
  const c = await StoreCluster.start({ members: 3, extraArgs: ['--snapshot-count', '200', '--snapshot-catchup-entries', '50'] });
  t.teardown(() => c.stop());
  const leader = await c.leaderIndex();
  const lagging = (leader + 1) % 3;
  await c.kill(lagging);
  const live = c.endpoints.filter((_, i) => i !== lagging);
  // Enough writes for several snapshots and compactions on the others.
  // With one member down, any election on the loaded machine leaves the two others without a leader for
  // a moment and a put is refused ("no leader", "too many requests") or times out; each put writes the
  // same value again until acknowledged (the count of keys below is what the test is about), with the
  // refusals kept for the failure message.
  const refused: string[] = [];
  const put = async (key: string, value: string) => {
    for (const until = Date.now() + 60_000; ; ) {
      try {
        return await etcdctl(live, ['put', key, value]);
      } catch (err) {
        refused.push(String((err as Error).message).split('\n').filter(Boolean).pop() ?? '');
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  for (let round = 0; round < 12; round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => put(`lag/r${round}/${i}`, `v${i}`)));
  }
  if (refused.length > 0) t.log(`${refused.length} puts refused and written again (last: ${refused[refused.length - 1]})`);
  c.restart(lagging);
  await c.waitHealthy();
  const ep = [c.endpoints[lagging]!];
  let count = 0;
  let lastError = '';
  // A loaded machine (CI runs test files in parallel) may keep the restarted member busy installing
  // the snapshot: a read that times out is retried until the deadline.
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    try {
      const out = JSON.parse(await etcdctl(ep, ['get', 'lag/', '--prefix', '--keys-only', '--consistency=s', '-w', 'json'])) as { count?: number };
      count = out.count ?? 0;
    } catch (err) {
      lastError = String((err as Error).message).slice(0, 500);
    }
    if (count === 600) break;
  }
  const m = c.members[lagging]!;
  t.is(count, 600, `the restarted member has every key (serializable read from its own state); member ${m.proc?.exitCode === null ? 'running' : `exited ${String(m.proc?.exitCode)}`}; last error: ${lastError}\n${m.stderr.join('').slice(-3000)}`);
  const newLeader = await c.leaderIndex();
  t.true((await metricValue(c, newLeader, 'mkube_store_snapshots_sent_total')) >= 1, 'the leader streamed a snapshot');
});

test.serial('a graceful stop of the leader hands leadership over without an election timeout', async (t) => {
  const c = await StoreCluster.start({ members: 3 });
  t.teardown(() => c.stop());
  await etcdctl(c.endpoints, ['put', 'before', '1']);
  const leader = await c.leaderIndex();
  const others = c.endpoints.filter((_, i) => i !== leader);
  const t0 = Date.now();
  await c.kill(leader, 'SIGTERM');
  const stopMs = Date.now() - t0;
  // Decided by cause, not by a stopwatch: the moment the old leader has exited, another member
  // already is the leader. Without a hand-over none could be yet — an election starts only after
  // an election timeout (400–800 ms) of silence from the old leader, which has only just begun.
  // (Timing etcdctl's next write instead measured the machine's load: 483 ms seen on a loaded host.)
  const successor = await c.leaderIndex();
  t.true(successor >= 0 && successor !== leader, `another member leads as soon as the old leader has exited (found ${successor}; old ${leader})`);
  const t1 = Date.now();
  await etcdctl(others, ['put', 'after', '2']);
  const writeMs = Date.now() - t1;
  t.log(`leader stopped in ${stopMs} ms, member ${successor} leads at once; next write took ${writeMs} ms`);
  t.is(await etcdctl(others, ['get', 'after', '--print-value-only']), '2\n');
});

test.serial('the backend quota refuses writes with "database space exceeded" and still allows deletes', async (t) => {
  const c = await StoreCluster.start({ members: 1, extraArgs: ['--quota-backend-bytes', String(256 * 1024)] });
  t.teardown(() => c.stop());
  const value = 'q'.repeat(20_000);
  let error = '';
  for (let i = 0; i < 40 && !error; i++) {
    try {
      await etcdctl(c.endpoints, ['put', `q${i}`, value]);
    } catch (err) {
      error = (err as { stderr?: string }).stderr ?? '';
    }
  }
  t.regex(error, /etcdserver: mvcc: database space exceeded/);
  t.regex(await etcdctl(c.endpoints, ['del', 'q', '--prefix']), /^\d+\n$/);
  t.is((await c.health(c.members[0]!))?.health, 'true');
});

test.serial('metrics and health endpoints', async (t) => {
  const c = await StoreCluster.start({ members: 3 });
  t.teardown(() => c.stop());
  for (let i = 0; i < 10; i++) await etcdctl(c.endpoints, ['put', `m${i}`, 'v']);
  const leader = await c.leaderIndex();
  const text = await c.metrics(c.members[leader]!);
  for (const name of [
    'etcd_server_proposals_committed_total',
    'etcd_server_proposals_applied_total',
    'etcd_server_proposals_pending',
    'etcd_server_leader_changes_seen_total',
    'etcd_server_has_leader',
    'etcd_disk_wal_fsync_duration_seconds_bucket',
    'etcd_mvcc_db_total_size_in_bytes',
  ]) {
    t.regex(text, new RegExp(`^${name}`, 'm'), name);
  }
  t.true((await metricValue(c, leader, 'etcd_server_proposals_applied_total')) >= 10);
  t.true((await metricValue(c, leader, 'etcd_disk_wal_fsync_duration_seconds_count')) > 0);
  t.is(await metricValue(c, leader, 'etcd_server_is_leader'), 1);
  const h = await c.health(c.members[0]!);
  t.deepEqual(h, { health: 'true', reason: '' });
  // A member that lost its quorum reports itself unhealthy.
  await c.kill((leader + 1) % 3);
  await c.kill((leader + 2) % 3);
  let reason = '';
  for (const until = Date.now() + 10_000; Date.now() < until && !reason; await new Promise((r) => setTimeout(r, 200))) {
    const hh = await c.health(c.members[leader]!);
    if (hh?.health === 'false') reason = hh.reason;
  }
  t.is(reason, 'no leader');
});

function openssl(args: string[], cwd: string): Promise<unknown> {
  return run('openssl', args, { cwd });
}

test.serial('mutual TLS on client and peer listeners', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=mkube-test-ca'], dir);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const name of ['member', 'client']) {
    await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', 'san.cnf'], dir);
  }
  const f = (n: string) => join(dir, n);
  const c = await StoreCluster.start({
    members: 3,
    scheme: 'https',
    extraArgs: [
      '--cert-file', f('member.crt'), '--key-file', f('member.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
      '--peer-cert-file', f('member.crt'), '--peer-key-file', f('member.key'), '--peer-trusted-ca-file', f('ca.crt'), '--peer-client-cert-auth',
    ],
  });
  t.teardown(() => c.stop());
  const tls = ['--cacert', f('ca.crt'), '--cert', f('client.crt'), '--key', f('client.key')];
  t.is(await etcdctl(c.endpoints, ['put', 'secure', 'yes'], tls), 'OK\n');
  for (const ep of c.endpoints) t.is(await etcdctl([ep], ['get', 'secure', '--print-value-only'], tls), 'yes\n');
  // Without a client certificate the server refuses the connection.
  const noCert = await etcdctl(c.endpoints, ['get', 'secure', '--dial-timeout=2s', '--command-timeout=3s'], ['--cacert', f('ca.crt')]).then(
    () => 'succeeded',
    (e: { stderr?: string }) => e.stderr ?? 'failed',
  );
  t.not(noCert, 'succeeded');
});

// Five control planes and a worker built by `mkube up --control-planes 5 --workers 1` in the lab (deploy/lab/lab.sh
// --name mkh5 --subnet 248 --pod-prefix 27: hosts 10.213.248.11-16, their pod subnets /27s of 10.213.249.0/24,
// LoadBalancer pool 10.213.249.224/27), every host through mkube init / mkube join. Checked: 5 voting store members (no
// learner left), every API server ready and in the `kubernetes` Endpoints, kubectl 1.27/1.33 through the admin
// kubeconfig, the resident memory of every process (logged); the store leader's host SIGKILLed (every process of it),
// then a second control plane: with 2 of 5 down, writes are still acknowledged (kill → first acknowledged write,
// measured for each), kubectl works; `mkube leave` of a third control plane refused (it would leave 2 started of 4
// voters) and nothing stopped; `mkube start` on the two killed hosts: their members rejoin and catch up (every member
// at the same revision, the writes made while they were down served by their API servers), 5 API servers listed again.
// Bounds: set-up 8 min (measured 3-5), each test 2-4 min; the after hook stops every process, the lab and the
// data dir (mkube down, then every recorded pid, lab.sh down).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { labDown } from '@mkube/testing';
import { readState, stopProcess } from '@mkube/cli';
import { hostRss, KUBECTL, KUBECTL_127, killOnHost, Lab, mkube, mkubeOn, waitUntil, type HostRecord } from './ha_lab.js';

const LAB = 'mkh5';
const SUBNET = 248;
const POOL = '10.213.249.224/27';

let work = '';
let lab: Lab;
const killed: HostRecord[] = [];
let writes = 0;

/** Creates a ConfigMap through the first of `servers` that acknowledges it (1 s per try); the time it was acknowledged. */
async function firstAcknowledgedWrite(servers: HostRecord[], prefix: string, timeoutMs: number): Promise<number> {
  return waitUntil(`a write to be acknowledged (${prefix})`, timeoutMs, async () => {
    for (const h of servers) {
      const r = await lab.https(h.apiServer!, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${prefix}-${writes++}` }, data: { at: String(Date.now()) } }, 1000).catch(() => undefined);
      if (r?.status === 201) return Date.now();
    }
    return undefined;
  });
}

test.before(async (t) => {
  work = mkdtempSync(join(tmpdir(), 'mkube-ha5-'));
  lab = new Lab(join(work, 'cluster'), work);
  await labDown(LAB).catch(() => undefined);
  const started = Date.now();
  const r = await mkube(['up', '--control-planes', '5', '--workers', '1', '--data-dir', lab.dir, '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--lab-pod-prefix', '27', '--lb-address-pool', POOL], 480_000);
  if (r.code !== 0) throw new Error(`mkube up failed (${r.code}):\n${r.out}\n${r.err}`);
  t.log(`mkube up --control-planes 5 --workers 1: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  lab.load();
});

test.after.always(async () => {
  if (lab) {
    await mkube(['down', '--data-dir', lab.dir], 180_000);
    // Whatever a failed test left: every host's processes.
    for (const h of lab.hosts) for (const c of readState(h.dataDir)?.components ?? []) await stopProcess(c.pid, 2000).catch(() => undefined);
  }
  await labDown(LAB).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('5 voting store members (no learner), every API server ready and in the kubernetes Endpoints, kubectl 1.27/1.33; memory', async (t) => {
  t.is(lab.planes().length, 5);
  t.is(lab.workers().length, 1);
  const s = await waitUntil('a healthy cluster', 60_000, async () => {
    const st = await lab.status();
    return st.healthy ? st : undefined;
  });
  t.is(s.store!.members.length, 5);
  t.true(s.store!.members.every((m) => !m.learner && m.started), JSON.stringify(s.store));
  t.is(s.store!.members.filter((m) => m.leader).length, 1);
  t.deepEqual(s.apiServers!.map((a) => a.healthy), [true, true, true, true, true]);
  // Every API server is on every store member.
  for (const h of lab.planes()) {
    const api = readState(h.dataDir)!.components.find((c) => c.name === 'apiserver')!;
    const servers = api.command[api.command.indexOf('--etcd-servers') + 1]!.split(',');
    t.is(servers.length, 5, `${h.name}: ${servers.join(',')}`);
  }
  for (const bin of [KUBECTL, KUBECTL_127]) {
    const nodes = await lab.kubectl(['get', 'nodes', '--no-headers'], bin);
    t.is(nodes.code, 0, nodes.err);
    t.regex(nodes.out, new RegExp(`^${lab.workers()[0]!.name}\\s+Ready`, 'm'));
  }
  const contexts = await lab.kubectl(['config', 'get-contexts', '-o', 'name']);
  t.deepEqual(contexts.out.trim().split('\n').sort(), ['mkube', ...lab.planes().map((p) => `mkube-${p.name}`)].sort());
  await waitUntil('the kubernetes Endpoints to list 5 API servers', 60_000, async () => {
    const ep = await lab.kubectl(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.out.trim().split(/\s+/).sort().join(',') === lab.planes().map((p) => p.address).sort().join(',') ? true : undefined;
  });
  // Resident memory of every process: per kind (summed over hosts) and in all.
  const byKind: Record<string, number> = {};
  let total = 0;
  for (const h of lab.hosts) {
    for (const [name, kb] of Object.entries(hostRss(h))) {
      byKind[name] = (byKind[name] ?? 0) + kb;
      total += kb;
    }
  }
  t.log(`RSS: ${Object.entries(byKind).map(([k, kb]) => `${k} ${(kb / 1024).toFixed(0)} MB`).join(', ')}; total ${(total / 1024).toFixed(0)} MB`);
  t.true(total > 0);
});

test.serial('the store leader\'s host and then a second control plane SIGKILLed: writes acknowledged with 2 of 5 down, kubectl works', async (t) => {
  const before = await lab.status();
  const leaderName = before.store!.members.find((m) => m.leader)!.name;
  const first = lab.planes().find((h) => h.name === leaderName)!;
  let killedAt = Date.now();
  t.true(killOnHost(first).length >= 4, 'every process of the leader\'s host');
  killed.push(first);
  const live = () => lab.planes().filter((h) => !killed.includes(h));
  let ackAt = await firstAcknowledgedWrite(live(), 'after-leader-kill', 30_000);
  t.log(`store leader ${first.name}'s host SIGKILLed: first acknowledged write after ${ackAt - killedAt} ms`);
  t.true(ackAt - killedAt < 10_000);
  await waitUntil('a new store leader', 30_000, async () => {
    const s = await lab.status();
    const l = s.store?.members.find((m) => m.leader);
    return l && l.name !== leaderName ? true : undefined;
  });

  // A second control plane (not the new leader: a follower's loss must not cost an election; the leader's was measured above).
  const now = await lab.status();
  const second = live().find((h) => !now.store!.members.find((m) => m.name === h.name)?.leader)!;
  killedAt = Date.now();
  t.true(killOnHost(second).length >= 4);
  killed.push(second);
  ackAt = await firstAcknowledgedWrite(live(), 'after-second-kill', 30_000);
  t.log(`second control plane ${second.name} SIGKILLed (2 of 5 down): first acknowledged write after ${ackAt - killedAt} ms`);
  t.true(ackAt - killedAt < 10_000);
  const s = await lab.status();
  t.is(s.store!.members.filter((m) => m.started).length, 3, JSON.stringify(s.store));
  t.is(s.store!.members.filter((m) => m.leader).length, 1);
  // kubectl through the admin kubeconfig: the contexts of live control planes (kubectl keeps one server per context).
  const ctx = (i: number) => `--context=mkube-${live()[i]!.name}`;
  const created = await lab.kubectl([ctx(0), 'create', 'configmap', 'two-down', '--from-literal=k=v']);
  t.is(created.code, 0, created.err);
  const got = await lab.kubectl([ctx(1), 'get', 'configmap', 'two-down', '-o', 'jsonpath={.data.k}']);
  t.is(got.out, 'v', got.err);
  const nodes = await lab.kubectl([ctx(2), 'get', 'nodes', '--no-headers']);
  t.regex(nodes.out, new RegExp(`^${lab.workers()[0]!.name}\\s+Ready`, 'm'));
  // The dead API servers leave the kubernetes Endpoints once their leases expire.
  await waitUntil('the kubernetes Endpoints to list the 3 live API servers', 60_000, async () => {
    const ep = await lab.kubectl([ctx(0), 'get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.out.trim().split(/\s+/).sort().join(',') === live().map((p) => p.address).sort().join(',') ? true : undefined;
  });
});

test.serial('mkube leave of a third control plane is refused below quorum (nothing stopped)', async (t) => {
  const third = lab.planes().find((h) => !killed.includes(h))!;
  const refused = await mkubeOn(third, ['leave', '--data-dir', third.dataDir], 60_000);
  t.is(refused.code, 1, refused.out);
  t.regex(refused.err, /re-configuration failed due to not enough started members.*use --force/);
  t.true(readState(third.dataDir)!.components.every((c) => { try { process.kill(c.pid, 0); return true; } catch { return false; } }), 'nothing stopped');
  const s = await lab.status();
  t.is(s.store!.members.length, 5, 'no member removed');
  t.is(s.store!.members.filter((m) => m.started).length, 3);
});

test.serial('mkube start on the killed hosts: their members rejoin and catch up, 5 API servers serve and are listed again', async (t) => {
  const restartedAt = Date.now();
  for (const h of killed) {
    const r = await mkubeOn(h, ['start', '--data-dir', h.dataDir], 60_000);
    t.is(r.code, 0, `${r.out}\n${r.err}`);
    t.regex(r.out, /started again: store, apiserver/);
  }
  const s = await waitUntil('5 started voters and 5 ready API servers', 120_000, async () => {
    const st = await lab.status();
    return st.store?.members.length === 5 && st.store.members.every((m) => m.started && !m.learner) && st.apiServers?.every((a) => a.healthy) ? st : undefined;
  });
  t.log(`${killed.map((h) => h.name).join(', ')} back (5 started voters, 5 API servers ready) ${Date.now() - restartedAt} ms after mkube start`);
  t.is(s.store!.members.filter((m) => m.leader).length, 1);
  // Caught up: after one more write, every member reports the same revision; the restarted hosts' API servers serve the
  // objects written while they were down.
  const last = await lab.kubectl(['create', 'configmap', 'after-restart']);
  t.is(last.code, 0, last.err);
  const revisions = await waitUntil('every member at the same revision', 30_000, async () => {
    const rs = await Promise.all(lab.planes().map((h) => lab.memberStatus(h).then((m) => m.revision)));
    return rs.every((r) => r === rs[0]) ? rs : undefined;
  });
  t.log(`every member at revision ${revisions[0]}`);
  for (const h of killed) {
    for (const name of ['two-down', 'after-restart']) {
      const r = await lab.https(h.apiServer!, 'GET', `/api/v1/namespaces/default/configmaps/${name}`, undefined, 5000);
      t.is(r.status, 200, `${h.name}: ${name}`);
    }
  }
  await waitUntil('the kubernetes Endpoints to list 5 API servers again', 60_000, async () => {
    const ep = await lab.kubectl(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.out.trim().split(/\s+/).sort().join(',') === lab.planes().map((p) => p.address).sort().join(',') ? true : undefined;
  });
  const healthy = await waitUntil('mkube status healthy', 60_000, async () => ((await lab.status()).healthy ? true : undefined));
  t.true(healthy);
});

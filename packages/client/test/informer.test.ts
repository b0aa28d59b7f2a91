import test from 'ava';
import { Informer, KubeClient, keyOf, loadKubeconfig, Resources, type KubeObject, type ResourceClient } from '../src/index.js';
import { eventually, sleep, startFixture, type Fixture } from './helpers/cluster.js';

const cm = (name: string, labels?: Record<string, string>, data: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });

/** Tracks what the handlers were told, failing on impossible sequences (add of a known key, update/delete of an unknown one). */
function recorder(inf: Informer<KubeObject>) {
  const state = new Map<string, string>();
  const anomalies: string[] = [];
  const log: string[] = [];
  inf.addEventHandler({
    add(o) {
      if (state.has(keyOf(o))) anomalies.push(`duplicate add ${keyOf(o)}`);
      state.set(keyOf(o), o.metadata.resourceVersion!);
      log.push(`add ${keyOf(o)}`);
    },
    update(old, cur) {
      if (!state.has(keyOf(cur))) anomalies.push(`update of unknown ${keyOf(cur)}`);
      if (state.get(keyOf(old)) !== old.metadata.resourceVersion) anomalies.push(`update old rv mismatch ${keyOf(cur)}`);
      state.set(keyOf(cur), cur.metadata.resourceVersion!);
      log.push(`update ${keyOf(cur)}`);
    },
    delete(o) {
      if (!state.delete(keyOf(o))) anomalies.push(`delete of unknown ${keyOf(o)}`);
      log.push(`delete ${keyOf(o)}`);
    },
  });
  return { state, anomalies, log };
}

async function freshState(rc: ResourceClient, namespace: string): Promise<Map<string, string>> {
  const { items } = await rc.list(namespace);
  return new Map(items.map((o) => [keyOf(o), o.metadata.resourceVersion!]));
}

function cacheState(inf: Informer<KubeObject>): Map<string, string> {
  return new Map(inf.list().map((o) => [keyOf(o), o.metadata.resourceVersion!]));
}

async function mkns(c: KubeClient, name: string): Promise<void> {
  await c.resource(Resources.namespaces).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

test.serial('informer: initial list, add/update/delete events, get/list, byIndex, selectors, resync', async (t) => {
  const c = fx.client();
  await mkns(c, 'inf1');
  const cms = c.resource(Resources.configmaps);
  await cms.create('inf1', cm('pre', { app: 'a' }));
  const inf = new Informer(cms, { namespace: 'inf1' });
  inf.addIndexer('app', (o) => (o.metadata.labels?.app ? [o.metadata.labels.app] : []));
  const rec = recorder(inf);
  t.false(inf.hasSynced());
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync(5000);
  t.true(inf.hasSynced());
  t.deepEqual(rec.log, ['add inf1/pre']);
  t.is(inf.get('inf1/pre')?.metadata.name, 'pre');

  const x = await cms.create('inf1', cm('x', { app: 'b' }));
  await eventually('add of x', () => inf.get('inf1/x'));
  t.deepEqual(inf.byIndex('app', 'b').map((o) => o.metadata.name), ['x']);
  await cms.update({ ...x, metadata: { ...x.metadata, labels: { app: 'a' } } });
  await eventually('x relabelled', () => inf.byIndex('app', 'a').length === 2);
  t.deepEqual(inf.byIndex('app', 'b'), []);
  await cms.delete('inf1', 'x');
  await eventually('delete of x', () => !inf.get('inf1/x'));
  t.deepEqual(inf.byIndex('app', 'a').map((o) => o.metadata.name), ['pre']);
  t.deepEqual(rec.log, ['add inf1/pre', 'add inf1/x', 'update inf1/x', 'delete inf1/x']);
  t.deepEqual(rec.anomalies, []);

  // Another namespace is invisible to a namespaced informer; a label-selected informer sees only matches.
  await mkns(c, 'inf1b');
  await cms.create('inf1b', cm('elsewhere', { app: 'a' }));
  const sel = new Informer(cms, { labelSelector: 'app=a' });
  sel.start();
  t.teardown(() => sel.stop());
  await sel.waitForSync(5000);
  t.deepEqual(sel.list().map(keyOf).sort(), ['inf1/pre', 'inf1b/elsewhere']);
  await sleep(200);
  t.falsy(inf.get('inf1b/elsewhere'));

  // Resync re-delivers update(o, o) for cached objects.
  const resyncing = new Informer(cms, { namespace: 'inf1', resyncMs: 100 });
  const resyncs: string[] = [];
  resyncing.addEventHandler({ update: (old, cur) => old === cur && resyncs.push(keyOf(cur)) });
  resyncing.start();
  t.teardown(() => resyncing.stop());
  await eventually('two resyncs', () => resyncs.length >= 2, 3000);
  t.true(resyncs.every((k) => k === 'inf1/pre'));
});

test.serial('informer survives an API server restart, catching up on changes made meanwhile (watch resumes, no relist)', async (t) => {
  const c = fx.client();
  await mkns(c, 'inf2');
  const cms = c.resource(Resources.configmaps);
  for (let i = 0; i < 10; i++) await cms.create('inf2', cm(`o${i}`));
  const errors: unknown[] = [];
  const inf = new Informer(cms, { namespace: 'inf2', backoffInitialMs: 50, backoffMaxMs: 400, onError: (e) => errors.push(e) });
  const rec = recorder(inf);
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync(5000);
  t.is(inf.listCount, 1);

  await fx.restartApiServer(async () => {
    // While this API server is down, another one (same etcd) takes writes.
    const side = await fx.startExtraApiServer();
    try {
      const sc = new KubeClient(loadKubeconfig(side.kubeconfigPath));
      const scm = sc.resource(Resources.configmaps);
      for (let i = 0; i < 5; i++) await scm.delete('inf2', `o${i}`);
      for (let i = 5; i < 8; i++) await scm.patch('inf2', `o${i}`, { data: { changed: 'yes' } });
      for (let i = 10; i < 14; i++) await scm.create('inf2', cm(`o${i}`));
      sc.close();
    } finally {
      await side.stop();
    }
    await sleep(300); // let the informer notice and back off
  });
  // And more after the restart.
  await cms.create('inf2', cm('after'));
  await cms.delete('inf2', 'o13');
  const fresh = await freshState(cms, 'inf2');
  await eventually('cache equals a fresh list', () => JSON.stringify([...cacheState(inf)].sort()) === JSON.stringify([...fresh].sort()), 15_000);
  t.deepEqual(new Map([...rec.state].sort()), new Map([...fresh].sort()));
  t.deepEqual(rec.anomalies, []);
  t.true(errors.length > 0, 'the watch did fail while the server was down');
  t.is(inf.listCount, 1, 'resumed from its resourceVersion without relisting');
  t.is(rec.log.filter((l) => l.startsWith('delete')).length, 6);
});

test.serial('informer relists after 410 Gone (resourceVersion compacted away) without missing or duplicating state', async (t) => {
  const c = fx.client();
  await mkns(c, 'inf3');
  const cms = c.resource(Resources.configmaps);
  for (let i = 0; i < 10; i++) await cms.create('inf3', cm(`o${i}`, { gen: '1' }));
  const inf = new Informer(cms, { namespace: 'inf3', backoffInitialMs: 50, backoffMaxMs: 400 });
  inf.addIndexer('gen', (o) => [o.metadata.labels?.gen ?? '']);
  const rec = recorder(inf);
  inf.start();
  t.teardown(() => inf.stop());
  await inf.waitForSync(5000);
  const rvBefore = inf.lastSyncResourceVersion();

  await fx.restartApiServer(async () => {
    const side = await fx.startExtraApiServer();
    try {
      const sc = new KubeClient(loadKubeconfig(side.kubeconfigPath));
      const scm = sc.resource(Resources.configmaps);
      for (let i = 0; i < 4; i++) await scm.delete('inf3', `o${i}`);
      for (let i = 4; i < 7; i++) await scm.patch('inf3', `o${i}`, { metadata: { labels: { gen: '2' } } });
      // Deleted and re-created under the same name: a new uid the informer must pick up.
      await scm.delete('inf3', 'o9');
      await scm.create('inf3', cm('o9', { gen: '2' }));
      for (let i = 10; i < 13; i++) await scm.create('inf3', cm(`o${i}`, { gen: '2' }));
      sc.close();
    } finally {
      await side.stop();
    }
    const rev = await fx.compactEtcd();
    t.true(rev > Number(rvBefore));
  });
  const fresh = await freshState(cms, 'inf3');
  await eventually('cache equals a fresh list', () => JSON.stringify([...cacheState(inf)].sort()) === JSON.stringify([...fresh].sort()), 15_000);
  t.true(inf.listCount >= 2, 'relisted');
  t.deepEqual(new Map([...rec.state].sort()), new Map([...fresh].sort()));
  t.deepEqual(rec.anomalies, []);
  t.deepEqual(inf.byIndex('gen', '2').map((o) => o.metadata.name).sort(), ['o10', 'o11', 'o12', 'o4', 'o5', 'o6', 'o9']);
  t.deepEqual(inf.byIndex('gen', '1').map((o) => o.metadata.name).sort(), ['o7', 'o8']);
  const o9 = await cms.get('inf3', 'o9');
  t.is(inf.get('inf3/o9')?.metadata.uid, o9.metadata.uid);
  t.deepEqual(rec.log.filter((l) => l.endsWith(' inf3/o9')).slice(-2), ['delete inf3/o9', 'add inf3/o9'], 'a re-created object is a delete and an add, not an update');

  // And it keeps watching after the relist.
  await cms.create('inf3', cm('late'));
  await eventually('late object', () => inf.get('inf3/late'));
  t.deepEqual(rec.anomalies, []);
});

// DeleteOptions.propagationPolicy: Orphan and Foreground put the garbage collector's finalizers on the
// object (it stays, with a deletionTimestamp, until the collector is done); Background deletes at once.
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });

for (const [policy, finalizer] of [['Orphan', 'orphan'], ['Foreground', 'foregroundDeletion']] as const) {
  test.serial(`propagationPolicy ${policy} adds the ${finalizer} finalizer and keeps the object`, async (t) => {
    const name = `p-${policy.toLowerCase()}`;
    t.is((await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm(name))).status, 201);
    const del = await api(fx.server, 'DELETE', `/api/v1/namespaces/default/configmaps/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: policy });
    t.is(del.status, 202);
    t.deepEqual(del.body.metadata.finalizers, [finalizer]);
    t.truthy(del.body.metadata.deletionTimestamp);
    const got = await api(fx.server, 'GET', `/api/v1/namespaces/default/configmaps/${name}`);
    t.is(got.status, 200);
    // The collector removes its finalizer when it is done: then the object goes.
    const upd = await api(fx.server, 'PUT', `/api/v1/namespaces/default/configmaps/${name}`, { ...got.body, metadata: { ...got.body.metadata, finalizers: [] } });
    t.is(upd.status, 200);
    t.is((await api(fx.server, 'GET', `/api/v1/namespaces/default/configmaps/${name}`)).status, 404);
  });
}

test.serial('legacy orphanDependents and Background; an unsupported policy is 422', async (t) => {
  await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('legacy'));
  const del = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/legacy', { kind: 'DeleteOptions', apiVersion: 'v1', orphanDependents: true });
  t.deepEqual(del.body.metadata.finalizers, ['orphan']);
  await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('bg'));
  t.is((await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/bg?propagationPolicy=Background')).status, 200);
  t.is((await api(fx.server, 'GET', '/api/v1/namespaces/default/configmaps/bg')).status, 404);
  await api(fx.server, 'POST', '/api/v1/namespaces/default/configmaps', cm('bad'));
  const bad = await api(fx.server, 'DELETE', '/api/v1/namespaces/default/configmaps/bad?propagationPolicy=Sideways');
  t.is(bad.status, 422);
  t.regex(bad.body.message, /propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan"/);
});

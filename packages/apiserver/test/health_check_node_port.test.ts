// spec.healthCheckNodePort of LoadBalancer Services with externalTrafficPolicy Local, through a real
// API server on etcd: allocated from the node-port range when missing, a requested one honoured or
// refused, kept across updates, released (and reusable) when the policy changes to Cluster or the
// Service is deleted.
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], selector: { app: name }, ...spec } });
const path = (name = '') => `/api/v1/namespaces/default/services${name ? `/${name}` : ''}`;

test.serial('allocated when missing, kept on update, released when the policy goes to Cluster', async (t) => {
  const s = fx.server;
  const c = await api(s, 'POST', path(), svc('local', { externalTrafficPolicy: 'Local' }));
  t.is(c.status, 201);
  const hc = c.body.spec.healthCheckNodePort as number;
  t.true(hc >= 30000 && hc <= 32767, String(hc));
  t.not(hc, c.body.spec.ports[0].nodePort);
  const cur = (await api(s, 'GET', path('local'))).body;
  const spec = { ...cur.spec };
  delete spec.healthCheckNodePort;
  const u = await api(s, 'PUT', path('local'), { ...cur, spec });
  t.is(u.body.spec.healthCheckNodePort, hc, 'kept when an update leaves it out');
  t.is((await api(s, 'POST', path(), svc('clash', { externalTrafficPolicy: 'Local', healthCheckNodePort: hc }))).status, 422, 'taken');
  const c2 = await api(s, 'PATCH', path('local'), { spec: { externalTrafficPolicy: 'Cluster' } }, { contentType: 'application/merge-patch+json' });
  t.is(c2.status, 200);
  t.is(c2.body.spec.healthCheckNodePort, undefined);
  const again = await api(s, 'POST', path(), svc('reuse', { externalTrafficPolicy: 'Local', healthCheckNodePort: hc }));
  t.is(again.status, 201, 'released: the port is free again');
  t.is(again.body.spec.healthCheckNodePort, hc);
  t.is((await api(s, 'POST', path(), svc('outside', { externalTrafficPolicy: 'Local', healthCheckNodePort: 80 }))).body.details?.causes?.[0]?.field, 'spec.healthCheckNodePort');
  await api(s, 'DELETE', path('reuse'));
  const afterDelete = await api(s, 'POST', path(), svc('after', { externalTrafficPolicy: 'Local', healthCheckNodePort: hc }));
  t.is(afterDelete.status, 201, 'released on delete');
  t.is((await api(s, 'POST', path(), svc('cluster', {}))).body.spec.healthCheckNodePort, undefined, 'none for Cluster policy');
});

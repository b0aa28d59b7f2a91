// SetDefaults_Namespace over real HTTPS: every Namespace carries kubernetes.io/metadata.name=<its name>
// (created by name or generateName), and an update or patch that changes or removes it gets it back —
// NetworkPolicy namespaceSelectors rely on it, as upstream's do.
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const LABEL = 'kubernetes.io/metadata.name';
let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

type Ns = { metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string } };

test('a namespace gets kubernetes.io/metadata.name on create (name and generateName) and keeps it through update and patch', async (t) => {
  const created = await api(fx.server, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tier: 'x', [LABEL]: 'forged' } } });
  t.is(created.status, 201);
  t.deepEqual((created.body as Ns).metadata.labels, { tier: 'x', [LABEL]: 'team-a' });
  const generated = await api(fx.server, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: 'gen-' } });
  t.is(generated.status, 201);
  const g = generated.body as Ns;
  t.is(g.metadata.labels?.[LABEL], g.metadata.name);

  const current = (await api(fx.server, 'GET', '/api/v1/namespaces/team-a')).body as Ns;
  const put = await api(fx.server, 'PUT', '/api/v1/namespaces/team-a', { ...current, metadata: { ...current.metadata, labels: { tier: 'y' } } });
  t.is(put.status, 200);
  t.deepEqual((put.body as Ns).metadata.labels, { tier: 'y', [LABEL]: 'team-a' });
  const patched = await api(fx.server, 'PATCH', '/api/v1/namespaces/team-a', { metadata: { labels: { [LABEL]: null } } }, { contentType: 'application/merge-patch+json' });
  t.is(patched.status, 200);
  t.is((patched.body as Ns).metadata.labels?.[LABEL], 'team-a');
});

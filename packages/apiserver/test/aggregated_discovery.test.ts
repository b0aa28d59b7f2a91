// Aggregated discovery: /api and /apis answer an APIGroupDiscoveryList when asked for it (kubectl 1.28+
// asks for v2 then v2beta1, kubectl 1.27 for v2beta1), and the plain documents otherwise.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const run = promisify(execFile);
let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

test('/apis as APIGroupDiscoveryList v2 with resources, scopes, verbs, short names and subresources', async (t) => {
  const r = await api(fx.server, 'GET', '/apis', undefined, { accept: V2 });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  t.is(r.body.kind, 'APIGroupDiscoveryList');
  t.is(r.body.apiVersion, 'apidiscovery.k8s.io/v2');
  const apps = r.body.items.find((g: { metadata: { name: string } }) => g.metadata.name === 'apps');
  const deploy = apps.versions[0].resources.find((x: { resource: string }) => x.resource === 'deployments');
  t.like(deploy, { responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' }, scope: 'Namespaced', singularResource: 'deployment', shortNames: ['deploy'] });
  t.true(deploy.verbs.includes('watch'));
  t.like(deploy.subresources.find((s: { subresource: string }) => s.subresource === 'scale'), { responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' } });
  t.false(r.body.items.some((g: { metadata: { name: string } }) => g.metadata.name === ''), 'the core group is under /api');
});

test('/api as v2beta1 for kubectl 1.27; plain JSON when not asked', async (t) => {
  const r = await api(fx.server, 'GET', '/api', undefined, { accept: V2BETA1 });
  t.is(r.body.apiVersion, 'apidiscovery.k8s.io/v2beta1');
  const core = r.body.items[0];
  t.is(core.metadata.name, '');
  const pods = core.versions[0].resources.find((x: { resource: string }) => x.resource === 'pods');
  t.like(pods, { scope: 'Namespaced', shortNames: ['po'] });
  t.truthy(pods.subresources.find((s: { subresource: string }) => s.subresource === 'exec'));
  const nodes = core.versions[0].resources.find((x: { resource: string }) => x.resource === 'nodes');
  t.is(nodes.scope, 'Cluster');
  const plain = await api(fx.server, 'GET', '/api', undefined, { accept: 'application/json' });
  t.is(plain.body.kind, 'APIVersions');
});

for (const v of ['27', '33']) {
  test(`kubectl 1.${v} discovers resources through aggregated discovery`, async (t) => {
    const { stdout, stderr } = await run(`/usr/lib/google-cloud-sdk/bin/kubectl.1.${v}`, ['--kubeconfig', fx.server.kubeconfigPath, '--cache-dir', `${fx.dir}/kc-${v}`, 'api-resources', '-v=6'], { timeout: 60_000 });
    t.regex(stdout, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
    t.regex(stdout, /pods\s+po\s+v1\s+true\s+Pod/);
    // No per-group-version discovery requests: the aggregated documents were enough.
    t.notRegex(stderr, /GET https:\/\/[^ ]+\/apis\/apps\/v1\?/);
  });
}

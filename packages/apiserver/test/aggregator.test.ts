// The aggregation layer against a real API server: an APIService naming a
// Service whose Endpoints point at a tiny HTTPS backend in this process
// (serving certificate checked against the APIService's caBundle; the
// backend requires the API server's front-proxy client certificate and reads
// the user from X-Remote-User / X-Remote-Group). Available conditions for a
// missing Service, missing endpoints and a live backend; discovery (/apis,
// aggregated, kubectl api-resources) lists the group; kubectl get --raw and a
// user's request reach the backend with that user's name; RBAC applies.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { kubeconfig } from '../src/auth/pki.js';
import { api, startFixture, watchEvents, type Fixture } from './helpers/cluster.js';

const GROUP = 'wardle.example.com';
const NAME = `v1alpha1.${GROUP}`;
const NS = 'wardle';
const BIN = '/usr/lib/google-cloud-sdk/bin';

interface Seen { path: string; user: string | undefined; groups: string[]; authorization: string | undefined; peer: string | undefined }
let fx: Fixture;
let backend: Server;
let backendPort: number;
/** Endpoints may not hold loopback addresses (as upstream's validation): the backend listens on this host's first non-loopback IPv4 address. */
let backendIp: string;
let caBundle: string;
let certDir: string;
const seen: Seen[] = [];

const RESOURCE_LIST = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: `${GROUP}/v1alpha1`,
  resources: [
    { name: 'flunders', singularName: 'flunder', namespaced: true, kind: 'Flunder', verbs: ['get', 'list', 'create'], shortNames: ['fl'] },
    { name: 'flunders/status', singularName: '', namespaced: true, kind: 'Flunder', verbs: ['get'] },
  ],
};

test.before(async () => {
  fx = await startFixture();
  certDir = await mkdtemp(join(tmpdir(), 'mkube-aggregated-'));
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: certDir, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  ossl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=wardle-ca', '-days', '1', '-out', 'ca.crt', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'srv.key']);
  ossl(['req', '-new', '-key', 'srv.key', '-subj', '/CN=api.wardle.svc', '-out', 'srv.csr']);
  await writeFile(join(certDir, 'srv.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:api.wardle.svc\n');
  ossl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'srv.ext', '-out', 'srv.crt']);
  caBundle = readFileSync(join(certDir, 'ca.crt'), 'utf8');
  const frontProxyCa = readFileSync(join(fx.server.pki.dir, 'front-proxy-ca.crt'), 'utf8');
  backend = createServer({ key: readFileSync(join(certDir, 'srv.key')), cert: readFileSync(join(certDir, 'srv.crt')), ca: frontProxyCa, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
    const peer = Array.isArray(cn) ? cn[0] : cn;
    const groups = req.headersDistinct['x-remote-group'] ?? []; // one header line per group, as upstream sends them
    seen.push({ path: req.url ?? '', user: req.headers['x-remote-user'] as string | undefined, groups, authorization: req.headers.authorization as string | undefined, peer });
    if (peer !== 'front-proxy-client' || !req.headers['x-remote-user']) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
    }
    const path = (req.url ?? '').split('?')[0];
    res.setHeader('Content-Type', 'application/json');
    if (path === `/apis/${GROUP}/v1alpha1`) return res.end(JSON.stringify(RESOURCE_LIST));
    if (path === `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`) {
      return res.end(JSON.stringify({ kind: 'FlunderList', apiVersion: `${GROUP}/v1alpha1`, metadata: {}, items: [{ kind: 'Flunder', apiVersion: `${GROUP}/v1alpha1`, metadata: { name: 'f1', namespace: 'default' }, servedTo: req.headers['x-remote-user'] }] }));
    }
    res.writeHead(404);
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });
  const ip = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
  if (!ip) throw new Error('this test needs a non-loopback IPv4 address (Endpoints reject 127.0.0.0/8)');
  backendIp = ip.address;
  await new Promise<void>((resolve) => backend.listen(0, backendIp, resolve));
  backendPort = (backend.address() as AddressInfo).port;
});

test.after.always(async () => {
  backend?.closeAllConnections();
  await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  await fx?.stop();
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

function kubectl(bin: string, args: string[], config: string, home: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...process.env, KUBECONFIG: config, HOME: home }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** Waits (on a watch) until the APIService's Available condition has this status and reason. */
async function availableBecomes(status: string, reason: string): Promise<{ status: string; reason: string; message: string }> {
  const events = await watchEvents(fx.server, `/apis/apiregistration.k8s.io/v1/apiservices?watch=1&fieldSelector=metadata.name%3D${NAME}`, (evs) => evs.some((e) => (e.object?.status?.conditions ?? []).some((c: { type: string; status: string; reason: string }) => c.type === 'Available' && c.status === status && c.reason === reason)), 20_000);
  const last = [...events].reverse().find((e) => (e.object?.status?.conditions ?? []).some((c: { type: string; status: string; reason: string }) => c.type === 'Available' && c.status === status && c.reason === reason));
  return last?.object?.status?.conditions?.find((c: { type: string }) => c.type === 'Available') ?? { status: 'none', reason: 'none', message: JSON.stringify(events.map((e) => e.object?.status)) };
}

test.serial('APIService validation as the kube-aggregator (422 with upstream messages)', async (t) => {
  const bad = await api(fx.server, 'POST', '/apis/apiregistration.k8s.io/v1/apiservices', { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1.wrong.example.com' }, spec: { group: 'other.example.com', version: 'v1', groupPriorityMinimum: 0, versionPriority: 10, service: { namespace: 'x', name: 'y' }, insecureSkipTLSVerify: true, caBundle: Buffer.from('x').toString('base64') } });
  t.is(bad.status, 422, bad.text);
  t.is(bad.body.reason, 'Invalid');
  t.true(bad.body.message.startsWith('APIService.apiregistration.k8s.io "v1.wrong.example.com" is invalid: ['), bad.body.message);
  t.true(bad.body.message.includes('metadata.name: Invalid value: "v1.wrong.example.com": must be `spec.version+"."+spec.group`: "v1.other.example.com"'), bad.body.message);
  t.true(bad.body.message.includes('spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000'), bad.body.message);
  t.true(bad.body.message.includes('spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present'), bad.body.message);
});

test.serial('Available: ServiceNotFound, MissingEndpoints, then True against the live backend; proxied requests carry the user', async (t) => {
  t.is((await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } })).status, 201);
  const created = await api(fx.server, 'POST', '/apis/apiregistration.k8s.io/v1/apiservices', {
    apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: NAME },
    spec: { group: GROUP, version: 'v1alpha1', groupPriorityMinimum: 1000, versionPriority: 15, service: { namespace: NS, name: 'api', port: 443 }, caBundle: Buffer.from(caBundle).toString('base64') },
  });
  t.is(created.status, 201, created.text);

  const missing = await availableBecomes('False', 'ServiceNotFound');
  t.is(missing.message, `service/api in "${NS}" is not present`);
  // Requests for the group while it is unavailable: 503 as upstream's proxy.
  const unavailable = await api(fx.server, 'GET', `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`);
  t.is(unavailable.status, 503);
  t.is(unavailable.text, 'service unavailable\n');

  t.is((await api(fx.server, 'POST', `/api/v1/namespaces/${NS}/services`, { metadata: { name: 'api' }, spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 }] } })).status, 201);
  t.is((await api(fx.server, 'POST', `/api/v1/namespaces/${NS}/endpoints`, { metadata: { name: 'api' }, subsets: [] })).status, 201);
  const noAddresses = await availableBecomes('False', 'MissingEndpoints');
  t.is(noAddresses.message, `endpoints for service/api in "${NS}" have no addresses with port name "https"`);

  const ep = await api(fx.server, 'PUT', `/api/v1/namespaces/${NS}/endpoints/api`, { metadata: { name: 'api', namespace: NS }, subsets: [{ addresses: [{ ip: backendIp }], ports: [{ name: 'https', port: backendPort }] }] });
  t.is(ep.status, 200, ep.text);
  const live = await availableBecomes('True', 'Passed');
  t.is(live.message, 'all checks passed');
  t.true(seen.some((s) => s.path === `/apis/${GROUP}/v1alpha1` && s.user === 'system:kube-aggregator' && s.peer === 'front-proxy-client'), JSON.stringify(seen));

  // Discovery lists the group, plain and aggregated.
  const apis = await api(fx.server, 'GET', '/apis');
  const g = apis.body.groups.find((x: { name: string }) => x.name === GROUP);
  t.deepEqual(g, { name: GROUP, versions: [{ groupVersion: `${GROUP}/v1alpha1`, version: 'v1alpha1' }], preferredVersion: { groupVersion: `${GROUP}/v1alpha1`, version: 'v1alpha1' } });
  const agg = await api(fx.server, 'GET', '/apis', undefined, { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' });
  const item = agg.body.items.find((i: { metadata: { name: string } }) => i.metadata.name === GROUP);
  t.is(item?.versions?.[0]?.resources?.[0]?.resource, 'flunders', JSON.stringify(item));
  t.deepEqual(item.versions[0].resources[0].subresources, [{ subresource: 'status', responseKind: { group: GROUP, version: 'v1alpha1', kind: 'Flunder' }, verbs: ['get'] }]);

  // The user's identity reaches the backend; forged identity headers and credentials do not.
  const forged = await api(fx.server, 'GET', `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`);
  t.is(forged.status, 200, forged.text);
  t.is(forged.body.items[0].servedTo, 'kubernetes-admin');
  const last = seen[seen.length - 1]!;
  t.deepEqual(last.groups.sort(), ['system:authenticated', 'system:masters']);
  t.is(last.authorization, undefined);
});

test.serial('kubectl 1.27 and 1.33: get --raw, api-resources, get apiservices, and a user reaching the backend under RBAC', async (t) => {
  // alice may list flunders; bob has no binding.
  t.is((await api(fx.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'flunder-reader' }, rules: [{ apiGroups: [GROUP], resources: ['flunders'], verbs: ['get', 'list'] }] })).status, 201);
  t.is((await api(fx.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { metadata: { name: 'alice-flunders' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flunder-reader' }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }] })).status, 201);
  const aliceConfig = join(fx.dir, 'alice-agg.kubeconfig');
  const bobConfig = join(fx.dir, 'bob-agg.kubeconfig');
  await writeFile(aliceConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'alice', { token: 'alice-token' }));
  await writeFile(bobConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'bob', { token: 'bob-token' }));
  for (const v of ['kubectl.1.27', 'kubectl.1.33']) {
    const home = await mkdtemp(join(fx.dir, `home-${v}-`));
    const k = (args: string[], config = fx.server.kubeconfigPath) => kubectl(`${BIN}/${v}`, args, config, home);
    const raw = await k(['get', '--raw', `/apis/${GROUP}/v1alpha1`]);
    t.is(raw.code, 0, raw.err);
    t.deepEqual(JSON.parse(raw.out), RESOURCE_LIST);
    const resources = await k(['api-resources', '--api-group', GROUP]);
    t.is(resources.code, 0, resources.err);
    const row = resources.out.split('\n').find((l) => l.startsWith('flunders'));
    t.truthy(row, resources.out);
    t.deepEqual(row!.trim().split(/\s+/), ['flunders', 'fl', `${GROUP}/v1alpha1`, 'true', 'Flunder']);
    const list = await k(['get', 'apiservices', NAME]);
    t.is(list.code, 0, list.err);
    const [head, line] = list.out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(head, ['NAME', 'SERVICE', 'AVAILABLE', 'AGE']);
    t.deepEqual(line!.slice(0, 3), [NAME, `${NS}/api`, 'True']);

    const before = seen.length;
    const asAlice = await k(['get', '--raw', `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`], aliceConfig);
    t.is(asAlice.code, 0, asAlice.err);
    t.is(JSON.parse(asAlice.out).items[0].servedTo, 'alice');
    const hit = seen.slice(before).find((s) => s.path.startsWith(`/apis/${GROUP}/v1alpha1/namespaces/default/flunders`));
    t.is(hit?.user, 'alice');
    t.deepEqual(hit?.groups.sort(), ['devs', 'system:authenticated']);
    const asBob = await k(['get', '--raw', `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`], bobConfig);
    t.not(asBob.code, 0);
    t.regex(asBob.err, /forbidden: User "bob" cannot list resource "flunders" in API group "wardle\.example\.com" in the namespace "default"/);
    t.false(seen.slice(before).some((s) => s.user === 'bob'), 'a forbidden request never reaches the backend');
  }
});

test.serial('deleting the APIService removes the group: discovery no longer lists it and its paths are 404', async (t) => {
  const deleted = watchEvents(fx.server, `/apis/apiregistration.k8s.io/v1/apiservices?watch=1&fieldSelector=metadata.name%3D${NAME}`, (evs) => evs.some((e) => e.type === 'DELETED'), 10_000);
  t.is((await api(fx.server, 'DELETE', `/apis/apiregistration.k8s.io/v1/apiservices/${NAME}`)).status, 200);
  t.true((await deleted).some((e) => e.type === 'DELETED'));
  const apis = await api(fx.server, 'GET', '/apis');
  t.false(apis.body.groups.some((x: { name: string }) => x.name === GROUP));
  const gone = await api(fx.server, 'GET', `/apis/${GROUP}/v1alpha1/namespaces/default/flunders`);
  t.is(gone.status, 404);
});

// csrapproving's auto-approval of a worker's Ingress controller identity (mkube), against a real API server (real
// etcd) and the controller manager signing with its CA: a node asking for `O=system:mkube-ingresses,
// CN=system:mkube-ingress:<itself>` (kubernetes.io/kube-apiserver-client, client usages) gets it approved and signed,
// and the certificate authenticates as that user in that group, which the bootstrap policy binds to the
// mkube-ingress role (it may list Secrets); the same request for another node, with SANs, another group or a
// server usage, or from a bootstrap token, stays pending; a bootstrap token may read no Secret (403).
import { X509Certificate, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { startEtcdCluster, type EtcdCluster } from '@mkube/testing';
import { ApiError, KubeClient, loadKubeconfig, type ClientConfig } from '@mkube/client';
import type { CertificateSigningRequest } from '@mkube/api';
import { x509 } from '../src/certificates/x509.js';
import { ControllerManager } from '../src/manager.js';
import { eventually } from './helpers/cluster.js';

let dir = '';
let etcd: EtcdCluster | undefined;
let server: ApiServer | undefined;
let manager: ControllerManager | undefined;
let cfg: ClientConfig;
let admin: KubeClient;
const clients: KubeClient[] = [];
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const TOKEN = 'ingrss.0123456789abcdef';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mkube-ingress-csr-'));
  etcd = await startEtcdCluster({ members: 1 });
  server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }), enableBootstrapTokenAuth: true });
  cfg = loadKubeconfig(server.kubeconfigPath);
  admin = new KubeClient(cfg);
  manager = new ControllerManager({
    clientConfig: cfg, leaderElect: false, metricsPort: -1, controllers: ['csrapproving', 'csrsigning'], logger: pino({ level: process.env.MKUBE_TEST_LOG ?? 'silent' }),
    config: { clusterSigningCertFile: join(server.pki.dir, 'ca.crt'), clusterSigningKeyFile: join(server.pki.dir, 'ca.key'), clusterSigningDurationSeconds: 3600 },
  });
  await manager.start();
  const data = { 'token-id': 'ingrss', 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token' };
  await admin.request('POST', '/api/v1/namespaces/kube-system/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bootstrap-token-ingrss', namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
  for (const n of ['w1', 'w2']) await admin.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
});
test.after.always(async () => {
  for (const c of clients) c.close();
  admin?.close();
  await manager?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await etcd?.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<Buffer> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return Buffer.from(`-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`);
}

/** Posts a CSR as `client`; returns its name and key. */
async function submit(client: KubeClient, name: string, subject: string, o: { signer?: string; usages?: string[]; names?: x509.JsonGeneralName[] } = {}): Promise<webcrypto.CryptoKeyPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys: keys as never, signingAlgorithm: ALG, extensions: o.names?.length ? [new x509.SubjectAlternativeNameExtension(o.names)] : [] });
  await client.request('POST', CSR_PATH, { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name }, spec: { request: Buffer.from(req.toString('pem')).toString('base64'), signerName: o.signer ?? 'kubernetes.io/kube-apiserver-client', usages: o.usages ?? ['digital signature', 'client auth'] } });
  return keys;
}

const get = (name: string): Promise<CertificateSigningRequest> => admin.request('GET', `${CSR_PATH}/${name}`);

/** A client with a node's certificate, issued through the kubelet client signer (approved by the admin here). */
async function nodeClient(node: string): Promise<KubeClient> {
  const keys = await submit(admin, `node-${node}`, `CN=system:node:${node}, O=system:nodes`, { signer: 'kubernetes.io/kube-apiserver-client-kubelet' });
  const csr = await get(`node-${node}`);
  await admin.request('PUT', `${CSR_PATH}/node-${node}/approval`, { ...csr, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test', message: 'node identity for the test' }] } });
  const issued = await eventually(`node-${node} issued`, async () => (await get(`node-${node}`)).status?.certificate, 20_000);
  const c = new KubeClient({ server: cfg.server, ca: cfg.ca, cert: Buffer.from(issued, 'base64'), key: await keyPem(keys) });
  clients.push(c);
  return c;
}

test.serial('a node gets its own Ingress identity auto-approved; other nodes\' identities, other shapes and bootstrap tokens stay pending', async (t) => {
  const w1 = await nodeClient('w1');
  const boot = new KubeClient({ server: cfg.server, ca: cfg.ca, token: TOKEN });
  clients.push(boot);
  // A bootstrap token (what every joiner holds for a day) reads no Secret.
  for (const path of ['/api/v1/namespaces/kube-system/secrets', '/api/v1/namespaces/kube-system/secrets/mkube-worker-addons']) {
    const err = await boot.request('GET', path).catch((e: unknown) => e);
    t.true(err instanceof ApiError && err.code === 403, `${path}: ${String(err)}`);
  }
  // Not approved: another node's identity, SANs, another group, a server usage; a bootstrap token asking for w1's.
  await submit(w1, 'w1-asks-w2', 'CN=system:mkube-ingress:w2, O=system:mkube-ingresses');
  await submit(w1, 'w1-with-san', 'CN=system:mkube-ingress:w1, O=system:mkube-ingresses', { names: [{ type: 'dns', value: 'w1' }] });
  await submit(w1, 'w1-other-group', 'CN=system:mkube-ingress:w1, O=system:masters-ish');
  await submit(w1, 'w1-serving', 'CN=system:mkube-ingress:w1, O=system:mkube-ingresses', { usages: ['digital signature', 'server auth'] });
  await submit(boot, 'token-asks-w1', 'CN=system:mkube-ingress:w1, O=system:mkube-ingresses');
  // Approved: w1 for itself.
  const keys = await submit(w1, 'w1-ingress', 'CN=system:mkube-ingress:w1, O=system:mkube-ingresses');
  const csr = await eventually('w1-ingress issued', async () => ((await get('w1-ingress')).status?.certificate ? get('w1-ingress') : undefined), 20_000);
  t.like(csr.status?.conditions?.[0], { type: 'Approved', status: 'True', reason: 'AutoApproved', message: 'Auto approving mkube-ingress client certificate: the requesting node asks for its own Ingress controller identity.' });
  t.is(csr.spec?.username, 'system:node:w1');
  const certPem = Buffer.from(csr.status!.certificate!, 'base64');
  t.is(new X509Certificate(certPem).subject, 'CN=system:mkube-ingress:w1\nO=system:mkube-ingresses');
  const ingress = new KubeClient({ server: cfg.server, ca: cfg.ca, cert: certPem, key: await keyPem(keys) });
  clients.push(ingress);
  const who = await ingress.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  t.deepEqual(who.status.userInfo, { username: 'system:mkube-ingress:w1', groups: ['system:mkube-ingresses', 'system:authenticated'] });
  // The group has the Ingress controller's role (TLS Secrets); the node itself does not list Secrets.
  t.truthy(await ingress.request('GET', '/api/v1/secrets'));
  const asNode = await w1.request('GET', '/api/v1/secrets').catch((e: unknown) => e);
  t.true(asNode instanceof ApiError && asNode.code === 403);
  // The controller has seen every request above (it handled the last one): the others are still pending.
  for (const name of ['w1-asks-w2', 'w1-with-san', 'w1-other-group', 'w1-serving', 'token-asks-w1']) t.deepEqual((await get(name)).status, {}, name);
});

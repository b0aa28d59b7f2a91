// The certificate and bootstrap-token controllers against a real API server
// (real etcd, --enable-bootstrap-token-auth) with the controller manager
// signing with the API server's CA: a bootstrap token submits a kubelet
// client CSR that csrapproving approves (nodeclient SubjectAccessReview) and
// csrsigning signs with the requested expirationSeconds; the certificate
// authenticates as system:node:<name>; the node renews it itself
// (selfnodeclient); a request without O=system:nodes stays Pending; a
// kubelet-serving request is auto-approved only when its SANs are the Node's
// addresses; an approved request the signer refuses gets Failed; a
// kube-apiserver-client request approved by the admin is signed; the token
// cleaner deletes an expired token (404) and the bootstrap signer signs
// cluster-info with each signing token.
import { X509Certificate, webcrypto } from 'node:crypto';
import test from 'ava';
import { x509 } from '../src/certificates/x509.js';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { startEtcdCluster, type EtcdCluster } from '@mkube/testing';
import { KubeClient, loadKubeconfig, ApiError, type ClientConfig } from '@mkube/client';
import { verifyDetachedJws, type CertificateSigningRequest } from '@mkube/api';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerManager } from '../src/manager.js';
import { eventually } from './helpers/cluster.js';
import { grantedSeconds } from '../src/certificates/signer.js';

let dir: string;
let etcd: EtcdCluster | undefined;
let server: ApiServer | undefined;
let manager: ControllerManager | undefined;
let admin: KubeClient;
let cfg: ClientConfig;
const clients: KubeClient[] = [];

const TOKEN = 'abcdef.0123456789abcdef';
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mkube-csr-controllers-'));
  etcd = await startEtcdCluster({ members: 1 });
  server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }), enableBootstrapTokenAuth: true });
  cfg = loadKubeconfig(server.kubeconfigPath);
  admin = new KubeClient(cfg);
  manager = new ControllerManager({
    clientConfig: cfg,
    leaderElect: false,
    metricsPort: -1,
    controllers: ['csrapproving', 'csrsigning', 'tokencleaner', 'bootstrapsigner'],
    logger: pino({ level: process.env.MKUBE_TEST_LOG ?? 'silent' }),
    config: { clusterSigningCertFile: join(server.pki.dir, 'ca.crt'), clusterSigningKeyFile: join(server.pki.dir, 'ca.key'), clusterSigningDurationSeconds: 3600 },
  });
  await manager.start();
  await admin.request('POST', '/api/v1/namespaces/kube-system/secrets', tokenSecret('abcdef', '0123456789abcdef', new Date(Date.now() + 3600_000)));
});
test.after.always(async () => {
  for (const c of clients) c.close();
  admin?.close();
  await manager?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await etcd?.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

function tokenSecret(id: string, secret: string, expiration?: Date) {
  const data: Record<string, string> = {
    'token-id': id,
    'token-secret': secret,
    'usage-bootstrap-authentication': 'true',
    'usage-bootstrap-signing': 'true',
    'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
    ...(expiration ? { expiration: expiration.toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
  };
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

async function request(subject: string, names: x509.JsonGeneralName[] = []): Promise<{ pem: string; keys: webcrypto.CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys: keys as never, signingAlgorithm: ALG, extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [] });
  return { pem: req.toString('pem'), keys };
}

async function submit(client: KubeClient, name: string, pem: string, signerName: string, usages: string[], expirationSeconds?: number): Promise<void> {
  await client.request('POST', CSR_PATH, { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name }, spec: { request: Buffer.from(pem).toString('base64'), signerName, usages, ...(expirationSeconds ? { expirationSeconds } : {}) } });
}

const get = (name: string): Promise<CertificateSigningRequest> => admin.request('GET', `${CSR_PATH}/${name}`);
const issued = (name: string) => eventually(`certificate of ${name}`, async () => ((await get(name)).status?.certificate ? get(name) : undefined), 20_000);

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<Buffer> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return Buffer.from(`-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`);
}

async function whoami(client: KubeClient): Promise<{ username: string; groups: string[] }> {
  const r = await client.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  return r.status.userInfo;
}

test.serial('a bootstrap token gets a kubelet client certificate, which the node then renews itself', async (t) => {
  const boot = new KubeClient({ server: cfg.server, ca: cfg.ca, token: TOKEN });
  clients.push(boot);
  t.is((await whoami(boot)).username, 'system:bootstrap:abcdef');
  const { pem, keys } = await request('CN=system:node:n1, O=system:nodes');
  await submit(boot, 'node-csr-n1', pem, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth'], 900);
  const csr = await issued('node-csr-n1');
  t.like(csr.status?.conditions?.[0], { type: 'Approved', status: 'True', reason: 'AutoApproved', message: 'Auto approving kubelet client certificate after SubjectAccessReview.' });
  t.is(csr.spec?.username, 'system:bootstrap:abcdef');
  const certPem = Buffer.from(csr.status!.certificate!, 'base64').toString();
  const cert = new X509Certificate(certPem);
  t.true(cert.verify(new X509Certificate(server!.pki.caCert).publicKey));
  t.is(cert.subject, 'CN=system:node:n1\nO=system:nodes');
  t.is((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000, 900);
  t.regex(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/);
  const node = new KubeClient({ server: cfg.server, ca: cfg.ca, cert: Buffer.from(certPem), key: await keyPem(keys) });
  clients.push(node);
  t.deepEqual(await whoami(node), { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] });
  // Renewal by the node itself.
  const renewal = await request('CN=system:node:n1, O=system:nodes');
  await submit(node, 'node-csr-n1-renew', renewal.pem, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'key encipherment', 'client auth']);
  const renewed = await issued('node-csr-n1-renew');
  t.is(renewed.status?.conditions?.[0]?.message, 'Auto approving self kubelet client certificate after SubjectAccessReview.');
  const rc = new X509Certificate(Buffer.from(renewed.status!.certificate!, 'base64'));
  // The --cluster-signing-duration (1 h here) bounds a request without expirationSeconds; 5 minutes backdated.
  t.is((Date.parse(rc.validTo) - Date.parse(rc.validFrom)) / 1000, 3600 + 300);
  // A node may not renew another node's certificate: recognized, but the SubjectAccessReview for nodeclient fails.
  const other = await request('CN=system:node:n2, O=system:nodes');
  await submit(node, 'node-csr-n2-by-n1', other.pem, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']);
  // Not a node client certificate: no O=system:nodes.
  const plain = await request('CN=system:node:n3');
  await submit(boot, 'node-csr-no-org', plain.pem, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']);
  // Bootstrap tokens may not do anything else.
  const err = await boot.request('GET', '/api/v1/namespaces/kube-system/secrets').catch((e: unknown) => e);
  t.true(err instanceof ApiError && err.code === 403);
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual((await get('node-csr-n2-by-n1')).status, {});
  t.deepEqual((await get('node-csr-no-org')).status, {});
});

test.serial('kubelet-serving: auto-approved when the SANs are the Node addresses, pending otherwise; signer refusals are Failed', async (t) => {
  await admin.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
  await admin.request('PATCH', '/api/v1/nodes/n1/status', { status: { addresses: [{ type: 'InternalIP', address: '10.1.2.3' }, { type: 'Hostname', address: 'n1' }] } }, { 'Content-Type': 'application/merge-patch+json' });
  const nodeCreds = clients[1]!;
  const good = await request('CN=system:node:n1, O=system:nodes', [{ type: 'dns', value: 'n1' }, { type: 'ip', value: '10.1.2.3' }]);
  await submit(nodeCreds, 'serving-n1', good.pem, 'kubernetes.io/kubelet-serving', ['digital signature', 'key encipherment', 'server auth'], 600);
  const csr = await issued('serving-n1');
  t.like(csr.status?.conditions?.[0], { type: 'Approved', reason: 'AutoApproved' });
  const cert = new X509Certificate(Buffer.from(csr.status!.certificate!, 'base64'));
  t.is(cert.subjectAltName, 'DNS:n1, IP Address:10.1.2.3');
  t.is((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000, 600);
  const bad = await request('CN=system:node:n1, O=system:nodes', [{ type: 'ip', value: '10.9.9.9' }]);
  await submit(nodeCreds, 'serving-n1-other-ip', bad.pem, 'kubernetes.io/kubelet-serving', ['digital signature', 'server auth']);
  // The admin approves a kubelet-serving request without SANs: the signer refuses it.
  const nosan = await request('CN=system:node:n1, O=system:nodes');
  await submit(admin, 'serving-nosan', nosan.pem, 'kubernetes.io/kubelet-serving', ['digital signature', 'server auth']);
  const cur = await get('serving-nosan');
  await admin.request('PUT', `${CSR_PATH}/serving-nosan/approval`, { ...cur, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Admin', message: 'ok' }] } });
  const failed = await eventually('Failed', async () => ((await get('serving-nosan')).status?.conditions ?? []).find((c) => c.type === 'Failed'));
  t.like(failed, { status: 'True', reason: 'SignerValidationFailure', message: 'DNS or IP subjectAltName is required' });
  t.falsy((await get('serving-nosan')).status?.certificate);
  // kube-apiserver-client, approved by the admin.
  const client = await request('CN=jane, O=devs');
  await submit(admin, 'jane', client.pem, 'kubernetes.io/kube-apiserver-client', ['digital signature', 'client auth'], 7200);
  const j = await get('jane');
  await admin.request('PUT', `${CSR_PATH}/jane/approval`, { ...j, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Admin', message: 'ok' }] } });
  const jc = await issued('jane');
  const jane = new X509Certificate(Buffer.from(jc.status!.certificate!, 'base64'));
  t.is(jane.subject, 'CN=jane\nO=devs');
  t.is((Date.parse(jane.validTo) - Date.parse(jane.validFrom)) / 1000, 3600 + 300, 'clamped to --cluster-signing-duration');
  t.deepEqual((await get('serving-n1-other-ip')).status, {});
  t.is(grantedSeconds(100, 3600), 600);
});

test.serial('the token cleaner deletes expired tokens; the bootstrap signer signs cluster-info for each signing token', async (t) => {
  await admin.request('POST', '/api/v1/namespaces/kube-system/secrets', tokenSecret('short1', 'aaaaaaaaaaaaaaaa', new Date(Date.now() + 2000)));
  const content = 'apiVersion: v1\nkind: Config\nclusters:\n- name: ""\n  cluster:\n    server: https://10.0.0.1:6443\n';
  await admin.request('POST', '/api/v1/namespaces/kube-public/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info' }, data: { kubeconfig: content } });
  const signed = await eventually('two signatures', async () => {
    const cm = await admin.request('GET', '/api/v1/namespaces/kube-public/configmaps/cluster-info');
    return cm.data['jws-kubeconfig-abcdef'] && cm.data['jws-kubeconfig-short1'] ? cm : undefined;
  });
  t.true(verifyDetachedJws(content, signed.data['jws-kubeconfig-abcdef'], 'abcdef', '0123456789abcdef'));
  t.true(verifyDetachedJws(content, signed.data['jws-kubeconfig-short1'], 'short1', 'aaaaaaaaaaaaaaaa'));
  t.false(verifyDetachedJws(content + ' ', signed.data['jws-kubeconfig-abcdef'], 'abcdef', '0123456789abcdef'));
  await eventually('expired token deleted', async () => {
    const r = await admin.request('GET', '/api/v1/namespaces/kube-system/secrets/bootstrap-token-short1').catch((e: unknown) => e);
    return r instanceof ApiError && r.code === 404;
  });
  const after = await eventually('signature of the expired token removed', async () => {
    const cm = await admin.request('GET', '/api/v1/namespaces/kube-public/configmaps/cluster-info');
    return cm.data['jws-kubeconfig-short1'] === undefined ? cm : undefined;
  });
  t.truthy(after.data['jws-kubeconfig-abcdef']);
  // cluster-info is readable anonymously, as kubeadm's discovery needs.
  const anon = new KubeClient({ server: cfg.server, ca: cfg.ca });
  clients.push(anon);
  const cm = await anon.request('GET', '/api/v1/namespaces/kube-public/configmaps/cluster-info').catch((e: unknown) => e);
  t.is((cm as { data?: { kubeconfig?: string } }).data?.kubeconfig, content);
  const list = await anon.request('GET', '/api/v1/namespaces/kube-public/configmaps').catch((e: unknown) => e);
  t.true(list instanceof ApiError && list.code === 401, 'anonymous only for cluster-info');
});

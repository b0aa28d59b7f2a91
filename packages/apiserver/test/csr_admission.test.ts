// The certificates.k8s.io admission plugins against a real API server over
// HTTPS (real etcd) with real RBAC objects: CertificateApproval (approve on
// the signer, exact or domain/* wildcard), CertificateSigning (sign on the
// signer to set status.certificate), CertificateSubjectRestriction (no
// system:masters in kube-apiserver-client requests, even for an admin),
// upstream's 403 messages, kubectl 1.33's `certificate approve` refused, and
// the controller manager's approve/sign rights in the bootstrap policy.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { kubeconfig } from '../src/auth/pki.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';

let fx: Fixture;
let work: string;

test.before(async () => {
  fx = await startFixture();
  work = mkdtempSync(join(tmpdir(), 'mkube-csr-admission-'));
});
test.after.always(async () => {
  await fx?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
let seq = 0;
function requestPem(subject: string): string {
  const key = join(work, `k${seq++}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  return execFileSync('openssl', ['req', '-new', '-key', key, '-subj', subject], { encoding: 'utf8' });
}

async function createCsr(name: string, signerName: string, subject = `/O=system:nodes/CN=system:node:${name}`, usages = ['digital signature', 'client auth']) {
  return api(fx.server, 'POST', PATH, { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name }, spec: { request: b64(requestPem(subject)), signerName, usages } });
}

async function grant(user: string, name: string, rules: unknown[]): Promise<void> {
  const r1 = await api(fx.server, 'POST', `${RBAC}/clusterroles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules });
  if (r1.status !== 201) throw new Error(r1.text);
  const r2 = await api(fx.server, 'POST', `${RBAC}/clusterrolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  });
  if (r2.status !== 201) throw new Error(r2.text);
}

/** Waits until `user` may `verb` the signer (the RBAC watch cache caught up), through a SubjectAccessReview. */
async function untilAllowed(user: string, verb: string, signer: string, allowed = true): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await api(fx.server, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, resourceAttributes: { group: 'certificates.k8s.io', resource: 'signers', verb, name: signer } },
    });
    if ((r.body as { status?: { allowed?: boolean } }).status?.allowed === allowed) return;
    if (Date.now() > deadline) throw new Error(`SubjectAccessReview for ${user} ${verb} ${signer} never became ${allowed}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const approved = (csr: Record<string, unknown>) => ({
  ...csr,
  status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test', message: 'approved by test' }] },
});

test.serial('CertificateApproval: update on csr/approval without approve on the signer is 403; with it (exact, then domain/*) allowed', async (t) => {
  t.is((await createCsr('appr-1', KUBELET_CLIENT)).status, 201);
  t.is((await createCsr('appr-2', 'example.com/widgets', '/CN=w', ['digital signature'])).status, 201);
  await grant('alice', 'csr-approval-updater', [
    { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['get', 'list'] },
    { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/approval'], verbs: ['update'] },
  ]);
  const cur = (await api(fx.server, 'GET', `${PATH}/appr-1`)).body as Record<string, unknown>;
  const denied = await api(fx.server, 'PUT', `${PATH}/appr-1/approval`, approved(cur), { token: 'alice-token' });
  t.is(denied.status, 403, denied.text);
  t.is((denied.body as { message: string }).message, `certificatesigningrequests.certificates.k8s.io "appr-1" is forbidden: user not permitted to approve requests with signerName "${KUBELET_CLIENT}"`);
  // kubectl shows the same refusal.
  const cfg = join(work, 'alice.kubeconfig');
  writeFileSync(cfg, kubeconfig(fx.server.url, fx.server.pki.caCert, 'alice', { token: 'alice-token' }));
  const k = await new Promise<{ code: number; err: string }>((resolve) => {
    execFile(KUBECTL, ['certificate', 'approve', 'appr-1'], { env: { ...process.env, KUBECONFIG: cfg, HOME: work }, timeout: 30_000 }, (e, _o, err) => resolve({ code: e ? 1 : 0, err }));
  });
  t.is(k.code, 1);
  t.regex(k.err, /user not permitted to approve requests with signerName "kubernetes\.io\/kube-apiserver-client-kubelet"/);
  // Nothing was approved.
  t.deepEqual(((await api(fx.server, 'GET', `${PATH}/appr-1`)).body as { status?: { conditions?: unknown[] } }).status?.conditions, undefined);

  await grant('alice', 'csr-approver-kubelet-client', [{ apiGroups: ['certificates.k8s.io'], resources: ['signers'], verbs: ['approve'], resourceNames: [KUBELET_CLIENT] }]);
  await untilAllowed('alice', 'approve', KUBELET_CLIENT);
  const ok = await api(fx.server, 'PUT', `${PATH}/appr-1/approval`, approved(cur), { token: 'alice-token' });
  t.is(ok.status, 200, ok.text);
  t.is((ok.body as { status: { conditions: { type: string }[] } }).status.conditions[0]!.type, 'Approved');

  // The exact grant does not cover another signer; the domain wildcard does.
  const cur2 = (await api(fx.server, 'GET', `${PATH}/appr-2`)).body as Record<string, unknown>;
  const denied2 = await api(fx.server, 'PUT', `${PATH}/appr-2/approval`, approved(cur2), { token: 'alice-token' });
  t.is(denied2.status, 403);
  t.is((denied2.body as { message: string }).message, 'certificatesigningrequests.certificates.k8s.io "appr-2" is forbidden: user not permitted to approve requests with signerName "example.com/widgets"');
  await grant('alice', 'csr-approver-example', [{ apiGroups: ['certificates.k8s.io'], resources: ['signers'], verbs: ['approve'], resourceNames: ['example.com/*'] }]);
  await untilAllowed('alice', 'approve', 'example.com/*');
  t.is((await api(fx.server, 'PUT', `${PATH}/appr-2/approval`, approved(cur2), { token: 'alice-token' })).status, 200);
});

test.serial('CertificateSigning: setting status.certificate without sign on the signer is 403; with it allowed', async (t) => {
  t.is((await createCsr('sign-1', 'example.org/things', '/CN=thing', ['digital signature'])).status, 201);
  const cur = (await api(fx.server, 'GET', `${PATH}/sign-1`)).body as Record<string, unknown>;
  t.is((await api(fx.server, 'PUT', `${PATH}/sign-1/approval`, approved(cur))).status, 200);
  await grant('bob', 'csr-status-updater', [
    { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['get'] },
    { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/status'], verbs: ['update'] },
  ]);
  const key = join(work, 'sign.key');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const cert = execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/CN=thing', '-days', '1'], { encoding: 'utf8' });
  const withCert = async () => {
    const o = (await api(fx.server, 'GET', `${PATH}/sign-1`)).body as { status: Record<string, unknown> };
    return { ...o, status: { ...o.status, certificate: b64(cert) } };
  };
  const denied = await api(fx.server, 'PUT', `${PATH}/sign-1/status`, await withCert(), { token: 'bob-token' });
  t.is(denied.status, 403, denied.text);
  t.is((denied.body as { message: string }).message, 'certificatesigningrequests.certificates.k8s.io "sign-1" is forbidden: user not permitted to sign requests with signerName "example.org/things"');
  await grant('bob', 'csr-signer-example', [{ apiGroups: ['certificates.k8s.io'], resources: ['signers'], verbs: ['sign'], resourceNames: ['example.org/things'] }]);
  await untilAllowed('bob', 'sign', 'example.org/things');
  const ok = await api(fx.server, 'PUT', `${PATH}/sign-1/status`, await withCert(), { token: 'bob-token' });
  t.is(ok.status, 200, ok.text);
  t.is((ok.body as { status: { certificate: string } }).status.certificate, b64(cert));
});

test.serial('CertificateSubjectRestriction: O=system:masters for kube-apiserver-client is refused, even for an admin', async (t) => {
  const r = await createCsr('masters-1', 'kubernetes.io/kube-apiserver-client', '/O=system:masters/CN=mallory');
  t.is(r.status, 403, r.text);
  t.is((r.body as { message: string }).message, 'certificatesigningrequests.certificates.k8s.io "masters-1" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is forbidden');
  t.is((await api(fx.server, 'GET', `${PATH}/masters-1`)).status, 404);
  // Other groups, and system:masters for other signers, pass this plugin.
  t.is((await createCsr('devs-1', 'kubernetes.io/kube-apiserver-client', '/O=devs/CN=carol')).status, 201);
  t.is((await createCsr('masters-2', 'example.com/other', '/O=system:masters/CN=x', ['digital signature'])).status, 201);
});

test.serial('bootstrap policy: the controller manager may approve kubelet client/serving (and mkube-ingress identities) and sign the kubernetes.io signers, nothing else', async (t) => {
  const cm = 'system:kube-controller-manager';
  // kube-apiserver-client: mkube's csrapproving approves a node's request for its own Ingress identity (and only that
  // shape: packages/controllers/test/ingress_identity_csr.integration.test.ts); upstream's approvers never approve it.
  for (const s of [KUBELET_CLIENT, 'kubernetes.io/kubelet-serving', 'kubernetes.io/kube-apiserver-client']) await untilAllowed(cm, 'approve', s);
  for (const s of [KUBELET_CLIENT, 'kubernetes.io/kubelet-serving', 'kubernetes.io/kube-apiserver-client', 'kubernetes.io/legacy-unknown']) await untilAllowed(cm, 'sign', s);
  await untilAllowed(cm, 'approve', 'kubernetes.io/legacy-unknown', false);
  await untilAllowed(cm, 'approve', 'example.com/anything', false);
  await untilAllowed(cm, 'sign', 'example.com/anything', false);
  t.pass();
});

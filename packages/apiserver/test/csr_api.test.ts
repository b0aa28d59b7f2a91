// certificates.k8s.io/v1 CertificateSigningRequests against a real API server
// over HTTPS (real etcd) with the real kubectl 1.27 and 1.33: create with the
// requester recorded in the spec, `kubectl get csr` columns, `kubectl
// certificate approve|deny` through the approval subresource, the
// certificate set through /status (Approved,Issued), and upstream's
// validation (usages, signerName, expirationSeconds, Approved/Denied
// exclusive, conditions that may not be removed, a certificate only once
// approved, spec immutable).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { kubeconfig } from '../src/auth/pki.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const VERSIONS = ['kubectl.1.27', 'kubectl.1.33'];
const PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

let fx: Fixture;
let work: string;
let aliceConfig: string;

test.before(async () => {
  fx = await startFixture();
  work = mkdtempSync(join(tmpdir(), 'mkube-csr-'));
  aliceConfig = join(work, 'alice.kubeconfig');
  writeFileSync(aliceConfig, kubeconfig(fx.server.url, fx.server.pki.caCert, 'alice', { token: 'alice-token' }));
});
test.after.always(async () => {
  await fx?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A PEM certificate request for `subject` (openssl, as the cluster PKI is made). */
function csrPem(subject: string): string {
  const key = join(work, `k-${Math.random().toString(36).slice(2)}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  return execFileSync('openssl', ['req', '-new', '-key', key, '-subj', subject], { encoding: 'utf8' });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const csr = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'certificates.k8s.io/v1',
  kind: 'CertificateSigningRequest',
  metadata: { name },
  spec: { request: b64(csrPem(`/CN=${name}`)), signerName: 'example.com/test', usages: ['digital signature', 'client auth'], ...extra },
});

function kubectl(bin: string, args: string[], config = fx.server.kubeconfigPath): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(`${BIN}/${bin}`, args, { env: { ...process.env, KUBECONFIG: config, HOME: work }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** A certificate for the request, signed by the fixture's CA (what a signer puts in status.certificate). */
function signed(name: string): string {
  const dir = join(fx.server.pki.dir);
  const csrFile = join(work, `${name}.csr`);
  const key = join(work, `${name}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csrFile]);
  return execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-CAserial', join(work, 'ca.srl'), '-days', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

for (const v of VERSIONS) {
  test.serial(`${v}: create as a user, get csr columns, certificate approve and deny, status certificate`, async (t) => {
    const name = `csr-${v.replace(/\./g, '-')}`;
    const file = join(work, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(csr(name, { expirationSeconds: 3600, username: 'spoofed', groups: ['system:masters'] })));
    const created = await kubectl(v, ['create', '-f', file], aliceConfig);
    // alice may not create CSRs (no RBAC for her): the admin does; the identity is the creator's either way.
    t.is(created.code, 1, created.out);
    t.regex(created.err, /User "alice" cannot create resource "certificatesigningrequests" in API group "certificates.k8s.io"/);
    const c = await kubectl(v, ['create', '-f', file]);
    t.is(c.code, 0, c.err);
    t.is(c.out.trim(), `certificatesigningrequest.certificates.k8s.io/${name} created`);
    const obj = JSON.parse((await kubectl(v, ['get', 'csr', name, '-o', 'json'])).out);
    t.is(obj.spec.username, 'kubernetes-admin');
    t.deepEqual(obj.spec.groups, ['system:masters', 'system:authenticated']);
    t.deepEqual(obj.status, {});
    const get = await kubectl(v, ['get', 'csr', name]);
    t.is(get.code, 0, get.err);
    const [header, row] = get.out.trim().split('\n');
    t.deepEqual(header!.split(/\s+/), ['NAME', 'AGE', 'SIGNERNAME', 'REQUESTOR', 'REQUESTEDDURATION', 'CONDITION']);
    t.deepEqual(row!.split(/\s+/).filter((_, i) => i !== 1), [name, 'example.com/test', 'kubernetes-admin', '60m', 'Pending']);
    const approve = await kubectl(v, ['certificate', 'approve', name]);
    t.is(approve.code, 0, approve.err);
    t.is(approve.out.trim(), `certificatesigningrequest.certificates.k8s.io/${name} approved`);
    const approved = JSON.parse((await kubectl(v, ['get', 'csr', name, '-o', 'json'])).out);
    t.is(approved.status.conditions.length, 1);
    t.like(approved.status.conditions[0], { type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'This CSR was approved by kubectl certificate approve.' });
    t.truthy(approved.status.conditions[0].lastUpdateTime);
    t.truthy(approved.status.conditions[0].lastTransitionTime);
    // The signer's part: the certificate through /status; the Approved condition stays.
    const cert = signed(name);
    const st = await api(fx.server, 'PUT', `${PATH}/${name}/status`, { ...approved, status: { certificate: b64(cert) } });
    t.is(st.status, 200, st.text);
    t.is(st.body.status.conditions[0].type, 'Approved');
    t.is(Buffer.from(st.body.status.certificate, 'base64').toString(), cert);
    t.regex((await kubectl(v, ['get', 'csr', name])).out, /Approved,Issued/);
    // Deny on another one.
    const other = `${name}-deny`;
    t.is((await api(fx.server, 'POST', PATH, csr(other))).status, 201);
    const deny = await kubectl(v, ['certificate', 'deny', other]);
    t.is(deny.code, 0, deny.err);
    t.is(deny.out.trim(), `certificatesigningrequest.certificates.k8s.io/${other} denied`);
    const denied = await api(fx.server, 'GET', `${PATH}/${other}`);
    t.like(denied.body.status.conditions[0], { type: 'Denied', status: 'True', reason: 'KubectlDeny', message: 'This CSR was denied by kubectl certificate deny.' });
    t.regex((await kubectl(v, ['get', 'csr', other])).out, /Denied/);
    const del = await kubectl(v, ['delete', 'csr', name, other]);
    t.is(del.code, 0, del.err);
    t.is((await api(fx.server, 'GET', `${PATH}/${name}`)).status, 404);
  });
}

test.serial('validation and the approval/status strategies', async (t) => {
  const bad = await api(fx.server, 'POST', PATH, csr('bad', { usages: [], signerName: '', expirationSeconds: 599 }));
  t.is(bad.status, 422, bad.text);
  t.deepEqual(bad.body.details.causes.map((c: { field: string }) => c.field).sort(), ['spec.expirationSeconds', 'spec.signerName', 'spec.usages']);
  t.regex(bad.body.message, /spec\.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds \(10 minutes\)/);
  t.regex(bad.body.message, /spec\.usages: Required value: usages must be provided/);
  const notPem = await api(fx.server, 'POST', PATH, { ...csr('notpem'), spec: { ...csr('notpem').spec, request: b64('hello') } });
  t.is(notPem.status, 422);
  t.regex(notPem.body.message, /spec\.request: Invalid value: .*PEM block type must be CERTIFICATE REQUEST/);
  t.is((await api(fx.server, 'POST', PATH, csr('s1'))).status, 201);
  // Approved and Denied together.
  const cur = (await api(fx.server, 'GET', `${PATH}/s1`)).body;
  const both = await api(fx.server, 'PUT', `${PATH}/s1/approval`, { ...cur, status: { conditions: [{ type: 'Approved', status: 'True' }, { type: 'Denied', status: 'True' }] } });
  t.is(both.status, 422, both.text);
  t.regex(both.body.message, /Approved and Denied conditions are mutually exclusive/);
  // A certificate before approval.
  const early = await api(fx.server, 'PUT', `${PATH}/s1/status`, { ...cur, status: { certificate: b64(signed('s1')) } });
  t.is(early.status, 422, early.text);
  // The main resource changes neither spec nor status; /status cannot approve.
  const main = await api(fx.server, 'PUT', `${PATH}/s1`, { ...cur, spec: { ...cur.spec, signerName: 'example.com/other' }, status: { conditions: [{ type: 'Approved', status: 'True' }] } });
  t.is(main.status, 200, main.text);
  t.is(main.body.spec.signerName, 'example.com/test');
  t.deepEqual(main.body.status, {});
  const viaStatus = await api(fx.server, 'PUT', `${PATH}/s1/status`, { ...main.body, status: { conditions: [{ type: 'Approved', status: 'True' }] } });
  t.is(viaStatus.status, 200, viaStatus.text);
  t.is(viaStatus.body.status.conditions, undefined);
  // Approve through /approval, then the condition may not be removed.
  const ok = await api(fx.server, 'PUT', `${PATH}/s1/approval`, { ...viaStatus.body, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test' }] } });
  t.is(ok.status, 200, ok.text);
  const removed = await api(fx.server, 'PUT', `${PATH}/s1/approval`, { ...ok.body, status: { conditions: [] } });
  t.is(removed.status, 422, removed.text);
  t.regex(removed.body.message, /updates may not remove a condition of type "Approved"/);
  // Field selector on the signer.
  const sel = await api(fx.server, 'GET', `${PATH}?fieldSelector=spec.signerName%3Dexample.com%2Ftest`);
  t.is(sel.status, 200, sel.text);
  t.true(sel.body.items.some((i: { metadata: { name: string } }) => i.metadata.name === 's1'));
});

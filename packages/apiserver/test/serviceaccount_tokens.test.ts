// Service-account tokens against a real API server over HTTPS (real etcd):
// TokenRequest through REST and `kubectl create token`, the tokens
// authenticating as system:serviceaccount:NS:NAME, refused (401) once expired,
// for another audience, after their ServiceAccount or bound pod is gone;
// TokenReview; the ServiceAccount admission plugin; the kubernetes Service.
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { findResource } from '@mkube/api';
import { issueCertificate, kubeconfig } from '../src/auth/pki.js';
import { ServiceAccountTokens } from '../src/auth/service_account_token.js';
import { KubernetesServiceController, SingleServerEndpointReconciler } from '../src/bootstrap/kubernetes_service.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

const run = promisify(execFile);
const NS = 'sa-test';
let fx: Fixture;

test.before(async () => {
  fx = await startFixture({ serviceAccountAdmission: true });
  const s = fx.server;
  await api(s, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const name of ['default', 'robot']) await api(s, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  const rb = await api(s, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'robot-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: NS }],
  });
  if (rb.status !== 201) throw new Error(`rolebinding: ${rb.text}`);
});
test.after.always(async () => {
  await fx?.stop();
});

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
const tokenRequest = (name: string, spec: Record<string, unknown> = {}, ns = NS): Promise<Reply> =>
  api(fx.server, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
const pods = (token: string, ns = NS) => api(fx.server, 'GET', `/api/v1/namespaces/${ns}/pods`, undefined, { token });

/** Polls a condition on the server's answers (the watch caches follow the store asynchronously). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('TokenRequest issues an RS256 JWT with the upstream claims that authenticates as the service account', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const r = await tokenRequest('robot');
  t.is(r.status, 201, r.text);
  t.is(r.body.kind, 'TokenRequest');
  t.is(r.body.apiVersion, 'authentication.k8s.io/v1');
  t.deepEqual(r.body.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
  t.is(r.body.spec.expirationSeconds, 3600);
  const token = r.body.status.token as string;
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
  t.is(header.alg, 'RS256');
  t.is(typeof header.kid, 'string');
  const c = claimsOf(token);
  const sa = await api(fx.server, 'GET', `/api/v1/namespaces/${NS}/serviceaccounts/robot`);
  t.is(c.iss, 'https://kubernetes.default.svc.cluster.local');
  t.is(c.sub, `system:serviceaccount:${NS}:robot`);
  t.deepEqual(c.aud, ['https://kubernetes.default.svc.cluster.local']);
  t.true(c.iat >= before && c.nbf === c.iat && c.exp === c.iat + 3600);
  t.regex(c.jti, /^[0-9a-f-]{36}$/);
  t.deepEqual(c['kubernetes.io'], { namespace: NS, serviceaccount: { name: 'robot', uid: sa.body.metadata.uid } });
  t.is(Date.parse(r.body.status.expirationTimestamp) / 1000, c.exp);
  // view in the namespace: pods yes, secrets no, other namespaces no.
  t.is((await pods(token)).status, 200);
  const secrets = await api(fx.server, 'GET', `/api/v1/namespaces/${NS}/secrets`, undefined, { token });
  t.is(secrets.status, 403);
  t.is(secrets.body.message, `secrets is forbidden: User "system:serviceaccount:${NS}:robot" cannot list resource "secrets" in API group "" in the namespace "${NS}"`);
  t.is((await pods(token, 'default')).status, 403);
  // The private key stays private.
  t.is(statSync(join(fx.server.pki.dir, 'sa.key')).mode & 0o777, 0o600);
});

test.serial('TokenRequest validation, audiences and refusals', async (t) => {
  const short = await tokenRequest('robot', { expirationSeconds: 500 });
  t.is(short.status, 422);
  t.is(short.body.message, 'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: Invalid value: 500: may not specify a duration less than 10 minutes');
  const missing = await tokenRequest('nobody');
  t.is(missing.status, 404);
  t.is(missing.body.message, 'serviceaccounts "nobody" not found');
  const wrongKind = await tokenRequest('robot', { boundObjectRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x' } });
  t.is(wrongKind.status, 400);
  t.is(wrongKind.body.message, 'cannot bind token to object of type apps/v1, Kind=Deployment');
  // A token for another audience is not accepted by the API server.
  const vault = await tokenRequest('robot', { audiences: ['vault'], expirationSeconds: 600 });
  t.is(vault.status, 201);
  t.deepEqual(claimsOf(vault.body.status.token).aud, ['vault']);
  t.is((await pods(vault.body.status.token)).status, 401);
  // Users without create serviceaccounts/token are refused.
  const denied = await api(fx.server, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/robot/token`, { spec: {} }, { token: 'alice-token' });
  t.is(denied.status, 403);
  t.is(denied.body.message, `serviceaccounts "robot" is forbidden: User "alice" cannot create resource "serviceaccounts/token" in API group "" in the namespace "${NS}"`);
});

test.serial('an expired token, or one signed by another key, is refused with 401', async (t) => {
  const sa = await api(fx.server, 'GET', `/api/v1/namespaces/${NS}/serviceaccounts/robot`);
  const key = readFileSync(join(fx.server.pki.dir, 'sa.key'), 'utf8');
  const past = new ServiceAccountTokens({ signingKeyPem: key, now: () => Date.now() - 2 * 3600_000 });
  const expired = past.issue({ namespace: NS, serviceAccount: { name: 'robot', uid: sa.body.metadata.uid }, audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 }).token;
  t.is((await pods(expired)).status, 401);
  const present = new ServiceAccountTokens({ signingKeyPem: key });
  const good = present.issue({ namespace: NS, serviceAccount: { name: 'robot', uid: sa.body.metadata.uid }, audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 }).token;
  t.is((await pods(good)).status, 200, 'the same claims, not expired, are accepted');
  const { generateKeyPairSync } = await import('node:crypto');
  const other = new ServiceAccountTokens({ signingKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() });
  const forged = other.issue({ namespace: NS, serviceAccount: { name: 'robot', uid: sa.body.metadata.uid }, audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 }).token;
  t.is((await pods(forged)).status, 401);
  const wrongUid = present.issue({ namespace: NS, serviceAccount: { name: 'robot', uid: '00000000-0000-0000-0000-000000000000' }, audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 }).token;
  t.is((await pods(wrongUid)).status, 401);
});

test.serial('a token dies with its ServiceAccount, even if one of the same name comes back', async (t) => {
  const s = fx.server;
  await api(s, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'temp' } });
  await api(s, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'temp-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'temp', namespace: NS }],
  });
  const token = (await tokenRequest('temp')).body.status.token as string;
  t.is((await pods(token)).status, 200);
  t.is((await api(s, 'DELETE', `/api/v1/namespaces/${NS}/serviceaccounts/temp`)).status, 200);
  await until('the token is refused', async () => (await pods(token)).status === 401);
  await api(s, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'temp' } });
  const sa = findResource('', 'v1', 'serviceaccounts')!;
  await until('the new ServiceAccount is cached', async () => s.registry.cachedGet(sa, NS, 'temp') !== undefined);
  t.is((await pods(token)).status, 401, 'a new ServiceAccount of the same name has another uid');
});

test.serial('a token bound to a pod carries the pod and dies with it; TokenReview answers', async (t) => {
  const s = fx.server;
  const created = await api(s, 'POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bound' }, spec: { serviceAccountName: 'robot', containers: [{ name: 'c', image: 'busybox' }] } });
  t.is(created.status, 201, created.text);
  const uid = created.body.metadata.uid as string;
  const wrongSa = await tokenRequest('default', { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'bound' } });
  t.is(wrongSa.status, 400);
  t.is(wrongSa.body.message, 'cannot bind token for serviceaccount "default" to pod running with serviceaccount "robot"');
  const stale = await tokenRequest('robot', { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'bound', uid: 'not-the-uid' } });
  t.is(stale.status, 409);
  const r = await tokenRequest('robot', { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'bound', uid }, expirationSeconds: 3607 });
  t.is(r.status, 201, r.text);
  const token = r.body.status.token as string;
  const c = claimsOf(token);
  t.deepEqual(c['kubernetes.io'].pod, { name: 'bound', uid });
  // Projected-volume tokens (3607 s, bound to a pod) are extended to a year with a warn-after time, as upstream.
  t.is(c.exp - c.iat, 365 * 24 * 3600);
  t.is(c['kubernetes.io'].warnafter, c.iat + 3607);
  t.is((await pods(token)).status, 200);

  const review = await api(s, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
  t.is(review.status, 201, review.text);
  t.true(review.body.status.authenticated);
  t.is(review.body.status.user.username, `system:serviceaccount:${NS}:robot`);
  t.deepEqual(review.body.status.user.groups, ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated']);
  t.deepEqual(review.body.status.user.extra['authentication.kubernetes.io/pod-name'], ['bound']);
  t.deepEqual(review.body.status.user.extra['authentication.kubernetes.io/pod-uid'], [uid]);
  t.deepEqual(review.body.status.audiences, ['https://kubernetes.default.svc.cluster.local']);
  const otherAud = await api(s, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: ['vault'] } });
  t.falsy(otherAud.body.status.authenticated);
  t.is(otherAud.body.status.error, 'token audiences ["https://kubernetes.default.svc.cluster.local"] is invalid for the target audiences ["vault"]');
  const nobody = await api(s, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'garbage' } });
  t.falsy(nobody.body.status.authenticated);
  const notAllowed = await api(s, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }, { token: 'alice-token' });
  t.is(notAllowed.status, 403);

  t.is((await api(s, 'DELETE', `/api/v1/namespaces/${NS}/pods/bound?gracePeriodSeconds=0`)).status, 200);
  await until('the token is refused', async () => (await pods(token)).status === 401);
  const after = await api(s, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
  t.falsy(after.body.status.authenticated);
  t.is(after.body.status.error, 'service account token has been invalidated');
});

test.serial('a node gets tokens only for pods bound to it (Node authorizer, NodeRestriction)', async (t) => {
  const s = fx.server;
  issueCertificate(s.pki.dir, 'node-n1', '/O=system:nodes/CN=system:node:n1', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const n1 = { cert: readFileSync(join(s.pki.dir, 'node-n1.crt'), 'utf8'), key: readFileSync(join(s.pki.dir, 'node-n1.key'), 'utf8') };
  const mk = async (name: string, nodeName: string) => {
    const r = await api(s, 'POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName, serviceAccountName: 'robot', containers: [{ name: 'c', image: 'busybox' }] } });
    t.is(r.status, 201, r.text);
    return r.body.metadata.uid as string;
  };
  const mine = await mk('on-n1', 'n1');
  const theirs = await mk('on-n2', 'n2');
  const podsInfo = findResource('', 'v1', 'pods')!;
  await until('the pods are cached', async () => s.registry.cachedGet(podsInfo, NS, 'on-n2') !== undefined && s.registry.cachedGet(podsInfo, NS, 'on-n1') !== undefined);
  const ask = (spec: Record<string, unknown>, sa = 'robot') => api(s, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }, { identity: n1 });
  const ok = await ask({ expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'on-n1', uid: mine } });
  t.is(ok.status, 201, ok.text);
  const unbound = await ask({});
  t.is(unbound.status, 403);
  t.is(unbound.body.message, 'serviceaccounts "robot" is forbidden: node requested token not bound to a pod');
  const other = await ask({ boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'on-n2', uid: theirs } });
  t.is(other.status, 403);
  t.is(other.body.message, 'serviceaccounts "robot" is forbidden: node requested token bound to a pod scheduled on a different node');
  const noPodUsesIt = await ask({ boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'on-n1', uid: mine } }, 'default');
  t.is(noPodUsesIt.status, 403, 'no pod on n1 runs as default: no relationship');
  await api(s, 'DELETE', `/api/v1/namespaces/${NS}/pods/on-n1?gracePeriodSeconds=0`);
  await api(s, 'DELETE', `/api/v1/namespaces/${NS}/pods/on-n2?gracePeriodSeconds=0`);
});

for (const version of ['1.33', '1.27']) {
  test.serial(`kubectl ${version} create token`, async (t) => {
    const cfg = join(fx.dir, `kubectl-${version}.kubeconfig`);
    writeFileSync(cfg, kubeconfig(fx.server.url, fx.server.pki.caCert, 'admin', { cert: fx.server.pki.adminCert, key: fx.server.pki.adminKey }), { mode: 0o600 });
    const { stdout } = await run(`/usr/lib/google-cloud-sdk/bin/kubectl.${version}`, ['--kubeconfig', cfg, '-n', NS, 'create', 'token', 'robot', '--duration', '20m']);
    const token = stdout.trim();
    const c = claimsOf(token);
    t.is(c.sub, `system:serviceaccount:${NS}:robot`);
    t.is(c.exp - c.iat, 1200);
    t.is((await pods(token)).status, 200);
    const err = await run(`/usr/lib/google-cloud-sdk/bin/kubectl.${version}`, ['--kubeconfig', cfg, '-n', NS, 'create', 'token', 'nobody']).catch((e: { stderr: string }) => e);
    t.regex((err as { stderr: string }).stderr, /serviceaccounts "nobody" not found/);
  });
}

test.serial('ServiceAccount admission: default service account, token volume, missing account refused', async (t) => {
  const s = fx.server;
  const r = await api(s, 'POST', `/api/v1/namespaces/${NS}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' },
    spec: { initContainers: [{ name: 'i', image: 'busybox' }], containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox', volumeMounts: [{ name: 'own', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }] }], volumes: [{ name: 'own', emptyDir: {} }] },
  });
  t.is(r.status, 201, r.text);
  const spec = r.body.spec;
  t.is(spec.serviceAccountName, 'default');
  t.is(spec.serviceAccount, 'default');
  const vol = spec.volumes.find((v: { name: string }) => v.name.startsWith('kube-api-access-'));
  t.regex(vol.name, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  t.deepEqual(vol.projected, {
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
    defaultMode: 420,
  });
  const mount = { name: vol.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
  t.deepEqual(spec.containers[0].volumeMounts, [mount]);
  t.deepEqual(spec.initContainers[0].volumeMounts, [mount]);
  t.deepEqual(spec.containers[1].volumeMounts, [{ name: 'own', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }], 'an existing mount at the path wins');

  const off = await api(s, 'POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nomount' }, spec: { automountServiceAccountToken: false, containers: [{ name: 'a', image: 'busybox' }] } });
  t.is(off.status, 201);
  t.falsy((off.body.spec.volumes ?? []).some((v: { name: string }) => v.name.startsWith('kube-api-access-')));
  t.falsy(off.body.spec.containers[0].volumeMounts);

  const missing = await api(s, 'POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ghost' }, spec: { serviceAccountName: 'ghost', containers: [{ name: 'a', image: 'busybox' }] } });
  t.is(missing.status, 403);
  t.is(missing.body.reason, 'Forbidden');
  t.is(missing.body.message, `pods "ghost" is forbidden: error looking up service account ${NS}/ghost: serviceaccount "ghost" not found`);
});

test.serial('the kubernetes Service and its Endpoints point at the API server', async (t) => {
  const s = fx.server;
  const svc = await api(s, 'GET', '/api/v1/namespaces/default/services/kubernetes');
  t.is(svc.status, 200);
  t.is(svc.body.spec.clusterIP, '10.213.200.1');
  t.deepEqual(svc.body.spec.ports, [{ name: 'https', port: 443, protocol: 'TCP', targetPort: s.port }]);
  t.deepEqual(svc.body.metadata.labels, { component: 'apiserver', provider: 'kubernetes' });
  // The fixture advertises 127.0.0.1, which Endpoints may not hold: none are written.
  t.is((await api(s, 'GET', '/api/v1/namespaces/default/endpoints/kubernetes')).status, 404);
  // An API server advertising a routable address lists it (the same reconciler, driven directly).
  await new SingleServerEndpointReconciler(s.registry).reconcile('10.99.0.7', s.port);
  const ep = await api(s, 'GET', '/api/v1/namespaces/default/endpoints/kubernetes');
  t.is(ep.status, 200);
  t.deepEqual(ep.body.subsets, [{ addresses: [{ ip: '10.99.0.7' }], ports: [{ name: 'https', port: s.port, protocol: 'TCP' }] }]);
  // A deleted Service comes back.
  t.is((await api(s, 'DELETE', '/api/v1/namespaces/default/services/kubernetes')).status, 200);
  await new KubernetesServiceController({ registry: s.registry, log: s.log, advertiseAddress: '10.99.0.7', securePort: s.port }).reconcile();
  const back = await api(s, 'GET', '/api/v1/namespaces/default/services/kubernetes');
  t.is(back.status, 200);
  t.is(back.body.spec.clusterIP, '10.213.200.1');
});

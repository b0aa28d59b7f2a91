// Bootstrap token authentication against a real API server over HTTPS (real
// etcd): a kube-system bootstrap-token-<id> Secret makes `<id>.<secret>`
// authenticate as system:bootstrap:<id> in system:bootstrappers plus its
// extra groups; an expired token, a wrong secret, a token without
// usage-bootstrap-authentication, a deleted Secret or a server without
// --enable-bootstrap-token-auth answer 401.
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
let off: Fixture;

test.before(async () => {
  [fx, off] = await Promise.all([startFixture({ enableBootstrapTokenAuth: true }), startFixture()]);
});
test.after.always(async () => {
  await fx?.stop();
  await off?.stop();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function tokenSecret(f: Fixture, id: string, secret: string, extra: Record<string, string> = {}): Promise<void> {
  const data: Record<string, string> = { 'token-id': id, 'token-secret': secret, 'usage-bootstrap-authentication': 'true', 'usage-bootstrap-signing': 'true', ...extra };
  const r = await api(f.server, 'POST', '/api/v1/namespaces/kube-system/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${id}` },
    type: 'bootstrap.kubernetes.io/token',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  if (r.status !== 201) throw new Error(`secret: ${r.text}`);
}

const whoami = (f: Fixture, token: string) => api(f.server, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { token });

/** Polls until the API server answers `status` for the token (the watch cache follows the store asynchronously). */
async function until(f: Fixture, token: string, status: number): Promise<Awaited<ReturnType<typeof whoami>>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await whoami(f, token);
    if (r.status === status || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

test('a valid bootstrap token authenticates as system:bootstrap:<id> with its groups', async (t) => {
  await tokenSecret(fx, 'abcdef', '0123456789abcdef', { expiration: new Date(Date.now() + 3600_000).toISOString(), 'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token' });
  const r = await until(fx, 'abcdef.0123456789abcdef', 201);
  t.is(r.status, 201, r.text);
  t.is(r.body.status.userInfo.username, 'system:bootstrap:abcdef');
  t.deepEqual(r.body.status.userInfo.groups, ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated']);
  // It is an identity with no rights beyond the bootstrappers' roles.
  const secrets = await api(fx.server, 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, { token: 'abcdef.0123456789abcdef' });
  t.is(secrets.status, 403, secrets.text);
  t.regex(secrets.body.message, /User "system:bootstrap:abcdef" cannot list resource "secrets"/);
  // The same token is not accepted by a server without --enable-bootstrap-token-auth.
  await tokenSecret(off, 'abcdef', '0123456789abcdef');
  const other = await whoami(off, 'abcdef.0123456789abcdef');
  t.is(other.status, 401, other.text);
});

test('an expired bootstrap token is refused with 401', async (t) => {
  await tokenSecret(fx, 'expire', 'aaaaaaaaaaaaaaaa', { expiration: new Date(Date.now() + 1500).toISOString() });
  const ok = await until(fx, 'expire.aaaaaaaaaaaaaaaa', 201);
  t.is(ok.status, 201, ok.text);
  const r = await until(fx, 'expire.aaaaaaaaaaaaaaaa', 401);
  t.is(r.status, 401, r.text);
  t.is(r.body.reason, 'Unauthorized');
});

test('a wrong secret, a token not for authentication, a malformed group and a deleted secret are refused with 401', async (t) => {
  await tokenSecret(fx, 'wrong1', 'bbbbbbbbbbbbbbbb');
  t.is((await until(fx, 'wrong1.bbbbbbbbbbbbbbbb', 201)).status, 201);
  t.is((await whoami(fx, 'wrong1.cccccccccccccccc')).status, 401);
  t.is((await whoami(fx, 'wrong1.bbbbbbbbbbbbbbb')).status, 401);
  await tokenSecret(fx, 'nouse1', 'dddddddddddddddd', { 'usage-bootstrap-authentication': 'false' });
  await tokenSecret(fx, 'badgrp', 'eeeeeeeeeeeeeeee', { 'auth-extra-groups': 'system:masters' });
  await tokenSecret(fx, 'contrl', 'ffffffffffffffff');
  t.is((await until(fx, 'contrl.ffffffffffffffff', 201)).status, 201);
  t.is((await whoami(fx, 'nouse1.dddddddddddddddd')).status, 401);
  t.is((await whoami(fx, 'badgrp.eeeeeeeeeeeeeeee')).status, 401);
  const del = await api(fx.server, 'DELETE', '/api/v1/namespaces/kube-system/secrets/bootstrap-token-wrong1');
  t.is(del.status, 200, del.text);
  t.is((await until(fx, 'wrong1.bbbbbbbbbbbbbbbb', 401)).status, 401);
});

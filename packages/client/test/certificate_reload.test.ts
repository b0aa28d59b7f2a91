// followKubeconfigCertificate (runClientComponent uses it): a running client switches to the client pair its
// kubeconfig names once the files change (a node agent's rotated pem, a renewed add-on identity), against a real API
// server over HTTPS: the next request authenticates as the new certificate's subject; a pair caught half-written
// (the new certificate with the old key) is not taken.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueCertificate } from '@mkube/apiserver';
import { KubeClient, followKubeconfigCertificate, loadKubeconfig } from '../src/index.js';
import { eventually, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

async function whoami(c: KubeClient): Promise<string> {
  const r = await c.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  return r.status.userInfo.username;
}

test('a client follows the certificate its kubeconfig names: the next request is the new identity; a half-written pair is skipped', async (t) => {
  const pki = fx.server.pki.dir;
  issueCertificate(pki, 'reload-alice', '/CN=reload-alice', EXT);
  issueCertificate(pki, 'reload-bob', '/CN=reload-bob', EXT);
  const dir = fx.dir;
  const certFile = join(dir, 'reload-client.crt');
  const keyFile = join(dir, 'reload-client.key');
  const put = (who: string, part: 'crt' | 'key') => writeFileSync(part === 'crt' ? certFile : keyFile, readFileSync(join(pki, `${who}.${part}`)), { mode: 0o600 });
  put('reload-alice', 'crt');
  put('reload-alice', 'key');
  const kubeconfig = join(dir, 'reload.kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters:', '- name: c', '  cluster:', `    server: ${fx.server.url}`, `    certificate-authority-data: ${Buffer.from(fx.server.pki.caCert).toString('base64')}`,
    'contexts:', '- name: c', '  context: {cluster: c, user: u}',
    'users:', '- name: u', '  user:', `    client-certificate: ${certFile}`, `    client-key: ${keyFile}`, '',
  ].join('\n'), { mode: 0o600 });
  const client = new KubeClient(loadKubeconfig(kubeconfig));
  const reloads: string[] = [];
  const stop = followKubeconfigCertificate(client, kubeconfig, { intervalMs: 100, onReload: (i) => reloads.push(i.serial) });
  t.teardown(() => {
    stop();
    client.close();
  });
  t.is(await whoami(client), 'reload-alice');
  // Half-written: bob's certificate with alice's key. Not taken (it could not authenticate).
  put('reload-bob', 'crt');
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(reloads, []);
  t.is(await whoami(client), 'reload-alice');
  put('reload-bob', 'key');
  await eventually('the reload', async () => (reloads.length === 1 ? true : undefined), 5000);
  t.is(await whoami(client), 'reload-bob');
});

// The pure pieces of the control-plane join: kubeadm-certs' AES-256-GCM (nonce || ciphertext || tag, as kubeadm's
// cryptoutil; a wrong key refused with kubeadm's message; a bad certificate key refused before any request), the
// store's quorum rule for removing a member (etcd's strict reconfiguration check), and the admin kubeconfig (a
// context per control plane, every API server in the mkube.io/servers extension).
import { createCipheriv, randomBytes } from 'node:crypto';
import test from 'ava';
import { parse } from 'yaml';
import { adminKubeconfigText } from '../src/admin_kubeconfig.js';
import { removalKeepsQuorum, type MemberView, type StoreView } from '../src/store_cluster.js';
import { createCertificateKey, decryptBytes, downloadCerts, encryptBytes } from '../src/upload_certs.js';

test('kubeadm-certs encryption: nonce, ciphertext and tag under the 32-byte key; a wrong key is refused', (t) => {
  const key = Buffer.from(createCertificateKey(), 'hex');
  t.is(key.length, 32);
  const data = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n');
  const enc = encryptBytes(data, key);
  t.is(enc.length, 12 + data.length + 16);
  t.deepEqual(decryptBytes(enc, key), data);
  // The layout kubeadm's Go code writes (gcm.Seal(nonce, nonce, data, nil)) decrypts here.
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const sealed = Buffer.concat([nonce, c.update(data), c.final(), c.getAuthTag()]);
  t.deepEqual(decryptBytes(sealed, key), data);
  const err = t.throws(() => decryptBytes(enc, randomBytes(32)));
  t.is(err?.message, 'error decoding secret data with provided key: cipher: message authentication failed');
  t.is((err as { code?: string }).code, 'CERTS_DECRYPT');
});

test('a certificate key that is not 32 hex-encoded bytes is refused before anything is fetched', async (t) => {
  const e1 = await t.throwsAsync(downloadCerts('https://127.0.0.1:1', '', 'abcdef.0123456789abcdef', 'xyz', '/nonexistent'));
  t.regex(e1!.message, /^error decoding certificate key: "xyz" is not hex-encoded$/);
  const e2 = await t.throwsAsync(downloadCerts('https://127.0.0.1:1', '', 'abcdef.0123456789abcdef', 'abcd', '/nonexistent'));
  t.regex(e2!.message, /invalid key size 2/);
});

const member = (id: string, o: Partial<MemberView> = {}): MemberView => ({ id, name: `m${id}`, peerURLs: [], clientURLs: [], learner: false, started: true, leader: false, ...o });
const view = (...members: MemberView[]): StoreView => ({ members });

test('removing a member keeps a quorum only when the voters left have a started majority', (t) => {
  t.true(removalKeepsQuorum(view(member('1'), member('2'), member('3')), '3').ok);
  // One of three down: removing a started one leaves 2 voters with 1 started (a quorum of 2 needs 2).
  t.deepEqual(removalKeepsQuorum(view(member('1', { started: false }), member('2'), member('3')), '3'), { ok: false, voters: 2, started: 1, needed: 2 });
  // ... but removing the dead one is fine.
  t.true(removalKeepsQuorum(view(member('1', { started: false }), member('2'), member('3')), '1').ok);
  // Five, two down: removing a started one leaves 4 voters with 2 started (needs 3).
  t.false(removalKeepsQuorum(view(member('1', { started: false }), member('2', { started: false }), member('3'), member('4'), member('5')), '5').ok);
  // Learners never count; removing one is always fine; the last voter can't be removed.
  t.true(removalKeepsQuorum(view(member('1'), member('2', { learner: true, started: false })), '2').ok);
  t.deepEqual(removalKeepsQuorum(view(member('1'), member('2', { learner: true })), '1'), { ok: false, voters: 0, started: 0, needed: 1 });
});

test('the admin kubeconfig: a context per control plane, every API server in each cluster\'s extension', (t) => {
  const doc = parse(adminKubeconfigText('CA', 'CERT', 'KEY', [{ name: 'a', server: 'https://10.0.0.1:6443' }, { name: 'b', server: 'https://10.0.0.2:6443' }])) as {
    'current-context': string; contexts: { name: string; context: { cluster: string } }[];
    clusters: { name: string; cluster: { server: string; extensions: { name: string; extension: { servers: string[] } }[] } }[];
  };
  t.is(doc['current-context'], 'mkube');
  t.deepEqual(doc.contexts.map((c) => c.name), ['mkube', 'mkube-a', 'mkube-b']);
  const b = doc.clusters.find((c) => c.name === 'mkube-b')!.cluster;
  t.is(b.server, 'https://10.0.0.2:6443');
  t.deepEqual(b.extensions, [{ name: 'mkube.io/servers', extension: { servers: ['https://10.0.0.2:6443', 'https://10.0.0.1:6443'] } }]);
});

// The shared control-plane PKI handed to joining control planes, as kubeadm's `--upload-certs`: the cluster CA,
// the service-account key pair, the front-proxy CA and the store CA (certificates and keys) each encrypted with
// AES-256-GCM (a random 12-byte nonce before the ciphertext and tag, as kubeadm's cryptoutil) under a random
// 32-byte certificate key printed hex-encoded, in the Secret kube-system/kubeadm-certs. The Secret is owned by a
// short-lived bootstrap token (2 h) so that the garbage collector deletes it when the token expires; the Role and
// RoleBinding kubeadm:kubeadm-certs let bootstrap tokens of kubeadm's node group read it (the ciphertext only).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { BOOTSTRAP_KUBEADM_GROUP, BOOTSTRAP_TOKEN_NAMESPACE, bootstrapTokenSecretName, parseBootstrapToken } from '@mkube/api';
import { ensurePrivateDir, writePrivateFile } from '@mkube/apiserver';
import type { AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';
import { createToken } from './token.js';

export const KUBEADM_CERTS_SECRET = 'kubeadm-certs';
export const KUBEADM_CERTS_ROLE = 'kubeadm:kubeadm-certs';
/** kubeadm's DefaultCertTokenDuration: uploaded certificates live two hours. */
export const CERT_TOKEN_TTL_MS = 2 * 3600_000;
const CERTIFICATE_KEY_BYTES = 32;

/** Secret key (kubeadm's name, "/" replaced by "-") → path under the API server's pki directory. */
export const SHARED_PKI_FILES: Record<string, string> = {
  'ca.crt': 'ca.crt',
  'ca.key': 'ca.key',
  'sa.key': 'sa.key',
  'sa.pub': 'sa.pub',
  'front-proxy-ca.crt': 'front-proxy-ca.crt',
  'front-proxy-ca.key': 'front-proxy-ca.key',
  'etcd-ca.crt': 'etcd/ca.crt',
  'etcd-ca.key': 'etcd/ca.key',
};

export class CertsError extends Error {
  constructor(readonly code: 'CERTS_KEY_INVALID' | 'CERTS_DECRYPT' | 'CERTS_NOT_FOUND' | 'CERTS_API' | 'CERTS_MISSING', message: string) {
    super(message);
    this.name = 'CertsError';
  }
}

export function createCertificateKey(): string {
  return randomBytes(CERTIFICATE_KEY_BYTES).toString('hex');
}

function decodeKey(hex: string): Buffer {
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw new CertsError('CERTS_KEY_INVALID', `error decoding certificate key: ${JSON.stringify(hex)} is not hex-encoded`);
  const key = Buffer.from(hex, 'hex');
  if (key.length !== CERTIFICATE_KEY_BYTES) throw new CertsError('CERTS_KEY_INVALID', `error decoding certificate key: crypto/aes: invalid key size ${key.length} (the certificate key is a hex-encoded 32-byte AES key)`);
  return key;
}

export function encryptBytes(data: Buffer, key: Buffer): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  return Buffer.concat([nonce, c.update(data), c.final(), c.getAuthTag()]);
}

export function decryptBytes(data: Buffer, key: Buffer): Buffer {
  if (data.length < 12 + 16) throw new CertsError('CERTS_DECRYPT', 'error decoding secret data with provided key: size of data is less than the nonce');
  const d = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
  d.setAuthTag(data.subarray(data.length - 16));
  try {
    return Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
  } catch {
    throw new CertsError('CERTS_DECRYPT', 'error decoding secret data with provided key: cipher: message authentication failed');
  }
}

async function createOrUpdate(c: AdminCreds, collection: string, name: string, obj: Record<string, unknown>): Promise<void> {
  const r = await apiCall(c, 'POST', collection, obj);
  if (r.status === 201) return;
  if (r.status !== 409) throw new CertsError('CERTS_API', `creating ${collection}/${name}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  const u = await apiCall(c, 'PUT', `${collection}/${name}`, obj);
  if (u.status !== 200) throw new CertsError('CERTS_API', `updating ${collection}/${name}: HTTP ${u.status}: ${JSON.stringify(u.body)}`);
}

/** Uploads the shared PKI under pkiDir encrypted with `certificateKey`; kubeadm's Secret, owner token, Role and RoleBinding. */
export async function uploadCerts(c: AdminCreds, pkiDir: string, certificateKey: string): Promise<void> {
  const key = decodeKey(certificateKey);
  const token = await createToken(c, { ttlMs: CERT_TOKEN_TTL_MS, description: 'Proxy for managing TTL for the kubeadm-certs secret', usages: [], groups: [] });
  const tokenSecret = bootstrapTokenSecretName(parseBootstrapToken(token)!.id);
  const owner = await apiCall(c, 'GET', `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets/${tokenSecret}`);
  if (owner.status !== 200) throw new CertsError('CERTS_API', `error to get token reference: HTTP ${owner.status}`);
  const uid = (owner.body as { metadata: { uid: string } }).metadata.uid;
  const data: Record<string, string> = {};
  for (const [name, rel] of Object.entries(SHARED_PKI_FILES)) {
    const p = join(pkiDir, rel);
    // As kubeadm: a file that does not exist is uploaded empty.
    data[name] = existsSync(p) ? encryptBytes(readFileSync(p), key).toString('base64') : '';
  }
  const secrets = '/api/v1/namespaces/kube-system/secrets';
  await createOrUpdate(c, secrets, KUBEADM_CERTS_SECRET, {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name: KUBEADM_CERTS_SECRET, namespace: 'kube-system', ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: tokenSecret, uid, controller: true, blockOwnerDeletion: true }] },
    data,
  });
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system';
  await createOrUpdate(c, `${rbac}/roles`, KUBEADM_CERTS_ROLE, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: KUBEADM_CERTS_ROLE, namespace: 'kube-system' },
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: [KUBEADM_CERTS_SECRET] }],
  });
  await createOrUpdate(c, `${rbac}/rolebindings`, KUBEADM_CERTS_ROLE, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: KUBEADM_CERTS_ROLE, namespace: 'kube-system' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: KUBEADM_CERTS_ROLE },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: BOOTSTRAP_KUBEADM_GROUP }],
  });
}

/** GET of the kubeadm-certs Secret with the bootstrap token, verifying the server with the pinned CA. */
function getCertsSecret(server: string, caPem: string, token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/api/v1/namespaces/kube-system/secrets/${KUBEADM_CERTS_SECRET}`, server), { ca: caPem, timeout: 10_000, headers: { accept: 'application/json', authorization: `Bearer ${token}` } }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (t += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: t ? JSON.parse(t) : undefined });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Downloads and decrypts the shared PKI into pkiDir (keys 0600); kubeadm's messages. */
export async function downloadCerts(server: string, caPem: string, token: string, certificateKey: string, pkiDir: string): Promise<string[]> {
  const key = decodeKey(certificateKey);
  const r = await getCertsSecret(server, caPem, token).catch((err: Error) => {
    throw new CertsError('CERTS_API', `error downloading the secret: ${err.message}`);
  });
  if (r.status === 404) {
    throw new CertsError('CERTS_NOT_FOUND', `error downloading the secret: Secret "${KUBEADM_CERTS_SECRET}" was not found in the "kube-system" Namespace. This Secret might have expired. Please, run \`mkube init phase upload-certs --upload-certs\` on a control plane to generate a new one`);
  }
  if (r.status !== 200) throw new CertsError('CERTS_API', `error downloading the secret: HTTP ${r.status}: ${(r.body as { message?: string } | undefined)?.message ?? ''}`);
  const data = (r.body as { data?: Record<string, string> }).data ?? {};
  // Decrypt everything first: no partial result on a wrong key.
  const plain = new Map<string, Buffer>();
  for (const [name, b64] of Object.entries(data)) {
    const enc = Buffer.from(b64, 'base64');
    plain.set(name, enc.length > 0 ? decryptBytes(enc, key) : Buffer.alloc(0));
  }
  const written: string[] = [];
  for (const [name, rel] of Object.entries(SHARED_PKI_FILES)) {
    const v = plain.get(name);
    if (v === undefined) throw new CertsError('CERTS_MISSING', `the Secret does not include the required certificate or key - name: ${name}, path: ${join(pkiDir, rel)}`);
    if (v.length === 0) continue;
    const p = join(pkiDir, rel);
    ensurePrivateDir(join(p, '..'));
    writePrivateFile(p, v.toString('utf8'));
    written.push(rel);
  }
  return written;
}

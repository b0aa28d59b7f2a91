/**
 * The cluster PKI, made with the openssl command line on first start: a CA,
 * the serving certificate (SANs 127.0.0.1, localhost, the advertised address)
 * and an admin client certificate (CN=kubernetes-admin, O=system:masters),
 * plus DIR/admin.kubeconfig for kubectl.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, restrictKeyFiles, PRIVATE_FILE_MODE } from '@mkube/store';

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  dir: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(dir: string, file: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file], dir);
  chmodSync(join(dir, file), PRIVATE_FILE_MODE);
}

/** Issues a certificate for `subject` signed by the CA in `dir`. */
export function issueCertificate(dir: string, base: string, subject: string, ext: string): void {
  ecKey(dir, `${base}.key`);
  openssl(['req', '-new', '-key', `${base}.key`, '-subj', subject, '-out', `${base}.csr`], dir);
  writeFileSync(join(dir, `${base}.ext`), ext);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650', '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
}

/** Loads the PKI under dir/pki, creating what is missing. */
export function ensurePki(dataDir: string, sans: { ips: string[]; dns: string[] }): Pki {
  const dir = join(dataDir, 'pki');
  ensurePrivateDir(dir);
  if (!existsSync(join(dir, 'ca.crt'))) {
    ecKey(dir, 'ca.key');
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=mkube-ca', '-days', '3650', '-sha256', '-out', 'ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  }
  if (!existsSync(join(dir, 'apiserver.crt'))) {
    const alt = [...new Set(sans.ips)].map((ip) => `IP:${ip}`).concat([...new Set(sans.dns)].map((d) => `DNS:${d}`)).join(',');
    issueCertificate(dir, 'apiserver', '/CN=kube-apiserver', `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${alt}\n`);
  }
  if (!existsSync(join(dir, 'admin.crt'))) {
    issueCertificate(dir, 'admin', '/O=system:masters/CN=kubernetes-admin', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  }
  restrictKeyFiles(dir);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { dir, caCert: read('ca.crt'), caKey: read('ca.key'), serverCert: read('apiserver.crt'), serverKey: read('apiserver.key'), adminCert: read('admin.crt'), adminKey: read('admin.key') };
}

/**
 * The service-account key pair (DIR/sa.key 0600, DIR/sa.pub), an RSA key made
 * on first start as kubeadm does; tokens are signed with sa.key (RS256).
 */
export function ensureServiceAccountKey(dir: string): { privateKeyPem: string; publicKeyPem: string } {
  const keyPath = join(dir, 'sa.key');
  const pubPath = join(dir, 'sa.pub');
  if (!existsSync(keyPath)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pubPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  }
  if (!existsSync(pubPath)) writeFileSync(pubPath, createPublicKey(readFileSync(keyPath)).export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return { privateKeyPem: readFileSync(keyPath, 'utf8'), publicKeyPem: readFileSync(pubPath, 'utf8') };
}

export function kubeconfig(server: string, caCert: string, user: string, cred: { cert?: string; key?: string; token?: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const userLines = cred.token
    ? [`    token: ${cred.token}`]
    : [`    client-certificate-data: ${b64(cred.cert ?? '')}`, `    client-key-data: ${b64(cred.key ?? '')}`];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${b64(caCert)}`,
    `    server: ${server}`,
    '  name: mkube',
    'contexts:',
    '- context:',
    '    cluster: mkube',
    `    user: ${user}`,
    '  name: mkube',
    'current-context: mkube',
    'users:',
    `- name: ${user}`,
    '  user:',
    ...userLines,
    '',
  ].join('\n');
}

/**
 * Where the node agent keeps the certificates the CSR API gave it (as
 * kubelet's pki dir): `<dir>/kubelet-<client|server>-current.pem`, the
 * certificate and its private key in one file (0600, replaced atomically so
 * a reader never sees half a pair), and the kubeconfig that names the client
 * pair by path — so a rotation rewrites only the pem and the kubeconfig stays.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KeyPair } from './csr_request.js';
import { SERVERS_EXTENSION } from '@mkube/client';

export type CertificateKind = 'client' | 'server';

export const currentPemPath = (dir: string, kind: CertificateKind) => join(dir, `kubelet-${kind}-current.pem`);

/** Writes a file readable only by its owner, atomically (temp file + rename). */
export function writePrivateFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----\n?/g;

/** Splits a combined pem into its certificate(s) and its key. */
export function splitPem(text: string): KeyPair | undefined {
  const blocks = [...text.matchAll(BLOCK)];
  const certPem = blocks.filter((b) => b[1] === 'CERTIFICATE').map((b) => b[0].endsWith('\n') ? b[0] : `${b[0]}\n`).join('');
  const key = blocks.find((b) => b[1]!.endsWith('PRIVATE KEY'));
  if (!certPem || !key) return undefined;
  return { certPem, keyPem: key[0].endsWith('\n') ? key[0] : `${key[0]}\n` };
}

export function storePair(dir: string, kind: CertificateKind, pair: KeyPair): string {
  const path = currentPemPath(dir, kind);
  writePrivateFileAtomic(path, pair.certPem + pair.keyPem);
  return path;
}

/** The stored pair when there is one whose certificate is still valid at `now`. */
export function loadValidPair(dir: string, kind: CertificateKind, now = Date.now()): KeyPair | undefined {
  const path = currentPemPath(dir, kind);
  if (!existsSync(path)) return undefined;
  const pair = splitPem(readFileSync(path, 'utf8'));
  if (!pair) return undefined;
  const cert = new X509Certificate(pair.certPem);
  return Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo) ? pair : undefined;
}

/** The node's kubeconfig: the cluster (server, CA) and the client pair by path (both entries name the same pem). */
export function clientKubeconfig(server: string, caPem: string, user: string, pemPath: string, servers?: string[]): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    // Every API server the bootstrap kubeconfig named (@mkube/client's mkube.io/servers extension): failover.
    ...(servers && servers.length > 1 ? ['    extensions:', `    - name: ${SERVERS_EXTENSION}`, '      extension:', '        servers:', ...servers.map((x) => `        - ${JSON.stringify(x)}`)] : []),
    '  name: default-cluster',
    'contexts:',
    '- context:',
    '    cluster: default-cluster',
    `    user: ${JSON.stringify(user)}`,
    '  name: default-context',
    'current-context: default-context',
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    `    client-certificate: ${JSON.stringify(pemPath)}`,
    `    client-key: ${JSON.stringify(pemPath)}`,
    '',
  ].join('\n');
}

/**
 * The fallback TLS certificate of the HTTPS listener, as ingress-nginx's
 * default SSL certificate: self-signed, subject and issuer
 * `O=Acme Co, CN=Kubernetes Ingress Controller Fake Certificate`, RSA 2048,
 * valid 365 days, DNS name `ingress.local`, serverAuth. Served for a name no
 * Ingress has a usable certificate for (no tls section for the host, its
 * Secret missing, or not a matching certificate and key), and to clients
 * without SNI. Made once per process with the openssl command line, as the
 * cluster PKI is.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CodedError } from '@mkube/component-base';

export const FAKE_CERTIFICATE_SUBJECT = '/O=Acme Co/CN=Kubernetes Ingress Controller Fake Certificate';
export const FAKE_CERTIFICATE_DNS_NAME = 'ingress.local';

export interface PemPair {
  cert: string;
  key: string;
}

export class FakeCertificateError extends CodedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FAKE_CERTIFICATE_FAILED', message, options);
  }
}

export async function makeFakeCertificate(): Promise<PemPair> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-ingress-fake-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '365',
      '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-subj', FAKE_CERTIFICATE_SUBJECT,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext', 'extendedKeyUsage=serverAuth',
      '-addext', `subjectAltName=DNS:${FAKE_CERTIFICATE_DNS_NAME}`,
    ], { timeout: 30_000 });
    return { cert: await readFile(join(dir, 'tls.crt'), 'utf8'), key: await readFile(join(dir, 'tls.key'), 'utf8') };
  } catch (err) {
    throw new FakeCertificateError(`could not make the default (fake) TLS certificate with openssl: ${(err as Error).message.split('\n')[0]!}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

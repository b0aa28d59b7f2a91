/**
 * The csrsigning controller's signer, as upstream's: for an approved, not
 * failed, not yet issued request of kubernetes.io/kube-apiserver-client-kubelet,
 * kubernetes.io/kubelet-serving or kubernetes.io/kube-apiserver-client, the
 * request is checked against the signer's rules (a violation is a Failed
 * condition with reason SignerValidationFailure) and a certificate is issued
 * by the cluster CA: the request's subject, public key and SANs, the
 * requested usages, no CA, lifetime min(expirationSeconds ≥ 10 min, the
 * --cluster-signing-duration), never past the CA's own expiry, backdated 5
 * minutes as upstream (less for lifetimes under an hour, so a short test
 * lifetime is not mostly in the past).
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { x509 } from './x509.js';
import type { CertificateSigningRequest } from '@mkube/api';
import type { ParsedRequest } from './csr_parse.js';
import { NODE_USER_PREFIX, NODES_GROUP, SIGNER_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING } from './resource.js';

export const SIGNERS = [SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING, SIGNER_APISERVER_CLIENT];
const MIN_DURATION_S = 600;
const BACKDATE_S = 300;

const USAGE_BITS: Record<string, x509.KeyUsageFlags> = {
  'digital signature': x509.KeyUsageFlags.digitalSignature,
  'key encipherment': x509.KeyUsageFlags.keyEncipherment,
  'content commitment': x509.KeyUsageFlags.nonRepudiation,
  'data encipherment': x509.KeyUsageFlags.dataEncipherment,
  'key agreement': x509.KeyUsageFlags.keyAgreement,
  'cert sign': x509.KeyUsageFlags.keyCertSign,
  'crl sign': x509.KeyUsageFlags.cRLSign,
  'encipher only': x509.KeyUsageFlags.encipherOnly,
  'decipher only': x509.KeyUsageFlags.decipherOnly,
};
const EXT_USAGES: Record<string, string> = { 'server auth': x509.ExtendedKeyUsage.serverAuth, 'client auth': x509.ExtendedKeyUsage.clientAuth };

/** The signer's rules for a request (upstream's validators); an error message or undefined. */
export function signerValidation(csr: CertificateSigningRequest, req: ParsedRequest): string | undefined {
  const usages = csr.spec?.usages ?? [];
  const only = (allowed: string[]) => usages.filter((u) => !allowed.includes(u));
  switch (csr.spec?.signerName) {
    case SIGNER_KUBELET_CLIENT: {
      if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return `subject organization is not ${NODES_GROUP}`;
      if (!req.cn.startsWith(NODE_USER_PREFIX)) return `subject common name does not begin with ${NODE_USER_PREFIX}`;
      if (req.dns.length || req.ips.length || req.emails.length || req.uris.length) return 'subjectAltNames are not allowed';
      const bad = only(['digital signature', 'key encipherment', 'client auth']);
      if (bad.length || !usages.includes('client auth')) return `usages did not match [digital signature key encipherment client auth]: ${JSON.stringify(usages)}`;
      return undefined;
    }
    case SIGNER_KUBELET_SERVING: {
      if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return `subject organization is not ${NODES_GROUP}`;
      if (!req.cn.startsWith(NODE_USER_PREFIX)) return `subject common name does not begin with ${NODE_USER_PREFIX}`;
      if (req.emails.length || req.uris.length) return 'email and URI subjectAltNames are not allowed';
      if (req.dns.length + req.ips.length === 0) return 'DNS or IP subjectAltName is required';
      const bad = only(['digital signature', 'key encipherment', 'server auth']);
      if (bad.length || !usages.includes('server auth')) return `usages did not match [digital signature key encipherment server auth]: ${JSON.stringify(usages)}`;
      return undefined;
    }
    case SIGNER_APISERVER_CLIENT: {
      const bad = only(['digital signature', 'key encipherment', 'client auth']);
      if (bad.length || !usages.includes('client auth')) return `invalid usages for client certificate: ${JSON.stringify(usages)}`;
      return undefined;
    }
    default:
      return `unknown signer ${String(csr.spec?.signerName)}`;
  }
}

export interface SigningCa {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
  algorithm: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
  pem: string;
}

export class SignerError extends Error {
  readonly code = 'CSR_SIGNER';
  constructor(message: string) {
    super(message);
    this.name = 'SignerError';
  }
}

/** The CA certificate and key (EC P-256/P-384 or RSA) from PEM, for signing. */
export async function loadSigningCa(certPem: string, keyPem: string): Promise<SigningCa> {
  const key = createPrivateKey(keyPem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  let algorithm: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
  let importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    importAlg = { name: 'ECDSA', namedCurve: curve };
    algorithm = { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' };
  } else if (key.asymmetricKeyType === 'rsa') {
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    algorithm = importAlg;
  } else throw new SignerError(`unsupported CA key type ${String(key.asymmetricKeyType)}`);
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  return { cert: new x509.X509Certificate(certPem), key: cryptoKey, algorithm, pem: certPem };
}

/** The lifetime in seconds the signer grants (upstream's duration()). */
export function grantedSeconds(expirationSeconds: number | undefined, maxSeconds: number): number {
  if (expirationSeconds === undefined || expirationSeconds === null) return maxSeconds;
  if (expirationSeconds > maxSeconds) return maxSeconds;
  return Math.max(expirationSeconds, Math.min(MIN_DURATION_S, maxSeconds));
}

/** Issues the certificate (PEM) for a validated request. */
export async function issue(ca: SigningCa, csr: CertificateSigningRequest, req: ParsedRequest, maxSeconds: number, nowMs: number): Promise<string> {
  const ttl = grantedSeconds(csr.spec?.expirationSeconds ?? undefined, maxSeconds);
  const backdate = ttl >= 3600 ? BACKDATE_S : 0;
  const notBefore = new Date(Math.floor(nowMs / 1000 - backdate) * 1000);
  let notAfter = new Date(Math.floor(nowMs / 1000 + ttl) * 1000);
  if (notAfter > ca.cert.notAfter) notAfter = ca.cert.notAfter;
  const usages = csr.spec?.usages ?? [];
  const bits = usages.reduce((acc, u) => acc | (USAGE_BITS[u] ?? 0), 0);
  const eku = usages.map((u) => EXT_USAGES[u]).filter((u): u is string => u !== undefined);
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  if (bits) extensions.push(new x509.KeyUsagesExtension(bits, true));
  if (eku.length) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca.cert));
  const names: x509.JsonGeneralName[] = [...req.dns.map((value) => ({ type: 'dns' as const, value })), ...req.ips.map((value) => ({ type: 'ip' as const, value })), ...req.emails.map((value) => ({ type: 'email' as const, value })), ...req.uris.map((value) => ({ type: 'url' as const, value }))];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: req.csr.subject,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: await req.csr.publicKey.export(),
    signingKey: ca.key,
    signingAlgorithm: ca.algorithm,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

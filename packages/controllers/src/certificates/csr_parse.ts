/**
 * Reading a CertificateSigningRequest's PEM request (@peculiar/x509: a
 * maintained X.509/PKCS#10 implementation over WebCrypto, so the signature
 * is verified and the subject and SANs come out typed): CN, O, DNS/IP/email/URI
 * SANs and the request's public key. Also the condition helpers.
 */
import { x509 } from './x509.js';
import type { CertificateSigningRequest } from '@mkube/api';

const SAN_OID = '2.5.29.17';

export interface ParsedRequest {
  cn: string;
  organizations: string[];
  dns: string[];
  ips: string[];
  emails: string[];
  uris: string[];
  csr: x509.Pkcs10CertificateRequest;
}

export class CsrParseError extends Error {
  readonly code = 'CSR_PARSE';
  constructor(message: string) {
    super(message);
    this.name = 'CsrParseError';
  }
}

export async function parseRequest(csr: CertificateSigningRequest): Promise<ParsedRequest> {
  const pem = Buffer.from(String(csr.spec?.request ?? ''), 'base64').toString('utf8');
  let req: x509.Pkcs10CertificateRequest;
  try {
    req = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new CsrParseError(`unable to parse csr "${csr.metadata?.name ?? ''}": ${(err as Error).message}`);
  }
  if (!(await req.verify())) throw new CsrParseError(`csr "${csr.metadata?.name ?? ''}": signature verification failed`);
  const name = new x509.Name(req.subject).toJSON();
  const values = (type: string) => name.flatMap((rdn) => rdn[type] ?? []);
  const out: ParsedRequest = { cn: values('CN')[0] ?? '', organizations: values('O'), dns: [], ips: [], emails: [], uris: [], csr: req };
  const raw = req.extensions.find((e) => e.type === SAN_OID);
  const san = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData) : undefined;
  for (const n of san?.names.items ?? []) {
    if (n.type === 'dns') out.dns.push(n.value);
    else if (n.type === 'ip') out.ips.push(n.value);
    else if (n.type === 'email') out.emails.push(n.value);
    else if (n.type === 'url') out.uris.push(n.value);
  }
  return out;
}

export const hasCondition = (csr: CertificateSigningRequest, type: string): boolean => (csr.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
export const isApproved = (csr: CertificateSigningRequest) => hasCondition(csr, 'Approved');
export const isDenied = (csr: CertificateSigningRequest) => hasCondition(csr, 'Denied');
export const isFailed = (csr: CertificateSigningRequest) => hasCondition(csr, 'Failed');

export const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && new Set(a).size === new Set([...a, ...b]).size;

/**
 * One certificate through the certificates.k8s.io/v1 CSR API, as kubelet's
 * certificate manager asks for it: a fresh ECDSA P-256 key, a PKCS#10 request
 * (@peculiar/x509 builds and signs it over WebCrypto) for the subject and
 * SANs, a CertificateSigningRequest (generateName csr-) with the signer and
 * usages, then waiting until the signer sets status.certificate — refused
 * with the reason when the request is Denied or Failed, or when it is not
 * issued in time.
 */
import 'reflect-metadata';
import { X509Certificate, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificateSigningRequest } from '@mkube/api';
import type { KubeClient } from '@mkube/client';
import { CodedError } from '@mkube/component-base';
import type { Logger } from '../logger.js';

x509.cryptoProvider.set(webcrypto as never);

export const SIGNER_KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
export const SIGNER_KUBELET_SERVING = 'kubernetes.io/kubelet-serving';
export const NODES_GROUP = 'system:nodes';
export const nodeUser = (nodeName: string) => `system:node:${nodeName}`;
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

export interface CertificateRequest {
  signerName: string;
  /** ECDSA keys: kubelet asks for digital signature + client auth / server auth (key encipherment is for RSA). */
  usages: string[];
  commonName: string;
  organizations: string[];
  dnsNames?: string[];
  ips?: string[];
  /** spec.expirationSeconds (≥ 600), a hint the signer caps. */
  expirationSeconds?: number;
}

/** A PEM certificate (chain) and its PEM private key. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export class CertificateRequestError extends CodedError {}

function pem(type: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

/** A new key and its PEM certificate request. */
export async function newKeyAndRequest(r: CertificateRequest): Promise<{ keyPem: string; requestPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names: x509.JsonGeneralName[] = [...(r.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })), ...(r.ips ?? []).map((v) => ({ type: 'ip' as const, value: v }))];
  const subject: x509.JsonName = [...r.organizations.map((o) => ({ O: [o] })), { CN: [r.commonName] }];
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm: alg,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), requestPem: req.toString('pem') + '\n' };
}

const condition = (csr: CertificateSigningRequest, type: string) => (csr.status?.conditions ?? []).find((c) => c.type === type && c.status === 'True');

/**
 * Submits the request and waits for its certificate (polling the object:
 * the requester may get, but bootstrap identities may not watch by name).
 */
export async function requestCertificate(client: KubeClient, r: CertificateRequest, opts: { log?: Logger; timeoutMs?: number; pollMs?: number } = {}): Promise<KeyPair & { csrName: string }> {
  const { keyPem, requestPem } = await newKeyAndRequest(r);
  const body = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'csr-' },
    spec: {
      request: Buffer.from(requestPem).toString('base64'),
      signerName: r.signerName,
      usages: r.usages,
      ...(r.expirationSeconds ? { expirationSeconds: r.expirationSeconds } : {}),
    },
  };
  const created = (await client.request('POST', CSR_PATH, body)) as CertificateSigningRequest;
  const name = created.metadata?.name ?? '';
  opts.log?.info({ csr: name, signer: r.signerName }, 'certificate signing request submitted');
  const deadline = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
  for (;;) {
    let csr: CertificateSigningRequest | undefined;
    try {
      csr = (await client.request('GET', `${CSR_PATH}/${name}`)) as CertificateSigningRequest;
    } catch (err) {
      opts.log?.debug({ err, csr: name }, 'reading the certificate signing request failed; retrying');
    }
    if (csr) {
      const denied = condition(csr, 'Denied');
      if (denied) throw new CertificateRequestError('CSR_DENIED', `certificate signing request ${name} is denied, reason: ${denied.reason ?? ''}, message: ${denied.message ?? ''}`);
      const failed = condition(csr, 'Failed');
      if (failed) throw new CertificateRequestError('CSR_FAILED', `certificate signing request ${name} failed, reason: ${failed.reason ?? ''}, message: ${failed.message ?? ''}`);
      const cert = csr.status?.certificate;
      if (cert) {
        const certPem = Buffer.from(cert, 'base64').toString('utf8');
        // The issued certificate must be for our key.
        const issued = new X509Certificate(certPem);
        const ours = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
        if (!issued.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
          throw new CertificateRequestError('CSR_KEY_MISMATCH', `certificate signing request ${name}: the issued certificate is not for the requested key`);
        }
        opts.log?.info({ csr: name, notAfter: issued.validTo }, 'certificate issued');
        return { certPem, keyPem, csrName: name };
      }
    }
    if (Date.now() > deadline) throw new CertificateRequestError('CSR_TIMEOUT', `timed out waiting for certificate signing request ${name} to be issued (signer ${r.signerName})`);
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 500));
  }
}

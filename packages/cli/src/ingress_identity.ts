// A worker's Ingress controller identity on a join-flow cluster: the client certificate of
// `system:mkube-ingress:<node>` in group `system:mkube-ingresses` (bound to the mkube-ingress ClusterRole, which
// reads every Secret for TLS), asked for through a CSR (signer kubernetes.io/kube-apiserver-client) with the node's
// own credentials — never the bootstrap token, which every joiner holds for a day. The csrapproving controller
// approves exactly that shape only when the requester is that node (packages/controllers approve.ts), so a node
// cannot get another node's identity and a bootstrap token gets none. `mkube join` gets the first certificate;
// `mkube ingress-identity` (internal, a recorded component of the worker) keeps it current as kubelet's certificate
// manager does: renewal at a jittered 70–90 % of the lifetime, back-off after a failure, SIGHUP renews at once. Each
// renewal rewrites the kubeconfig (0600, atomically) with the node kubeconfig's CA and API servers; mkube-ingress
// reloads it (runClientComponent's certificate reload).
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import type { CertificateSigningRequest } from '@mkube/api';
import { adminKubeconfigText } from './admin_kubeconfig.js';

export const INGRESSES_GROUP = 'system:mkube-ingresses';
export const ingressUser = (nodeName: string) => `system:mkube-ingress:${nodeName}`;
const SIGNER = 'kubernetes.io/kube-apiserver-client';
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
/** The kubeconfig mkube-ingress runs with, under a worker's data directory. */
export const ingressKubeconfigPath = (dataDir: string) => join(dataDir, 'mkube-ingress.kubeconfig');

export class IngressIdentityError extends Error {
  constructor(readonly code: 'CSR_DENIED' | 'CSR_FAILED' | 'CSR_TIMEOUT' | 'CSR_KEY_MISMATCH' | 'BAD_ARGS', message: string) {
    super(message);
    this.name = 'IngressIdentityError';
  }
}

/** An ECDSA P-256 key and a PKCS#10 request for the node's Ingress identity (the system's openssl, as the CLI's PKI). */
function keyAndRequest(nodeName: string): { keyPem: string; requestPem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dir = mkdtempSync(join(tmpdir(), 'mkube-ingress-csr-'));
  try {
    writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
    const requestPem = execFileSync('openssl', ['req', '-new', '-key', join(dir, 'key.pem'), '-subj', `/O=${INGRESSES_GROUP}/CN=${ingressUser(nodeName)}`], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    return { keyPem, requestPem };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A new certificate for system:mkube-ingress:<node>, asked for with the node's kubeconfig (its client certificate;
 * every API server it lists): the CSR is posted, then read until the signer issued it (Denied / Failed / timeout
 * refused with the reason, as kubelet's certificate manager).
 */
export async function requestIngressCertificate(o: { nodeKubeconfig: string; nodeName: string; timeoutMs?: number; expirationSeconds?: number }): Promise<{ certPem: string; keyPem: string; csrName: string }> {
  const { keyPem, requestPem } = keyAndRequest(o.nodeName);
  const client = new KubeClient({ ...loadKubeconfig(o.nodeKubeconfig), timeoutMs: 10_000, userAgent: 'mkube-ingress-identity' });
  try {
    const created = (await client.request('POST', CSR_PATH, {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { generateName: 'csr-' },
      spec: { request: Buffer.from(requestPem).toString('base64'), signerName: SIGNER, usages: ['digital signature', 'client auth'], ...(o.expirationSeconds ? { expirationSeconds: o.expirationSeconds } : {}) },
    })) as CertificateSigningRequest;
    const name = created.metadata?.name ?? '';
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    for (;;) {
      const csr = (await client.request('GET', `${CSR_PATH}/${name}`).catch(() => undefined)) as CertificateSigningRequest | undefined;
      const cond = (type: string) => csr?.status?.conditions?.find((c) => c.type === type && c.status === 'True');
      const denied = cond('Denied') ?? cond('Failed');
      if (denied) throw new IngressIdentityError(denied.type === 'Denied' ? 'CSR_DENIED' : 'CSR_FAILED', `certificate signing request ${name} for ${ingressUser(o.nodeName)}: ${denied.type}, reason: ${denied.reason ?? ''}, message: ${denied.message ?? ''}`);
      const cert = csr?.status?.certificate;
      if (cert) {
        const certPem = Buffer.from(cert, 'base64').toString('utf8');
        const ours = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
        if (!new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
          throw new IngressIdentityError('CSR_KEY_MISMATCH', `certificate signing request ${name}: the issued certificate is not for the requested key`);
        }
        return { certPem, keyPem, csrName: name };
      }
      if (Date.now() > deadline) throw new IngressIdentityError('CSR_TIMEOUT', `timed out waiting for certificate signing request ${name} (${ingressUser(o.nodeName)}, signer ${SIGNER}) to be approved and issued`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    client.close();
  }
}

/** Writes mkube-ingress's kubeconfig: this pair, the CA and every API server of the node's kubeconfig (0600, replaced atomically). */
export function writeIngressKubeconfig(path: string, nodeKubeconfig: string, pair: { certPem: string; keyPem: string }): void {
  const node = loadKubeconfig(nodeKubeconfig);
  const servers = [node.server, ...(node.servers ?? []).filter((s) => s !== node.server)];
  const text = adminKubeconfigText(node.ca!.toString('utf8'), pair.certPem, pair.keyPem, servers.map((server, i) => ({ name: `api-${i + 1}`, server })));
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The certificate in a kubeconfig written by writeIngressKubeconfig (undefined: none, or unreadable). */
function currentCertificate(path: string): X509Certificate | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const cert = loadKubeconfig(path).cert;
    return cert ? new X509Certificate(cert) : undefined;
  } catch {
    return undefined;
  }
}

/** When to renew (as kubelet's certificate manager): a jittered point between 70 % and 90 % of the lifetime. */
export function renewalTime(cert: X509Certificate, random: () => number = Math.random): number {
  const from = Date.parse(cert.validFrom);
  return from + Math.floor((Date.parse(cert.validTo) - from) * (0.7 + 0.2 * random()));
}

/**
 * `mkube ingress-identity --node-name N --node-kubeconfig K --kubeconfig OUT [--expiration-seconds S]` (internal,
 * started by `mkube join`): keeps OUT's certificate current until SIGTERM; SIGHUP renews at once.
 */
export async function runIngressIdentityCommand(argv: string[], log: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'node-name': { type: 'string' }, 'node-kubeconfig': { type: 'string' }, kubeconfig: { type: 'string' }, 'expiration-seconds': { type: 'string' } } });
  const nodeName = values['node-name'];
  const nodeKubeconfig = values['node-kubeconfig'];
  const out = values.kubeconfig;
  if (!nodeName || !nodeKubeconfig || !out) throw new IngressIdentityError('BAD_ARGS', 'mkube ingress-identity: --node-name, --node-kubeconfig and --kubeconfig are required');
  const expirationSeconds = values['expiration-seconds'] ? Number(values['expiration-seconds']) : undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let busy = false;
  const renew = async () => {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      const pair = await requestIngressCertificate({ nodeKubeconfig, nodeName, expirationSeconds });
      writeIngressKubeconfig(out, nodeKubeconfig, pair);
      failures = 0;
      log(`ingress-identity: ${ingressUser(nodeName)} renewed (CSR ${pair.csrName}, serial ${new X509Certificate(pair.certPem).serialNumber}, valid to ${new X509Certificate(pair.certPem).validTo})`);
      schedule();
    } catch (err) {
      // As kubelet's rotation: 2 s doubling to 5 min while the current certificate stays in use.
      const delay = Math.min(2_000 * 2 ** failures++, 5 * 60_000);
      log(`ingress-identity: renewing ${ingressUser(nodeName)} failed (${(err as Error).message}); again in ${delay} ms`);
      timer = setTimeout(() => void renew(), delay);
    } finally {
      busy = false;
    }
  };
  const schedule = () => {
    const cert = currentCertificate(out);
    if (!cert) return void renew();
    const at = renewalTime(cert);
    log(`ingress-identity: ${ingressUser(nodeName)} valid to ${cert.validTo}, renewal at ${new Date(at).toISOString()}`);
    // setTimeout's longest delay is ~24.8 days: later deadlines are reached in steps.
    timer = setTimeout(() => (Date.now() >= at ? void renew() : schedule()), Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
  };
  process.on('SIGHUP', () => void renew());
  schedule();
  await new Promise<void>((done) => {
    const stop = () => {
      clearTimeout(timer);
      done();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

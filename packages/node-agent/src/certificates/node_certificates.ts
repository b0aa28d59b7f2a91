/**
 * The node agent's certificates from the cluster (kubelet's TLS bootstrap
 * and certificate rotation):
 *  - bootstrapClientConfig: with --bootstrap-kubeconfig, unless the
 *    --kubeconfig already holds a valid client certificate, a
 *    kubernetes.io/kube-apiserver-client-kubelet CSR (CN system:node:NAME,
 *    O system:nodes) is submitted with the bootstrap token, and the issued
 *    pair plus a kubeconfig naming it (0600) are written; the agent then runs
 *    as the node.
 *  - initialServingPair: the stored kubelet-serving pair when still valid,
 *    else a self-signed placeholder until the CSR's certificate arrives (the
 *    API server trusts only the cluster CA, so nothing talks to the agent
 *    with the placeholder).
 *  - NodeCertificates: after start, the kubernetes.io/kubelet-serving CSR
 *    (SANs: the node's name and IP) as the node, and the rotation of both at
 *    70–90 % of their lifetime, swapping the API client's credentials and the
 *    serving TLS context without a restart.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { KubeClient, loadKubeconfig, type ClientConfig } from '@mkube/client';
import { CodedError } from '@mkube/component-base';
import type { Logger } from '../logger.js';
import { CertificateManager } from './manager.js';
import { NODES_GROUP, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING, nodeUser, requestCertificate, type KeyPair } from './csr_request.js';
import { clientKubeconfig, currentPemPath, loadValidPair, storePair, writePrivateFileAtomic } from './store.js';

x509.cryptoProvider.set(webcrypto as never);

const CLIENT_USAGES = ['digital signature', 'client auth'];
const SERVING_USAGES = ['digital signature', 'server auth'];

export interface BootstrapOptions {
  nodeName: string;
  /** --bootstrap-kubeconfig: the API server and the bootstrap token. */
  bootstrapKubeconfig: string;
  /** --kubeconfig: where the node's kubeconfig is written. */
  kubeconfig: string;
  /** --cert-dir: where the pairs are kept. */
  certDir: string;
  log: Logger;
  timeoutMs?: number;
}

/** The node's client config: the existing kubeconfig while its certificate is valid, else one obtained with the bootstrap token. */
export async function bootstrapClientConfig(o: BootstrapOptions): Promise<ClientConfig> {
  if (existsSync(o.kubeconfig)) {
    const cfg = loadKubeconfig(o.kubeconfig);
    if (cfg.cert && cfg.key && loadValidPair(o.certDir, 'client')) {
      o.log.info({ kubeconfig: o.kubeconfig }, 'using the existing client certificate');
      return cfg;
    }
    o.log.info({ kubeconfig: o.kubeconfig }, 'the kubeconfig has no valid client certificate; bootstrapping');
  }
  const boot = loadKubeconfig(o.bootstrapKubeconfig);
  if (!boot.token && !(boot.cert && boot.key)) throw new CodedError('BOOTSTRAP_KUBECONFIG', `${o.bootstrapKubeconfig}: no token or client certificate to bootstrap with`);
  if (!boot.ca) throw new CodedError('BOOTSTRAP_KUBECONFIG', `${o.bootstrapKubeconfig}: no certificate-authority to trust the API server with`);
  const client = new KubeClient({ ...boot, userAgent: `mkube-node-agent/${o.nodeName} (bootstrap)`, timeoutMs: 10_000 });
  try {
    const pair = await requestCertificate(client, { signerName: SIGNER_KUBELET_CLIENT, usages: CLIENT_USAGES, commonName: nodeUser(o.nodeName), organizations: [NODES_GROUP] }, { log: o.log, timeoutMs: o.timeoutMs });
    const pem = storePair(o.certDir, 'client', pair);
    writePrivateFileAtomic(o.kubeconfig, clientKubeconfig(boot.server, boot.ca.toString('utf8'), 'default-auth', pem, boot.servers));
    o.log.info({ kubeconfig: o.kubeconfig, csr: pair.csrName }, 'client certificate bootstrapped; kubeconfig written');
  } finally {
    client.close();
  }
  return loadKubeconfig(o.kubeconfig);
}

/** The serving pair to start with: the stored one while valid, else a self-signed placeholder (1 h) for the node. */
export async function initialServingPair(certDir: string, nodeName: string, nodeIP: string): Promise<KeyPair & { placeholder: boolean }> {
  const stored = loadValidPair(certDir, 'server');
  if (stored) return { ...stored, placeholder: false };
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16),
    name: [{ CN: [`${nodeName}@${Math.floor(now / 1000)}`] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: nodeName }, { type: 'ip', value: nodeIP }])],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem') + '\n', keyPem, placeholder: true };
}

/** Resolves once the Node is registered with status.addresses (polling; bounded by the caller's retries). */
async function waitForNodeAddresses(client: KubeClient, nodeName: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = (await client.request('GET', `/api/v1/nodes/${encodeURIComponent(nodeName)}`).catch(() => undefined)) as { status?: { addresses?: unknown[] } } | undefined;
    if (node?.status?.addresses?.length) return;
    if (Date.now() > deadline) throw new CodedError('CERT_NODE_NOT_REGISTERED', `node ${nodeName} has no addresses after ${timeoutMs} ms: not asking for a serving certificate yet`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface NodeCertificatesOptions {
  nodeName: string;
  nodeIP: string;
  certDir: string;
  /** The agent's API client (its credentials are swapped on client rotation). */
  client: KubeClient;
  /** Installs a new serving pair in the agent's HTTPS endpoint. */
  setServingPair: (pair: KeyPair) => void;
  /** --rotate-certificates: renew the client certificate (needs a kubeconfig naming the pem in certDir). */
  rotateClient: boolean;
  /** --rotate-server-certificates: the serving certificate through kubelet-serving CSRs. */
  rotateServer: boolean;
  /** The serving pair the endpoint started with. */
  serving: KeyPair & { placeholder: boolean };
  log: Logger;
}

export class NodeCertificates {
  readonly client?: CertificateManager;
  readonly server?: CertificateManager;

  constructor(private readonly o: NodeCertificatesOptions) {
    const log = o.log.child({ component: 'certificate-manager' });
    if (o.rotateClient) {
      this.client = new CertificateManager({
        kind: 'client',
        dir: o.certDir,
        log,
        request: () => requestCertificate(o.client, { signerName: SIGNER_KUBELET_CLIENT, usages: CLIENT_USAGES, commonName: nodeUser(o.nodeName), organizations: [NODES_GROUP] }, { log }),
        onRotated: (pair) => o.client.setClientCertificate(Buffer.from(pair.certPem), Buffer.from(pair.keyPem)),
      });
    }
    if (o.rotateServer) {
      this.server = new CertificateManager({
        kind: 'server',
        dir: o.certDir,
        log,
        // The approver checks the SANs against the Node's addresses: ask once the Node has them.
        request: async () => (await waitForNodeAddresses(o.client, o.nodeName), requestCertificate(o.client, { signerName: SIGNER_KUBELET_SERVING, usages: SERVING_USAGES, commonName: nodeUser(o.nodeName), organizations: [NODES_GROUP], dnsNames: [o.nodeName], ips: [o.nodeIP] }, { log })),
        onRotated: (pair) => o.setServingPair(pair),
      });
    }
  }

  /** Starts both managers: the client from its stored pair; the server at once when it has only the placeholder. */
  start(): void {
    if (this.client) {
      const pem = currentPemPath(this.o.certDir, 'client');
      if (!existsSync(pem)) throw new CodedError('CERT_ROTATION', `--rotate-certificates: no client certificate at ${pem} (start with --bootstrap-kubeconfig)`);
      const pair = loadValidPair(this.o.certDir, 'client') ?? { certPem: readFileSync(pem, 'utf8'), keyPem: readFileSync(pem, 'utf8') };
      this.client.start(pair);
    }
    if (this.server) {
      this.server.start(this.o.serving);
      if (this.o.serving.placeholder) void this.server.rotateNow().catch(() => undefined);
    }
  }

  /** Renews both now (the agent's SIGHUP). */
  async rotateNow(): Promise<void> {
    await Promise.all([this.client?.rotateNow(), this.server?.rotateNow()]);
  }

  stop(): void {
    this.client?.stop();
    this.server?.stop();
  }
}

// `mkube init`: the first control plane on this machine, as `kubeadm init`: the cluster PKI, its store member (a
// mkube-store process on --advertise-address with peer and client TLS, so that other control planes can join it),
// the API server on it with bootstrap-token authentication, the leader-elected scheduler and controller manager
// (signing CSRs with the cluster CA), the kube-public/cluster-info ConfigMap and a bootstrap token; with
// --upload-certs the shared PKI encrypted into kube-system/kubeadm-certs. It prints the `mkube join` commands. The
// CA key stays on control planes (DIR/apiserver/pki).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { caCertHash, parseBootstrapToken } from '@mkube/api';
import { ensurePki, ensurePrivateDir } from '@mkube/apiserver';
import { adminCreds, waitFor } from './api_probe.js';
import { writeAdminKubeconfig } from './admin_kubeconfig.js';
import { recordControlPlane, startControlPlaneApiServer, startControlPlaneComponents, startStoreMember, type HostContext } from './control_plane.js';
import { clusterInfoSigned, publishClusterInfo } from './discovery.js';
import { grantWorkerAddons, recordAddonConfig, startControlPlaneAddons } from './join_addons.js';
import { readState, writeState, type ClusterState, type ComponentRecord, isRunning } from './processes.js';
import { Progress } from './progress.js';
import { clientURL, ensureStorePki, peerURL, writeMemberRecord } from './store_member.js';
import { createToken, DEFAULT_TOKEN_TTL_MS } from './token.js';
import { checkAlive } from './up.js';
import { createCertificateKey, KUBEADM_CERTS_SECRET, uploadCerts } from './upload_certs.js';

/** The first address of the API server's default --service-cluster-ip-range (10.213.200.0/24). */
export const KUBERNETES_SERVICE_IP = '10.213.200.1';

export interface InitOptions {
  dataDir: string;
  advertiseAddress: string;
  apiPort: number;
  /** Longest lifetime of certificates the CSR signer issues (controller manager --cluster-signing-duration). */
  clusterSigningDuration?: string;
  tokenTtlMs?: number;
  /** The store member's (and node) name: default the host name. */
  nodeName?: string;
  /** kubeadm's --upload-certs: the shared PKI into kube-system/kubeadm-certs under a certificate key. */
  uploadCerts?: boolean;
  /** The key to encrypt with (hex, 32 bytes); default a random one. */
  certificateKey?: string;
  /** LoadBalancer Service addresses (the cloud controller manager's --lb-address-pool), recorded for joining control planes. */
  lbAddressPool?: string;
  log: (m: string) => void;
  progress?: Progress;
}

export interface InitResult {
  state: ClusterState;
  token: string;
  caCertHash: string;
  joinCommand: string;
  certificateKey?: string;
  controlPlaneJoinCommand?: string;
  api: ComponentRecord;
}

export async function init(o: InitOptions): Promise<InitResult> {
  const dataDir = resolve(o.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isRunning(c))) throw new Error(`a control plane is already running from ${dataDir} (mkube down --data-dir ${o.dataDir} first)`);
  const progress = o.progress ?? new Progress(process.stdout);
  ensurePrivateDir(dataDir);
  const components: ComponentRecord[] = [];
  const server = `https://${o.advertiseAddress}:${o.apiPort}`;
  // No lab: `mkube down` stops the components and leaves networks alone.
  const state: ClusterState = { dataDir, apiServer: server, kubeconfig: join(dataDir, 'admin.kubeconfig'), components };
  writeState(state);
  ensurePrivateDir(join(dataDir, 'logs'));
  const apiDir = join(dataDir, 'apiserver');
  const pki = join(apiDir, 'pki');
  await progress.step('Creating the cluster PKI', async () => {
    ensurePrivateDir(apiDir);
    // As the API server's own: loopback, the advertised address, the kubernetes Service's IP and names.
    ensurePki(apiDir, { ips: ['127.0.0.1', o.advertiseAddress, KUBERNETES_SERVICE_IP], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] });
  }, () => `Cluster PKI in ${pki}`);

  const memberName = (o.nodeName ?? hostname()).toLowerCase();
  const ctx: HostContext = { dataDir, state, components, progress };
  const storePki = ensureStorePki(apiDir, memberName, o.advertiseAddress);
  const member = { name: memberName, clientURL: clientURL(o.advertiseAddress), peerURL: peerURL(o.advertiseAddress) };
  writeMemberRecord(apiDir, member);
  await startStoreMember(ctx, storePki, { name: memberName, dataDir: join(dataDir, 'store'), advertiseAddress: o.advertiseAddress, initialClusterState: 'new' },
    `Starting the store member ${memberName} (peer and client TLS from the store CA)`);
  const api = await startControlPlaneApiServer(ctx, { apiDir, advertiseAddress: o.advertiseAddress, apiPort: o.apiPort, etcdServers: [member.clientURL], storePki });
  writeAdminKubeconfig(state.kubeconfig, pki, [{ name: memberName, server }]);
  const creds = adminCreds(apiDir, server);
  const ca = readFileSync(join(pki, 'ca.crt'), 'utf8');
  await startControlPlaneComponents(ctx, { pki, server, clusterSigningDuration: o.clusterSigningDuration });
  await recordControlPlane(creds, { add: { name: memberName, apiServer: server, storeClientURL: member.clientURL, storePeerURL: member.peerURL } });
  // The add-ons (join_addons.ts): settings for the joiners, the workers' DNS/Ingress permissions, this host's CCM and metrics-server.
  await recordAddonConfig(creds, { lbAddressPool: o.lbAddressPool });
  await grantWorkerAddons(creds);
  await startControlPlaneAddons(ctx, { pki, servers: [{ name: memberName, server }], advertiseAddress: o.advertiseAddress, creds, metricsAddresses: [o.advertiseAddress], lbAddressPool: o.lbAddressPool });

  const token = await progress.step('Publishing cluster-info and creating a bootstrap token', async (h) => {
    await publishClusterInfo(creds, server, ca);
    const t = await createToken(creds, { ttlMs: o.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS, description: 'The default bootstrap token generated by "mkube init".' });
    const id = parseBootstrapToken(t)!.id;
    await waitFor('the bootstrap signer to sign cluster-info', 60_000, async () => {
      checkAlive(api, ...components);
      h.waiting(`kube-public/cluster-info signature jws-kubeconfig-${id}`);
      return (await clusterInfoSigned(creds, id)) ? true : undefined;
    });
    return t;
  }, () => 'cluster-info signed for the bootstrap token');
  const certificateKey = o.uploadCerts ? o.certificateKey ?? createCertificateKey() : undefined;
  if (certificateKey) {
    await progress.step(`Uploading the control-plane certificates to kube-system/${KUBEADM_CERTS_SECRET}`, async () => uploadCerts(creds, pki, certificateKey),
      () => `Certificates encrypted in kube-system/${KUBEADM_CERTS_SECRET} (deleted with its token in 2 h)`);
  }
  const hash = caCertHash(ca);
  const joinCommand = `mkube join ${server} --token ${token} --discovery-token-ca-cert-hash ${hash}`;
  return { state, token, caCertHash: hash, joinCommand, certificateKey, controlPlaneJoinCommand: certificateKey ? `${joinCommand} --control-plane --certificate-key ${certificateKey}` : undefined, api };
}

// `mkube join`: this machine joins a cluster as a worker, as `kubeadm join`: cluster-info is fetched anonymously and
// trusted only when the bootstrap token's JWS verifies and the CA matches the pinned hash; a bootstrap kubeconfig
// (token + that CA) is written and the node agent starts in TLS-bootstrap mode, getting its client and serving
// certificates through CSRs and rotating them. Nothing else reaches this machine: no CA key, no admin credentials.
// The container runtime is the running containerd (--cri-socket). A control-plane join (--control-plane
// --certificate-key) is join_control_plane.ts.
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePrivateDir, writePrivateFile } from '@mkube/apiserver';
import { parse } from 'yaml';
import { waitFor } from './api_probe.js';
import { KUBE_DNS_IP } from './cluster_dns.js';
import { startWorkerAddons } from './join_addons.js';
import { ingressKubeconfigPath, ingressUser, requestIngressCertificate, writeIngressKubeconfig } from './ingress_identity.js';
import { bootstrapKubeconfig, fetchClusterInfo, verifyClusterInfo } from './discovery.js';
import { componentBin } from './paths.js';
import { readState, startComponent, writeState, type ClusterState, type ComponentRecord, isRunning } from './processes.js';
import { Progress } from './progress.js';
import { checkAlive } from './up.js';

export const DEFAULT_CRI_SOCKET = 'unix:///run/containerd/containerd.sock';

export interface JoinOptions {
  apiServer: string;
  token: string;
  caCertHashes: string[];
  dataDir: string;
  nodeName?: string;
  nodeIP: string;
  criSocket?: string;
  /** Passed to the node agent (a machine's pod network and cgroup layout). */
  podCIDR?: string;
  cniConfDir?: string;
  cgroupRoot?: string;
  podLogsDir?: string;
  controlPlane?: boolean;
  certificateKey?: string;
  log: (m: string) => void;
  progress?: Progress;
}

export class JoinError extends Error {
  constructor(readonly code: 'JOIN_NOT_SUPPORTED' | 'JOIN_NO_RUNTIME' | 'JOIN_RUNNING', message: string) {
    super(message);
    this.name = 'JoinError';
  }
}

/** GET as the node (its kubeconfig: client certificate in the pem it names). */
function nodeGet(kubeconfigPath: string, path: string): Promise<{ status: number; body: unknown }> {
  const doc = parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { 'client-certificate': string } }[] };
  const pem = readFileSync(doc.users[0]!.user['client-certificate'], 'utf8');
  const c = doc.clusters[0]!.cluster;
  return new Promise((res, rej) => {
    const req = request(new URL(path, c.server), { ca: Buffer.from(c['certificate-authority-data'], 'base64'), cert: pem, key: pem, timeout: 3000, headers: { accept: 'application/json' } }, (r) => {
      let t = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (t += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: t ? JSON.parse(t) : undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', rej);
    req.end();
  });
}

export async function joinCluster(o: JoinOptions): Promise<{ state: ClusterState; nodeName: string; kubeconfig: string }> {
  if (o.controlPlane || o.certificateKey) throw new JoinError('JOIN_NOT_SUPPORTED', 'a control-plane join (--control-plane --certificate-key) is joinControlPlane (join_control_plane.ts)');
  const dataDir = resolve(o.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isRunning(c))) throw new JoinError('JOIN_RUNNING', `a node agent is already running from ${dataDir} (mkube down --data-dir ${o.dataDir} first)`);
  const progress = o.progress ?? new Progress(process.stdout);
  const nodeName = (o.nodeName ?? hostname()).toLowerCase();
  const cri = o.criSocket ?? DEFAULT_CRI_SOCKET;
  if (!cri.startsWith('unix:///') || !existsSync(cri.slice('unix://'.length))) {
    throw new JoinError('JOIN_NO_RUNTIME', `no container runtime at ${cri}: start containerd on this machine or name its socket with --cri-socket unix:///PATH`);
  }
  ensurePrivateDir(dataDir);
  ensurePrivateDir(join(dataDir, 'logs'));

  const discovered = await progress.step(`Fetching cluster-info from ${o.apiServer}`, async () => verifyClusterInfo(await fetchClusterInfo(o.apiServer), o.token, o.caCertHashes),
    (d) => `Cluster CA verified (pinned hash) and cluster-info signed by the token; API server ${d.server}`);
  const bootstrapPath = join(dataDir, 'bootstrap-kubelet.kubeconfig');
  const kubeconfigPath = join(dataDir, 'kubelet.kubeconfig');
  writePrivateFile(bootstrapPath, bootstrapKubeconfig(discovered.server, discovered.caPem, o.token, discovered.servers));

  const components: ComponentRecord[] = [];
  const state: ClusterState = { dataDir, apiServer: discovered.server, kubeconfig: kubeconfigPath, components };
  writeState(state);
  const agent = await progress.step(`Starting the node agent of ${nodeName} (TLS bootstrap)`, async (h) => {
    const rec = startComponent(dataDir, `node-agent-${nodeName}`, [
      process.execPath, componentBin('node-agent', 'mkube-node-agent'),
      '--bootstrap-kubeconfig', bootstrapPath, '--kubeconfig', kubeconfigPath, '--rotate-certificates', '--rotate-server-certificates',
      '--node-name', nodeName, '--node-ip', o.nodeIP, '--container-runtime-endpoint', cri, '--root-dir', join(dataDir, 'agent'),
      // Pods resolve through kube-dns (this node's mkube-dns among its endpoints); LoadBalancer addresses elected to this node are announced here.
      '--cluster-dns', KUBE_DNS_IP, '--lb-announce',
      ...(o.podCIDR ? ['--pod-cidr', o.podCIDR] : []),
      ...(o.cniConfDir ? ['--cni-conf-dir', o.cniConfDir] : []),
      ...(o.cgroupRoot ? ['--cgroup-root', o.cgroupRoot] : []),
      ...(o.podLogsDir ? ['--pod-logs-dir', o.podLogsDir] : []),
    ]);
    components.push(rec);
    writeState(state);
    await waitFor('the client certificate (CSR approved and issued)', 120_000, async () => {
      checkAlive(rec);
      h.waiting('the kubelet client certificate from the CSR signer');
      return existsSync(kubeconfigPath) ? true : undefined;
    });
    return rec;
  }, (rec) => `Node agent running (pid ${rec.pid}) with a client certificate from the cluster`);

  await progress.step(`Waiting for node ${nodeName} to be Ready`, async (h) => {
    await waitFor(`node ${nodeName} to be Ready`, 120_000, async () => {
      checkAlive(agent);
      const r = await nodeGet(kubeconfigPath, `/api/v1/nodes/${nodeName}`);
      const ready = (r.body as { status?: { conditions?: { type: string; status: string }[] } } | undefined)?.status?.conditions?.find((c) => c.type === 'Ready');
      h.waiting(r.status === 200 ? `Ready=${ready?.status ?? 'unknown'}` : `HTTP ${r.status}`);
      return ready?.status === 'True' ? true : undefined;
    });
  }, () => `Node ${nodeName} is Ready`);
  // The Ingress controller's own identity, asked for with the node's credentials and kept current (ingress_identity.ts).
  const ingressKubeconfig = ingressKubeconfigPath(dataDir);
  await progress.step(`Getting the Ingress controller's identity ${ingressUser(nodeName)} (CSR as the node)`, async () => {
    const pair = await requestIngressCertificate({ nodeKubeconfig: kubeconfigPath, nodeName });
    writeIngressKubeconfig(ingressKubeconfig, kubeconfigPath, pair);
    components.push(startComponent(dataDir, `ingress-identity-${nodeName}`, [process.execPath, componentBin('cli', 'mkube'), 'ingress-identity', '--node-name', nodeName, '--node-kubeconfig', kubeconfigPath, '--kubeconfig', ingressKubeconfig]));
    writeState(state);
    return pair.csrName;
  }, (csr) => `Ingress controller identity issued (CSR ${csr}, auto-approved for this node) and kept current`);
  // The node's add-ons (join_addons.ts): mkube-dns and mkube-ingress on its address, with its node credentials.
  await startWorkerAddons({ dataDir, state, components, progress }, { nodeName, nodeIP: o.nodeIP, kubeconfig: kubeconfigPath, ingressKubeconfig });
  return { state, nodeName, kubeconfig: kubeconfigPath };
}

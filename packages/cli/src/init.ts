// `mkube init`: the first control plane on this machine, as `kubeadm init`: the cluster PKI, the API server on
// --advertise-address with bootstrap-token authentication (and its embedded store), the scheduler, the controller
// manager signing CSRs with the cluster CA, the kube-public/cluster-info ConfigMap and a bootstrap token; it prints
// the `mkube join` command for workers. The CA key stays here (DIR/apiserver/pki).
import { copyFileSync, chmodSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { caCertHash, parseBootstrapToken } from '@mkube/api';
import { ensurePki, ensurePrivateDir, freePort } from '@mkube/apiserver';
import { adminCreds, apiGet, waitFor } from './api_probe.js';
import { clusterInfoSigned, publishClusterInfo } from './discovery.js';
import { componentBin } from './paths.js';
import { isAlive, readState, startComponent, writeState, type ClusterState, type ComponentRecord } from './processes.js';
import { Progress } from './progress.js';
import { createToken, DEFAULT_TOKEN_TTL_MS } from './token.js';
import { checkAlive, componentKubeconfig, waitHealthy } from './up.js';

export interface InitOptions {
  dataDir: string;
  advertiseAddress: string;
  apiPort: number;
  /** Longest lifetime of certificates the CSR signer issues (controller manager --cluster-signing-duration). */
  clusterSigningDuration?: string;
  tokenTtlMs?: number;
  log: (m: string) => void;
  progress?: Progress;
}

export interface InitResult {
  state: ClusterState;
  token: string;
  caCertHash: string;
  joinCommand: string;
}

export async function init(o: InitOptions): Promise<InitResult> {
  const dataDir = resolve(o.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isAlive(c.pid))) throw new Error(`a control plane is already running from ${dataDir} (mkube down --data-dir ${o.dataDir} first)`);
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
    ensurePki(apiDir, { ips: ['127.0.0.1', o.advertiseAddress], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'] });
  }, () => `Cluster PKI in ${pki}`);

  const api = await progress.step('Starting the API server and its embedded store', async (h) => {
    const rec = startComponent(dataDir, 'apiserver', [process.execPath, componentBin('apiserver', 'mkube-apiserver'), '--data-dir', apiDir, '--secure-port', String(o.apiPort),
      '--bind-address', o.advertiseAddress, '--advertise-address', o.advertiseAddress, '--enable-bootstrap-token-auth']);
    rec.health = `${server}/readyz`;
    components.push(rec);
    writeState(state);
    await waitFor('the API server to be ready', 90_000, async () => {
      checkAlive(rec);
      const res = await apiGet(adminCreds(apiDir, server), '/readyz');
      if (res.status === 200) return true;
      h.waiting(`${server}/readyz (HTTP ${res.status})`);
      return undefined;
    });
    return rec;
  }, (rec) => `API server ready on ${server} (pid ${rec.pid})`);
  copyFileSync(join(apiDir, 'admin.kubeconfig'), state.kubeconfig);
  chmodSync(state.kubeconfig, 0o600);
  const creds = adminCreds(apiDir, server);
  const ca = readFileSync(join(pki, 'ca.crt'), 'utf8');
  const kcDir = join(dataDir, 'kubeconfigs');
  ensurePrivateDir(kcDir);

  const schedPort = await freePort();
  await progress.step('Starting the scheduler', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'scheduler', '/CN=system:kube-scheduler');
    const rec = startComponent(dataDir, 'scheduler', [process.execPath, componentBin('scheduler', 'mkube-scheduler'), '--kubeconfig', kc, '--bind-address', '127.0.0.1', '--metrics-port', String(schedPort)]);
    rec.health = `http://127.0.0.1:${schedPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
  }, () => 'Scheduler healthy');

  const cmPort = await freePort();
  await progress.step('Starting the controller manager (CSR signer on the cluster CA)', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'controller-manager', '/CN=system:kube-controller-manager');
    const rec = startComponent(dataDir, 'controller-manager', [process.execPath, componentBin('controllers', 'mkube-controller-manager'), '--kubeconfig', kc,
      '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(cmPort),
      '--cluster-signing-cert-file', join(pki, 'ca.crt'), '--cluster-signing-key-file', join(pki, 'ca.key'),
      ...(o.clusterSigningDuration ? ['--cluster-signing-duration', o.clusterSigningDuration] : [])]);
    rec.health = `http://127.0.0.1:${cmPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
  }, () => 'Controller manager healthy');
  state.endpoints = { controllerManagerMetrics: `http://127.0.0.1:${cmPort}/metrics`, schedulerMetrics: `http://127.0.0.1:${schedPort}/metrics` };
  writeState(state);

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
  const hash = caCertHash(ca);
  return { state, token, caCertHash: hash, joinCommand: `mkube join ${server} --token ${token} --discovery-token-ca-cert-hash ${hash}` };
}

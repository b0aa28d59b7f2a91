// The add-ons of a cluster built through the join flow (mkube init / mkube join), as `mkube up` starts them
// (up.ts), with the same helpers: on every control plane the leader-elected cloud controller manager (LoadBalancer
// addresses from the --lb-address-pool given to `mkube init`, recorded in kube-system/mkube-addons for the
// joiners) and a metrics-server (the metrics.k8s.io APIService's Service lists every control plane's one, on
// METRICS_HA_PORT); on every worker mkube-dns and mkube-ingress on the node's address. mkube-dns uses the node's
// own credentials (its kubelet kubeconfig, which lists every API server): `mkube init` grants the group
// system:nodes upstream's system:kube-dns role and, in kube-system, the kube-dns Service and Endpoints, which each
// worker keeps listing its DNS server. mkube-ingress reads every Secret (TLS certificates), which a node identity
// may not list (the Node authorizer): each worker's Ingress controller has its own identity,
// system:mkube-ingress:<node> in group system:mkube-ingresses (bound to the mkube-ingress ClusterRole by the
// bootstrap policy), asked for with the node's own credentials and kept current (ingress_identity.ts) — nothing a
// bootstrap token can read. A worker holds what a DaemonSet's pods would (their service-account token on every
// node): no CA key, no admin certificate.
import { existsSync, readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { ensurePrivateDir, writePrivateFile } from '@mkube/apiserver';
import { parse } from 'yaml';
import { adminCreds, waitFor, type AdminCreds } from './api_probe.js';
import { adminKubeconfigText, type ApiServerRef } from './admin_kubeconfig.js';
import { ccmArgs, CLOUD_CONTROLLER_MANAGER_SUBJECT } from './cloud_controller.js';
import { apiCall, dnsArgs, ensureKubeDnsService, KUBE_DNS_IP } from './cluster_dns.js';
import type { HostContext } from './control_plane.js';
import { HTTP_PORT, ingressArgs } from './ingress.js';
import { ensureMetricsApi, METRICS_APISERVICE, metricsApiAvailable, metricsServerArgs } from './metrics_server.js';
import { componentBin } from './paths.js';
import { readState, startComponent, stopComponent, writeState, type ComponentRecord } from './processes.js';
import { listControlPlanes } from './control_plane.js';
import { checkAlive, componentKubeconfig, httpStatus, waitHealthy } from './up.js';
import { freePort } from '@mkube/apiserver';

export const ADDONS_CONFIGMAP = 'mkube-addons';
const METRICS_SERVER_SUBJECT = '/CN=system:metrics-server';
const ADDONS_PATH = `/api/v1/namespaces/kube-system/configmaps/${ADDONS_CONFIGMAP}`;
/** Every control plane's metrics-server listens here on its address (one Endpoints subset names them all). */
export const METRICS_HA_PORT = 4443;
/** The RBAC objects `mkube init` creates for the workers' add-ons. */
export const NODE_ADDON_BINDINGS = { dns: 'mkube:nodes:kube-dns', dnsEndpoints: 'mkube:nodes:kube-dns-endpoints' };

export class AddonError extends Error {
  constructor(readonly code: 'ADDON_CONFIG' | 'ADDON_RBAC' | 'ADDON_DNS_ENDPOINTS' | 'ADDON_CREDENTIALS', message: string) {
    super(message);
    this.name = 'AddonError';
  }
}

export interface AddonConfig {
  /** The LoadBalancer address pool (mkube init --lb-address-pool); none: LoadBalancer Services stay pending. */
  lbAddressPool?: string;
}

/** Records the add-on settings of `mkube init` in kube-system/mkube-addons (created, or replaced). */
export async function recordAddonConfig(c: AdminCreds, cfg: AddonConfig): Promise<void> {
  const data: Record<string, string> = cfg.lbAddressPool ? { lbAddressPool: cfg.lbAddressPool } : {};
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ADDONS_CONFIGMAP, namespace: 'kube-system' }, data };
  const r = await apiCall(c, 'POST', '/api/v1/namespaces/kube-system/configmaps', cm);
  if (r.status === 201) return;
  if (r.status !== 409) throw new AddonError('ADDON_CONFIG', `creating kube-system/${ADDONS_CONFIGMAP}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  const u = await apiCall(c, 'PUT', ADDONS_PATH, cm);
  if (u.status !== 200) throw new AddonError('ADDON_CONFIG', `updating kube-system/${ADDONS_CONFIGMAP}: HTTP ${u.status}: ${JSON.stringify(u.body)}`);
}

/** The add-on settings recorded by `mkube init` (none when it recorded none). */
export async function readAddonConfig(c: AdminCreds): Promise<AddonConfig> {
  const r = await apiCall(c, 'GET', ADDONS_PATH);
  if (r.status === 404) return {};
  if (r.status !== 200) throw new AddonError('ADDON_CONFIG', `GET ${ADDONS_PATH}: HTTP ${r.status}`);
  const data = (r.body as { data?: Record<string, string> }).data ?? {};
  return data.lbAddressPool ? { lbAddressPool: data.lbAddressPool } : {};
}

async function ensureObject(c: AdminCreds, collection: string, obj: { metadata: { name: string } }): Promise<void> {
  const r = await apiCall(c, 'POST', collection, obj);
  if (r.status === 201 || r.status === 409) return;
  throw new AddonError('ADDON_RBAC', `creating ${collection}/${obj.metadata.name}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
}

/**
 * What the workers' add-ons may do: with their node credentials (group system:nodes) upstream's system:kube-dns
 * cluster role, and in kube-system the kube-dns Service (get, create) and Endpoints (get, create, update) whose
 * addresses each worker keeps listing its DNS server in. (Each worker's Ingress controller gets its own identity
 * with the node's credentials: ingress_identity.ts.)
 */
export async function grantWorkerAddons(c: AdminCreds): Promise<void> {
  const nodes = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:nodes' }];
  const crb = '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
  await ensureObject(c, crb, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: NODE_ADDON_BINDINGS.dns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kube-dns' }, subjects: nodes } as { metadata: { name: string } });
  const name = NODE_ADDON_BINDINGS.dnsEndpoints;
  await ensureObject(c, '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: 'kube-system' },
    rules: [
      { apiGroups: [''], resources: ['services', 'endpoints'], verbs: ['create'] },
      { apiGroups: [''], resources: ['services'], resourceNames: ['kube-dns'], verbs: ['get'] },
      { apiGroups: [''], resources: ['endpoints'], resourceNames: ['kube-dns'], verbs: ['get', 'update'] },
    ],
  } as { metadata: { name: string } });
  await ensureObject(c, '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: 'kube-system' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: nodes,
  } as { metadata: { name: string } });
}

/**
 * Adds (or removes) a node's DNS server in the kube-dns Endpoints through ensureKubeDnsService (which creates the
 * Service the first time) as a compare-and-swap, again on a conflict with another node doing the same.
 */
export async function updateKubeDnsEndpoints(c: AdminCreds, change: { add?: string; remove?: string }): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    const r = await apiCall(c, 'GET', '/api/v1/namespaces/kube-system/endpoints/kube-dns');
    if (r.status !== 200 && r.status !== 404) throw new AddonError('ADDON_DNS_ENDPOINTS', `GET Endpoints kube-system/kube-dns: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    const ep = r.status === 200 ? (r.body as { metadata?: { resourceVersion?: string }; subsets?: { addresses?: { ip: string }[] }[] }) : undefined;
    const subsets = ep?.subsets ?? [];
    const ips = new Set(subsets.flatMap((s) => (s.addresses ?? []).map((a) => a.ip)));
    if (change.add) ips.add(change.add);
    if (change.remove) ips.delete(change.remove);
    const list = [...ips].sort();
    try {
      // A compare-and-swap on the version the list was computed from: no other node's address lost. Endpoints that
      // did not exist when read and were created since (another node) have a version above 1: 409, read again.
      if (list.length > 0) await ensureKubeDnsService(c, list, ep?.metadata?.resourceVersion ?? '1');
      else if (r.status === 200) {
        const d = await apiCall(c, 'DELETE', '/api/v1/namespaces/kube-system/endpoints/kube-dns');
        if (d.status !== 200 && d.status !== 404) throw new AddonError('ADDON_DNS_ENDPOINTS', `deleting Endpoints kube-system/kube-dns: HTTP ${d.status}`);
      }
      return list;
    } catch (err) {
      // Two workers joining at once: the Service's second POST is refused for its cluster IP (422 "provided IP is
      // already allocated", before the name conflict, as upstream) or an Endpoints write gets 409; read again.
      if (attempt < 10 && /HTTP 409|provided IP is already allocated/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

/** A kubeconfig for a control-plane component: its own client certificate, every API server (this host's first). */
function haComponentKubeconfig(pki: string, kcDir: string, servers: ApiServerRef[], base: string, subject: string): string {
  const ca = readFileSync(join(pki, 'ca.crt'), 'utf8');
  const path = componentKubeconfig(pki, kcDir, servers[0]!.server, ca, base, subject);
  writePrivateFile(path, adminKubeconfigText(ca, readFileSync(join(pki, `${base}.crt`), 'utf8'), readFileSync(join(pki, `${base}.key`), 'utf8'), servers));
  return path;
}

function add(ctx: HostContext, rec: ComponentRecord): ComponentRecord {
  ctx.components.push(rec);
  writeState(ctx.state);
  return rec;
}

export interface ControlPlaneAddons {
  pki: string;
  /** Every API server known now, this host's first. */
  servers: ApiServerRef[];
  advertiseAddress: string;
  /** Admin credentials on this host's API server. */
  creds: AdminCreds;
  /** The addresses of every control plane's metrics-server (this one's included). */
  metricsAddresses: string[];
  lbAddressPool?: string;
}

/** This control plane's cloud controller manager (leader-elected) and metrics-server, and the metrics API on all of them. */
export async function startControlPlaneAddons(ctx: HostContext, o: ControlPlaneAddons): Promise<void> {
  const kcDir = join(ctx.dataDir, 'kubeconfigs');
  ensurePrivateDir(kcDir);
  const ccmPort = await freePort();
  await ctx.progress.step('Starting the cloud controller manager (leader-elected)', async (h) => {
    const kc = haComponentKubeconfig(o.pki, kcDir, o.servers, 'cloud-controller-manager', CLOUD_CONTROLLER_MANAGER_SUBJECT);
    // No machines file: machines of a join-flow cluster are not listed anywhere, so no Node is deleted as "gone".
    const rec = add(ctx, startComponent(ctx.dataDir, 'cloud-controller-manager', [process.execPath, componentBin('cloud-controller-manager', 'mkube-cloud-controller-manager'), ...ccmArgs({ kubeconfig: kc, metricsPort: ccmPort, pool: o.lbAddressPool })]));
    rec.health = `http://127.0.0.1:${ccmPort}/healthz`;
    writeState(ctx.state);
    await waitHealthy(h, rec, 60_000);
  }, () => `Cloud controller manager healthy${o.lbAddressPool ? ` (LoadBalancer addresses from ${o.lbAddressPool})` : ' (no --lb-address-pool: LoadBalancer Services stay pending)'}`);
  await ctx.progress.step('Starting the metrics server', async (h) => {
    const kc = haComponentKubeconfig(o.pki, kcDir, o.servers, 'metrics-server', METRICS_SERVER_SUBJECT);
    const metricsPort = await freePort();
    const rec = add(ctx, startComponent(ctx.dataDir, 'metrics-server', [process.execPath, componentBin('metrics-server', 'mkube-metrics-server'),
      ...metricsServerArgs({ kubeconfig: kc, ip: o.advertiseAddress, securePort: METRICS_HA_PORT, metricsPort, apiPkiDir: o.pki, dataDir: ctx.dataDir })]));
    rec.health = `http://127.0.0.1:${metricsPort}/healthz`;
    writeState(ctx.state);
    await waitHealthy(h, rec, 60_000);
    await ensureMetricsApi(o.creds, o.metricsAddresses, METRICS_HA_PORT);
    await waitFor('the metrics API to be available', 60_000, async () => {
      checkAlive(rec);
      const ok = await metricsApiAvailable(o.creds);
      if (ok === true) return true;
      h.waiting(`APIService ${METRICS_APISERVICE} (${ok})`);
      return undefined;
    });
  }, () => `Metrics API available (APIService ${METRICS_APISERVICE} → ${o.metricsAddresses.map((a) => `${a}:${METRICS_HA_PORT}`).join(', ')})`);
}

/**
 * After other control planes joined (`mkube start --refresh-etcd-servers`, which `mkube up --control-planes` runs on
 * every earlier host after each join): this control plane's CCM and metrics-server kubeconfigs are written again with
 * every API server recorded in kube-system/mkube-control-plane (this host's first, in the mkube.io/servers extension
 * the client fails over with), and each component whose kubeconfig changed is restarted with its recorded command
 * line (a client's server list is fixed when it starts) and waited healthy. Returns the list and what was restarted.
 */
export async function refreshAddonKubeconfigs(dataDir: string, timeoutMs = 60_000): Promise<{ servers: string[]; restarted: string[] }> {
  const state = readState(dataDir);
  if (!state) throw new AddonError('ADDON_CONFIG', `no cluster state in ${dataDir}`);
  const apiDir = join(state.dataDir, 'apiserver');
  const pki = join(apiDir, 'pki');
  const planes = await listControlPlanes(adminCreds(apiDir, state.apiServer));
  const own = new URL(state.apiServer).origin;
  const refs: ApiServerRef[] = [
    ...planes.filter((p) => new URL(p.apiServer).origin === own),
    ...planes.filter((p) => new URL(p.apiServer).origin !== own),
  ].map((p) => ({ name: p.name, server: p.apiServer }));
  if (refs.length === 0 || new URL(refs[0]!.server).origin !== own) refs.unshift({ name: 'local', server: state.apiServer });
  const kcDir = join(state.dataDir, 'kubeconfigs');
  const restarted: string[] = [];
  for (const [base, subject] of [['cloud-controller-manager', CLOUD_CONTROLLER_MANAGER_SUBJECT], ['metrics-server', METRICS_SERVER_SUBJECT]] as const) {
    const rec = state.components.find((c) => c.name === base);
    if (!rec) continue;
    const path = join(kcDir, `${base}.kubeconfig`);
    const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
    haComponentKubeconfig(pki, kcDir, refs, base, subject);
    if (readFileSync(path, 'utf8') === before) continue;
    await stopComponent(rec, 5000);
    rec.pid = startComponent(state.dataDir, rec.name, rec.command).pid;
    writeState(state);
    if (rec.health) {
      await waitFor(`${base} to be healthy again`, timeoutMs, async () => {
        checkAlive(rec);
        return (await httpStatus(rec.health!).catch(() => 0)) === 200 ? true : undefined;
      });
    }
    restarted.push(base);
  }
  return { servers: refs.map((r) => r.server), restarted };
}

/** Credentials from a node's kubeconfig (the client certificate and key in the one pem file it names). */
export function nodeCreds(kubeconfigPath: string): AdminCreds {
  const doc = parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { 'client-certificate': string; 'client-key'?: string } }[] };
  const user = doc.users[0]!.user;
  const c = doc.clusters[0]!.cluster;
  return { server: c.server, ca: Buffer.from(c['certificate-authority-data'], 'base64'), cert: readFileSync(user['client-certificate']), key: readFileSync(user['client-key'] ?? user['client-certificate']) };
}

/** A worker's mkube-dns (its node kubeconfig; its DNS server listed in kube-dns) and mkube-ingress (ingressKubeconfig) on its address. */
export async function startWorkerAddons(ctx: HostContext, o: { nodeName: string; nodeIP: string; kubeconfig: string; ingressKubeconfig: string }): Promise<void> {
  await ctx.progress.step(`Starting cluster DNS on ${o.nodeIP}`, async (h) => {
    const rec = add(ctx, startComponent(ctx.dataDir, `dns-${o.nodeName}`, [process.execPath, componentBin('dns', 'mkube-dns'), ...dnsArgs(o.kubeconfig, o.nodeIP, undefined)]));
    await updateKubeDnsEndpoints(nodeCreds(o.kubeconfig), { add: o.nodeIP });
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([o.nodeIP]);
    await waitFor(`the DNS server on ${o.nodeIP} to answer`, 60_000, async () => {
      checkAlive(rec);
      h.waiting(`kubernetes.default.svc.cluster.local from ${o.nodeIP}`);
      return (await r.resolve4('kubernetes.default.svc.cluster.local').catch(() => [])).length > 0 ? true : undefined;
    });
  }, () => `Cluster DNS answering on ${o.nodeIP}:53 (listed in kube-system/kube-dns ${KUBE_DNS_IP})`);
  await ctx.progress.step(`Starting the Ingress controller on ${o.nodeIP}`, async (h) => {
    const rec = add(ctx, startComponent(ctx.dataDir, `ingress-${o.nodeName}`, [process.execPath, componentBin('ingress', 'mkube-ingress'), ...ingressArgs(o.ingressKubeconfig, o.nodeIP, undefined)]));
    await waitFor(`the Ingress controller on ${o.nodeIP}:${HTTP_PORT} to answer`, 60_000, async () => {
      checkAlive(rec);
      h.waiting(`http://${o.nodeIP}:${HTTP_PORT}/`);
      return (await httpStatus(`http://${o.nodeIP}:${HTTP_PORT}/`).catch(() => 0)) > 0 ? true : undefined;
    });
  }, () => `Ingress controller serving (IngressClass mkube) on ${o.nodeIP}:80/443`);
}

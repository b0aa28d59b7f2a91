// `mkube up`: a whole cluster on this machine. The lab script gives containerd (one instance in the
// host namespace, or N worker network namespaces); then the API server (with its embedded store),
// the controller manager, the scheduler and a node agent per node start in the background.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePki, ensurePrivateDir, freePort, issueCertificate, kubeconfig, writePrivateFile } from '@mkube/apiserver';
import { adminCreds, apiGet, waitFor, type AdminCreds } from './api_probe.js';
import { ComponentFailed, PreflightFailed, Progress, StepFailed, type StepHandle } from './progress.js';
import { createServer } from 'node:net';
import { componentBin, LAB_SCRIPT } from './paths.js';
import { Resolver } from 'node:dns/promises';
import { dnsArgs, ensureKubeDnsService, KUBE_DNS_IP } from './cluster_dns.js';
import { ccmArgs, CLOUD_CONTROLLER_MANAGER_SUBJECT, LAB_LB_POOL, routePoolToLab, writeMachinesFile } from './cloud_controller.js';
import { HTTP_PORT, ingressArgs } from './ingress.js';
import { ensureMetricsApi, METRICS_APISERVICE, metricsApiAvailable, metricsServerArgs } from './metrics_server.js';
import { DEFAULT_STORAGE_CLASS, ensureDefaultStorageClass, LOCAL_PATH_PROVISIONER } from './storage_class.js';
import { lastPlainLogLine, readState, startComponent, writeState, type ClusterState, type ComponentRecord, isRunning } from './processes.js';

export const LAB_NAME = 'mk';

/** A start-up failure that waiting will not cure. */
export class FatalStartError extends Error {
  readonly fatal = true;
}


export interface UpOptions {
  dataDir: string;
  workers: number;
  apiPort: number;
  /** Passed to the controller manager (e.g. shorter node failure timings for tests). */
  controllerManagerArgs?: string[];
  /** Passed to the API server. */
  apiServerArgs?: string[];
  log: (msg: string) => void;
  /** Where each step is shown as it starts and finishes (default: a display on stdout). */
  progress?: Progress;
  /** The lab's name (lab.sh --name, default LAB_NAME) and address base (--subnet, default 0): clusters side by side. */
  labName?: string;
  labSubnet?: number;
  /** lab.sh --pod-prefix: the workers' pod subnets as /LEN (25-28) of one /24 (default: a /24 each). */
  labPodPrefix?: number;
  /** The node agents' --pod-network-mode on worker hosts (host-gw, vxlan or auto; default: the agent's, host-gw). */
  podNetworkMode?: 'host-gw' | 'vxlan' | 'auto';
  /** LoadBalancer addresses with lab workers (default 10.213.250.0/24; cloud_controller.ts). */
  lbAddressPool?: string;
}

export interface LabNode {
  name: string;
  netns?: string;
  nodeIP: string;
  podCIDR: string;
  criAddress: string;
  stateDir: string;
  logDir?: string;
  cgroupParent?: string;
}

export interface LabSummary {
  gateway?: string;
  workers?: LabNode[];
  node?: LabNode;
  nodes?: LabNode[];
}

export function labUp(workers: number, logFile: string, name: string, subnet: number | undefined, podPrefix?: number): LabSummary {
  const args = [...(workers > 0 ? ['up', '--workers', String(workers)] : ['up', '--host-node']), '--name', name, ...(subnet === undefined ? [] : ['--subnet', String(subnet)]),
    ...(podPrefix === undefined || workers === 0 ? [] : ['--pod-prefix', String(podPrefix)])];
  let out: string;
  try {
    out = execFileSync('bash', ['-c', 'exec "$@" 2>>"$0"', logFile, 'bash', LAB_SCRIPT(), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new ComponentFailed(`the lab script failed (${(err as Error).message.split('\n')[0]})${lastPlainLogLine(logFile) ? `: ${lastPlainLogLine(logFile)}` : ''}`, logFile);
  }
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error('the lab script printed no summary');
  return JSON.parse(line) as LabSummary;
}

export function labNodes(s: LabSummary): LabNode[] {
  return s.workers ?? s.nodes ?? (s.node ? [s.node] : []);
}

/** A client certificate and kubeconfig for a component, issued by the cluster CA. */
export function componentKubeconfig(pkiDir: string, out: string, server: string, caCert: string, base: string, subject: string): string {
  const path = join(out, `${base}.kubeconfig`);
  if (!existsSync(join(pkiDir, `${base}.crt`))) {
    issueCertificate(pkiDir, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  }
  const read = (f: string) => execFileSync('cat', [join(pkiDir, f)], { encoding: 'utf8' });
  writePrivateFile(path, kubeconfig(server, caCert, subject, { cert: read(`${base}.crt`), key: read(`${base}.key`) }));
  return path;
}

/**
 * The node agent's serving certificate, issued here by the cluster CA (as kubeadm does for kubelets) so
 * that no node agent is handed the CA's private key. Reissued when the node's address changes.
 */
function nodeServingCert(pkiDir: string, nodeName: string, nodeIP: string): { cert: string; key: string } {
  const base = `node-${nodeName}-serving`;
  const san = `subjectAltName=IP:${nodeIP},IP:127.0.0.1,DNS:${nodeName},DNS:localhost\n`;
  const ext = `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n${san}`;
  const extFile = join(pkiDir, `${base}.ext`);
  if (!existsSync(join(pkiDir, `${base}.crt`)) || !existsSync(extFile) || readFileSync(extFile, 'utf8') !== ext) issueCertificate(pkiDir, base, `/O=system:nodes/CN=system:node:${nodeName}`, ext);
  return { cert: join(pkiDir, `${base}.crt`), key: join(pkiDir, `${base}.key`) };
}

/** Why a started component is gone: its last plain log line (its one-line start-up error). */
function exited(c: ComponentRecord): ComponentFailed {
  const line = lastPlainLogLine(c.log);
  return new ComponentFailed(`${c.name} exited${line ? `: ${line}` : ''}`, c.log);
}

export function checkAlive(...cs: ComponentRecord[]): void {
  for (const c of cs) if (!isRunning(c)) throw exited(c);
}

/** Resolves when host:port can be bound (and releases it); rejects naming the port and its use. */
function portFree(host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${host}:${port} (${what}): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message} (choose another with --api-port)`)));
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

/** GET of a plain-http health endpoint: its status code. */
export function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until a component's health endpoint answers 200, showing the last answer while waiting. */
export async function waitHealthy(h: StepHandle, c: ComponentRecord, timeoutMs: number): Promise<void> {
  await waitFor(`${c.name} to be healthy`, timeoutMs, async () => {
    checkAlive(c);
    const code = await httpStatus(c.health!).catch((err: Error) => {
      h.waiting(`${c.health} (${(err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'not listening yet' : err.message})`);
      return 0;
    });
    if (code === 200) return true;
    if (code) h.waiting(`${c.health} (HTTP ${code})`);
    return undefined;
  });
}

interface NodeLike {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

/** The nodes not Ready yet, each with what is awaited (registration, or its Ready condition). */
export function notReadyNodes(items: NodeLike[], names: string[]): string[] {
  return names.flatMap((n) => {
    const node = items.find((it) => it.metadata.name === n);
    if (!node) return [`node ${n}: not registered yet`];
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return [];
    if (!ready) return [`node ${n}: no Ready condition yet`];
    return [`node ${n}: Ready=${ready.status}${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`];
  });
}

async function listNodes(creds: AdminCreds): Promise<NodeLike[]> {
  const res = await apiGet(creds, '/api/v1/nodes');
  if (res.status !== 200) throw new Error(`GET /api/v1/nodes: HTTP ${res.status}`);
  return (res.body as { items?: NodeLike[] }).items ?? [];
}

export async function up(opts: UpOptions): Promise<ClusterState> {
  const dataDir = resolve(opts.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isRunning(c))) {
    opts.log(`mkube: a cluster is already running from ${dataDir} (run "mkube down --data-dir ${opts.dataDir}" first)`);
    return previous;
  }
  if (process.getuid?.() !== 0) {
    throw new Error('mkube up must run as root: it starts containerd and sets up pod networking (network namespaces, bridges, routes)');
  }
  const progress = opts.progress ?? new Progress(process.stdout);
  if (opts.workers === 0) {
    // On this host the API server binds 127.0.0.1 (and its gRPC API 6444 next to the default 6443):
    // a port taken is said before anything starts.
    const ports = [{ port: opts.apiPort, what: 'API server secure port' }, ...(opts.apiPort === 6443 ? [{ port: 6444, what: 'API server gRPC API' }] : [])];
    try {
      await progress.step('Checking that the API server ports are free', async () => {
        for (const p of ports) await portFree('127.0.0.1', p.port, p.what);
      }, () => `API server ports free (${ports.map((p) => p.port).join(', ')})`);
    } catch (err) {
      if (err instanceof StepFailed) throw new PreflightFailed(err.step, err.reason);
      throw err;
    }
  }
  ensurePrivateDir(dataDir);
  const components: ComponentRecord[] = [];
  const state: ClusterState = { dataDir, apiServer: '', kubeconfig: join(dataDir, 'admin.kubeconfig'), lab: opts.labName ?? LAB_NAME, components };
  writeState(state);
  const logs = join(dataDir, 'logs');
  ensurePrivateDir(logs);

  const where = opts.workers > 0 ? `${opts.workers} worker hosts` : 'this host';
  const lab = await progress.step(
    `Starting containerd and the lab network (${where})`,
    async () => {
      const summary = labUp(opts.workers, join(logs, 'lab.log'), opts.labName ?? LAB_NAME, opts.labSubnet, opts.labPodPrefix);
      if (labNodes(summary).length === 0) throw new ComponentFailed('the lab has no nodes', join(logs, 'lab.log'));
      return summary;
    },
    (s) => `Lab network and containerd up (${labNodes(s).length} node${labNodes(s).length === 1 ? '' : 's'})`,
  );
  const nodes = labNodes(lab);

  const bind = opts.workers > 0 ? lab.gateway ?? '10.213.0.1' : '127.0.0.1';
  const apiDir = join(dataDir, 'apiserver');
  const pki = join(apiDir, 'pki');
  // The API server's own SANs (it finds this PKI at start and keeps it).
  await progress.step('Creating the cluster PKI', async () => {
    const fresh = !existsSync(join(pki, 'ca.crt'));
    ensurePrivateDir(apiDir);
    ensurePki(apiDir, { ips: ['127.0.0.1', bind], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'] });
    return fresh;
  }, (fresh) => `${fresh ? 'Cluster PKI created' : 'Cluster PKI found'} in ${pki}`);

  const server = `https://${bind}:${opts.apiPort}`;
  state.apiServer = server;
  const api = await progress.step('Starting the API server and its embedded store', async (h) => {
    const rec = startComponent(dataDir, 'apiserver', [process.execPath, componentBin('apiserver', 'mkube-apiserver'), '--data-dir', apiDir, '--secure-port', String(opts.apiPort), '--bind-address', bind, '--advertise-address', bind, ...(opts.apiServerArgs ?? [])]);
    rec.health = `${server}/readyz`;
    components.push(rec);
    writeState(state);
    // Started: it answers HTTPS (any status) once its listener is up.
    await waitFor('the API server to listen', 60_000, async () => {
      checkAlive(rec);
      if (!existsSync(join(pki, 'admin.crt'))) return undefined;
      h.waiting(`${server} to answer`);
      return (await apiGet(adminCreds(apiDir, server), '/livez')).status > 0 ? true : undefined;
    });
    return rec;
  }, (rec) => `API server started (pid ${rec.pid})`);

  const creds = adminCreds(apiDir, server);
  await progress.step('Waiting for the API server to be ready', async (h) => {
    await waitFor('the API server to be ready', 60_000, async () => {
      checkAlive(api);
      const res = await apiGet(creds, '/readyz?verbose');
      if (res.status === 200) return true;
      const failing = String(res.body).split('\n').filter((l) => l.startsWith('[-]')).map((l) => l.slice(3).split(' ')[0]).join(', ');
      h.waiting(`/readyz (HTTP ${res.status}${failing ? `: ${failing}` : ''})`);
      return undefined;
    });
  }, () => `API server ready on ${server}`);
  copyFileSync(join(apiDir, 'admin.kubeconfig'), state.kubeconfig);
  chmodSync(state.kubeconfig, 0o600);

  const kcDir = join(dataDir, 'kubeconfigs');
  ensurePrivateDir(kcDir);
  const ca = execFileSync('cat', [join(pki, 'ca.crt')], { encoding: 'utf8' });

  // Health and metrics listen on loopback, on ports chosen now (several clusters or tests may share the host).
  const schedPort = await freePort();
  await progress.step('Starting the scheduler', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'scheduler', '/CN=system:kube-scheduler');
    const rec = startComponent(dataDir, 'scheduler', [
      process.execPath, componentBin('scheduler', 'mkube-scheduler'), '--kubeconfig', kc,
      '--bind-address', '127.0.0.1', '--metrics-port', String(schedPort),
    ]);
    rec.health = `http://127.0.0.1:${schedPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
  }, () => `Scheduler healthy (http://127.0.0.1:${schedPort}/healthz)`);

  const cmPort = await freePort();
  await progress.step('Starting the controller manager', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'controller-manager', '/CN=system:kube-controller-manager');
    const rec = startComponent(dataDir, 'controller-manager', [
      process.execPath, componentBin('controllers', 'mkube-controller-manager'), '--kubeconfig', kc,
      '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(cmPort), ...(opts.controllerManagerArgs ?? []),
    ]);
    rec.health = `http://127.0.0.1:${cmPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
  }, () => `Controller manager healthy (http://127.0.0.1:${cmPort}/healthz)`);
  state.endpoints = { controllerManagerMetrics: `http://127.0.0.1:${cmPort}/metrics`, schedulerMetrics: `http://127.0.0.1:${schedPort}/metrics` };
  writeState(state);

  const nodeNames = nodes.map((n) => (opts.workers > 0 ? n.name : hostname().toLowerCase()));
  const agents: ComponentRecord[] = [];
  await progress.step(`Starting the node agent${nodes.length === 1 ? ` of ${nodeNames[0]}` : `s of ${nodes.length} nodes`}`, async (h) => {
    for (const [i, n] of nodes.entries()) {
      const nodeName = nodeNames[i]!;
      const kc = componentKubeconfig(pki, kcDir, server, ca, `node-${nodeName}`, `/O=system:nodes/CN=system:node:${nodeName}`);
      const metricsPort = opts.workers > 0 ? undefined : await freePort();
      const serving = nodeServingCert(pki, nodeName, n.nodeIP);
      const rec = startComponent(
        dataDir,
        `node-agent-${nodeName}`,
        [
          process.execPath, componentBin('node-agent', 'mkube-node-agent'),
          '--kubeconfig', kc, '--node-name', nodeName, '--node-ip', n.nodeIP,
          '--container-runtime-endpoint', n.criAddress, '--root-dir', join(n.stateDir, 'agent'), '--pod-cidr', n.podCIDR,
          '--tls-cert-file', serving.cert, '--tls-private-key-file', serving.key, '--client-ca-file', join(pki, 'ca.crt'),
          '--cni-conf-dir', join(n.stateDir, 'cni', 'net.d'),
          ...(opts.podNetworkMode && metricsPort === undefined ? ['--pod-network-mode', opts.podNetworkMode] : []),
          '--cluster-dns', KUBE_DNS_IP,
          ...(metricsPort === undefined ? ['--lb-announce'] : []),
          ...(n.cgroupParent ? ['--cgroup-root', n.cgroupParent] : []),
          ...(n.logDir ? ['--pod-logs-dir', n.logDir] : []),
          // One node on the host: no routes to other nodes to keep (and the host's own routes stay untouched);
          // its service proxy programs the host's nat table for cluster IPs (removed by `mkube down`); its kubelet
          // port is chosen freely and published in the Node's status.
          ...(metricsPort === undefined ? [] : ['--no-routes', '--port', '0', '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(metricsPort)]),
        ],
        { netns: n.netns },
      );
      // A worker's agent listens in its network namespace, out of this host's reach.
      if (metricsPort !== undefined) rec.health = `http://127.0.0.1:${metricsPort}/healthz`;
      components.push(rec);
      agents.push(rec);
      writeState(state);
    }
    await waitFor(`node(s) ${nodeNames.join(', ')} to register`, 120_000, async () => {
      checkAlive(...agents);
      const items = await listNodes(creds);
      const missing = nodeNames.filter((n) => !items.some((it) => it.metadata.name === n));
      if (missing.length === 0) return true;
      h.waiting(`${missing.map((m) => `node ${m}`).join(', ')} to register`);
      return undefined;
    });
  }, () => `Node agent${nodes.length === 1 ? '' : 's'} running, ${nodeNames.join(', ')} registered`);

  await progress.step(`Waiting for node${nodeNames.length === 1 ? ` ${nodeNames[0]}` : 's'} to be Ready`, async (h) => {
    await waitFor(`node(s) ${nodeNames.join(', ')} to be Ready`, 120_000, async () => {
      checkAlive(...agents);
      const waiting = notReadyNodes(await listNodes(creds), nodeNames);
      if (waiting.length === 0) return true;
      h.waiting(waiting.join('; '));
      return undefined;
    });
  }, () => `Node${nodeNames.length === 1 ? ` ${nodeNames[0]} is` : `s ${nodeNames.join(', ')} are`} Ready`);

  // LoadBalancer Services and cloud node lifecycle (cloud_controller.ts says how the addresses reach the host).
  const ccmPort = await freePort();
  const lbPool = opts.workers > 0 ? opts.lbAddressPool ?? LAB_LB_POOL : undefined;
  await progress.step('Starting the cloud controller manager', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'cloud-controller-manager', CLOUD_CONTROLLER_MANAGER_SUBJECT);
    const machinesFile = writeMachinesFile(dataDir, nodes.map((n, i) => ({ name: nodeNames[i]!, nodeIP: n.nodeIP, netns: n.netns })));
    if (lbPool) routePoolToLab(lbPool, bind);
    const rec = startComponent(dataDir, 'cloud-controller-manager', [process.execPath, componentBin('cloud-controller-manager', 'mkube-cloud-controller-manager'), ...ccmArgs({ kubeconfig: kc, metricsPort: ccmPort, machinesFile, pool: lbPool })]);
    rec.health = `http://127.0.0.1:${ccmPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
  }, () => `Cloud controller manager healthy${lbPool ? ` (LoadBalancer addresses from ${lbPool})` : ''}`);

  // The default StorageClass for the node agents' local-path provisioner (storage_class.ts says why here).
  await progress.step('Creating the default StorageClass', async () => ensureDefaultStorageClass(creds),
    (r) => `StorageClass ${DEFAULT_STORAGE_CLASS} (default, ${LOCAL_PATH_PROVISIONER}, WaitForFirstConsumer) ${r === 'created' ? 'created' : 'found'}`);

  // Cluster DNS: mkube-dns on every node (cluster_dns.ts says why), the kube-dns Service pointing at them.
  await progress.step(`Starting cluster DNS on ${nodes.length === 1 ? `node ${nodeNames[0]}` : `${nodes.length} nodes`}`, async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'kube-dns', '/CN=system:serviceaccount:kube-system:kube-dns');
    const dnsRecs: ComponentRecord[] = [];
    for (const [i, n] of nodes.entries()) {
      const metricsPort = opts.workers > 0 ? undefined : await freePort();
      const rec = startComponent(dataDir, `dns-${nodeNames[i]!}`, [process.execPath, componentBin('dns', 'mkube-dns'), ...dnsArgs(kc, n.nodeIP, metricsPort)], { netns: n.netns });
      if (metricsPort !== undefined) rec.health = `http://127.0.0.1:${metricsPort}/readyz`;
      components.push(rec);
      dnsRecs.push(rec);
      writeState(state);
    }
    await ensureKubeDnsService(creds, nodes.map((n) => n.nodeIP));
    for (const n of nodes) {
      const r = new Resolver({ timeout: 1000, tries: 1 });
      r.setServers([n.nodeIP]);
      await waitFor(`the DNS server on ${n.nodeIP} to answer`, 60_000, async () => {
        checkAlive(...dnsRecs);
        h.waiting(`kubernetes.default.svc.cluster.local from ${n.nodeIP}`);
        return (await r.resolve4('kubernetes.default.svc.cluster.local')).length > 0 ? true : undefined;
      });
    }
  }, () => `Cluster DNS answering (kube-system/kube-dns ${KUBE_DNS_IP} → ${nodes.map((n) => `${n.nodeIP}:53`).join(', ')})`);

  // Ingress: mkube-ingress on every node, ports 80/443 of the node IP (ingress.ts says why); it creates IngressClass mkube.
  await progress.step(`Starting the Ingress controller on ${nodes.length === 1 ? `node ${nodeNames[0]}` : `${nodes.length} nodes`}`, async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'mkube-ingress', '/CN=system:serviceaccount:kube-system:mkube-ingress');
    const recs: ComponentRecord[] = [];
    for (const [i, n] of nodes.entries()) {
      const metricsPort = opts.workers > 0 ? undefined : await freePort();
      const rec = startComponent(dataDir, `ingress-${nodeNames[i]!}`, [process.execPath, componentBin('ingress', 'mkube-ingress'), ...ingressArgs(kc, n.nodeIP, metricsPort)], { netns: n.netns });
      if (metricsPort !== undefined) rec.health = `http://127.0.0.1:${metricsPort}/readyz`;
      components.push(rec);
      recs.push(rec);
      writeState(state);
    }
    for (const n of nodes) {
      await waitFor(`the Ingress controller on ${n.nodeIP}:${HTTP_PORT} to answer`, 60_000, async () => {
        checkAlive(...recs);
        h.waiting(`http://${n.nodeIP}:${HTTP_PORT}/`);
        return (await httpStatus(`http://${n.nodeIP}:${HTTP_PORT}/`).catch(() => 0)) > 0 ? true : undefined;
      });
    }
  }, () => `Ingress controller serving (IngressClass mkube) on ${nodes.map((n) => `${n.nodeIP}:80/443`).join(', ')}`);

  // The resource metrics API (metrics_server.ts): kubectl top and the horizontal pod autoscaler.
  await progress.step('Starting the metrics server', async (h) => {
    const kc = componentKubeconfig(pki, kcDir, server, ca, 'metrics-server', '/CN=system:metrics-server');
    // Reachable from the API server and never loopback (an Endpoints address): the lab gateway, or the node's own IP.
    const ip = opts.workers > 0 ? bind : nodes[0]!.nodeIP;
    const [securePort, metricsPort] = [await freePort(), await freePort()];
    const rec = startComponent(dataDir, 'metrics-server', [process.execPath, componentBin('metrics-server', 'mkube-metrics-server'), ...metricsServerArgs({ kubeconfig: kc, ip, securePort, metricsPort, apiPkiDir: pki, dataDir })]);
    rec.health = `http://127.0.0.1:${metricsPort}/healthz`;
    components.push(rec);
    writeState(state);
    await waitHealthy(h, rec, 60_000);
    await ensureMetricsApi(creds, ip, securePort);
    await waitFor('the metrics API to be available', 60_000, async () => {
      checkAlive(rec);
      const ok = await metricsApiAvailable(creds);
      if (ok === true) return true;
      h.waiting(`APIService ${METRICS_APISERVICE} (${ok})`);
      return undefined;
    });
    return `${ip}:${securePort}`;
  }, (addr) => `Metrics API available (APIService ${METRICS_APISERVICE} → ${addr})`);
  checkAlive(...components);
  return state;
}

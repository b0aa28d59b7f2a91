// `mkube up`: a whole cluster on this machine. The lab script gives containerd (one instance in the
// host namespace, or N worker network namespaces); then the API server (with its embedded store),
// the controller manager, the scheduler and a node agent per node start in the background.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePrivateDir, freePort, issueCertificate, kubeconfig, writePrivateFile } from '@mkube/apiserver';
import { adminCreds, apiGet, waitFor } from './api_probe.js';
import { componentBin, LAB_SCRIPT } from './paths.js';
import { isAlive, readState, startComponent, writeState, type ClusterState, type ComponentRecord } from './processes.js';

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
}

interface LabNode {
  name: string;
  netns?: string;
  nodeIP: string;
  podCIDR: string;
  criAddress: string;
  stateDir: string;
  logDir?: string;
  cgroupParent?: string;
}

interface LabSummary {
  gateway?: string;
  workers?: LabNode[];
  node?: LabNode;
  nodes?: LabNode[];
}

function labUp(workers: number): LabSummary {
  const args = workers > 0 ? ['up', '--workers', String(workers), '--name', LAB_NAME] : ['up', '--host-node', '--name', LAB_NAME];
  const out = execFileSync('bash', [LAB_SCRIPT(), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error('the lab script printed no summary');
  return JSON.parse(line) as LabSummary;
}

function labNodes(s: LabSummary): LabNode[] {
  return s.workers ?? s.nodes ?? (s.node ? [s.node] : []);
}

/** A client certificate and kubeconfig for a component, issued by the cluster CA. */
function componentKubeconfig(pkiDir: string, out: string, server: string, caCert: string, base: string, subject: string): string {
  const path = join(out, `${base}.kubeconfig`);
  if (!existsSync(join(pkiDir, `${base}.crt`))) {
    issueCertificate(pkiDir, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  }
  const read = (f: string) => execFileSync('cat', [join(pkiDir, f)], { encoding: 'utf8' });
  writePrivateFile(path, kubeconfig(server, caCert, subject, { cert: read(`${base}.crt`), key: read(`${base}.key`) }));
  return path;
}

export async function up(opts: UpOptions): Promise<ClusterState> {
  const dataDir = resolve(opts.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isAlive(c.pid))) {
    opts.log(`mkube: a cluster is already running from ${dataDir} (run "mkube down --data-dir ${opts.dataDir}" first)`);
    return previous;
  }
  if (process.getuid?.() !== 0) {
    throw new Error('mkube up must run as root: it starts containerd and sets up pod networking (network namespaces, bridges, routes)');
  }
  ensurePrivateDir(dataDir);
  const components: ComponentRecord[] = [];
  const state: ClusterState = { dataDir, apiServer: '', kubeconfig: join(dataDir, 'admin.kubeconfig'), lab: LAB_NAME, components };
  writeState(state);

  opts.log(`mkube: starting containerd (${opts.workers > 0 ? `${opts.workers} worker hosts` : 'this host'})`);
  const lab = labUp(opts.workers);
  const nodes = labNodes(lab);
  if (nodes.length === 0) throw new Error('the lab has no nodes');

  const bind = opts.workers > 0 ? lab.gateway ?? '10.213.0.1' : '127.0.0.1';
  const apiDir = join(dataDir, 'apiserver');
  opts.log('mkube: starting the API server and its embedded store');
  components.push(
    startComponent(dataDir, 'apiserver', [process.execPath, componentBin('apiserver', 'mkube-apiserver'), '--data-dir', apiDir, '--secure-port', String(opts.apiPort), '--bind-address', bind, '--advertise-address', bind, ...(opts.apiServerArgs ?? [])]),
  );
  writeState(state);
  const server = `https://${bind}:${opts.apiPort}`;
  state.apiServer = server;
  const apiRecord = components[components.length - 1]!;
  await waitFor('the API server to be ready', 60_000, async () => {
    if (!isAlive(apiRecord.pid)) throw new FatalStartError(`the API server exited (port ${opts.apiPort} in use?); see ${apiRecord.log}`);
    return existsSync(join(apiDir, 'pki', 'admin.crt')) && (await apiGet(adminCreds(apiDir, server), '/readyz')).status === 200 ? true : undefined;
  });
  copyFileSync(join(apiDir, 'admin.kubeconfig'), state.kubeconfig);
  chmodSync(state.kubeconfig, 0o600);

  const pki = join(apiDir, 'pki');
  const kcDir = join(dataDir, 'kubeconfigs');
  ensurePrivateDir(kcDir);
  const ca = execFileSync('cat', [join(pki, 'ca.crt')], { encoding: 'utf8' });
  const cmKc = componentKubeconfig(pki, kcDir, server, ca, 'controller-manager', '/CN=system:kube-controller-manager');
  const schedKc = componentKubeconfig(pki, kcDir, server, ca, 'scheduler', '/CN=system:kube-scheduler');

  opts.log('mkube: starting the controller manager and the scheduler');
  // Health and metrics listen on loopback, on ports chosen now (several clusters or tests may share the host).
  const cmPort = await freePort();
  const schedPort = await freePort();
  components.push(
    startComponent(dataDir, 'controller-manager', [
      process.execPath, componentBin('controllers', 'mkube-controller-manager'), '--kubeconfig', cmKc,
      '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(cmPort), ...(opts.controllerManagerArgs ?? []),
    ]),
  );
  components.push(
    startComponent(dataDir, 'scheduler', [
      process.execPath, componentBin('scheduler', 'mkube-scheduler'), '--kubeconfig', schedKc,
      '--bind-address', '127.0.0.1', '--metrics-port', String(schedPort),
    ]),
  );
  state.endpoints = { controllerManagerMetrics: `http://127.0.0.1:${cmPort}/metrics`, schedulerMetrics: `http://127.0.0.1:${schedPort}/metrics` };
  writeState(state);

  const nodeNames: string[] = [];
  for (const n of nodes) {
    const nodeName = opts.workers > 0 ? n.name : hostname().toLowerCase();
    nodeNames.push(nodeName);
    const kc = componentKubeconfig(pki, kcDir, server, ca, `node-${nodeName}`, `/O=system:nodes/CN=system:node:${nodeName}`);
    opts.log(`mkube: starting the node agent of ${nodeName} (${n.nodeIP}, pods ${n.podCIDR})`);
    components.push(
      startComponent(
        dataDir,
        `node-agent-${nodeName}`,
        [
          process.execPath, componentBin('node-agent', 'mkube-node-agent'),
          '--kubeconfig', kc, '--node-name', nodeName, '--node-ip', n.nodeIP,
          '--container-runtime-endpoint', n.criAddress, '--root-dir', join(n.stateDir, 'agent'), '--pod-cidr', n.podCIDR,
          '--cluster-ca-cert', join(pki, 'ca.crt'), '--cluster-ca-key', join(pki, 'ca.key'),
          '--cni-conf-dir', join(n.stateDir, 'cni', 'net.d'),
          ...(n.cgroupParent ? ['--cgroup-root', n.cgroupParent] : []),
          ...(n.logDir ? ['--pod-logs-dir', n.logDir] : []),
          // One node on the host: no routes to other nodes to keep (and the host's own routes stay untouched);
          // its service proxy programs the host's nat table for cluster IPs (removed by `mkube down`); its kubelet
          // port is chosen freely and published in the Node's status.
          ...(opts.workers > 0 ? [] : ['--no-routes', '--port', '0', '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(await freePort())]),
        ],
        { netns: n.netns },
      ),
    );
    writeState(state);
  }

  const creds = adminCreds(apiDir, server);
  await waitFor(`node(s) ${nodeNames.join(', ')} to be Ready`, 120_000, async () => {
    const res = await apiGet(creds, '/api/v1/nodes');
    const items = ((res.body as { items?: Array<{ metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string }> } }> }).items ?? []);
    const ready = items.filter((it) => it.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((it) => it.metadata.name);
    return nodeNames.every((n) => ready.includes(n)) ? true : undefined;
  });
  for (const c of components) if (!isAlive(c.pid)) throw new Error(`${c.name} exited; see ${c.log}`);
  return state;
}

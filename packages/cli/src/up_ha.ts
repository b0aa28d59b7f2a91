// `mkube up --control-planes N --workers M`: a highly available cluster in the network-namespace lab, built
// through the same commands as on real machines. The lab gives N+M hosts (network namespaces with their own
// containerd); on the first `mkube init --upload-certs` runs inside its namespace, on the next N-1 `mkube join
// --control-plane --certificate-key`, on the last M `mkube join` (workers), each with its own data directory
// DIR/hosts/<host> and nothing else: a host gets only what its command gives it (no CA key on a worker). The
// commands' output is shown as they run. DIR/cluster.json lists the hosts (each host's processes are in its own
// cluster.json); DIR/admin.kubeconfig names every API server.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeAdminKubeconfig } from './admin_kubeconfig.js';
import { ensurePrivateDir } from '@mkube/apiserver';
import { repoRoot } from './paths.js';
import { readState, writeState, type ClusterState, type HostRecord, isRunning } from './processes.js';
import { ComponentFailed, Progress } from './progress.js';
import { LAB_LB_POOL, routePoolToLab } from './cloud_controller.js';
import { clientURL } from './store_member.js';
import { LAB_NAME, labNodes, labUp, type LabNode } from './up.js';

export const CONTROL_PLANE_COUNTS = [1, 3, 5];

export interface HaUpOptions {
  dataDir: string;
  controlPlanes: number;
  workers: number;
  apiPort: number;
  labName?: string;
  labSubnet?: number;
  /** lab.sh --pod-prefix (the hosts' pod subnets carved from one /24). */
  labPodPrefix?: number;
  /** Passed to every control plane's controller manager (certificate lifetimes in tests). */
  clusterSigningDuration?: string;
  /** LoadBalancer addresses (mkube init --lb-address-pool) with workers; default 10.213.250.0/24, routed to the lab. */
  lbAddressPool?: string;
  progress?: Progress;
  /** Where the hosts' commands' output goes (default stdout). */
  out?: (line: string) => void;
  log: (m: string) => void;
}

/** Runs `mkube ARGS` inside a lab host's network namespace, its output lines prefixed with the host; stdout returned. */
function runOnHost(host: string, netns: string | undefined, args: string[], out: (line: string) => void, logFile: string): Promise<string> {
  const mkube = join(repoRoot(), 'packages', 'cli', 'dist', 'src', 'bin', 'mkube.js');
  const argv = netns ? ['nsenter', `--net=/run/netns/${netns}`, process.execPath, mkube, ...args] : [process.execPath, mkube, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (/^(… |✓ |✗ | {2}waiting )/.test(l)) out(`  [${host}] ${l}`);
    });
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolvePromise(stdout);
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new ComponentFailed(`mkube ${args[0]} on ${host} exited with ${code}: ${last}`, logFile));
    });
  });
}

function flagValue(cmd: string, flag: string): string {
  const parts = cmd.trim().split(/\s+/);
  const i = parts.indexOf(flag);
  if (i < 0 || !parts[i + 1]) throw new Error(`mkube init printed no ${flag} (${cmd})`);
  return parts[i + 1]!;
}

export async function upHa(o: HaUpOptions): Promise<ClusterState> {
  if (!CONTROL_PLANE_COUNTS.includes(o.controlPlanes)) throw new Error('--control-planes must be 1, 3 or 5 (an odd number of store members: 3 survive the loss of one, 5 of two)');
  const dataDir = resolve(o.dataDir);
  const previous = readState(dataDir);
  const alive = (s: ClusterState | undefined) => !!s && (s.components.some((c) => isRunning(c)) || (s.hosts ?? []).some((h) => readState(h.dataDir)?.components.some((c) => isRunning(c))));
  if (alive(previous)) {
    o.log(`mkube: a cluster is already running from ${dataDir} (run "mkube down --data-dir ${o.dataDir}" first)`);
    return previous!;
  }
  if (process.getuid?.() !== 0) throw new Error('mkube up must run as root: it starts containerd and sets up the lab network (network namespaces, bridges, routes)');
  const progress = o.progress ?? new Progress(process.stdout);
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  ensurePrivateDir(dataDir);
  ensurePrivateDir(join(dataDir, 'logs'));
  // A lab cluster is built afresh: its hosts' stores lived in the lab, which `mkube down` removed.
  const hostsDir = join(dataDir, 'hosts');
  if (existsSync(hostsDir)) rmSync(hostsDir, { recursive: true, force: true });
  ensurePrivateDir(hostsDir);
  const labName = o.labName ?? LAB_NAME;
  const state: ClusterState = { dataDir, apiServer: '', kubeconfig: join(dataDir, 'admin.kubeconfig'), lab: labName, components: [], hosts: [] };
  writeState(state);
  const total = o.controlPlanes + o.workers;
  const labLog = join(dataDir, 'logs', 'lab.log');
  const lab = await progress.step(`Starting the lab: ${total} hosts (${o.controlPlanes} control plane${o.controlPlanes === 1 ? '' : 's'}, ${o.workers} worker${o.workers === 1 ? '' : 's'}), each with its own containerd`, async () => {
    const summary = labUp(total, labLog, labName, o.labSubnet, o.labPodPrefix);
    if (labNodes(summary).length !== total) throw new ComponentFailed(`the lab has ${labNodes(summary).length} hosts, not ${total}`, labLog);
    return summary;
  }, (s) => `Lab up (hosts ${labNodes(s).map((n) => `${n.name} ${n.nodeIP}`).join(', ')})`);
  const nodes = labNodes(lab);
  const hostDir = (n: LabNode) => join(hostsDir, n.name);
  const record = (n: LabNode, role: HostRecord['role']): HostRecord => {
    const h: HostRecord = { name: n.name, role, address: n.nodeIP, dataDir: hostDir(n), netns: n.netns, ...(role === 'control-plane' ? { storeClientURL: clientURL(n.nodeIP), apiServer: `https://${n.nodeIP}:${o.apiPort}` } : {}) };
    state.hosts!.push(h);
    writeState(state);
    return h;
  };
  const signing = o.clusterSigningDuration ? ['--cluster-signing-duration', o.clusterSigningDuration] : [];

  // LoadBalancer addresses are announced by the workers on the lab bridge: this machine reaches them through a link route.
  const lbPool = o.workers > 0 ? o.lbAddressPool ?? LAB_LB_POOL : undefined;
  if (lbPool) routePoolToLab(lbPool, lab.gateway ?? '10.213.0.1');
  const first = nodes[0]!;
  const initOut = await progress.step(`${first.name}: mkube init --upload-certs (the first control plane)`, async () => {
    record(first, 'control-plane');
    return runOnHost(first.name, first.netns, ['init', '--advertise-address', first.nodeIP, '--api-port', String(o.apiPort), '--data-dir', hostDir(first), '--node-name', first.name, '--upload-certs',
      ...(lbPool ? ['--lb-address-pool', lbPool] : []), ...signing], out, join(hostDir(first), 'logs'));
  }, () => `${first.name} initialized`);
  const cpLine = initOut.split('\n').find((l) => l.startsWith('mkube join ') && l.includes('--control-plane'));
  const workerLine = initOut.split('\n').find((l) => l.startsWith('mkube join ') && !l.includes('--control-plane'));
  if (!cpLine || !workerLine) throw new Error(`mkube init printed no join commands:\n${initOut}`);
  const joinArgs = workerLine.trim().split(/\s+/).slice(1);
  const certificateKey = flagValue(cpLine, '--certificate-key');
  state.apiServer = `https://${first.nodeIP}:${o.apiPort}`;
  writeState(state);

  for (const n of nodes.slice(1, o.controlPlanes)) {
    await progress.step(`${n.name}: mkube join --control-plane`, async () => {
      record(n, 'control-plane');
      return runOnHost(n.name, n.netns, [...joinArgs, '--control-plane', '--certificate-key', certificateKey, '--advertise-address', n.nodeIP, '--api-port', String(o.apiPort),
        '--data-dir', hostDir(n), '--node-name', n.name, ...signing], out, join(hostDir(n), 'logs'));
    }, () => `${n.name} is a control plane (store member promoted)`);
  }
  if (o.controlPlanes > 1) {
    // The API servers that joined before the last learn every member: restarted with them, one at a time, once all
    // have joined (after each join it cost 1+2+...+(N-1) restarts: 190 s of a 5-control-plane build under load).
    const members = state.hosts!.filter((h) => h.role === 'control-plane');
    const earlier = members.slice(0, -1);
    await progress.step(`Restarting ${earlier.map((h) => h.name).join(', ')}'s API server${earlier.length === 1 ? '' : 's'} with ${members.length} store members`, async () => {
      // What an operator runs on each earlier machine (docs/OPERATIONS.md): mkube start --refresh-etcd-servers.
      for (const h of earlier) await runOnHost(h.name, h.netns, ['start', '--data-dir', h.dataDir, '--refresh-etcd-servers'], out, join(h.dataDir, 'logs'));
    }, () => `Every API server is given ${members.length} store members`);
  }
  const planes = state.hosts!.filter((h) => h.role === 'control-plane');
  writeAdminKubeconfig(state.kubeconfig, join(hostDir(first), 'apiserver', 'pki'), planes.map((h) => ({ name: h.name, server: h.apiServer! })));

  const workers = nodes.slice(o.controlPlanes);
  if (workers.length > 0) {
    await progress.step(`${workers.map((n) => n.name).join(', ')}: mkube join (workers, TLS bootstrap)`, async () => {
      await Promise.all(workers.map((n) => {
        record(n, 'worker');
        return runOnHost(n.name, n.netns, [...joinArgs, '--data-dir', hostDir(n), '--node-ip', n.nodeIP, '--node-name', n.name, '--cri-socket', n.criAddress, '--pod-cidr', n.podCIDR,
          '--cni-conf-dir', join(n.stateDir, 'cni', 'net.d'), ...(n.cgroupParent ? ['--cgroup-root', n.cgroupParent] : []), ...(n.logDir ? ['--pod-logs-dir', n.logDir] : [])], out, join(hostDir(n), 'logs'));
      }));
    }, () => `Worker${workers.length === 1 ? '' : 's'} ${workers.map((n) => n.name).join(', ')} Ready`);
  }
  writeState(state);
  return state;
}

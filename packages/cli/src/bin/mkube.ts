#!/usr/bin/env node
// mkube up | down | status — a whole mkube cluster on this machine.
import { parseArgs } from 'node:util';
import { down } from '../down.js';
import { PreflightFailed, StepFailed } from '../progress.js';
import { clusterStatus, formatStatus, NoCluster } from '../status.js';
import { up } from '../up.js';
import { upHa } from '../up_ha.js';
import { CLUSTER_COMMANDS_USAGE, runClusterCommand } from '../join_commands.js';
import { BACKUP_USAGE, runBackupCommand } from '../backup.js';
import { CHAOS_USAGE, runChaosCommand } from '../chaos/command.js';
import { runChaosHostCommand } from '../chaos/host_command.js';
import { runIngressIdentityCommand } from '../ingress_identity.js';

const USAGE = `Usage:
  mkube up   [--data-dir DIR] [--workers N] [--api-port PORT]   start a cluster in the background (default DIR .mkube)
             [--lab-name mk] [--lab-subnet 0]                  its lab (deploy/lab/lab.sh --name/--subnet): clusters side by side
             [--lab-pod-prefix 24]                             25-28: the lab hosts' pod subnets carved from one /24 (10.213.(subnet+1).0)
             [--pod-network-mode host-gw|vxlan|auto]           how worker pods reach other nodes (routes, a VXLAN overlay, or both by subnet)
             [--lb-address-pool 10.213.250.0/24]               LoadBalancer Service addresses (with --workers)
             [--node-monitor-grace-period 40s] [--default-unreachable-toleration-seconds 300]   node failure timing
  mkube up --control-planes 1|3|5 [--workers M] [--data-dir DIR] [--lab-name mk] [--lab-subnet 0]
                                                                highly available, in the lab: each host through mkube init/join
  mkube status [--data-dir DIR] [-o json]                      its components, their health, the store and the nodes
                                                                (exit status 0 when all are healthy, 1 otherwise)
  mkube down [--data-dir DIR]                                   stop it and remove its containers and lab network
${CLUSTER_COMMANDS_USAGE}${BACKUP_USAGE}${CHAOS_USAGE}`;

// A CLI's output is for people: no Node.js deprecation notices from libraries (the store client's TLS to 127.0.0.1).
process.noDeprecation = true;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, ...rest] = argv;
  if (command === 'backup' || command === 'restore') return runBackupCommand(command, rest);
  if (command === 'chaos') return runChaosCommand(rest, (line) => process.stderr.write(`${line}\n`));
  // Internal (not in the usage): what mkube chaos --hosts-file runs on each host.
  if (command === 'chaos-host') return runChaosHostCommand(rest);
  // Internal: a worker's Ingress controller identity kept current (started by mkube join).
  if (command === 'ingress-identity') return runIngressIdentityCommand(rest, (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  if (command === 'init' || command === 'join' || command === 'token' || command === 'leave' || command === 'remove-member' || command === 'start') return runClusterCommand(command, rest);
  const { values } = parseArgs({
    args: rest,
    options: {
      'data-dir': { type: 'string', default: '.mkube' },
      workers: { type: 'string', default: '0' },
      'control-planes': { type: 'string' },
      'api-port': { type: 'string', default: '6443' },
      'lab-name': { type: 'string' },
      'lab-subnet': { type: 'string' },
      'lab-pod-prefix': { type: 'string' },
      'pod-network-mode': { type: 'string' },
      'lb-address-pool': { type: 'string' },
      'node-monitor-grace-period': { type: 'string' },
      'default-unreachable-toleration-seconds': { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const log = (m: string) => process.stderr.write(`${m}\n`);
  if (values.help || !command || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'up') {
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 0 || workers > 50) throw new Error('--workers must be an integer from 0 to 50');
    const labSubnet = values['lab-subnet'] === undefined ? undefined : Number(values['lab-subnet']);
    // The lab's /24s (nodes, then each worker's pods) stay off the service range and the default LoadBalancer pool (as lab.sh checks).
    // With --control-planes the lab has a host per control plane too (each with its pod /24).
    const hostCount = workers + (values['control-planes'] === undefined ? 0 : Number(values['control-planes']) || 0);
    const labPodPrefix = values['lab-pod-prefix'] === undefined ? undefined : Number(values['lab-pod-prefix']);
    if (labPodPrefix !== undefined && (!Number.isInteger(labPodPrefix) || labPodPrefix < 24 || labPodPrefix > 28 || (labPodPrefix > 24 && hostCount * 2 ** (32 - labPodPrefix) > 256))) {
      throw new Error('--lab-pod-prefix must be 24 to 28, with room in one /24 for every lab host\'s pod subnet');
    }
    // With --lab-pod-prefix 25-28 the lab takes two /24s: its nodes', and its hosts' pod subnets.
    const labOctets = labSubnet === undefined ? [] : Array.from({ length: labPodPrefix !== undefined && labPodPrefix > 24 ? 2 : hostCount + 1 }, (_, i) => labSubnet + i);
    if (labSubnet !== undefined && (!Number.isInteger(labSubnet) || labSubnet < 0 || labSubnet + labOctets.length - 1 > 255 || labOctets.includes(200) || labOctets.includes(250))) throw new Error('--lab-subnet must be an integer from 0, with --workers below 256 and not covering 200 (service addresses use 10.213.200.0/24) or 250 (the default LoadBalancer pool 10.213.250.0/24)');
    if (values['lab-name'] !== undefined && !/^mk[a-z0-9]{0,8}$/.test(values['lab-name'])) throw new Error('--lab-name must match ^mk[a-z0-9]{0,8}$');
    const podNetworkMode = values['pod-network-mode'];
    if (podNetworkMode !== undefined && podNetworkMode !== 'host-gw' && podNetworkMode !== 'vxlan' && podNetworkMode !== 'auto') throw new Error('--pod-network-mode must be host-gw, vxlan or auto');
    const lbAddressPool = values['lb-address-pool'];
    if (lbAddressPool !== undefined && !/^10\.213\.\d{1,3}\.\d{1,3}\/(2[4-9]|3[0-2])$/.test(lbAddressPool)) throw new Error('--lb-address-pool must be a CIDR inside 10.213.0.0/16, /24 or smaller (e.g. 10.213.250.0/24)');
    const cmArgs: string[] = [];
    for (const f of ['node-monitor-grace-period', 'default-unreachable-toleration-seconds'] as const) if (values[f]) cmArgs.push(`--${f}`, values[f]!);
    // Pods get the unreachable toleration from the API server (DefaultTolerationSeconds), so it needs the value too.
    const apiArgs = values['default-unreachable-toleration-seconds'] ? ['--default-unreachable-toleration-seconds', values['default-unreachable-toleration-seconds']] : [];
    let state;
    try {
      // Several control planes: every lab host through mkube init / mkube join (up_ha.ts).
      if (values['control-planes'] !== undefined) state = await upHa({ dataDir: values['data-dir']!, controlPlanes: Number(values['control-planes']), workers, apiPort: Number(values['api-port']), labName: values['lab-name'], labSubnet, labPodPrefix, lbAddressPool, log });
      else state = await up({ dataDir: values['data-dir']!, workers, apiPort: Number(values['api-port']), controllerManagerArgs: cmArgs, apiServerArgs: apiArgs, log, labName: values['lab-name'], labSubnet, labPodPrefix, podNetworkMode, lbAddressPool });
    } catch (err) {
      if (err instanceof PreflightFailed) {
        log(`mkube: cannot start: ${err.reason}`);
        return 1;
      }
      // Leave nothing half-started behind.
      if (err instanceof StepFailed) log(`mkube: start-up failed at "${err.step}": ${err.reason}${err.logFile ? `\n  log: ${err.logFile}` : ''}`);
      else log(`mkube: start-up failed: ${(err as Error).message}`);
      log('mkube: stopping what was started');
      await down(values['data-dir']!, log).catch(() => undefined);
      return 1;
    }
    process.stdout.write(`
mkube is running. Use it with kubectl:

  export KUBECONFIG=${state.kubeconfig}
  kubectl get nodes
  kubectl run nginx --image=nginx

Logs: ${state.dataDir}/logs/   Stop: mkube down --data-dir ${values['data-dir']}
`);
    return 0;
  }
  if (command === 'status') {
    try {
      const status = await clusterStatus(values['data-dir']!);
      process.stdout.write(values.output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      return status.healthy ? 0 : 1;
    } catch (err) {
      if (!(err instanceof NoCluster)) throw err;
      process.stderr.write(`mkube: ${err.message}\n`);
      return 1;
    }
  }
  if (command === 'down') {
    await down(values['data-dir']!, log);
    return 0;
  }
  process.stderr.write(`mkube: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`mkube: ${err.message}\n`);
    process.exit(1);
  },
);

/**
 * `mkube chaos --data-dir DIR [--duration 120s] [--faults ...] [--hold 5s] [--seed N]`: runs the
 * chaos suite against the lab cluster DIR describes (`mkube up --control-planes 3 --workers 2`),
 * or with `--hosts-file FILE --kubeconfig ADMIN [--remote-mkube mkube]` against hosts reached by
 * a command (ssh to VMs; hosts_file.ts, remote_cluster.ts); prints one line per fault and the report table, writes DIR/chaos-report.json, and exits 0 only
 * when no acknowledged write was lost, the history was decided linearizable and the Deployment
 * recovered.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadKubeconfig } from '@mkube/client';
import { parseGoDuration } from '@mkube/component-base';
import { readState } from '../processes.js';
import { FAULT_KINDS, parseFaults } from './faults.js';
import type { ChaosCluster } from './cluster.js';
import { parseHostsFile } from './hosts_file.js';
import { LabChaosCluster } from './lab_cluster.js';
import { RemoteChaosCluster } from './remote_cluster.js';
import type { ChaosReportFile } from './report.js';
import { runChaos } from './run.js';

export const CHAOS_USAGE = `  mkube chaos [--data-dir DIR] [--duration 120s] [--faults ${FAULT_KINDS.join(',')}]
             [--hold 5s] [--seed N] [--image nginx]          faults against a cluster of several hosts while clients write;
                                                                checks and a table of detection/recovery times (exit 0 = passed)
  mkube chaos --hosts-file FILE --kubeconfig ADMIN [--remote-mkube mkube] [--report FILE] ...
                                                                the same against machines (FILE: NAME ROLE ADDRESS DATA-DIR COMMAND...
                                                                per line, e.g. ssh root@10.0.0.11; runs mkube chaos-host there)
`;

export async function runChaosCommand(argv: string[], log: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: '.mkube' },
      duration: { type: 'string', default: '120s' },
      faults: { type: 'string', default: FAULT_KINDS.join(',') },
      hold: { type: 'string', default: '5s' },
      seed: { type: 'string' },
      image: { type: 'string', default: 'nginx' },
      'hosts-file': { type: 'string' },
      kubeconfig: { type: 'string' },
      'remote-mkube': { type: 'string', default: 'mkube' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage:\n${CHAOS_USAGE}`);
    return 0;
  }
  const durationMs = parseGoDuration(values.duration!);
  const holdMs = parseGoDuration(values.hold!);
  if (!(durationMs > 0)) throw new Error(`--duration must be a positive duration (e.g. 120s), got ${values.duration}`);
  if (!(holdMs >= 1000)) throw new Error(`--hold must be at least 1s, got ${values.hold}`);
  const faults = parseFaults(values.faults!);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  let cluster: ChaosCluster;
  let reportFile: string;
  if (values['hosts-file'] !== undefined) {
    if (!values.kubeconfig) throw new Error('--hosts-file needs --kubeconfig (the admin kubeconfig listing every API server)');
    const hosts = parseHostsFile(readFileSync(values['hosts-file'], 'utf8'), values['hosts-file']);
    const planes = hosts.filter((h) => h.role === 'control-plane');
    if (planes.length < 3) throw new Error(`mkube chaos needs at least 3 control planes (${values['hosts-file']} lists ${planes.length})`);
    if (faults.includes('worker') && !hosts.some((h) => h.role === 'worker')) throw new Error(`--faults worker: ${values['hosts-file']} lists no worker`);
    // Split on blanks like the hosts file's commands (no shell): e.g. "node /opt/mkube/dist/src/bin/mkube.js".
    const mkube = values['remote-mkube']!.split(/\s+/).filter(Boolean);
    if (mkube.length === 0) throw new Error('--remote-mkube must not be empty');
    const remote = new RemoteChaosCluster(hosts, loadKubeconfig(values.kubeconfig), mkube);
    // Fault times are taken on the hosts: their clocks against this one, before anything is injected.
    for (const o of await remote.measureClocks()) log(`chaos: clock of ${o.host}: offset ${o.offsetMs.toFixed(2)} ms ± ${o.uncertaintyMs.toFixed(2)} ms (round trips ${o.rttMs.join(', ')} ms)`);
    cluster = remote;
    reportFile = resolve(values.report ?? 'chaos-report.json');
    log(`chaos: ${planes.length} control planes, ${hosts.length - planes.length} workers (${values['hosts-file']}); faults ${faults.join(', ')}; ${values.duration} (seed ${seed})`);
  } else {
    const dataDir = resolve(values['data-dir']!);
    const state = readState(dataDir);
    if (!state) throw new Error(`no cluster in ${dataDir}: start one with mkube up --control-planes 3 --workers 2 --data-dir ${values['data-dir']}`);
    const hosts = state.hosts ?? [];
    const planes = hosts.filter((h) => h.role === 'control-plane');
    if (planes.length < 3) throw new Error(`mkube chaos needs at least 3 control planes (this cluster has ${planes.length}): mkube up --control-planes 3 --workers 2`);
    if (faults.includes('worker') && !hosts.some((h) => h.role === 'worker')) throw new Error('--faults worker: the cluster has no worker host');
    if (process.getuid?.() !== 0) throw new Error('mkube chaos must run as root (it signals the cluster\'s processes and partitions hosts with iptables in their namespaces)');
    cluster = new LabChaosCluster(hosts, loadKubeconfig(state.kubeconfig), join(planes[0]!.dataDir, 'apiserver'));
    reportFile = values.report ? resolve(values.report) : join(dataDir, 'chaos-report.json');
    log(`chaos: ${planes.length} control planes, ${hosts.length - planes.length} workers; faults ${faults.join(', ')}; ${values.duration} (seed ${seed})`);
  }
  const { summary, report, ok } = await runChaos(cluster, { durationMs, faults, seed, holdMs, image: values.image, log });
  const file: ChaosReportFile = { seed, ...summary };
  writeFileSync(reportFile, JSON.stringify(file, null, 2));
  process.stdout.write(`${report}\n`);
  log(ok ? 'chaos: passed' : 'chaos: FAILED');
  return ok ? 0 : 1;
}

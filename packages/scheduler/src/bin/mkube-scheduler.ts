#!/usr/bin/env node
/** mkube-scheduler: assigns pods to nodes (kube-scheduler's framework) through the API server. */
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { pino } from 'pino';
import { Scheduler } from '../scheduler.js';

// "--leader-elect" alone means true, as in kube-scheduler.
const args = process.argv.slice(2).map((a) => (a === '--leader-elect' ? '--leader-elect=true' : a));

const { values } = parseArgs({
  args,
  options: {
    kubeconfig: { type: 'string', default: process.env.KUBECONFIG },
    'leader-elect': { type: 'string', default: 'true' },
    'leader-elect-resource-namespace': { type: 'string', default: 'kube-system' },
    'leader-elect-resource-name': { type: 'string', default: 'kube-scheduler' },
    'metrics-port': { type: 'string', default: '10251' },
    'bind-address': { type: 'string', default: '0.0.0.0' },
    'scheduler-name': { type: 'string', default: 'default-scheduler' },
    'percentage-of-nodes-to-score': { type: 'string', default: '0' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help || !values.kubeconfig) {
  process.stderr.write(
    'usage: mkube-scheduler --kubeconfig PATH [--leader-elect=true|false] [--metrics-port=10251 (0: any, -1: off)]\n' +
      '       [--bind-address 0.0.0.0] [--scheduler-name default-scheduler] [--percentage-of-nodes-to-score 0]\n' +
      '       [--leader-elect-resource-namespace kube-system] [--leader-elect-resource-name kube-scheduler] [--log-level info]\n',
  );
  process.exit(values.help ? 0 : 2);
}

const log = pino({ level: values['log-level'], base: { component: 'mkube-scheduler' } });
const client = new KubeClient({ ...loadKubeconfig(values.kubeconfig), userAgent: 'mkube-scheduler/0.1' });
const metricsPort = Number(values['metrics-port']);
const scheduler = new Scheduler({
  client,
  logger: log,
  leaderElect: values['leader-elect'] !== 'false',
  leaseNamespace: values['leader-elect-resource-namespace'],
  leaseName: values['leader-elect-resource-name'],
  schedulerName: values['scheduler-name'],
  metricsPort: metricsPort >= 0 ? metricsPort : undefined,
  metricsHost: values['bind-address'],
  core: { percentageOfNodesToScore: Number(values['percentage-of-nodes-to-score']) },
});

await scheduler.start();
log.info({ identity: scheduler.identity, metricsPort: scheduler.metricsPort }, 'mkube-scheduler started');

const shutdown = (signal: string) => {
  log.info({ signal }, 'shutting down');
  void scheduler.stop().finally(() => {
    client.close();
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

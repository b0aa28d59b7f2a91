#!/usr/bin/env node
/** mkube-scheduler: assigns pods to nodes (kube-scheduler's framework) through the API server. */
import { parseArgs } from 'node:util';
import { exitOnStartupError, usageErrorsExit2, loadingFile } from '@mkube/api';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { pino } from 'pino';
import { Scheduler } from '../scheduler.js';

// "--leader-elect" alone means true, as in kube-scheduler.
const args = process.argv.slice(2).map((a) => (a === '--leader-elect' ? '--leader-elect=true' : a));

const { values } = usageErrorsExit2('mkube-scheduler', () => parseArgs({
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
}));

if (values.help || !values.kubeconfig) {
  process.stderr.write(
    'usage: mkube-scheduler --kubeconfig PATH [--leader-elect=true|false] [--metrics-port=10251 (0: any, -1: off)]\n' +
      '       [--bind-address 0.0.0.0] [--scheduler-name default-scheduler] [--percentage-of-nodes-to-score 0]\n' +
      '       [--leader-elect-resource-namespace kube-system] [--leader-elect-resource-name kube-scheduler] [--log-level info]\n',
  );
  process.exit(values.help ? 0 : 2);
}

const log = pino({ level: values['log-level'], base: { component: 'mkube-scheduler' } });
const metricsPort = Number(values['metrics-port']);
// A start-up failure is one line naming the listener or file; the stack goes to the log at debug level.
const startupContext = {
  listeners: [{ what: 'metrics and health', port: metricsPort, host: values['bind-address'] }],
  files: [{ what: '--kubeconfig', path: values.kubeconfig }],
};
let kubeconfig;
try {
  kubeconfig = loadingFile('--kubeconfig', values.kubeconfig, () => loadKubeconfig(values.kubeconfig!));
} catch (err) {
  exitOnStartupError('mkube-scheduler', err, startupContext, log);
}
const client = new KubeClient({ ...kubeconfig, userAgent: 'mkube-scheduler/0.1' });
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

await scheduler.start().catch((err: unknown) => exitOnStartupError('mkube-scheduler', err, startupContext, log));
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

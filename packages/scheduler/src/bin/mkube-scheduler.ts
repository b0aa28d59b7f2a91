#!/usr/bin/env node
/** mkube-scheduler: assigns pods to nodes (kube-scheduler's framework) through the API server. */
import { createLogger, parseComponentFlags, parseGoDuration, requireKubeconfig } from '@mkube/component-base';
import { exitOnStartupError, usageErrorsExit2, loadingFile } from '@mkube/api';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { loadSchedulerConfig, type SchedulerConfig } from '../config/load.js';
import { inTreeRegistry } from '../plugins/registry.js';
import { Scheduler } from '../scheduler.js';

const BINARY = 'mkube-scheduler';
// The common component flags (--kubeconfig, --v/--log-level, --bind-address, --leader-elect*) and the scheduler's own.
const { values, common, usage } = usageErrorsExit2(BINARY, () => parseComponentFlags(BINARY, process.argv.slice(2), { bindAddress: '0.0.0.0', leaderElection: { resourceName: 'kube-scheduler' } }, {
  config: { type: 'string', usage: 'A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file: profiles, plugins and their args. Without it: one default profile named by --scheduler-name.' },
  'metrics-port': { type: 'int', default: '10251', usage: 'Port of /metrics, /healthz, /livez and /readyz (0: any free port, -1: off).' },
  'scheduler-name': { type: 'string', default: 'default-scheduler', usage: 'Schedule pods whose spec.schedulerName is this.' },
  'percentage-of-nodes-to-score': { type: 'int', default: '0', usage: 'Percentage of feasible nodes to score (0: adaptive, as kube-scheduler).' },
}));
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const log = createLogger({ component: BINARY, level: common.logLevel });
const registry = inTreeRegistry();
// With --config the file is the source of the profiles, node sampling, backoff and leader election
// (as kube-scheduler, where --scheduler-name and the other deprecated flags apply only without it).
let schedulerConfig: SchedulerConfig | undefined;
if (values.config !== undefined) {
  const path = values.config;
  try {
    schedulerConfig = loadingFile('--config', path, () => loadSchedulerConfig(path, registry));
  } catch (err) {
    exitOnStartupError(BINARY, err, { files: [{ what: '--config', path }] }, log);
  }
}
const fileKubeconfig = schedulerConfig?.config.clientConnection.kubeconfig;
const kubeconfigPath = common.kubeconfig ?? fileKubeconfig ?? usageErrorsExit2(BINARY, () => requireKubeconfig(common));
const flagLeaderElection = common.leaderElection!;
const fileLeaderElection = schedulerConfig?.config.leaderElection;
const leaderElection = fileLeaderElection
  ? {
      leaderElect: fileLeaderElection.leaderElect ?? true,
      resourceNamespace: fileLeaderElection.resourceNamespace ?? 'kube-system',
      resourceName: fileLeaderElection.resourceName ?? 'kube-scheduler',
      leaseDurationMs: fileLeaderElection.leaseDuration ? parseGoDuration(fileLeaderElection.leaseDuration) : flagLeaderElection.leaseDurationMs,
      renewDeadlineMs: fileLeaderElection.renewDeadline ? parseGoDuration(fileLeaderElection.renewDeadline) : flagLeaderElection.renewDeadlineMs,
      retryPeriodMs: fileLeaderElection.retryPeriod ? parseGoDuration(fileLeaderElection.retryPeriod) : flagLeaderElection.retryPeriodMs,
    }
  : flagLeaderElection;

const metricsPort = values['metrics-port'];
// A start-up failure is one line naming the listener or file; the stack goes to the log at debug level.
const startupContext = {
  listeners: [{ what: 'metrics and health', port: metricsPort, host: common.bindAddress }],
  files: [{ what: '--kubeconfig', path: kubeconfigPath }],
};
let kubeconfig;
try {
  kubeconfig = loadingFile('--kubeconfig', kubeconfigPath, () => loadKubeconfig(kubeconfigPath));
} catch (err) {
  exitOnStartupError('mkube-scheduler', err, startupContext, log);
}
const client = new KubeClient({ ...kubeconfig, userAgent: 'mkube-scheduler/0.1' });
const scheduler = new Scheduler({
  client,
  logger: log,
  leaderElect: leaderElection.leaderElect,
  leaseNamespace: leaderElection.resourceNamespace,
  leaseName: leaderElection.resourceName,
  leaseDurationMs: leaderElection.leaseDurationMs,
  renewDeadlineMs: leaderElection.renewDeadlineMs,
  retryPeriodMs: leaderElection.retryPeriodMs,
  schedulerName: values['scheduler-name'],
  config: schedulerConfig,
  registry,
  metricsPort: metricsPort >= 0 ? metricsPort : undefined,
  metricsHost: common.bindAddress,
  core: schedulerConfig ? {} : { percentageOfNodesToScore: values['percentage-of-nodes-to-score'] },
});

await scheduler.start().catch((err: unknown) => exitOnStartupError('mkube-scheduler', err, startupContext, log));
log.info({ identity: scheduler.identity, metricsPort: scheduler.metricsPort, profiles: [...scheduler.core.frameworks.keys()] }, 'mkube-scheduler started');

const shutdown = (signal: string) => {
  log.info({ signal }, 'shutting down');
  void scheduler.stop().finally(() => {
    client.close();
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

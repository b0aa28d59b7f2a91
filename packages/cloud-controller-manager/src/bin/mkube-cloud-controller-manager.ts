#!/usr/bin/env node
/** mkube-cloud-controller-manager: LoadBalancer Services from an address pool and cloud node lifecycle, leader-elected. */
import { createLogger, parseComponentFlags } from '@mkube/component-base';
import { usageErrorsExit2 } from '@mkube/api';
import { exitOnHelp, runClientComponent } from '@mkube/client';
import { CloudControllerManager, DEFAULT_LB_CLASS } from '../manager.js';
import { PoolProvider } from '../pool_provider.js';

const BINARY = 'mkube-cloud-controller-manager';
const { values, common, usage } = usageErrorsExit2(BINARY, () =>
  parseComponentFlags(BINARY, process.argv.slice(2), { bindAddress: '127.0.0.1', leaderElection: { resourceName: 'cloud-controller-manager' } }, {
    'metrics-port': { type: 'int', default: '10258', usage: 'Port of /metrics, /healthz, /livez and /readyz (0: any free port, -1: off).' },
    'cloud-provider': { type: 'string', default: 'mkube', usage: 'The cloud provider: mkube (the built-in address pool and machines file).' },
    'cluster-name': { type: 'string', default: 'kubernetes', usage: 'The cluster name given to the provider.' },
    'lb-address-pool': { type: 'string', default: '', arg: 'CIDR', usage: 'IPv4 CIDR whose addresses LoadBalancer Services get (empty: no load balancers).' },
    'load-balancer-class': { type: 'string', default: DEFAULT_LB_CLASS, usage: 'Services of type LoadBalancer with this spec.loadBalancerClass, or with none, are ours.' },
    'machines-file': { type: 'string', default: '', usage: 'The machines ("NAME IP [NETNS]" lines): Node addresses come from it, and a not-Ready Node whose machine is gone is deleted (empty: no node controllers).' },
    'node-monitor-period': { type: 'duration', default: '5s', usage: 'How often not-Ready Nodes are checked against the machines.' },
  }),
);
exitOnHelp(values.help, usage);
const log = createLogger({ component: BINARY, level: common.logLevel });
if (values['cloud-provider'] !== 'mkube') usageErrorsExit2(BINARY, () => {
  throw Object.assign(new Error(`--cloud-provider: unknown provider "${values['cloud-provider']}" (only mkube is built in)`), { code: 'FlagInvalid' });
});
let provider: PoolProvider;
await runClientComponent({
  binary: BINARY,
  common,
  log,
  context: { listeners: [{ what: 'metrics and health', port: values['metrics-port'], host: common.bindAddress }] },
  prepare: () => {
    provider = new PoolProvider({ pool: values['lb-address-pool'] || undefined, machinesFile: values['machines-file'] || undefined });
  },
  start: async (client) => {
    const le = common.leaderElection!;
    const ccm = new CloudControllerManager({
      client,
      provider,
      log,
      clusterName: values['cluster-name'],
      loadBalancerClass: values['load-balancer-class'],
      leaderElect: le.leaderElect,
      leaseNamespace: le.resourceNamespace,
      leaseName: le.resourceName,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      metricsHost: common.bindAddress,
      metricsPort: values['metrics-port'],
      nodeMonitorPeriodMs: values['node-monitor-period'],
    });
    await ccm.start();
    return { stop: () => ccm.stop(), fields: { identity: ccm.identity, metricsPort: ccm.metricsPort, pool: values['lb-address-pool'] || undefined } };
  },
});

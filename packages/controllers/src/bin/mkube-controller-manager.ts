#!/usr/bin/env node
/**
 * mkube-controller-manager: runs the controllers against an API server. Flags (`--help` lists them):
 * the common component flags of @mkube/component-base (--kubeconfig, --v/--log-level,
 * --bind-address, --leader-elect* on the Lease kube-system/kube-controller-manager) and the
 * controller manager's own below, parsed as kube-controller-manager's (pflag syntax, Go durations).
 */
import { readFileSync } from 'node:fs';
import { exitOnStartupError, loadingFile, usageErrorsExit2, type StartupContext } from '@mkube/api';
import { loadKubeconfig } from '@mkube/client';
import { createLogger, FlagError, parseComponentFlags, requireKubeconfig, type Logger } from '@mkube/component-base';
import { ALL_CONTROLLERS, ControllerManager, ConfigError } from '../manager.js';

const BINARY = 'mkube-controller-manager';

function parseCommandLine(argv: string[]) {
  return parseComponentFlags(BINARY, argv, { bindAddress: '127.0.0.1', leaderElection: { resourceName: 'kube-controller-manager' } }, {
    controllers: { type: 'string', default: '*', usage: `Controllers to run: '*' all, 'name' one, '-name' not that one (known: ${ALL_CONTROLLERS.join(', ')}).` },
    'node-monitor-grace-period': { type: 'duration', default: '40s', usage: 'Lease silence before a node is marked unreachable.' },
    'default-unreachable-toleration-seconds': { type: 'int', default: '300', usage: 'tolerationSeconds of the not-ready/unreachable tolerations added to pods.' },
    'cluster-cidr': { type: 'string', arg: 'CIDR', usage: 'CIDR range of pods (node IPAM allocates podCIDRs from it).' },
    'node-cidr-mask-size': { type: 'int', default: '24', usage: 'Mask size of each node podCIDR.' },
    'reserved-cidrs': { type: 'string', arg: 'CIDR,...', usage: 'Ranges of the cluster CIDR never given to a node.' },
    'concurrent-syncs': { type: 'int', default: '2', usage: 'Workers per controller.' },
    'terminated-pod-gc-threshold': { type: 'int', default: '12500', usage: 'Terminated pods kept before the pod garbage collector deletes the oldest (0: never).' },
    'metrics-port': { type: 'int', default: '10257', usage: 'Port of /metrics, /healthz, /livez and /readyz (0: any free port, -1: off).' },
    'root-ca-file': { type: 'string', arg: 'PEM', usage: "CA published as kube-root-ca.crt (default: the kubeconfig's)." },
    'cluster-signing-cert-file': { type: 'string', arg: 'PEM', usage: 'CA certificate csrsigning issues certificates with (the cluster CA).' },
    'cluster-signing-key-file': { type: 'string', arg: 'PEM', usage: "That CA's private key (only on control planes)." },
    'cluster-signing-duration': { type: 'duration', default: '8760h', usage: 'Longest lifetime of the certificates csrsigning issues.' },
  });
}

// What a start-up failure names (the listener, the files of the flags) and the log its stack goes to.
const startup: { context: StartupContext; log?: Logger } = { context: {} };

async function main(): Promise<void> {
  const { values: v, common, usage } = usageErrorsExit2(BINARY, () => parseCommandLine(process.argv.slice(2)));
  if (v.help) {
    process.stdout.write(usage);
    return;
  }
  const kubeconfig = usageErrorsExit2(BINARY, () => requireKubeconfig(common));
  const le = common.leaderElection!;
  const log = createLogger({ component: BINARY, level: common.logLevel });
  startup.log = log;
  startup.context = {
    listeners: [{ what: 'metrics and health', port: v['metrics-port'], host: common.bindAddress }],
    files: [{ what: '--kubeconfig', path: kubeconfig }, { what: '--root-ca-file', path: v['root-ca-file'] ?? '' }, { what: '--cluster-signing-cert-file', path: v['cluster-signing-cert-file'] ?? '' }, { what: '--cluster-signing-key-file', path: v['cluster-signing-key-file'] ?? '' }].filter((f) => f.path),
  };
  const mgr = new ControllerManager({
    kubeconfig,
    clientConfig: loadingFile('--kubeconfig', kubeconfig, () => loadKubeconfig(kubeconfig)),
    leaderElect: le.leaderElect,
    leaseNamespace: le.resourceNamespace,
    leaseName: le.resourceName,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    controllers: v.controllers.split(','),
    metricsPort: v['metrics-port'],
    metricsBindAddress: common.bindAddress,
    logger: log,
    config: {
      nodeMonitorGracePeriodMs: v['node-monitor-grace-period'],
      defaultUnreachableTolerationSeconds: v['default-unreachable-toleration-seconds'],
      ...(v['cluster-cidr'] ? { clusterCidr: v['cluster-cidr'] } : {}),
      nodeCidrMaskSize: v['node-cidr-mask-size'],
      ...(v['reserved-cidrs'] !== undefined ? { reservedCidrs: v['reserved-cidrs'].split(',').filter(Boolean) } : {}),
      workers: v['concurrent-syncs'],
      terminatedPodGcThreshold: v['terminated-pod-gc-threshold'],
      ...(v['root-ca-file'] ? { rootCaPem: readFileSync(v['root-ca-file'], 'utf8') } : {}),
      clusterSigningCertFile: v['cluster-signing-cert-file'],
      clusterSigningKeyFile: v['cluster-signing-key-file'],
      clusterSigningDurationSeconds: Math.round(v['cluster-signing-duration'] / 1000),
    },
  });
  await mgr.start();
  log.info({ metricsPort: mgr.port, controllers: mgr.controllerNames }, 'controller manager running');
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    mgr.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof FlagError) {
    process.stderr.write(`${BINARY}: ${err.message}\n`);
    process.exit(2);
  }
  exitOnStartupError(BINARY, err, startup.context, startup.log);
});

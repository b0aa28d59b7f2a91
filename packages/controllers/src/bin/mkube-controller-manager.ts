#!/usr/bin/env node
/**
 * mkube-controller-manager: runs the controllers against an API server.
 *
 *   --kubeconfig PATH                          client credentials (required)
 *   --leader-elect true|false                  default true (Lease kube-system/kube-controller-manager)
 *   --controllers '*,-nodeipam'                which controllers (default all)
 *   --node-monitor-grace-period 40s            lease silence before a node is unreachable
 *   --default-unreachable-toleration-seconds 300
 *   --cluster-cidr 10.213.0.0/16  --node-cidr-mask-size 24  --reserved-cidrs a,b
 *   --metrics-port 10257 (0: any, -1: off)  --metrics-bind-address 127.0.0.1
 *   --root-ca-file PEM                          kube-root-ca.crt's CA (default: the kubeconfig's)
 *   --log-level info
 */
import { readFileSync } from 'node:fs';
import { exitOnStartupError, loadingFile, type StartupContext } from '@mkube/api';
import { loadKubeconfig } from '@mkube/client';
import { pino, type Logger } from 'pino';
import { ALL_CONTROLLERS, ControllerManager, ConfigError } from '../manager.js';

export function parseDuration(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== s.length || consumed === 0) throw new ConfigError(`invalid duration "${s}"`);
  return total;
}

const BOOL_FLAGS = new Set(['leader-elect']);

export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      out.help = 'true';
      continue;
    }
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (eq >= 0) out[name] = a.slice(eq + 1);
    else if (BOOL_FLAGS.has(name) && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) out[name] = 'true';
    else {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(`flag --${name} needs a value`);
      out[name] = v;
    }
  }
  return out;
}

const KNOWN = ['kubeconfig', 'leader-elect', 'controllers', 'node-monitor-grace-period', 'default-unreachable-toleration-seconds', 'cluster-cidr', 'node-cidr-mask-size', 'reserved-cidrs', 'metrics-port', 'metrics-bind-address', 'log-level', 'help', 'concurrent-syncs', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'root-ca-file'];

// What a start-up failure names (the listener, the files of the flags) and the log its stack goes to.
const startup: { context: StartupContext; log?: Logger } = { context: {} };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`usage: mkube-controller-manager --kubeconfig PATH [--leader-elect=true] [--controllers '*'] (known: ${ALL_CONTROLLERS.join(', ')})\n  [--node-monitor-grace-period 40s] [--default-unreachable-toleration-seconds 300] [--cluster-cidr 10.213.0.0/16]\n  [--node-cidr-mask-size 24] [--reserved-cidrs CIDR,...] [--metrics-port 10257] [--log-level info]\n`);
    return;
  }
  for (const k of Object.keys(args)) if (!KNOWN.includes(k)) throw new ConfigError(`unknown flag --${k}`);
  const log = pino({ name: 'mkube-controller-manager', level: args['log-level'] ?? 'info' });
  startup.log = log;
  startup.context = {
    listeners: [{ what: 'metrics and health', port: Number(args['metrics-port'] ?? 10257), host: args['metrics-bind-address'] ?? '127.0.0.1' }],
    files: [{ what: '--kubeconfig', path: args.kubeconfig ?? '' }, { what: '--root-ca-file', path: args['root-ca-file'] ?? '' }].filter((f) => f.path),
  };
  const num = (k: string, d: number) => {
    if (args[k] === undefined) return d;
    const n = Number(args[k]);
    if (!Number.isFinite(n)) throw new ConfigError(`--${k}: not a number: "${args[k]}"`);
    return n;
  };
  const mgr = new ControllerManager({
    kubeconfig: args.kubeconfig,
    clientConfig: args.kubeconfig ? loadingFile('--kubeconfig', args.kubeconfig, () => loadKubeconfig(args.kubeconfig!)) : undefined,
    leaderElect: (args['leader-elect'] ?? 'true') !== 'false',
    controllers: args.controllers?.split(','),
    metricsPort: num('metrics-port', 10257),
    metricsBindAddress: args['metrics-bind-address'],
    leaseDurationMs: args['leader-elect-lease-duration'] ? parseDuration(args['leader-elect-lease-duration']) : undefined,
    renewDeadlineMs: args['leader-elect-renew-deadline'] ? parseDuration(args['leader-elect-renew-deadline']) : undefined,
    retryPeriodMs: args['leader-elect-retry-period'] ? parseDuration(args['leader-elect-retry-period']) : undefined,
    logger: log,
    config: {
      nodeMonitorGracePeriodMs: parseDuration(args['node-monitor-grace-period'] ?? '40s'),
      defaultUnreachableTolerationSeconds: num('default-unreachable-toleration-seconds', 300),
      ...(args['cluster-cidr'] ? { clusterCidr: args['cluster-cidr'] } : {}),
      nodeCidrMaskSize: num('node-cidr-mask-size', 24),
      ...(args['reserved-cidrs'] !== undefined ? { reservedCidrs: args['reserved-cidrs'].split(',').filter(Boolean) } : {}),
      workers: num('concurrent-syncs', 2),
      ...(args['root-ca-file'] ? { rootCaPem: readFileSync(args['root-ca-file'], 'utf8') } : {}),
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
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`mkube-controller-manager: ${err.message}\n`);
    process.exit(2);
  }
  exitOnStartupError('mkube-controller-manager', err, startup.context, startup.log);
});

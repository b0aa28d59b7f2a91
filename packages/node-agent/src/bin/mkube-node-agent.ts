#!/usr/bin/env node
// mkube-node-agent: the node agent (kubelet) of one node.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitOnStartupError, loadingFile, StartupFailure, type StartupContext } from '@mkube/api';
import { loadKubeconfig } from '@mkube/client';
import { NodeAgent } from '../agent.js';
import type { Logger } from '../logger.js';
import { FlagError, parseLabels, parseReserved, parseTaints } from '../node_status.js';

const USAGE = `usage: mkube-node-agent --kubeconfig FILE --node-name NAME --node-ip IP --container-runtime-endpoint unix:///PATH [flags]
  --kubeconfig FILE                 credentials for the API server
  --node-name NAME                  the Node to register
  --node-ip IP                      InternalIP, status.hostIP of pods
  --container-runtime-endpoint URL  CRI socket, unix:///absolute/path
  --root-dir DIR                    state dir (default /var/lib/mkube-agent)
  --pod-logs-dir DIR                pod log root (default /var/log/pods)
  --cgroup-root PATH                cgroup parent of pods (default /<node-name>)
  --pod-cidr CIDR                   fallback when the Node has no spec.podCIDR
  --cni-conf-dir DIR                write a bridge conflist for the pod CIDR here if none exists
  --cni-bridge NAME                 bridge of that conflist (default cni-mk0)
  --no-routes                       do not program host-gw routes to other nodes
  --proxy-mode iptables|none        the service proxy: DNAT from cluster IPs to ready endpoints in
                                    the nat table of this network namespace (default iptables)
  --node-labels k=v,...             extra labels at registration
  --node-role ROLE                  adds node-role.kubernetes.io/ROLE
  --register-with-taints k=v:Effect,...
  --system-reserved cpu=100m,memory=256Mi,ephemeral-storage=1Gi
  --max-pods N                      (default 110)
  --runtime-start-concurrency N     RunPodSandbox/CreateContainer/StartContainer calls in flight (default 4, 0 = unbounded)
  --port N                          HTTPS endpoint for logs/exec (default 10250, 0 = any)
  --tls-cert-file FILE --tls-private-key-file FILE
  --cluster-ca-cert FILE --cluster-ca-key FILE   issue the serving cert from the cluster CA instead
  --client-ca-file FILE             CA of callers (default: the kubeconfig's CA)
  --metrics-port N                  Prometheus /metrics and /healthz (default 10255, -1 = off)
  --metrics-bind-address IP         (default 127.0.0.1)
  --node-lease-renew-interval S     (default 10)
  --node-status-update-frequency S  (default 60)
  --log-level debug|info|warn|error (default info)`;

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

function proxyMode(v: string | undefined): 'iptables' | 'none' {
  if (v === 'iptables' || v === 'none') return v;
  throw Object.assign(new Error(`--proxy-mode must be iptables or none, not ${JSON.stringify(v)}`), { code: 'InvalidFlag' });
}

function jsonLogger(level: keyof typeof LEVELS, bindings: object = {}): Logger {
  const min = LEVELS[level];
  const out = (lv: keyof typeof LEVELS) => (obj: object, msg?: string) => {
    if (LEVELS[lv] < min) return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: lv, ...bindings, ...obj, ...(msg ? { msg } : {}) }) + '\n');
  };
  return { debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error'), child: (b) => jsonLogger(level, { ...bindings, ...b }) };
}

/**
 * MKUBE_CPU_PROF_DIR=dir: profiles the agent's main thread from start to
 * SIGTERM/SIGINT into dir/mkube-node-agent-<node>-<pid>.cpuprofile (the
 * --cpu-prof flag is not allowed in NODE_OPTIONS, and supervisors spawn us).
 */
async function startCpuProfile(dir: string | undefined, name: string): Promise<() => Promise<void>> {
  if (!dir) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `mkube-node-agent-${name}-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** The CRI socket must exist (as kubelet, the agent does not wait for a runtime that is not there). */
function checkRuntimeSocket(endpoint: string): void {
  const path = endpoint.slice('unix://'.length);
  let isSocket: boolean;
  try {
    isSocket = statSync(path).isSocket();
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ENOENT';
    throw new StartupFailure(code, code === 'ENOENT'
      ? `container runtime socket ${path} does not exist (--container-runtime-endpoint ${endpoint}): is containerd running?`
      : `cannot reach the container runtime socket ${path} (--container-runtime-endpoint ${endpoint}): ${(err as Error).message}`);
  }
  if (!isSocket) throw new StartupFailure('ENOTSOCK', `container runtime endpoint ${path} is not a socket (--container-runtime-endpoint ${endpoint})`);
}

// What a start-up failure names (the listeners, the files of the flags) and the log its stack goes to.
const startup: { context: StartupContext; log?: Logger } = { context: {} };

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      'node-name': { type: 'string' },
      'node-ip': { type: 'string' },
      'container-runtime-endpoint': { type: 'string' },
      'root-dir': { type: 'string', default: '/var/lib/mkube-agent' },
      'pod-logs-dir': { type: 'string' },
      'cgroup-root': { type: 'string' },
      'pod-cidr': { type: 'string' },
      'cni-conf-dir': { type: 'string' },
      'cni-bridge': { type: 'string' },
      'no-routes': { type: 'boolean', default: false },
      'proxy-mode': { type: 'string', default: 'iptables' },
      'node-labels': { type: 'string' },
      'node-role': { type: 'string' },
      'register-with-taints': { type: 'string' },
      'system-reserved': { type: 'string' },
      'max-pods': { type: 'string' },
      'runtime-start-concurrency': { type: 'string' },
      port: { type: 'string', default: '10250' },
      'tls-cert-file': { type: 'string' },
      'tls-private-key-file': { type: 'string' },
      'cluster-ca-cert': { type: 'string' },
      'cluster-ca-key': { type: 'string' },
      'client-ca-file': { type: 'string' },
      'metrics-port': { type: 'string', default: '10255' },
      'metrics-bind-address': { type: 'string' },
      'node-lease-renew-interval': { type: 'string', default: '10' },
      'node-status-update-frequency': { type: 'string', default: '60' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const need = (k: string): string => {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x !== 'string' || !x) throw new FlagError(`--${k} is required`);
    return x;
  };
  const int = (k: string): number => {
    const n = Number((v as Record<string, unknown>)[k]);
    if (!Number.isInteger(n)) throw new FlagError(`--${k} must be an integer`);
    return n;
  };
  const level = v['log-level'] as keyof typeof LEVELS;
  if (!(level in LEVELS)) throw new FlagError(`--log-level must be one of ${Object.keys(LEVELS).join(', ')}`);
  const logger = jsonLogger(level, { component: 'mkube-node-agent' });
  const endpoint = need('container-runtime-endpoint');
  if (!endpoint.startsWith('unix:///')) throw new FlagError('--container-runtime-endpoint must be unix:///absolute/path');
  const metricsBind = v['metrics-bind-address'] ?? '127.0.0.1';
  startup.log = logger;
  startup.context = {
    listeners: [{ what: 'node agent server', port: Number(v.port) }, { what: 'metrics and health', port: Number(v['metrics-port']), host: metricsBind }],
    files: (['kubeconfig', 'tls-cert-file', 'tls-private-key-file', 'cluster-ca-cert', 'cluster-ca-key', 'client-ca-file'] as const)
      .flatMap((k) => (v[k] ? [{ what: `--${k}`, path: v[k]! }] : [])),
  };
  const clientConfig = loadingFile('--kubeconfig', need('kubeconfig'), () => loadKubeconfig(need('kubeconfig')));
  checkRuntimeSocket(endpoint);
  let tls: { cert: string; key: string } | { caCertFile: string; caKeyFile: string };
  if (v['tls-cert-file'] || v['tls-private-key-file']) {
    tls = { cert: readFileSync(need('tls-cert-file'), 'utf8'), key: readFileSync(need('tls-private-key-file'), 'utf8') };
  } else if (v['cluster-ca-cert'] || v['cluster-ca-key']) {
    tls = { caCertFile: need('cluster-ca-cert'), caKeyFile: need('cluster-ca-key') };
  } else throw new FlagError('either --tls-cert-file/--tls-private-key-file or --cluster-ca-cert/--cluster-ca-key is required');

  const nodeName = need('node-name');
  const stopProfile = await startCpuProfile(process.env.MKUBE_CPU_PROF_DIR, nodeName);
  const agent = new NodeAgent({
    clientConfig,
    nodeName,
    nodeIP: need('node-ip'),
    criEndpoint: endpoint,
    rootDir: v['root-dir']!,
    podLogsDir: v['pod-logs-dir'],
    cgroupRoot: v['cgroup-root'],
    podCIDR: v['pod-cidr'],
    cniConfDir: v['cni-conf-dir'],
    cniBridge: v['cni-bridge'],
    manageRoutes: !v['no-routes'],
    proxyMode: proxyMode(v['proxy-mode']),
    labels: parseLabels(v['node-labels']),
    role: v['node-role'],
    taints: parseTaints(v['register-with-taints']),
    reserved: parseReserved(v['system-reserved']),
    maxPods: v['max-pods'] ? int('max-pods') : undefined,
    port: int('port'),
    tls,
    clientCA: v['client-ca-file'] ? readFileSync(v['client-ca-file'], 'utf8') : undefined,
    metricsPort: int('metrics-port'),
    metricsBindAddress: v['metrics-bind-address'],
    leaseRenewMs: Number(v['node-lease-renew-interval']) * 1000,
    statusUpdateMs: Number(v['node-status-update-frequency']) * 1000,
    logger,
    engine: v['runtime-start-concurrency'] ? { startConcurrency: int('runtime-start-concurrency') } : {},
  });
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ sig }, 'stopping (pods keep running)');
    agent.stop().then(
      () => stopProfile().finally(() => process.exit(0)),
      () => stopProfile().finally(() => process.exit(1)),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await agent.start();
  // One machine-readable line for supervisors and tests.
  process.stdout.write(JSON.stringify({ ready: true, node: nodeName, port: agent.port, metricsPort: agent.metricsPort }) + '\n');
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  if (!(e instanceof FlagError) && e?.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && e?.code !== 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') exitOnStartupError('mkube-node-agent', err, startup.context, startup.log);
  process.stderr.write(`mkube-node-agent: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  if (e instanceof FlagError) process.stderr.write(`\n${USAGE}\n`);
  process.exit(e instanceof FlagError ? 2 : 1);
});

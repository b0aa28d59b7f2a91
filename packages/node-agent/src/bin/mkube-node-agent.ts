#!/usr/bin/env node
// mkube-node-agent: the node agent (kubelet) of one node.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { exitOnStartupError, loadingFile, StartupFailure, type StartupContext } from '@mkube/api';
import { loadKubeconfig } from '@mkube/client';
import {
  componentFlagDefs, createLogger, FlagError, formatUsage, parseComponentFlags, parseGoDuration, requireKubeconfig, type FlagDefs, type Logger,
} from '@mkube/component-base';
import { NodeAgent } from '../agent.js';
import { bootstrapClientConfig, initialServingPair, NodeCertificates } from '../certificates/node_certificates.js';
import { POD_NETWORK_MODES, type PodNetworkMode } from '../network_vxlan.js';
import { parseLabels, parseReserved, parseTaints } from '../node_status.js';

const BINARY = 'mkube-node-agent';
const SYNOPSIS = '--kubeconfig FILE --node-name NAME --node-ip IP --container-runtime-endpoint unix:///PATH [flags]';

// The common component flags (--kubeconfig, --v/--log-level, --bind-address for the metrics and
// health endpoint, alias --metrics-bind-address) and the agent's own.
const COMMON = { bindAddress: '127.0.0.1' };
const FLAGS = {
    'node-name': { type: 'string', arg: 'NAME', usage: 'The Node to register.' },
    'node-ip': { type: 'string', arg: 'IP', usage: 'InternalIP, status.hostIP of pods.' },
    'container-runtime-endpoint': { type: 'string', arg: 'URL', usage: 'CRI socket, unix:///absolute/path.' },
    'root-dir': { type: 'string', default: '/var/lib/mkube-agent', arg: 'DIR', usage: 'State dir.' },
    'pod-logs-dir': { type: 'string', arg: 'DIR', usage: 'Pod log root (default /var/log/pods).' },
    'cgroup-root': { type: 'string', arg: 'PATH', usage: 'cgroup parent of pods (default /<node-name>).' },
    'pod-cidr': { type: 'string', arg: 'CIDR', usage: 'Fallback when the Node has no spec.podCIDR.' },
    'cni-conf-dir': { type: 'string', arg: 'DIR', usage: 'Write a bridge conflist for the pod CIDR here if none exists.' },
    'cni-bridge': { type: 'string', arg: 'NAME', usage: 'Bridge of that conflist (default cni-mk0).' },
    'no-routes': { type: 'boolean', usage: 'Do not program host-gw routes to other nodes.' },
    'pod-network-mode': { type: 'string', default: 'host-gw', arg: 'host-gw|vxlan|auto', usage: 'How pods reach other nodes: host-gw routes, a VXLAN overlay (device mkube.1, UDP 8472), or auto (host-gw to nodes on the same subnet, VXLAN to the others).' },
    'proxy-mode': { type: 'string', default: 'iptables', arg: 'iptables|none', usage: 'The service proxy: DNAT from cluster IPs to ready endpoints in the nat table of this network namespace.' },
    'network-policy': { type: 'string', default: 'iptables', arg: 'iptables|none', usage: 'NetworkPolicy enforcement for this node\'s pods in the filter table of this network namespace (needs --proxy-mode iptables).' },
    'lb-announce': { type: 'boolean', usage: 'Announce the LoadBalancer Service addresses elected to this node (L2 mode: the address on the node IP\'s interface and gratuitous ARP), as MetalLB\'s speaker.' },
    'node-labels': { type: 'string', arg: 'k=v,...', usage: 'Extra labels at registration.' },
    'node-role': { type: 'string', arg: 'ROLE', usage: 'Adds node-role.kubernetes.io/ROLE.' },
    'register-with-taints': { type: 'string', arg: 'k=v:Effect,...', usage: 'Taints at registration.' },
    'system-reserved': { type: 'string', arg: 'cpu=100m,memory=256Mi,ephemeral-storage=1Gi', usage: 'Resources kept from pods.' },
    'max-pods': { type: 'int', usage: 'Pods this node runs at most (default 110).' },
    'runtime-start-concurrency': { type: 'int', usage: 'RunPodSandbox/CreateContainer/StartContainer calls in flight (default 4, 0 = unbounded).' },
    port: { type: 'int', default: '10250', usage: 'HTTPS endpoint for logs/exec (0 = any).' },
    'tls-cert-file': { type: 'string', arg: 'FILE', usage: 'Serving certificate of that endpoint.' },
    'tls-private-key-file': { type: 'string', arg: 'FILE', usage: 'Its key.' },
    'cluster-ca-cert': { type: 'string', arg: 'FILE', usage: 'Issue the serving certificate from the cluster CA instead (with --cluster-ca-key).' },
    'cluster-ca-key': { type: 'string', arg: 'FILE', usage: 'Key of the cluster CA.' },
    'client-ca-file': { type: 'string', arg: 'FILE', usage: "CA of callers (default: the kubeconfig's CA)." },
    'bootstrap-kubeconfig': { type: 'string', arg: 'FILE', usage: 'A kubeconfig with a bootstrap token: when --kubeconfig has no valid client certificate, one is requested through a kube-apiserver-client-kubelet CSR and --kubeconfig is written (0600).' },
    'cert-dir': { type: 'string', arg: 'DIR', usage: 'Where certificates from the CSR API are kept (default <root-dir>/pki).' },
    'rotate-certificates': { type: 'boolean', usage: 'Renew the client certificate through the CSR API at 70-90% of its lifetime.' },
    'rotate-server-certificates': { type: 'boolean', usage: 'The serving certificate through kubernetes.io/kubelet-serving CSRs (SANs: node name and IP), renewed at 70-90% of its lifetime.' },
    'metrics-port': { type: 'int', default: '10255', usage: 'Port of /metrics, /healthz, /livez and /readyz (0 = any, -1 = off).' },
    'node-lease-renew-interval': { type: 'string', default: '10', arg: 'SECONDS|duration', usage: 'Node Lease renewal period (seconds, or a duration such as 10s).' },
    'node-status-update-frequency': { type: 'string', default: '60', arg: 'SECONDS|duration', usage: 'Node status report period (seconds, or a duration such as 1m).' },
    'cluster-dns': { type: 'string', arg: 'IP,...', usage: 'The cluster DNS service IP(s): the nameservers of pods with dnsPolicy ClusterFirst (none: they fall back to Default).' },
    'cluster-domain': { type: 'string', default: 'cluster.local', arg: 'DOMAIN', usage: 'The cluster domain; pods search <ns>.svc.DOMAIN svc.DOMAIN DOMAIN.' },
    'resolv-conf': { type: 'string', default: '/etc/resolv.conf', arg: 'FILE', usage: 'The resolver configuration of dnsPolicy Default and the base of ClusterFirst\'s search path ("": none).' },
} as const satisfies FlagDefs;
const USAGE = formatUsage(BINARY, componentFlagDefs(COMMON, FLAGS), SYNOPSIS);

function podNetworkMode(v: string): PodNetworkMode {
  if ((POD_NETWORK_MODES as readonly string[]).includes(v)) return v as PodNetworkMode;
  throw new FlagError(`--pod-network-mode must be host-gw, vxlan or auto, not ${JSON.stringify(v)}`);
}

function proxyMode(v: string): 'iptables' | 'none' {
  if (v === 'iptables' || v === 'none') return v;
  throw new FlagError(`--proxy-mode must be iptables or none, not ${JSON.stringify(v)}`);
}

function networkPolicyMode(v: string): 'iptables' | 'none' {
  if (v === 'iptables' || v === 'none') return v;
  throw new FlagError(`--network-policy must be iptables or none, not ${JSON.stringify(v)}`);
}

/** Seconds as a plain number (as this flag always took) or a Go duration ("10s"), in ms. */
function secondsOrDuration(flag: string, v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  try {
    return parseGoDuration(v);
  } catch (err) {
    throw new FlagError(`invalid argument ${JSON.stringify(v)} for "--${flag}" flag: ${(err as Error).message}`);
  }
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
  const { values: v, common } = parseComponentFlags(BINARY, process.argv.slice(2), COMMON, FLAGS, SYNOPSIS);
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  const need = (k: keyof typeof v): string => {
    const x = v[k];
    if (typeof x !== 'string' || !x) throw new FlagError(`--${k} is required`);
    return x;
  };
  const kubeconfig = requireKubeconfig(common);
  const logger = createLogger({ component: BINARY, level: common.logLevel, destination: 2 });
  const endpoint = need('container-runtime-endpoint');
  if (!endpoint.startsWith('unix:///')) throw new FlagError('--container-runtime-endpoint must be unix:///absolute/path');
  const metricsBind = common.bindAddress;
  const leaseRenewMs = secondsOrDuration('node-lease-renew-interval', v['node-lease-renew-interval']);
  const statusUpdateMs = secondsOrDuration('node-status-update-frequency', v['node-status-update-frequency']);
  const mode = proxyMode(v['proxy-mode']);
  const networkMode = podNetworkMode(v['pod-network-mode']);
  startup.log = logger;
  startup.context = {
    listeners: [{ what: 'node agent server', port: v.port }, { what: 'metrics and health', port: v['metrics-port'], host: metricsBind }],
    files: [{ what: '--kubeconfig', path: kubeconfig }, ...(['tls-cert-file', 'tls-private-key-file', 'cluster-ca-cert', 'cluster-ca-key', 'client-ca-file'] as const)
      .flatMap((k) => (v[k] ? [{ what: `--${k}`, path: v[k]! }] : []))],
  };
  checkRuntimeSocket(endpoint);
  const certDir = v['cert-dir'] ?? join(v['root-dir'], 'pki');
  const bootstrapKubeconfig = v['bootstrap-kubeconfig'];
  const clientConfig = bootstrapKubeconfig
    ? await bootstrapClientConfig({ nodeName: need('node-name'), bootstrapKubeconfig, kubeconfig, certDir, log: logger })
    : loadingFile('--kubeconfig', kubeconfig, () => loadKubeconfig(kubeconfig));
  let tls: { cert: string; key: string } | { caCertFile: string; caKeyFile: string };
  const serving = v['rotate-server-certificates'] ? await initialServingPair(certDir, need('node-name'), need('node-ip')) : undefined;
  if (serving) {
    tls = { cert: serving.certPem, key: serving.keyPem };
  } else if (v['tls-cert-file'] || v['tls-private-key-file']) {
    tls = { cert: readFileSync(need('tls-cert-file'), 'utf8'), key: readFileSync(need('tls-private-key-file'), 'utf8') };
  } else if (v['cluster-ca-cert'] || v['cluster-ca-key']) {
    tls = { caCertFile: need('cluster-ca-cert'), caKeyFile: need('cluster-ca-key') };
  } else throw new FlagError('either --tls-cert-file/--tls-private-key-file, --cluster-ca-cert/--cluster-ca-key or --rotate-server-certificates is required');

  const nodeName = need('node-name');
  const stopProfile = await startCpuProfile(process.env.MKUBE_CPU_PROF_DIR, nodeName);
  const agent = new NodeAgent({
    clientConfig,
    nodeName,
    nodeIP: need('node-ip'),
    criEndpoint: endpoint,
    rootDir: v['root-dir'],
    podLogsDir: v['pod-logs-dir'],
    cgroupRoot: v['cgroup-root'],
    podCIDR: v['pod-cidr'],
    cniConfDir: v['cni-conf-dir'],
    cniBridge: v['cni-bridge'],
    manageRoutes: !v['no-routes'],
    podNetworkMode: networkMode,
    proxyMode: mode,
    lbAnnounce: v['lb-announce'] === true,
    networkPolicy: networkPolicyMode(v['network-policy']) === 'iptables' && mode === 'iptables',
    labels: parseLabels(v['node-labels']),
    role: v['node-role'],
    taints: parseTaints(v['register-with-taints']),
    reserved: parseReserved(v['system-reserved']),
    maxPods: v['max-pods'],
    port: v.port,
    tls,
    clientCA: v['client-ca-file'] ? readFileSync(v['client-ca-file'], 'utf8') : undefined,
    metricsPort: v['metrics-port'],
    metricsBindAddress: metricsBind,
    leaseRenewMs,
    statusUpdateMs,
    logger,
    engine: {
      ...(v['runtime-start-concurrency'] !== undefined ? { startConcurrency: v['runtime-start-concurrency'] } : {}),
      clusterDNS: (v['cluster-dns'] ?? '').split(',').map((x) => x.trim()).filter(Boolean),
      clusterDomain: v['cluster-domain'],
      resolvConf: v['resolv-conf'],
    },
  });
  let certificates: NodeCertificates | undefined;
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    certificates?.stop();
    logger.info({ sig }, 'stopping (pods keep running)');
    agent.stop().then(
      () => stopProfile().finally(() => process.exit(0)),
      (err: unknown) => {
        logger.error({ err }, 'stopping failed');
        void stopProfile().finally(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await agent.start();
  if (v['rotate-certificates'] || serving) {
    certificates = new NodeCertificates({
      nodeName, nodeIP: need('node-ip'), certDir, client: agent.client, log: logger,
      rotateClient: v['rotate-certificates'] === true, rotateServer: serving !== undefined, serving: serving ?? { certPem: '', keyPem: '', placeholder: false },
      setServingPair: (pair) => agent.server.setCertificate({ cert: pair.certPem, key: pair.keyPem }),
    });
    certificates.start();
    // SIGHUP renews both certificates now (an operator's forced renewal; the rotation tests use it).
    process.on('SIGHUP', () => void certificates!.rotateNow().catch((err: unknown) => logger.error({ err }, 'forced certificate renewal failed')));
  }
  // One machine-readable line for supervisors and tests.
  process.stdout.write(JSON.stringify({ ready: true, node: nodeName, port: agent.port, metricsPort: agent.metricsPort }) + '\n');
}

main().catch((err: unknown) => {
  // A flag that does not parse: the message and the usage, exit 2 (as Go's flag package); anything else is a start-up failure, exit 1.
  if (!(err instanceof FlagError)) exitOnStartupError(BINARY, err, startup.context, startup.log);
  process.stderr.write(`${BINARY}: ${err.message}\n\n${USAGE}`);
  process.exit(2);
});

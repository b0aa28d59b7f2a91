#!/usr/bin/env node
/** mkube-dns: the cluster DNS server (Services and Pods by upstream's DNS specification; other names forwarded). */
import { createLogger, parseComponentFlags, requireKubeconfig } from '@mkube/component-base';
import { exitOnStartupError, loadingFile, usageErrorsExit2 } from '@mkube/api';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { ClusterDns } from '../cluster_dns.js';

const BINARY = 'mkube-dns';
const { values, common, usage } = usageErrorsExit2(BINARY, () =>
  parseComponentFlags(BINARY, process.argv.slice(2), { bindAddress: '127.0.0.1' }, {
    'dns-bind-address': { type: 'string', default: '0.0.0.0', arg: 'IP', usage: 'The address the DNS server listens on (UDP and TCP).' },
    'dns-port': { type: 'int', default: '53', usage: 'The DNS port (UDP and TCP; 0: any free port).' },
    'metrics-port': { type: 'int', default: '9153', usage: 'Port of /metrics, /healthz, /livez and /readyz (0: any free port, -1: off).' },
    'cluster-domain': { type: 'string', default: 'cluster.local', usage: 'The cluster domain served.' },
    upstream: { type: 'string', default: '', usage: 'Comma-separated upstream nameservers (host or host:port) for other names; default: the nameservers of --resolv-conf.' },
    'resolv-conf': { type: 'string', default: '/etc/resolv.conf', usage: 'The resolv.conf whose nameservers other names are forwarded to.' },
    'exclude-upstream': { type: 'string', default: '', usage: 'Comma-separated addresses never forwarded to (the cluster DNS service IP, to avoid loops).' },
    ttl: { type: 'int', default: '5', usage: 'TTL in seconds of the cluster records.' },
  }),
);
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const log = createLogger({ component: BINARY, level: common.logLevel });
const kubeconfigPath = usageErrorsExit2(BINARY, () => requireKubeconfig(common));
const context = {
  listeners: [
    { what: 'DNS', port: values['dns-port'], host: values['dns-bind-address'] },
    { what: 'metrics and health', port: values['metrics-port'], host: common.bindAddress },
  ],
  files: [{ what: '--kubeconfig', path: kubeconfigPath }],
};
let kubeconfig;
try {
  kubeconfig = loadingFile('--kubeconfig', kubeconfigPath, () => loadKubeconfig(kubeconfigPath));
} catch (err) {
  exitOnStartupError(BINARY, err, context, log);
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const { hostResolvers } = await import('../forwarder.js');
const upstreams = values.upstream ? list(values.upstream) : hostResolvers(values['resolv-conf']);
const client = new KubeClient({ ...kubeconfig, userAgent: 'mkube-dns/0.1' });
const dns = new ClusterDns({
  client,
  log,
  domain: values['cluster-domain'],
  dnsHost: values['dns-bind-address'],
  dnsPort: values['dns-port'],
  metricsHost: common.bindAddress,
  metricsPort: values['metrics-port'],
  ttl: values.ttl,
  forwarder: { upstreams, exclude: list(values['exclude-upstream']) },
});
await dns.start().catch((err: unknown) => exitOnStartupError(BINARY, err, context, log));
log.info({ dnsPort: dns.dnsPort, metricsPort: dns.metricsPort, domain: values['cluster-domain'], upstreams: dns.forwarder.upstreamCount }, 'mkube-dns started');
if (dns.forwarder.upstreamCount === 0) log.warn('no upstream nameserver: names outside the cluster get SERVFAIL');

const shutdown = (signal: string) => {
  log.info({ signal }, 'shutting down');
  void dns.stop().finally(() => {
    client.close();
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

#!/usr/bin/env node
/** mkube-dns: the cluster DNS server (Services and Pods by upstream's DNS specification; other names forwarded). */
import { createLogger, parseComponentFlags } from '@mkube/component-base';
import { usageErrorsExit2 } from '@mkube/api';
import { exitOnHelp, runClientComponent } from '@mkube/client';
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
exitOnHelp(values.help, usage);
const log = createLogger({ component: BINARY, level: common.logLevel });
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const { hostResolvers } = await import('../forwarder.js');
await runClientComponent({
  binary: BINARY,
  common,
  log,
  context: {
    listeners: [
      { what: 'DNS', port: values['dns-port'], host: values['dns-bind-address'] },
      { what: 'metrics and health', port: values['metrics-port'], host: common.bindAddress },
    ],
  },
  start: async (client) => {
    const upstreams = values.upstream ? list(values.upstream) : hostResolvers(values['resolv-conf']);
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
    await dns.start();
    if (dns.forwarder.upstreamCount === 0) log.warn('no upstream nameserver: names outside the cluster get SERVFAIL');
    return { stop: () => dns.stop(), fields: { dnsPort: dns.dnsPort, metricsPort: dns.metricsPort, domain: values['cluster-domain'], upstreams: dns.forwarder.upstreamCount } };
  },
});

// A pod's resolv.conf as kubelet's dns.Configurer forms it (GetPodDNS): the base by dnsPolicy —
// ClusterFirst (and ClusterFirstWithHostNet): the cluster DNS servers, the search path
// `<ns>.svc.<domain> svc.<domain> <domain>` followed by the host's, `options ndots:5`; Default (and
// ClusterFirst on the host network, or without a cluster DNS — a MissingClusterDNS warning): the
// host's resolv.conf; None: empty — then the pod's dnsConfig appended (nameservers and searches
// without duplicates, options merged by name, the pod's winning), then upstream's limits: 3
// nameservers, 32 search domains of at most 253 characters and a 2048-character search line, each cut
// reported as a DNSConfigForming warning with upstream's message. Pure: the host file is passed in.
import type { DNSConfig } from '../cri/types.js';
import type { AgentPod } from '../api_types.js';

export const MAX_DNS_NAMESERVERS = 3;
/** validation.MaxDNSSearchPathsExpanded / MaxDNSSearchListCharsExpanded (ExpandedDNSConfig, GA since 1.28). */
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
const DNS1123_SUBDOMAIN_MAX = 253;
const DEFAULT_DNS_OPTIONS = ['ndots:5'];

export interface DnsWarning {
  /** Where upstream records the event: on the pod, or on the node too (MissingClusterDNS). */
  on: 'pod' | 'node';
  reason: 'DNSConfigForming' | 'MissingClusterDNS';
  message: string;
}

export interface PodDnsContext {
  clusterDNS: string[];
  clusterDomain: string;
  /** The host's resolv.conf, parsed (parseResolvConf); undefined when --resolv-conf is "". */
  host: DNSConfig | undefined;
}

/** parseResolvConf: nameserver lines accumulate; the last search and options lines win; comments skipped; trailing dots of search domains dropped. */
export function parseResolvConf(text: string): DNSConfig {
  const cfg: DNSConfig = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('#')) continue;
    const f = t.split(/\s+/).filter(Boolean);
    if (f.length === 0) continue;
    if (f[0] === 'nameserver' && f[1]) cfg.servers.push(f[1]);
    else if (f[0] === 'search') cfg.searches = f.slice(1).map((s) => s.replace(/\.$/, ''));
    else if (f[0] === 'options') cfg.options = f.slice(1);
  }
  return cfg;
}

const omitDuplicates = (xs: string[]): string[] => [...new Set(xs)];

/** mergeDNSOptions: the pod's options override the base's of the same name. */
function mergeOptions(base: string[], pod: { name?: string; value?: string }[]): string[] {
  const m = new Map<string, string>();
  for (const o of base) {
    const i = o.indexOf(':');
    if (i >= 0) m.set(o.slice(0, i), o.slice(i + 1));
    else m.set(o, '');
  }
  for (const o of pod) if (o.name) m.set(o.name, o.value ?? '');
  return [...m].map(([k, v]) => (v ? `${k}:${v}` : k));
}

function fitSearches(searches: string[], warn: (m: string) => void): string[] {
  let exceeded = false;
  let out = searches;
  if (out.length > MAX_DNS_SEARCH_PATHS) {
    out = out.slice(0, MAX_DNS_SEARCH_PATHS);
    exceeded = true;
  }
  const kept = out.filter((s) => s.length <= DNS1123_SUBDOMAIN_MAX);
  if (kept.length !== out.length) exceeded = true;
  out = kept;
  const len = out.join(' ').length;
  if (len > MAX_DNS_SEARCH_LIST_CHARS) {
    let cut = 0;
    let cutLen = 0;
    for (let i = out.length - 1; i >= 0; i--) {
      cutLen += out[i]!.length + 1;
      cut++;
      if (len - cutLen <= MAX_DNS_SEARCH_LIST_CHARS) break;
    }
    out = out.slice(0, out.length - cut);
    exceeded = true;
  }
  if (exceeded) warn(`Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${out.join(' ')}`);
  return out;
}

/** The pod's DNS configuration and the warnings kubelet records while forming it. */
export function podDnsConfig(pod: AgentPod, ctx: PodDnsContext): { config: DNSConfig; warnings: DnsWarning[] } {
  const warnings: DnsWarning[] = [];
  const host = ctx.host ?? { servers: [], searches: [], options: [] };
  let cfg: DNSConfig = { servers: [...host.servers], searches: [...host.searches], options: [...host.options] };
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec.hostNetwork);
  if (policy === 'None') {
    cfg = { servers: [], searches: [], options: [] };
  } else if (cluster && ctx.clusterDNS.length > 0) {
    const d = ctx.clusterDomain;
    const ns = pod.metadata.namespace ?? 'default';
    cfg.servers = [...ctx.clusterDNS];
    cfg.searches = d ? omitDuplicates([`${ns}.svc.${d}`, `svc.${d}`, d, ...host.searches]) : host.searches;
    cfg.options = [...DEFAULT_DNS_OPTIONS];
  } else {
    if (cluster) {
      const msg = 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';
      warnings.push({ on: 'node', reason: 'MissingClusterDNS', message: msg });
      warnings.push({ on: 'pod', reason: 'MissingClusterDNS', message: `pod: "${pod.metadata.name}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid})". ${msg}` });
    }
    if (ctx.host === undefined) {
      // --resolv-conf "": lookups go to the node itself.
      cfg = { servers: ['127.0.0.1'], searches: ['.'], options: [] };
    }
  }
  const extra = pod.spec.dnsConfig;
  if (extra) {
    cfg.servers = omitDuplicates([...cfg.servers, ...(extra.nameservers ?? [])]);
    cfg.searches = omitDuplicates([...cfg.searches, ...(extra.searches ?? [])]);
    cfg.options = mergeOptions(cfg.options, extra.options ?? []);
  }
  if (cfg.servers.length > MAX_DNS_NAMESERVERS) {
    cfg.servers = cfg.servers.slice(0, MAX_DNS_NAMESERVERS);
    warnings.push({ on: 'pod', reason: 'DNSConfigForming', message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${cfg.servers.join(' ')}` });
  }
  cfg.searches = fitSearches(cfg.searches, (message) => warnings.push({ on: 'pod', reason: 'DNSConfigForming', message }));
  return { config: cfg, warnings };
}

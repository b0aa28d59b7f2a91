// The rules of the service proxy (DESIGN.md "Services"), as iptables-restore
// input. nat table: traffic to a Service's cluster IP and port, or to its node
// port on any address of the node, is DNATed to one of its ready endpoints,
// chosen at random with equal weight (the statistic module, as kube-proxy's
// iptables mode does); node-port traffic and a pod reaching itself through its
// Service (hairpin) are masqueraded. filter table: a service port without
// endpoints is refused. Pure: objects in, text out. Every Service and
// Endpoints is re-checked by sink_guard.ts first: one with a value that is not
// an IP, port, protocol or name is left out (reported to `onRefused`), the
// others' rules are produced as usual.
import { createHash } from 'node:crypto';
import { checkEndpoints, checkService, safeIPFamily, screen, type SinkRefusal } from './sink_guard.js';

export const SERVICES_CHAIN = 'MKUBE-SERVICES';
export const NODEPORTS_CHAIN = 'MKUBE-NODEPORTS';
export const POSTROUTING_CHAIN = 'MKUBE-POSTROUTING';
export const MASQ_MARK = '0x4000/0x4000';
const SVC_PREFIX = 'MKUBE-SVC-';
const SEP_PREFIX = 'MKUBE-SEP-';

export interface ServicePortLike {
  name?: string;
  protocol?: string;
  port: number;
  nodePort?: number;
}
export interface ServiceLike {
  metadata: { namespace?: string; name: string };
  spec?: { clusterIP?: string; type?: string; ports?: ServicePortLike[] };
}
export interface EndpointsLike {
  metadata: { namespace?: string; name: string };
  subsets?: Array<{ addresses?: Array<{ ip: string }>; ports?: Array<{ name?: string; port: number; protocol?: string }> }>;
}

/** A chain name of at most 28 characters (iptables' limit) for `key`. */
function chainName(prefix: string, key: string): string {
  return prefix + createHash('sha256').update(key).digest('hex').slice(0, 16).toUpperCase();
}

export function isProxyChain(name: string): boolean {
  return /^MKUBE-(SVC|SEP)-[0-9A-F]{16}$/.test(name);
}

/** Called for each Service or Endpoints left out of the rules. */
export type RefusalHandler = (r: SinkRefusal) => void;

interface Backend {
  ip: string;
  port: number;
}

/** Ready backends of each service port: "ns/name:port/proto" → addresses with the endpoint's port. */
export interface ServicePortBackends {
  key: string;
  clusterIP: string;
  port: number;
  protocol: string;
  /** The node port (Services of type NodePort and LoadBalancer), or 0. */
  nodePort: number;
  backends: Backend[];
}

export function backendsByServicePort(allServices: ServiceLike[], allEndpoints: EndpointsLike[], onRefused?: RefusalHandler): ServicePortBackends[] {
  const services = screen(allServices, checkService, onRefused);
  const endpoints = screen(allEndpoints, checkEndpoints, onRefused);
  const eps = new Map(endpoints.map((e) => [`${e.metadata.namespace ?? 'default'}/${e.metadata.name}`, e]));
  const out: ServicePortBackends[] = [];
  for (const s of services) {
    const clusterIP = s.spec?.clusterIP;
    if (!clusterIP || clusterIP === 'None' || s.spec?.type === 'ExternalName') continue;
    // The rules are IPv4 iptables: IPv6 cluster IPs and endpoints are another table's (ip6tables) business.
    if (safeIPFamily(clusterIP) !== 4) continue;
    const id = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    const ep = eps.get(id);
    for (const p of s.spec?.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toUpperCase();
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const backends: Backend[] = [];
      for (const subset of ep?.subsets ?? []) {
        // The Endpoints port of a service port has its name (the only port when unnamed).
        const ports = subset.ports ?? [];
        const match = ports.find((x) => (x.name ?? '') === (p.name ?? '') && (x.protocol ?? 'TCP').toUpperCase() === protocol) ?? (ports.length === 1 && !p.name ? ports[0] : undefined);
        if (!match) continue;
        for (const a of subset.addresses ?? []) if (safeIPFamily(a.ip) === 4) backends.push({ ip: a.ip, port: match.port });
      }
      backends.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
      const exposed = s.spec?.type === 'NodePort' || s.spec?.type === 'LoadBalancer';
      out.push({ key: `${id}:${p.port}/${protocol}`, clusterIP, port: p.port, protocol, nodePort: exposed && p.nodePort ? p.nodePort : 0, backends });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * iptables-restore input (for --noflush) that replaces the proxy's chains:
 * `existing` are the proxy chains now in the table; those no longer needed are
 * flushed and deleted.
 */
export function natRestoreInput(services: ServiceLike[], endpoints: EndpointsLike[], existing: string[] = [], onRefused?: RefusalHandler): string {
  const declare: string[] = [SERVICES_CHAIN, NODEPORTS_CHAIN, POSTROUTING_CHAIN];
  const rules: string[] = [`-A ${POSTROUTING_CHAIN} -m mark --mark ${MASQ_MARK} -j MASQUERADE`];
  const nodePortRules: string[] = [];
  for (const sp of backendsByServicePort(services, endpoints, onRefused)) {
    if (sp.backends.length === 0) continue;
    const proto = sp.protocol.toLowerCase();
    const svc = chainName(SVC_PREFIX, sp.key);
    declare.push(svc);
    rules.push(`-A ${SERVICES_CHAIN} -d ${sp.clusterIP}/32 -p ${proto} -m ${proto} --dport ${sp.port} -m comment --comment "${sp.key}" -j ${svc}`);
    if (sp.nodePort) {
      // Traffic to a node port may come from anywhere and its backend may be on another node: masqueraded,
      // so that the answer comes back through this node.
      nodePortRules.push(`-A ${NODEPORTS_CHAIN} -p ${proto} -m ${proto} --dport ${sp.nodePort} -m comment --comment "${sp.key}" -j MARK --set-xmark ${MASQ_MARK}`);
      nodePortRules.push(`-A ${NODEPORTS_CHAIN} -p ${proto} -m ${proto} --dport ${sp.nodePort} -m comment --comment "${sp.key}" -j ${svc}`);
    }
    const n = sp.backends.length;
    sp.backends.forEach((b, i) => {
      const sep = chainName(SEP_PREFIX, `${sp.key}@${b.ip}:${b.port}`);
      declare.push(sep);
      const left = n - i;
      rules.push(left > 1 ? `-A ${svc} -m statistic --mode random --probability ${(1 / left).toFixed(10)} -j ${sep}` : `-A ${svc} -j ${sep}`);
      rules.push(`-A ${sep} -s ${b.ip}/32 -j MARK --set-xmark ${MASQ_MARK}`);
      rules.push(`-A ${sep} -p ${proto} -m ${proto} -j DNAT --to-destination ${b.ip}:${b.port}`);
    });
  }
  // Node ports last: any address of this node (after the cluster IPs).
  rules.push(`-A ${SERVICES_CHAIN} -m addrtype --dst-type LOCAL -j ${NODEPORTS_CHAIN}`, ...nodePortRules);
  const wanted = new Set(declare);
  const stale = existing.filter((c) => isProxyChain(c) && !wanted.has(c));
  const lines = ['*nat', ...[...declare, ...stale].map((c) => `:${c} - [0:0]`), ...rules, ...stale.map((c) => `-X ${c}`), 'COMMIT', ''];
  return lines.join('\n');
}

/**
 * iptables-restore input (for --noflush) for the filter table: connections to a
 * service port without ready endpoints are refused at once (ICMP port
 * unreachable: "connection refused"), as kube-proxy does, instead of waiting out
 * a timeout on an address nothing answers.
 */
export function filterRestoreInput(services: ServiceLike[], endpoints: EndpointsLike[], onRefused?: RefusalHandler): string {
  const rules: string[] = [];
  for (const sp of backendsByServicePort(services, endpoints, onRefused)) {
    if (sp.backends.length > 0) continue;
    const proto = sp.protocol.toLowerCase();
    rules.push(`-A ${SERVICES_CHAIN} -d ${sp.clusterIP}/32 -p ${proto} -m ${proto} --dport ${sp.port} -m comment --comment "${sp.key} has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
  }
  return ['*filter', `:${SERVICES_CHAIN} - [0:0]`, ...rules, 'COMMIT', ''].join('\n');
}

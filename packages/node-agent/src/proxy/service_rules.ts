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
// Issue 14's completions: external IPs and load-balancer ingress IPs are DNATed as node ports are
// (masqueraded, then the service chain); `sessionAffinity: ClientIP` pins a client address to an
// endpoint with the `recent` module for timeoutSeconds, as kube-proxy does; `externalTrafficPolicy:
// Local` sends node-port, external-IP and LB traffic only to this node's endpoints without
// masquerade (source IP kept; traffic from the node itself, masqueraded, and from this node's pods —
// kube-proxy's NodeCIDR local-traffic detection — still reaches any endpoint);
// `internalTrafficPolicy: Local` sends cluster-IP traffic only to this node's endpoints; endpoints
// are categorised as upstream's CategorizeEndpoints: ready ones, else the serving terminating ones,
// chosen separately for the cluster-wide and the node-local set.
import { createHash } from 'node:crypto';
import { isSafeIPv4Cidr, safeIPFamily, screen, type SinkRefusal } from './sink_guard.js';
import { checkEndpointsTopology as checkEndpoints, checkServiceTraffic as checkService, DEFAULT_AFFINITY_SECONDS } from './traffic_guard.js';

export const SERVICES_CHAIN = 'MKUBE-SERVICES';
export const NODEPORTS_CHAIN = 'MKUBE-NODEPORTS';
export const POSTROUTING_CHAIN = 'MKUBE-POSTROUTING';
export const MASQ_MARK = '0x4000/0x4000';
const SVC_PREFIX = 'MKUBE-SVC-';
const SEP_PREFIX = 'MKUBE-SEP-';
const SVL_PREFIX = 'MKUBE-SVL-';
const EXT_PREFIX = 'MKUBE-EXT-';

export interface ServicePortLike {
  name?: string;
  protocol?: string;
  port: number;
  nodePort?: number;
}
export interface ServiceLike {
  metadata: { namespace?: string; name: string };
  spec?: {
    clusterIP?: string;
    type?: string;
    ports?: ServicePortLike[];
    externalIPs?: string[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    healthCheckNodePort?: number;
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } };
}
export interface EndpointAddressLike {
  ip: string;
  nodeName?: string;
}
export interface EndpointsLike {
  metadata: { namespace?: string; name: string };
  subsets?: Array<{
    addresses?: EndpointAddressLike[];
    /** Not an Endpoints field: the serving terminating endpoints of EndpointSlices (slice_endpoints.ts), used when none is ready. */
    terminatingAddresses?: EndpointAddressLike[];
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
  }>;
}

/** A chain name of at most 28 characters (iptables' limit) for `key`. */
function chainName(prefix: string, key: string): string {
  return prefix + createHash('sha256').update(key).digest('hex').slice(0, 16).toUpperCase();
}

export function isProxyChain(name: string): boolean {
  return /^MKUBE-(SVC|SEP|SVL|EXT)-[0-9A-F]{16}$/.test(name);
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
  /** This node's endpoints (ready, else serving terminating); empty without a node name. */
  localBackends: Backend[];
  /** External IPs and load-balancer ingress IPs (IPv4), sorted, without duplicates. */
  externalIPs: string[];
  /** `sessionAffinity: ClientIP`'s timeout in seconds, 0 without affinity. */
  affinitySeconds: number;
  externalLocal: boolean;
  internalLocal: boolean;
}

const byAddress = (a: Backend, b: Backend) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1);

/** Ready backends, else the serving terminating ones (upstream's CategorizeEndpoints). */
function usable(ready: Backend[], terminating: Backend[]): Backend[] {
  return (ready.length > 0 ? ready : terminating).sort(byAddress);
}

export function backendsByServicePort(allServices: ServiceLike[], allEndpoints: EndpointsLike[], onRefused?: RefusalHandler, nodeName?: string): ServicePortBackends[] {
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
      const ready: Backend[] = [];
      const terminating: Backend[] = [];
      const readyLocal: Backend[] = [];
      const terminatingLocal: Backend[] = [];
      for (const subset of ep?.subsets ?? []) {
        // The Endpoints port of a service port has its name (the only port when unnamed).
        const ports = subset.ports ?? [];
        const match = ports.find((x) => (x.name ?? '') === (p.name ?? '') && (x.protocol ?? 'TCP').toUpperCase() === protocol) ?? (ports.length === 1 && !p.name ? ports[0] : undefined);
        if (!match) continue;
        const add = (addresses: EndpointAddressLike[] | undefined, all: Backend[], local: Backend[]) => {
          for (const a of addresses ?? []) {
            if (safeIPFamily(a.ip) !== 4) continue;
            all.push({ ip: a.ip, port: match.port });
            if (nodeName && a.nodeName === nodeName) local.push({ ip: a.ip, port: match.port });
          }
        };
        add(subset.addresses, ready, readyLocal);
        add(subset.terminatingAddresses, terminating, terminatingLocal);
      }
      const exposed = s.spec?.type === 'NodePort' || s.spec?.type === 'LoadBalancer';
      const externalIPs = [...(s.spec?.externalIPs ?? []), ...(s.spec?.type === 'LoadBalancer' ? (s.status?.loadBalancer?.ingress ?? []).map((g) => g.ip ?? '') : [])];
      out.push({
        key: `${id}:${p.port}/${protocol}`,
        clusterIP,
        port: p.port,
        protocol,
        nodePort: exposed && p.nodePort ? p.nodePort : 0,
        backends: usable(ready, terminating),
        localBackends: usable(readyLocal, terminatingLocal),
        externalIPs: [...new Set(externalIPs.filter((ip) => safeIPFamily(ip) === 4))].sort(),
        affinitySeconds: s.spec?.sessionAffinity === 'ClientIP' ? (s.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : 0,
        externalLocal: s.spec?.externalTrafficPolicy === 'Local' && (exposed || externalIPs.length > 0),
        internalLocal: s.spec?.internalTrafficPolicy === 'Local',
      });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The rules spreading over `backends` from chain `chain`: with session affinity, first a jump to the
 * endpoint this client address used within the timeout (`recent --rcheck`), then the random spread.
 */
function spreadRules(chain: string, sp: ServicePortBackends, backends: Backend[], declare: Set<string>, rules: string[]): void {
  const proto = sp.protocol.toLowerCase();
  const seps = backends.map((b) => ({ b, sep: chainName(SEP_PREFIX, `${sp.key}@${b.ip}:${b.port}`) }));
  if (sp.affinitySeconds > 0) {
    for (const { sep } of seps) rules.push(`-A ${chain} -m recent --name ${sep} --mask 255.255.255.255 --rsource --rcheck --seconds ${sp.affinitySeconds} --reap -j ${sep}`);
  }
  const n = seps.length;
  seps.forEach(({ b, sep }, i) => {
    const left = n - i;
    rules.push(left > 1 ? `-A ${chain} -m statistic --mode random --probability ${(1 / left).toFixed(10)} -j ${sep}` : `-A ${chain} -j ${sep}`);
    if (declare.has(sep)) return;
    declare.add(sep);
    rules.push(`-A ${sep} -s ${b.ip}/32 -j MARK --set-xmark ${MASQ_MARK}`);
    const remember = sp.affinitySeconds > 0 ? ` -m recent --set --name ${sep} --mask 255.255.255.255 --rsource` : '';
    rules.push(`-A ${sep} -p ${proto}${remember} -m ${proto} -j DNAT --to-destination ${b.ip}:${b.port}`);
  });
}

/**
 * iptables-restore input (for --noflush) that replaces the proxy's chains:
 * `existing` are the proxy chains now in the table; those no longer needed are
 * flushed and deleted. `nodeName` is this node's, for the Local traffic policies; `localPodCIDR` its
 * pod CIDR (pods of this node reaching an external address of a Local Service go to every endpoint).
 */
export function natRestoreInput(services: ServiceLike[], endpoints: EndpointsLike[], existing: string[] = [], onRefused?: RefusalHandler, nodeName?: string, localPodCIDR?: string): string {
  const podCIDR = isSafeIPv4Cidr(localPodCIDR) ? localPodCIDR : undefined;
  const declare = new Set<string>([SERVICES_CHAIN, NODEPORTS_CHAIN, POSTROUTING_CHAIN]);
  const rules: string[] = [`-A ${POSTROUTING_CHAIN} -m mark --mark ${MASQ_MARK} -j MASQUERADE`];
  const nodePortRules: string[] = [];
  const externalRules: string[] = [];
  for (const sp of backendsByServicePort(services, endpoints, onRefused, nodeName)) {
    if (sp.backends.length === 0) continue;
    const proto = sp.protocol.toLowerCase();
    const match = `-p ${proto} -m ${proto}`;
    const comment = `-m comment --comment "${sp.key}"`;
    const svc = chainName(SVC_PREFIX, sp.key);
    const svl = chainName(SVL_PREFIX, sp.key);
    const needLocal = sp.internalLocal || sp.externalLocal;
    declare.add(svc);
    spreadRules(svc, sp, sp.backends, declare, rules);
    if (needLocal) {
      declare.add(svl);
      spreadRules(svl, sp, sp.localBackends, declare, rules);
    }
    // Cluster IP: every endpoint, or (internalTrafficPolicy: Local) this node's; none → refused in the filter table.
    if (!sp.internalLocal) rules.push(`-A ${SERVICES_CHAIN} -d ${sp.clusterIP}/32 ${match} --dport ${sp.port} ${comment} -j ${svc}`);
    else if (sp.localBackends.length > 0) rules.push(`-A ${SERVICES_CHAIN} -d ${sp.clusterIP}/32 ${match} --dport ${sp.port} ${comment} -j ${svl}`);
    // Traffic from outside (node port, external IPs, LB IPs). Cluster policy: masqueraded (the backend may be on
    // another node; the answer must come back through this one), then the service chain. Local policy: its own chain
    // that keeps the source address and goes to this node's endpoints only; traffic from this node itself still
    // reaches every endpoint, masqueraded (as kube-proxy's "masquerade LOCAL traffic").
    let target = svc;
    if (sp.externalLocal) {
      target = chainName(EXT_PREFIX, sp.key);
      declare.add(target);
      if (podCIDR) rules.push(`-A ${target} -s ${podCIDR} -m comment --comment "pod traffic for ${sp.key} external destinations" -j ${svc}`);
      rules.push(`-A ${target} -m comment --comment "masquerade LOCAL traffic for ${sp.key}" -m addrtype --src-type LOCAL -j MARK --set-xmark ${MASQ_MARK}`);
      rules.push(`-A ${target} -m comment --comment "route LOCAL traffic for ${sp.key} to the service chain" -m addrtype --src-type LOCAL -j ${svc}`);
      if (sp.localBackends.length > 0) rules.push(`-A ${target} -j ${svl}`);
    }
    const exposeTo = (chain: string, out: string[], dst: string) => {
      if (!sp.externalLocal) out.push(`-A ${chain} ${dst}${match} --dport ${dst ? sp.port : sp.nodePort} ${comment} -j MARK --set-xmark ${MASQ_MARK}`);
      out.push(`-A ${chain} ${dst}${match} --dport ${dst ? sp.port : sp.nodePort} ${comment} -j ${target}`);
    };
    for (const ip of sp.externalIPs) exposeTo(SERVICES_CHAIN, externalRules, `-d ${ip}/32 `);
    if (sp.nodePort) exposeTo(NODEPORTS_CHAIN, nodePortRules, '');
  }
  // External IPs after the cluster IPs; node ports last: any address of this node.
  rules.push(...externalRules, `-A ${SERVICES_CHAIN} -m addrtype --dst-type LOCAL -j ${NODEPORTS_CHAIN}`, ...nodePortRules);
  const stale = existing.filter((c) => isProxyChain(c) && !declare.has(c));
  const lines = ['*nat', ...[...declare, ...stale].map((c) => `:${c} - [0:0]`), ...rules, ...stale.map((c) => `-X ${c}`), 'COMMIT', ''];
  return lines.join('\n');
}

/**
 * iptables-restore input (for --noflush) for the filter table: connections to a
 * service port without ready endpoints are refused at once (ICMP port
 * unreachable: "connection refused"), as kube-proxy does, instead of waiting out
 * a timeout on an address nothing answers. The same for its external IPs, and for
 * the cluster IP of an `internalTrafficPolicy: Local` Service without an endpoint on this node.
 */
export function filterRestoreInput(services: ServiceLike[], endpoints: EndpointsLike[], onRefused?: RefusalHandler, nodeName?: string): string {
  const rules: string[] = [];
  for (const sp of backendsByServicePort(services, endpoints, onRefused, nodeName)) {
    const proto = sp.protocol.toLowerCase();
    const reject = (ip: string, why: string) =>
      rules.push(`-A ${SERVICES_CHAIN} -d ${ip}/32 -p ${proto} -m ${proto} --dport ${sp.port} -m comment --comment "${sp.key} ${why}" -j REJECT --reject-with icmp-port-unreachable`);
    if (sp.backends.length === 0) {
      reject(sp.clusterIP, 'has no endpoints');
      for (const ip of sp.externalIPs) reject(ip, 'has no endpoints');
    } else if (sp.internalLocal && sp.localBackends.length === 0) reject(sp.clusterIP, 'has no local endpoints');
  }
  return ['*filter', `:${SERVICES_CHAIN} - [0:0]`, ...rules, 'COMMIT', ''].join('\n');
}

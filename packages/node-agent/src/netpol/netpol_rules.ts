// NetworkPolicy semantics as iptables-restore input for the filter table (pure: objects in, text
// out). Upstream's model: a pod is isolated for ingress (egress) when any NetworkPolicy of its
// namespace selects it with that policy type; what is allowed is the union of the rules of all
// selecting policies; a rule matches a peer (podSelector in the policy's namespace,
// namespaceSelector, both together, or an ipBlock minus its excepts; no peers = any) and a port
// (protocol with a number, a range up to endPort, or a name resolved per destination pod's container
// ports; no ports = any). Only this node's pods are judged here — ingress on the destination's node,
// egress on the source's node — in the FORWARD path, after the service proxy's DNAT (so traffic to a
// cluster IP is judged on the endpoint's pod IP), replies of allowed connections passing through
// conntrack. Layout:
//   MKUBE-NETPOL        (jumped to from FORWARD): RELATED,ESTABLISHED return; `-s POD -j MKUBE-NPE-…`
//                       per egress-isolated pod, `-d POD -j MKUBE-NPI-…` per ingress-isolated pod
//   MKUBE-NPI-/NPE-…    one per pod and direction: the direction's mark bit cleared, each allowed
//                       peer × port sets it; a packet without it is rejected
//   MKUBE-NPX-…         an ipBlock with excepts: the excepts return first, then the ports mark
// Chain names are "MKUBE-NP?-" + 16 hex digits of a SHA-256 of the pod's uid and direction (26
// characters, under iptables' 28). Every value comes through netpol_guard.ts first.
import { createHash } from 'node:crypto';
import { labelSelectorMatches, type Namespace, type NetworkPolicy, type NetworkPolicyPeer, type NetworkPolicyPort, type Pod } from '@mkube/api';
import { safeIPFamily } from '../proxy/sink_guard.js';
import { formatV4Cidr, parseV4Cidr, v4CidrContains, type NetpolProtocol, type V4Cidr } from './netpol_guard.js';

export const NETPOL_CHAIN = 'MKUBE-NETPOL';
/** The mark bits of an allowed ingress / egress packet (kube-proxy's are 0x4000 and 0x8000). */
export const INGRESS_MARK = '0x10000';
export const EGRESS_MARK = '0x20000';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type Direction = 'Ingress' | 'Egress';

/** One allowed (peer, port) pair of a pod's direction: the peer is the source (ingress) or destination (egress). */
export interface Allow {
  /** Undefined: any address. */
  peer?: V4Cidr;
  except?: V4Cidr[];
  protocol?: NetpolProtocol;
  port?: number;
  endPort?: number;
}

/** What one of this node's pods gets: its address and, per isolated direction, what is allowed. */
export interface PodPolicy {
  key: string;
  uid: string;
  ip: string;
  ingress?: Allow[];
  egress?: Allow[];
}

/** The pod's IPv4 address (the rules are IPv4 iptables), if it has one and takes part in pod networking. */
export function podIPv4(p: Pod): string | undefined {
  if (p.spec?.hostNetwork) return undefined;
  if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return undefined;
  const ips = [p.status?.podIP, ...(p.status?.podIPs ?? []).map((x) => x.ip)];
  return ips.find((ip): ip is string => typeof ip === 'string' && safeIPFamily(ip) === 4);
}

const nsOf = (o: { metadata?: { namespace?: string } }) => o.metadata?.namespace ?? 'default';

function policyTypes(p: NetworkPolicy): Direction[] {
  const t = p.spec?.policyTypes;
  if (t && t.length > 0) return t.filter((x): x is Direction => x === 'Ingress' || x === 'Egress');
  return (p.spec?.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The policy's podSelector selects the pod (absent = empty = every pod of the namespace). */
function selects(p: NetworkPolicy, pod: Pod): boolean {
  return nsOf(p) === nsOf(pod) && labelSelectorMatches(p.spec?.podSelector ?? {}, pod.metadata?.labels ?? {});
}

/** Port numbers named `name` with `protocol` among the pod's container ports. */
function namedPorts(pod: Pod, name: string, protocol: string): number[] {
  const out = new Set<number>();
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === name && (p.protocol ?? 'TCP') === protocol) out.add(p.containerPort);
  return [...out].sort((a, b) => a - b);
}

interface Cluster {
  pods: Pod[];
  namespaces: Map<string, Record<string, string>>;
}

/** The peer pods (with an IPv4 address) a pod/namespace selector peer selects, seen from a policy's namespace. */
function peerPods(c: Cluster, policyNs: string, peer: NetworkPolicyPeer): Pod[] {
  const nsOk = (ns: string): boolean => {
    if (!peer.namespaceSelector) return ns === policyNs;
    const labels = { ...(c.namespaces.get(ns) ?? {}), [NAMESPACE_NAME_LABEL]: ns };
    return c.namespaces.has(ns) && labelSelectorMatches(peer.namespaceSelector, labels);
  };
  return c.pods.filter((p) => podIPv4(p) !== undefined && nsOk(nsOf(p)) && (!peer.podSelector || labelSelectorMatches(peer.podSelector, p.metadata?.labels ?? {})));
}

const host = (ip: string): V4Cidr => parseV4Cidr(`${ip}/32`)!;

/** A peer target of a rule: an address range (any when undefined) and, when known, the pods behind it (for named ports). */
interface Target {
  peer?: V4Cidr;
  except?: V4Cidr[];
  pods: Pod[];
}

function targetsOf(c: Cluster, policyNs: string, peers: NetworkPolicyPeer[] | undefined): Target[] {
  if (!peers || peers.length === 0) return [{ pods: c.pods.filter((p) => podIPv4(p) !== undefined) }];
  const out: Target[] = [];
  for (const peer of peers) {
    if (peer.ipBlock) {
      const cidr = parseV4Cidr(peer.ipBlock.cidr);
      if (!cidr) continue; // IPv6 blocks match no IPv4 traffic
      const except = (peer.ipBlock.except ?? []).map(parseV4Cidr).filter((e): e is V4Cidr => e !== undefined);
      const inside = c.pods.filter((p) => {
        const ip = podIPv4(p);
        return ip !== undefined && v4CidrContains(cidr, ip) && !except.some((e) => v4CidrContains(e, ip));
      });
      out.push({ peer: cidr, except: except.length ? except : undefined, pods: inside });
    } else if (peer.podSelector || peer.namespaceSelector) {
      for (const p of peerPods(c, policyNs, peer)) out.push({ peer: host(podIPv4(p)!), pods: [p] });
    }
  }
  return out;
}

/** The allows of one rule for `pod` in direction `dir`. */
function ruleAllows(c: Cluster, pod: Pod, dir: Direction, policyNs: string, ports: NetworkPolicyPort[] | undefined, peers: NetworkPolicyPeer[] | undefined): Allow[] {
  const targets = targetsOf(c, policyNs, peers);
  const out: Allow[] = [];
  for (const t of targets) {
    const base: Allow = { peer: t.peer, except: t.except };
    if (!ports || ports.length === 0) {
      out.push(base);
      continue;
    }
    for (const p of ports) {
      const protocol = (p.protocol ?? 'TCP') as NetpolProtocol;
      if (p.port === undefined || p.port === null) out.push({ ...base, protocol });
      else if (typeof p.port === 'number') out.push({ ...base, protocol, port: p.port, endPort: p.endPort !== undefined && p.endPort !== null && p.endPort > p.port ? p.endPort : undefined });
      else if (dir === 'Ingress') {
        // The destination is this pod: its own container port of that name.
        for (const n of namedPorts(pod, p.port, protocol)) out.push({ ...base, protocol, port: n });
      } else {
        // The destination is the peer: each peer pod's own port of that name, on that pod's address only.
        for (const peerPod of t.pods) for (const n of namedPorts(peerPod, p.port, protocol)) out.push({ peer: host(podIPv4(peerPod)!), protocol, port: n });
      }
    }
  }
  return out;
}

/**
 * What each of `nodeName`'s pods is allowed, per isolated direction. `policies`, `pods` and
 * `namespaces` are the ones netpol_guard.ts accepted.
 */
export function podPolicies(nodeName: string, policies: NetworkPolicy[], pods: Pod[], namespaces: Namespace[]): PodPolicy[] {
  const c: Cluster = { pods, namespaces: new Map(namespaces.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}])) };
  const out: PodPolicy[] = [];
  for (const pod of pods) {
    const ip = podIPv4(pod);
    if (pod.spec?.nodeName !== nodeName || ip === undefined) continue;
    const key = `${nsOf(pod)}/${pod.metadata?.name ?? ''}`;
    const pp: PodPolicy = { key, uid: pod.metadata?.uid ?? key, ip };
    for (const dir of ['Ingress', 'Egress'] as const) {
      const selecting = policies.filter((p) => selects(p, pod) && policyTypes(p).includes(dir));
      if (selecting.length === 0) continue;
      const allows: Allow[] = [];
      for (const p of selecting) {
        if (dir === 'Ingress') for (const r of p.spec?.ingress ?? []) allows.push(...ruleAllows(c, pod, dir, nsOf(p), r.ports, r.from));
        else for (const r of p.spec?.egress ?? []) allows.push(...ruleAllows(c, pod, dir, nsOf(p), r.ports, r.to));
      }
      pp[dir === 'Ingress' ? 'ingress' : 'egress'] = dedupe(allows);
    }
    if (pp.ingress || pp.egress) out.push(pp);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function dedupe(allows: Allow[]): Allow[] {
  const seen = new Set<string>();
  return allows.filter((a) => {
    const k = JSON.stringify(a);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function chainName(prefix: 'NPI' | 'NPE' | 'NPX', key: string): string {
  return `MKUBE-${prefix}-${createHash('sha256').update(key).digest('hex').slice(0, 16).toUpperCase()}`;
}

export function isNetpolChain(name: string): boolean {
  return name === NETPOL_CHAIN || /^MKUBE-NP[IEX]-[0-9A-F]{16}$/.test(name);
}

function portMatch(a: Allow): string {
  if (!a.protocol) return '';
  const proto = a.protocol.toLowerCase();
  if (a.port === undefined) return ` -p ${proto}`;
  return ` -p ${proto} -m ${proto} --dport ${a.port}${a.endPort !== undefined ? `:${a.endPort}` : ''}`;
}

/**
 * iptables-restore input (`--noflush`) for the filter table: our chains declared (which flushes
 * them) and filled, the chains of ours that `existing` has and the new state has not flushed and
 * deleted. Nothing else of the table is touched.
 */
export function netpolRestoreInput(pods: PodPolicy[], existing: string[]): string {
  const chains: string[] = [NETPOL_CHAIN];
  const rules: string[] = [`-A ${NETPOL_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`];
  const body: string[] = [];
  const jumps = { Egress: [] as string[], Ingress: [] as string[] };
  for (const pod of pods) {
    for (const dir of ['Egress', 'Ingress'] as const) {
      const allows = dir === 'Ingress' ? pod.ingress : pod.egress;
      if (!allows) continue;
      const chain = chainName(dir === 'Ingress' ? 'NPI' : 'NPE', `${pod.uid}/${dir}`);
      const mark = dir === 'Ingress' ? INGRESS_MARK : EGRESS_MARK;
      const addr = dir === 'Ingress' ? '-s' : '-d';
      const comment = `-m comment --comment "${pod.key} ${dir.toLowerCase()}"`;
      chains.push(chain);
      // Only judged packets have our bit cleared (and maybe set): other traffic keeps its marks.
      body.push(`-A ${chain} -j MARK --set-xmark 0x0/${mark}`);
      jumps[dir].push(`-A ${NETPOL_CHAIN} ${dir === 'Ingress' ? '-d' : '-s'} ${pod.ip}/32 ${comment} -j ${chain}`);
      allows.forEach((a, i) => {
        const peer = a.peer ? ` ${addr} ${formatV4Cidr(a.peer)}` : '';
        if (a.except && a.except.length > 0) {
          const x = chainName('NPX', `${pod.uid}/${dir}/${i}`);
          chains.push(x);
          body.push(`-A ${chain}${peer} -j ${x}`);
          for (const e of a.except) body.push(`-A ${x} ${addr} ${formatV4Cidr(e)} -j RETURN`);
          body.push(`-A ${x}${portMatch(a)} -j MARK --set-xmark ${mark}/${mark}`);
        } else {
          body.push(`-A ${chain}${peer}${portMatch(a)} -j MARK --set-xmark ${mark}/${mark}`);
        }
      });
      body.push(`-A ${chain} -m mark ! --mark ${mark}/${mark} ${comment} -j REJECT`);
    }
  }
  const stale = existing.filter((c) => isNetpolChain(c) && !chains.includes(c));
  return [
    '*filter',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...stale.map((c) => `:${c} - [0:0]`),
    ...rules,
    ...jumps.Egress,
    ...jumps.Ingress,
    ...body,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

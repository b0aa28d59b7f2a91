// Which node announces each load-balancer address (issue 14, L2 mode as MetalLB's and kube-vip's):
// rendezvous hashing of (node, address) over the live candidates, so every node agent with the same
// view picks the same node and a dead node's addresses spread over the others. A candidate is a Node
// that is Ready, not being deleted, not labelled node.kubernetes.io/exclude-from-external-load-balancers,
// alive to this agent (its own agent answered a probe within the last deadAfter; this node always
// is), and — for a Service with externalTrafficPolicy Local — has a ready endpoint of it (as MetalLB,
// so the address lands where the traffic may go). Every address and name passes the sink guard
// first. Pure.
import { createHash } from 'node:crypto';
import { isSafeName, isSafeUnicastIPv4 } from './proxy/sink_guard.js';
import type { EndpointsLike, ServiceLike } from './proxy/service_rules.js';

export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export interface ElectionNode {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/** The node of `candidates` with the highest hash of (node, ip); undefined without candidates. */
export function electAnnouncer(ip: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const n of candidates) {
    const score = createHash('sha256').update(`${n}#${ip}`).digest('hex');
    if (best === undefined || score > bestScore) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

const ready = (n: ElectionNode) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** The load-balancer addresses this node must announce: address → "ns/name" of its Service. */
export function addressesToAnnounce(self: string, services: ServiceLike[], endpoints: EndpointsLike[], nodes: ElectionNode[], alive: (node: string) => boolean): Map<string, string> {
  const eligible = nodes
    .filter((n) => isSafeName(n.metadata.name) && !n.metadata.deletionTimestamp && n.metadata.labels?.[EXCLUDE_LB_LABEL] === undefined && ready(n))
    .map((n) => n.metadata.name)
    .filter((n) => n === self || alive(n));
  const eps = new Map(endpoints.map((e) => [`${e.metadata.namespace ?? 'default'}/${e.metadata.name}`, e]));
  const out = new Map<string, string>();
  for (const s of services) {
    if (s.spec?.type !== 'LoadBalancer') continue;
    const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    let candidates = eligible;
    if (s.spec.externalTrafficPolicy === 'Local') {
      const withEndpoints = new Set((eps.get(key)?.subsets ?? []).flatMap((ss) => (ss.addresses ?? []).map((a) => a.nodeName ?? '')));
      candidates = eligible.filter((n) => withEndpoints.has(n));
    }
    for (const g of s.status?.loadBalancer?.ingress ?? []) {
      if (!isSafeUnicastIPv4(g.ip)) continue;
      if (electAnnouncer(g.ip, candidates) === self) out.set(g.ip, key);
    }
  }
  return out;
}

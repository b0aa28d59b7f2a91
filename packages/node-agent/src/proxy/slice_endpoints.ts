// The service proxy's endpoints from EndpointSlices, as kube-proxy reads them since 1.21: the slices
// of a Service (label kubernetes.io/service-name) are joined; its ready endpoints serve, and when none
// is ready the serving-and-terminating ones do (ProxyTerminatingEndpoints), so a rolling update's last
// pods still answer: ready ones come out as addresses, serving terminating ones as terminatingAddresses,
// each with its nodeName, and service_rules.ts chooses (cluster-wide and node-local apart, as upstream's
// CategorizeEndpoints). They come out in the Endpoints shape the rules and the sink guard already take
// (one subset per slice), so every value still passes sink_guard.ts before reaching iptables. A
// Service without any slice keeps its Endpoints object (custom Endpoints in a cluster without the
// mirroring controller, and the tests that write Endpoints directly). Pure.
import type { EndpointsLike } from './service_rules.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface EndpointSliceLike {
  metadata: { namespace?: string; name: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; nodeName?: string; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
}

const keyOf = (ns: string | undefined, name: string) => `${ns ?? 'default'}/${name}`;

/** The Endpoints-shaped view of every Service's slices, plus the Endpoints of Services that have none. */
export function endpointsFromSlices(slices: EndpointSliceLike[], endpoints: EndpointsLike[]): EndpointsLike[] {
  const byService = new Map<string, EndpointSliceLike[]>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = keyOf(s.metadata.namespace, svc);
    const list = byService.get(k) ?? [];
    list.push(s);
    byService.set(k, list);
  }
  const out: EndpointsLike[] = [];
  for (const [key, list] of byService) {
    const [namespace, name] = key.split('/') as [string, string];
    const ipv4 = list.filter((s) => (s.addressType ?? 'IPv4') === 'IPv4');
    type Ep = NonNullable<EndpointSliceLike['endpoints']>[number];
    // Ready (nil counts as ready); serving and terminating (upstream's fallback when none is ready).
    const ready = (e: Ep) => e.conditions?.ready !== false;
    const servingTerminating = (e: Ep) => !ready(e) && e.conditions?.serving === true && e.conditions?.terminating === true;
    const addresses = (eps: Ep[]) => eps.flatMap((e) => (e.addresses ?? []).slice(0, 1).map((ip) => (e.nodeName === undefined ? { ip } : { ip, nodeName: e.nodeName })));
    const subsets = ipv4.map((s) => ({
      addresses: addresses((s.endpoints ?? []).filter(ready)),
      terminatingAddresses: addresses((s.endpoints ?? []).filter(servingTerminating)),
      ports: (s.ports ?? []).filter((p): p is { name?: string; port: number; protocol?: string } => typeof p.port === 'number').map((p) => ({ name: p.name || undefined, port: p.port, protocol: p.protocol })),
    }));
    out.push({ metadata: { namespace, name }, subsets });
  }
  for (const e of endpoints) if (!byService.has(keyOf(e.metadata.namespace, e.metadata.name))) out.push(e);
  return out;
}

/**
 * Endpoints reconcile, free of I/O: for a Service with a selector, the
 * Endpoints object listing the matching pods that have an IP (ready ones in
 * addresses, the others in notReadyAddresses), with each service port's
 * targetPort resolved per pod (a number, or a named container port).
 */
import { setMatches, type EndpointAddress, type EndpointPort, type EndpointSubset, type Endpoints, type Pod, type Service, type ServicePort } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { semanticEqual } from '../util/equal.js';
import { isPodReady, podIP } from '../util/pod.js';

export interface EndpointsInput {
  /** The service, or undefined when it is gone. */
  service: Named<Service> | undefined;
  /** Every pod in the namespace. */
  pods: Named<Pod>[];
  /** The current Endpoints object of the same name, if any. */
  endpoints: Named<Endpoints> | undefined;
  namespace: string;
  name: string;
}

/** findPort: the pod's port for a service port's targetPort (undefined when a named port is missing). */
export function resolveTargetPort(pod: Pod, sp: ServicePort): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const proto = sp.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === proto) return p.containerPort;
  }
  return undefined;
}

function shouldInclude(pod: Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (!podIP(pod)) return false;
  return !pod.metadata?.deletionTimestamp;
}

/** The subsets for a service: addresses grouped by identical resolved port lists, sorted. */
export function computeSubsets(service: Service, pods: Named<Pod>[]): EndpointSubset[] {
  const selector = service.spec?.selector ?? {};
  const ports = service.spec?.ports ?? [];
  const publishNotReady = !!service.spec?.publishNotReadyAddresses;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    const ip = podIP(pod);
    if (!setMatches(selector, pod.metadata.labels) || !shouldInclude(pod) || !ip) continue;
    const resolved: EndpointPort[] = [];
    for (const sp of ports) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      resolved.push({ ...(sp.name ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP' });
    }
    // A pod that resolves none of the ports is not an endpoint (unless the service has no ports: headless).
    if (ports.length > 0 && resolved.length === 0) continue;
    resolved.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port);
    const key = JSON.stringify(resolved);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports: resolved, ready: [], notReady: [] }));
    const addr: EndpointAddress = {
      ip,
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    (publishNotReady || isPodReady(pod) ? g.ready : g.notReady).push(addr);
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? '');
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, g]) => ({
      ...(g.ready.length ? { addresses: g.ready.sort(byIp) } : {}),
      ...(g.notReady.length ? { notReadyAddresses: g.notReady.sort(byIp) } : {}),
      ...(g.ports.length ? { ports: g.ports } : {}),
    }));
}

export function reconcileEndpoints(input: EndpointsInput): Action[] {
  const { service, endpoints } = input;
  if (!service) {
    // Only clean up what looks like ours: Endpoints of a selector-less service are the user's.
    return endpoints ? [{ verb: 'delete', ref: R.endpoints, namespace: input.namespace, name: input.name, uid: endpoints.metadata.uid, reason: 'service deleted' }] : [];
  }
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') return [];
  if (service.metadata.deletionTimestamp) return [];
  const subsets = computeSubsets(service, input.pods);
  const labels = { ...(service.metadata.labels ?? {}) };
  if (!endpoints) {
    const created: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: input.name, namespace: input.namespace, labels }, subsets };
    return [{ verb: 'create', ref: R.endpoints, namespace: input.namespace, object: created }];
  }
  if (semanticEqual(endpoints.subsets ?? [], subsets) && semanticEqual(endpoints.metadata.labels ?? {}, labels)) return [];
  const next = structuredClone(endpoints);
  next.metadata.labels = labels;
  next.subsets = subsets;
  return [{ verb: 'update', ref: R.endpoints, namespace: input.namespace, object: next }];
}

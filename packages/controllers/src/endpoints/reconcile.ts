/**
 * Endpoints reconcile, free of I/O: for a Service with a selector, the
 * Endpoints object listing the matching pods that have an IP (ready ones in
 * addresses, the others in notReadyAddresses), with each service port's
 * targetPort resolved per pod (a number, or a named container port).
 */
import type { Action, KObject } from '../types.js';
import { R } from '../types.js';
import { semanticEqual } from '../util/equal.js';
import { mapSelectorMatches } from '../util/labels.js';
import { isPodReady, podIP } from '../util/pod.js';

export interface EndpointAddress {
  ip: string;
  nodeName?: string;
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid: string };
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

export interface EndpointsInput {
  /** The service, or undefined when it is gone. */
  service: KObject | undefined;
  /** Every pod in the namespace. */
  pods: KObject[];
  /** The current Endpoints object of the same name, if any. */
  endpoints: KObject | undefined;
  namespace: string;
  name: string;
}

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
}

/** findPort: the pod's port for a service port's targetPort (undefined when a named port is missing). */
export function resolveTargetPort(pod: KObject, sp: ServicePort): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const proto = sp.protocol ?? 'TCP';
  for (const c of (pod.spec?.containers ?? []) as Array<{ ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }>) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === proto) return p.containerPort;
  }
  return undefined;
}

function shouldInclude(pod: KObject): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (!podIP(pod)) return false;
  return !pod.metadata.deletionTimestamp;
}

/** The subsets for a service: addresses grouped by identical resolved port lists, sorted. */
export function computeSubsets(service: KObject, pods: KObject[]): EndpointSubset[] {
  const selector = (service.spec?.selector ?? {}) as Record<string, string>;
  const ports = (service.spec?.ports ?? []) as ServicePort[];
  const publishNotReady = !!service.spec?.publishNotReadyAddresses;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    if (!mapSelectorMatches(selector, pod.metadata.labels) || !shouldInclude(pod)) continue;
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
      ip: podIP(pod)!,
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName as string } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace!, name: pod.metadata.name!, uid: pod.metadata.uid! },
    };
    (publishNotReady || isPodReady(pod) ? g.ready : g.notReady).push(addr);
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.targetRef.name.localeCompare(b.targetRef.name);
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
  const selector = service.spec?.selector as Record<string, string> | undefined;
  if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') return [];
  if (service.metadata.deletionTimestamp) return [];
  const subsets = computeSubsets(service, input.pods);
  const labels = { ...(service.metadata.labels ?? {}) };
  if (!endpoints) {
    return [{ verb: 'create', ref: R.endpoints, namespace: input.namespace, object: { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: input.name, namespace: input.namespace, labels }, subsets } }];
  }
  if (semanticEqual(endpoints.subsets ?? [], subsets) && semanticEqual(endpoints.metadata.labels ?? {}, labels)) return [];
  const next = structuredClone(endpoints);
  next.metadata.labels = labels;
  next.subsets = subsets;
  return [{ verb: 'update', ref: R.endpoints, namespace: input.namespace, object: next }];
}

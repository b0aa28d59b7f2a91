/**
 * EndpointSlice reconcile, free of I/O: for a Service with a selector, the
 * endpoints of the pods it selects (upstream's podToEndpoint: ready / serving /
 * terminating conditions, nodeName, zone from the node's topology label,
 * targetRef, hostname when the pod's hostname+subdomain name this service),
 * one per IP family the Service serves, grouped by resolved ports, packed into
 * the slices labelled kubernetes.io/service-name and managed-by
 * endpointslice-controller.k8s.io.
 */
import { newControllerRef, setMatches, type DiscoveryV1EndpointPort, type Endpoint, type EndpointSlice, type Node, type Pod, type Service } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { resolveTargetPort } from '../endpoints/reconcile.js';
import { isPodReady } from '../util/pod.js';
import { CONTROLLER_NAME, groupEndpoints, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, reconcileSlices } from './slices.js';

export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

export interface EndpointSliceInput {
  service: Named<Service>;
  /** Every pod in the service's namespace. */
  pods: Named<Pod>[];
  /** Nodes by name (for the zone). */
  nodes: ReadonlyMap<string, Node>;
  /** The slices of this service managed by this controller. */
  slices: Named<EndpointSlice>[];
  maxEndpointsPerSlice?: number;
}

const familyOf = (ip: string): 'IPv4' | 'IPv6' => (ip.includes(':') ? 'IPv6' : 'IPv4');

/** The address types the service's endpoints are published for (spec.ipFamilies, else by its cluster IP). */
export function serviceAddressTypes(service: Service): ('IPv4' | 'IPv6')[] {
  const fams = (service.spec?.ipFamilies ?? []).filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6');
  if (fams.length) return fams;
  const ip = service.spec?.clusterIP;
  return ip && ip !== 'None' ? [familyOf(ip)] : ['IPv4'];
}

/** ShouldPodBeInEndpoints(pod, includeTerminating=true). */
function shouldInclude(pod: Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return (pod.status?.podIPs?.length ?? 0) > 0 || !!pod.status?.podIP;
}

function podIPs(pod: Pod): string[] {
  const list = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (list.length) return list;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** The endpoint of a pod for a service (podToEndpoint). */
export function podToEndpoint(pod: Named<Pod>, ip: string, service: Service, node: Node | undefined): Endpoint {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata.deletionTimestamp;
  const ready = !!service.spec?.publishNotReadyAddresses || (serving && !terminating);
  const e: Endpoint = {
    addresses: [ip],
    conditions: { ready, serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
  };
  if (pod.spec?.nodeName) e.nodeName = pod.spec.nodeName;
  const zone = node?.metadata?.labels?.[LABEL_ZONE];
  if (zone) e.zone = zone;
  if (pod.spec?.hostname && pod.spec.subdomain === service.metadata?.name && pod.metadata.namespace === service.metadata?.namespace) e.hostname = pod.spec.hostname;
  return e;
}

/** getEndpointPorts: the service's ports resolved for the pod (a named port the pod lacks is left out). */
export function endpointPorts(service: Service, pod: Pod): DiscoveryV1EndpointPort[] {
  const out: DiscoveryV1EndpointPort[] = [];
  for (const sp of service.spec?.ports ?? []) {
    const port = resolveTargetPort(pod, sp);
    if (port === undefined) continue;
    const p: DiscoveryV1EndpointPort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
    if (sp.appProtocol) p.appProtocol = sp.appProtocol;
    out.push(p);
  }
  return out;
}

/** The labels of the service's slices: the service's own (but not the service-name/managed-by keys), plus ours. */
export function sliceLabels(service: Named<Service>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.metadata.labels ?? {})) if (k !== LABEL_SERVICE_NAME && k !== LABEL_MANAGED_BY && k !== LABEL_HEADLESS) labels[k] = v;
  labels[LABEL_SERVICE_NAME] = service.metadata.name;
  labels[LABEL_MANAGED_BY] = CONTROLLER_NAME;
  if (service.spec?.clusterIP === 'None') labels[LABEL_HEADLESS] = '';
  return labels;
}

/** The slice actions for a service; none for a service without selector, an ExternalName one, or one being deleted. */
export function reconcileEndpointSlices(input: EndpointSliceInput): Action[] {
  const { service } = input;
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') return [];
  if (service.metadata.deletionTimestamp) return [];
  const types = serviceAddressTypes(service);
  const items: Parameters<typeof groupEndpoints>[0] = [];
  const pods = [...input.pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const pod of pods) {
    if (!setMatches(selector, pod.metadata.labels) || !shouldInclude(pod)) continue;
    const ports = endpointPorts(service, pod);
    for (const ip of podIPs(pod)) {
      const addressType = familyOf(ip);
      if (!types.includes(addressType)) continue;
      items.push({ addressType, ports, endpoint: podToEndpoint(pod, ip, service, pod.spec?.nodeName ? input.nodes.get(pod.spec.nodeName) : undefined) });
    }
  }
  const owner = {
    namespace: service.metadata.namespace ?? 'default',
    generateName: `${service.metadata.name.slice(0, 62)}-`,
    labels: sliceLabels(service),
    ownerReference: newControllerRef(service, { apiVersion: 'v1', kind: 'Service' }),
  };
  return reconcileSlices(owner, groupEndpoints(items), input.slices, types[0]!, input.maxEndpointsPerSlice);
}

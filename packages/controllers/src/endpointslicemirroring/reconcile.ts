/**
 * EndpointSlice mirroring reconcile, free of I/O: an Endpoints object of a
 * Service without a selector (custom Endpoints) is mirrored into slices
 * managed by endpointslicemirroring-controller.k8s.io — addresses ready and
 * serving, notReadyAddresses not, at most 1000 addresses per subset (as
 * upstream), grouped by the subset's ports, with the Endpoints' labels and an
 * owner reference to it. Endpoints labelled endpointslice.kubernetes.io/skip-mirror
 * or whose service has a selector (the EndpointSlice controller's) are not
 * mirrored, and their mirrored slices go.
 */
import { newControllerRef, type DiscoveryV1EndpointPort, type Endpoint, type EndpointAddress, type Endpoints, type EndpointSlice, type Service } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { groupEndpoints, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MIRRORING_CONTROLLER_NAME, reconcileSlices } from '../endpointslice/slices.js';

export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
/** Upstream's maxEndpointsPerSubset for mirroring. */
export const MAX_ADDRESSES_PER_SUBSET = 1000;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface MirroringInput {
  namespace: string;
  name: string;
  endpoints: Named<Endpoints> | undefined;
  service: Named<Service> | undefined;
  /** The mirrored slices of this Endpoints. */
  slices: Named<EndpointSlice>[];
  maxEndpointsPerSlice?: number;
}

/** Whether the Endpoints object is mirrored (shouldMirror plus a selector-less service). */
export function shouldMirror(ep: Endpoints | undefined, svc: Service | undefined): boolean {
  if (!ep || !svc) return false;
  if (ep.metadata?.labels?.[LABEL_SKIP_MIRROR] === 'true') return false;
  if (svc.spec?.selector && Object.keys(svc.spec.selector).length > 0) return false;
  return true;
}

const familyOf = (ip: string): 'IPv4' | 'IPv6' => (ip.includes(':') ? 'IPv6' : 'IPv4');

function addressToEndpoint(a: EndpointAddress, ready: boolean): Endpoint {
  const e: Endpoint = { addresses: [a.ip], conditions: { ready, serving: ready, terminating: false } };
  if (a.hostname) e.hostname = a.hostname;
  if (a.nodeName) e.nodeName = a.nodeName;
  if (a.targetRef) e.targetRef = a.targetRef;
  return e;
}

export function reconcileMirroring(input: MirroringInput): Action[] {
  const { endpoints: ep, service: svc } = input;
  if (!shouldMirror(ep, svc) || !ep) {
    return input.slices.map((s) => ({ verb: 'delete' as const, ref: R.endpointslices, namespace: input.namespace, name: s.metadata.name, uid: s.metadata.uid, reason: 'not mirrored' }));
  }
  const items: Parameters<typeof groupEndpoints>[0] = [];
  for (const ss of ep.subsets ?? []) {
    const ports: DiscoveryV1EndpointPort[] = (ss.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    let n = 0;
    const add = (a: EndpointAddress, ready: boolean) => {
      if (n >= MAX_ADDRESSES_PER_SUBSET || !a.ip) return;
      n++;
      items.push({ addressType: familyOf(a.ip), ports, endpoint: addressToEndpoint(a, ready) });
    };
    (ss.addresses ?? []).forEach((a) => add(a, true));
    (ss.notReadyAddresses ?? []).forEach((a) => add(a, false));
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.metadata.labels ?? {})) if (k !== LABEL_MANAGED_BY && k !== LABEL_SERVICE_NAME) labels[k] = v;
  labels[LABEL_SERVICE_NAME] = input.name;
  labels[LABEL_MANAGED_BY] = MIRRORING_CONTROLLER_NAME;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.metadata.annotations ?? {})) if (k !== LAST_APPLIED && k !== TRIGGER_TIME) annotations[k] = v;
  const owner = {
    namespace: input.namespace,
    generateName: `${input.name.slice(0, 62)}-`,
    labels,
    annotations,
    ownerReference: newControllerRef(ep, { apiVersion: 'v1', kind: 'Endpoints' }),
  };
  return reconcileSlices(owner, groupEndpoints(items), input.slices, 'IPv4', input.maxEndpointsPerSlice);
}

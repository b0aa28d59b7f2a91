/**
 * EndpointSlice packing, free of I/O, shared by the EndpointSlice and the
 * mirroring controllers: given the endpoints a Service (or an Endpoints
 * object) should have, grouped by their port list, and the slices the
 * controller already manages for it, the creates, updates and deletes that
 * make the slices hold exactly those endpoints — at most maxEndpointsPerSlice
 * per slice, endpoints kept in the slice they are in, new ones filling free
 * room before new slices are made, and one empty placeholder slice when there
 * are no endpoints at all (as upstream's reconciler).
 */
import type { DiscoveryV1EndpointPort, Endpoint, EndpointSlice, ObjectMeta, OwnerReference } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { semanticEqual } from '../util/equal.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
export const MIRRORING_CONTROLLER_NAME = 'endpointslicemirroring-controller.k8s.io';
/** kube-controller-manager's --max-endpoints-per-slice default. */
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** Endpoints sharing one port list (a slice holds one port list). */
export interface EndpointGroup {
  addressType: 'IPv4' | 'IPv6';
  ports: DiscoveryV1EndpointPort[];
  endpoints: Endpoint[];
}

export interface SliceOwner {
  namespace: string;
  /** Prefix of generated slice names ("web-"). */
  generateName: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReference: OwnerReference;
}

/** The identity of a group of slices: address type plus the port list, order-insensitive. */
export function portsKey(addressType: string, ports: readonly DiscoveryV1EndpointPort[] | undefined): string {
  const norm = (ports ?? []).map((p) => [p.name ?? '', p.protocol ?? 'TCP', p.port ?? null, p.appProtocol ?? null]);
  norm.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return `${addressType}|${JSON.stringify(norm)}`;
}

/** An endpoint's identity across syncs: its first address (a pod IP or a mirrored address). */
const endpointKey = (e: Endpoint): string => e.addresses[0] ?? '';

/** The groups of `endpoints` (one per address type and port list). */
export function groupEndpoints(items: { addressType: 'IPv4' | 'IPv6'; ports: DiscoveryV1EndpointPort[]; endpoint: Endpoint }[]): EndpointGroup[] {
  const groups = new Map<string, EndpointGroup>();
  for (const it of items) {
    const key = portsKey(it.addressType, it.ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { addressType: it.addressType, ports: it.ports, endpoints: [] }));
    g.endpoints.push(it.endpoint);
  }
  return [...groups.values()];
}

function newSlice(owner: SliceOwner, g: EndpointGroup, endpoints: Endpoint[]): EndpointSlice {
  const metadata: ObjectMeta = {
    generateName: owner.generateName,
    namespace: owner.namespace,
    labels: { ...owner.labels },
    ownerReferences: [owner.ownerReference],
  };
  if (owner.annotations && Object.keys(owner.annotations).length) metadata.annotations = { ...owner.annotations };
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType: g.addressType, endpoints, ports: g.ports };
}

/**
 * The actions that turn `existing` (the slices this controller manages for the
 * owner) into slices holding exactly `desired`. `placeholderType` is the
 * address type of the empty slice kept when there is no endpoint.
 */
export function reconcileSlices(
  owner: SliceOwner,
  desired: EndpointGroup[],
  existing: Named<EndpointSlice>[],
  placeholderType: 'IPv4' | 'IPv6',
  maxPerSlice = MAX_ENDPOINTS_PER_SLICE,
): Action[] {
  const groups = desired.filter((g) => g.endpoints.length > 0);
  if (groups.length === 0) groups.push({ addressType: placeholderType, ports: [], endpoints: [] });
  const byKey = new Map(groups.map((g) => [portsKey(g.addressType, g.ports), g]));
  const actions: Action[] = [];
  const ns = owner.namespace;
  // Existing slices by group, newest decisions first: keep what is still wanted where it is.
  const kept = new Map<string, { slice: Named<EndpointSlice>; endpoints: Endpoint[]; changed: boolean }[]>();
  const placed = new Set<string>();
  const sorted = [...existing].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const slice of sorted) {
    const key = portsKey(slice.addressType, slice.ports);
    const g = byKey.get(key);
    if (!g) {
      actions.push({ verb: 'delete', ref: R.endpointslices, namespace: ns, name: slice.metadata.name, uid: slice.metadata.uid, reason: 'no endpoints with these ports' });
      continue;
    }
    const want = new Map(g.endpoints.map((e) => [endpointKey(e), e]));
    const endpoints: Endpoint[] = [];
    let changed = false;
    for (const e of slice.endpoints ?? []) {
      const k = endpointKey(e);
      const w = want.get(k);
      if (!w || placed.has(k) || endpoints.length >= maxPerSlice) {
        changed = true;
        continue;
      }
      placed.add(k);
      if (!semanticEqual(e, w)) changed = true;
      endpoints.push(w);
    }
    const isPlaceholder = g.endpoints.length === 0;
    if (endpoints.length === 0 && !isPlaceholder) {
      actions.push({ verb: 'delete', ref: R.endpointslices, namespace: ns, name: slice.metadata.name, uid: slice.metadata.uid, reason: 'no endpoints left' });
      continue;
    }
    if (isPlaceholder && (kept.get(key)?.length ?? 0) > 0) {
      actions.push({ verb: 'delete', ref: R.endpointslices, namespace: ns, name: slice.metadata.name, uid: slice.metadata.uid, reason: 'a second placeholder' });
      continue;
    }
    const list = kept.get(key) ?? [];
    list.push({ slice, endpoints, changed });
    kept.set(key, list);
  }
  for (const [key, g] of byKey) {
    const list = kept.get(key) ?? [];
    const fresh = g.endpoints.filter((e) => !placed.has(endpointKey(e)));
    // Fill free room of existing slices (fullest first, as upstream packs), then make new slices.
    for (const k of [...list].sort((a, b) => b.endpoints.length - a.endpoints.length)) {
      while (fresh.length > 0 && k.endpoints.length < maxPerSlice) {
        k.endpoints.push(fresh.shift()!);
        k.changed = true;
      }
    }
    for (const k of list) {
      const labelsChanged = !semanticEqual(k.slice.metadata.labels ?? {}, owner.labels);
      const portsChanged = !semanticEqual(k.slice.ports ?? [], g.ports);
      if (!k.changed && !labelsChanged && !portsChanged) continue;
      const next = structuredClone(k.slice);
      next.metadata.labels = { ...owner.labels };
      next.endpoints = k.endpoints;
      next.ports = g.ports;
      actions.push({ verb: 'update', ref: R.endpointslices, namespace: ns, object: next });
    }
    if (list.length === 0 && g.endpoints.length === 0) actions.push({ verb: 'create', ref: R.endpointslices, namespace: ns, object: newSlice(owner, g, []) });
    while (fresh.length > 0) actions.push({ verb: 'create', ref: R.endpointslices, namespace: ns, object: newSlice(owner, g, fresh.splice(0, maxPerSlice)) });
  }
  // Creates and updates before deletes, so consumers never see the endpoints vanish in between.
  return [...actions.filter((a) => a.verb !== 'delete'), ...actions.filter((a) => a.verb === 'delete')];
}

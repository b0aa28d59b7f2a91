// The metrics.k8s.io/v1beta1 REST surface of metrics-server: discovery
// (APIGroup, APIResourceList), NodeMetrics (cluster-scoped) and PodMetrics
// (namespaced, or across namespaces) by name or listed with labelSelector and
// fieldSelector (metadata.name, metadata.namespace), with upstream's JSON
// shapes: usage as canonical quantities (CPU from nanocores, memory bytes in
// the binary format), `timestamp` RFC 3339, `window` a Go duration. Only nodes
// and pods known to the API server (the informers' caches) are served, as
// upstream. Pure request → response; the server owns transport and auth.
import {
  fieldSelectorMatches,
  formatQuantity,
  formatTime,
  newQuantity,
  objectMetaFields,
  parseFieldSelector,
  parseSelector,
  selectorMatches,
  type FieldRequirement,
  type Selector,
} from '@mkube/api';
import { formatGoDuration } from '@mkube/component-base';
import type { MetricsStorage } from './storage.js';

export const GROUP = 'metrics.k8s.io';
export const VERSION = 'v1beta1';
export const GROUP_VERSION = `${GROUP}/${VERSION}`;

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface MetricsSources {
  storage: MetricsStorage;
  nodes(): Meta[];
  pods(): Meta[];
  now(): number;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

function statusError(code: number, reason: string, message: string, details?: Record<string, unknown>): ApiResponse {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code } };
}

export const cpuQuantity = (nanoCores: number): string => formatQuantity(newQuantity(nanoCores, -9));
export const memoryQuantity = (bytes: number): string => formatQuantity(newQuantity(bytes, 0, 'BinarySI'));

export function apiGroup(): unknown {
  const v = { groupVersion: GROUP_VERSION, version: VERSION };
  return { kind: 'APIGroup', apiVersion: 'v1', name: GROUP, versions: [v], preferredVersion: v };
}

export function apiResourceList(): unknown {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  };
}

function nodeMetrics(src: MetricsSources, n: Meta): unknown {
  const u = src.storage.nodeUsage(n.name);
  if (!u) return undefined;
  return {
    kind: 'NodeMetrics',
    apiVersion: GROUP_VERSION,
    metadata: { name: n.name, creationTimestamp: formatTime(src.now()), ...(n.labels ? { labels: n.labels } : {}) },
    timestamp: formatTime(u.timestamp),
    window: formatGoDuration(u.windowMs),
    usage: { cpu: cpuQuantity(u.cpuNanoCores), memory: memoryQuantity(u.memoryBytes) },
  };
}

function podMetrics(src: MetricsSources, p: Meta): unknown {
  const u = src.storage.podUsage(p.namespace ?? '', p.name);
  if (!u) return undefined;
  return {
    kind: 'PodMetrics',
    apiVersion: GROUP_VERSION,
    metadata: { name: p.name, namespace: p.namespace, creationTimestamp: formatTime(src.now()), ...(p.labels ? { labels: p.labels } : {}) },
    timestamp: formatTime(u.timestamp),
    window: formatGoDuration(u.windowMs),
    containers: u.containers.map((c) => ({ name: c.name, usage: { cpu: cpuQuantity(c.cpuNanoCores), memory: memoryQuantity(c.memoryBytes) } })),
  };
}

function selectors(q: URLSearchParams): { labels?: Selector; fields?: FieldRequirement[] } | ApiResponse {
  try {
    const ls = q.get('labelSelector');
    const fs = q.get('fieldSelector');
    return { ...(ls ? { labels: parseSelector(ls) } : {}), ...(fs ? { fields: parseFieldSelector(fs) } : {}) };
  } catch (err) {
    return statusError(400, 'BadRequest', err instanceof Error ? err.message : String(err));
  }
}

function list(kind: string, items: unknown[]): ApiResponse {
  return { status: 200, body: { kind, apiVersion: GROUP_VERSION, metadata: {}, items } };
}

/** GET under /apis/metrics.k8s.io; undefined when the path is not ours. */
export function handleMetricsRequest(src: MetricsSources, method: string, path: string, q: URLSearchParams): ApiResponse | undefined {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'apis' || parts[1] !== GROUP) return undefined;
  if (method !== 'GET') return statusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  if (parts.length === 2) return { status: 200, body: apiGroup() };
  if (parts[2] !== VERSION) return statusError(404, 'NotFound', 'the server could not find the requested resource');
  const rest = parts.slice(3);
  if (rest.length === 0) return { status: 200, body: apiResourceList() };
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  const [resource, name, ...extra] = rest;
  if (extra.length || (resource !== 'nodes' && resource !== 'pods') || (resource === 'nodes' && namespace !== undefined)) {
    return statusError(404, 'NotFound', 'the server could not find the requested resource');
  }
  const sel = selectors(q);
  if ('status' in sel) return sel;
  const matches = (m: Meta, namespaced: boolean) =>
    (!sel.labels || selectorMatches(sel.labels, m.labels ?? {})) && (!sel.fields || fieldSelectorMatches(sel.fields, objectMetaFields(m, namespaced)));
  if (resource === 'nodes') {
    if (name !== undefined) {
      const n = src.nodes().find((x) => x.name === name);
      const m = n && nodeMetrics(src, n);
      return m ? { status: 200, body: m } : statusError(404, 'NotFound', `nodemetrics.metrics.k8s.io "${name}" not found`, { name, group: GROUP, kind: 'nodes' });
    }
    return list('NodeMetricsList', src.nodes().filter((n) => matches(n, false)).sort((a, b) => a.name.localeCompare(b.name)).flatMap((n) => nodeMetrics(src, n) ?? []));
  }
  if (name !== undefined) {
    const p = src.pods().find((x) => x.name === name && x.namespace === namespace);
    const m = p && podMetrics(src, p);
    return m ? { status: 200, body: m } : statusError(404, 'NotFound', `podmetrics.metrics.k8s.io "${namespace ?? ''}/${name}" not found`, { name, group: GROUP, kind: 'pods' });
  }
  const pods = src.pods().filter((p) => (namespace === undefined || p.namespace === namespace) && matches(p, true));
  pods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return list('PodMetricsList', pods.flatMap((p) => podMetrics(src, p) ?? []));
}

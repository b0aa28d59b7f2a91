/** Discovery documents: /version, /api, /apis, /api/v1, /apis/<group>/<version>. */
import { apiGroups, RESOURCES, type JsonObject, type ResourceInfo } from '@mkube/api';

export const KUBERNETES_VERSION = { major: '1', minor: '31', gitVersion: 'v1.31.0' };

export function versionInfo(): JsonObject {
  return {
    major: KUBERNETES_VERSION.major,
    minor: KUBERNETES_VERSION.minor,
    gitVersion: KUBERNETES_VERSION.gitVersion,
    gitCommit: 'mkube',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.22.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList(): JsonObject {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: apiGroups()
      .filter((g) => g.group !== '')
      .map((g) => ({
        name: g.group,
        versions: g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${g.group}/${g.versions[0]}`, version: g.versions[0]! },
      })),
  };
}

export function apiGroup(group: string): JsonObject | undefined {
  const g = apiGroups().find((x) => x.group === group && group !== '');
  if (!g) return undefined;
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: g.group,
    versions: g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.group}/${g.versions[0]}`, version: g.versions[0]! },
  };
}

function entry(r: ResourceInfo): JsonObject[] {
  const out: JsonObject[] = [];
  const main: JsonObject = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: [...r.verbs] };
  if (r.shortNames.length) main.shortNames = [...r.shortNames];
  if (r.categories.length) main.categories = [...r.categories];
  main.storageVersionHash = Buffer.from(`${r.apiVersion}/${r.kind}`).toString('base64').slice(0, 11);
  out.push(main);
  if (r.subresources.status) out.push({ name: `${r.resource}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
  if (r.subresources.scale) out.push({ name: `${r.resource}/scale`, singularName: '', namespaced: r.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
  if (r.resource === 'pods') {
    out.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
    out.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    out.push({ name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] });
    out.push({ name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
  }
  if (r.resource === 'namespaces') out.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
  if (r.resource === 'serviceaccounts') out.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
  return out;
}

export function apiResourceList(group: string, version: string): JsonObject | undefined {
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (resources.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: resources.flatMap(entry),
  };
}

/**
 * Aggregated discovery (apidiscovery.k8s.io v2, v2beta1 for kubectl 1.27): every resource of /api
 * (`legacy`) or of all groups under /apis in one APIGroupDiscoveryList.
 */
export function aggregatedDiscovery(legacy: boolean, apiVersion: 'v2' | 'v2beta1'): JsonObject {
  const groups = apiGroups().filter((g) => (legacy ? g.group === '' : g.group !== ''));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${apiVersion}`,
    metadata: {},
    items: groups.map((g) => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: g.versions.map((v) => ({
        version: v,
        freshness: 'Current',
        resources: RESOURCES.filter((r) => r.group === g.group && r.version === v).map((r) => {
          const subs: JsonObject[] = [];
          for (const e of entry(r).slice(1)) {
            const name = String(e.name).split('/')[1]!;
            const kind = String(e.kind);
            subs.push({
              subresource: name,
              responseKind: { group: (e.group as string | undefined) ?? r.group, version: (e.version as string | undefined) ?? r.version, kind },
              verbs: e.verbs as string[],
            });
          }
          const res: JsonObject = {
            resource: r.resource,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: [...r.verbs],
          };
          if (r.shortNames.length) res.shortNames = [...r.shortNames];
          if (r.categories.length) res.categories = [...r.categories];
          if (subs.length) res.subresources = subs;
          return res;
        }),
      })),
    })),
  };
}

/** The aggregated discovery version an Accept header asks for (kubectl lists v2 and v2beta1 before plain JSON). */
export function wantsAggregatedDiscovery(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s+/g, '');
    if (!p.includes('as=APIGroupDiscoveryList') || !p.includes('g=apidiscovery.k8s.io')) continue;
    if (p.includes('v=v2beta1')) return 'v2beta1';
    if (p.includes('v=v2')) return 'v2';
  }
  return undefined;
}

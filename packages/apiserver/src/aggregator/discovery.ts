/**
 * Discovery with the aggregated groups: /apis (APIGroupList) and the
 * aggregated APIGroupDiscoveryList list the groups of remote APIServices
 * after the local ones, as kube-aggregator merges them; the resources of an
 * aggregated version are those its backend's APIResourceList answered to the
 * availability check (freshness Stale while it has not answered).
 */
import type { JsonObject } from '@mkube/api';
import { aggregatedDiscovery, apiGroupList } from '../http/discovery.js';
import type { ApiServiceIndex } from './apiservices.js';

type Obj = JsonObject;
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export function mergedApiGroupList(index: ApiServiceIndex): Obj {
  const local = apiGroupList();
  const known = new Set(a(local.groups).map((g) => String(g.name)));
  const extra = index.remoteGroups().filter((g) => !known.has(g.group)).map((g) => ({
    name: g.group,
    versions: g.versions.map((v) => ({ groupVersion: `${g.group}/${v.version}`, version: v.version })),
    preferredVersion: { groupVersion: `${g.group}/${g.versions[0]!.version}`, version: g.versions[0]!.version },
  }));
  return { ...local, groups: [...a(local.groups), ...extra] };
}

/** The APIGroup document of a remote group (/apis/GROUP). */
export function remoteApiGroup(index: ApiServiceIndex, group: string): Obj | undefined {
  const g = index.remoteGroups().find((x) => x.group === group);
  if (!g) return undefined;
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: g.group,
    versions: g.versions.map((v) => ({ groupVersion: `${g.group}/${v.version}`, version: v.version })),
    preferredVersion: { groupVersion: `${g.group}/${g.versions[0]!.version}`, version: g.versions[0]!.version },
  };
}

function discoveryResources(list: Obj | undefined, group: string, version: string): Obj[] {
  const entries = a(list?.resources);
  const out: Obj[] = [];
  for (const r of entries) {
    const name = String(r.name ?? '');
    if (name.includes('/')) continue;
    const subs = entries
      .filter((s) => String(s.name ?? '').startsWith(`${name}/`))
      .map((s) => ({ subresource: String(s.name).slice(name.length + 1), responseKind: { group: String(s.group ?? group), version: String(s.version ?? version), kind: String(s.kind ?? '') }, verbs: a(s.verbs) as unknown as string[] }));
    const res: Obj = {
      resource: name,
      responseKind: { group: String(r.group ?? group), version: String(r.version ?? version), kind: String(r.kind ?? '') },
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      singularResource: String(r.singularName ?? ''),
      verbs: (Array.isArray(r.verbs) ? r.verbs : []) as string[],
    };
    if (Array.isArray(r.shortNames) && r.shortNames.length) res.shortNames = r.shortNames as string[];
    if (Array.isArray(r.categories) && r.categories.length) res.categories = r.categories as string[];
    if (subs.length) res.subresources = subs as unknown as Obj[];
    out.push(res);
  }
  return out;
}

export function mergedAggregatedDiscovery(index: ApiServiceIndex, apiVersion: 'v2' | 'v2beta1', documents: ReadonlyMap<string, Obj>): Obj {
  const local = aggregatedDiscovery(false, apiVersion);
  const known = new Set(a(local.items).map((i) => String((i.metadata as Obj).name)));
  const extra = index.remoteGroups().filter((g) => !known.has(g.group)).map((g) => ({
    metadata: { name: g.group, creationTimestamp: null },
    versions: g.versions.map((v) => {
      const doc = documents.get(v.name);
      return { version: v.version, resources: discoveryResources(doc, g.group, v.version), freshness: doc ? 'Current' : 'Stale' };
    }),
  }));
  return { ...local, items: [...a(local.items), ...extra] };
}

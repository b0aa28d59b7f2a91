/**
 * The APIServices the API server knows, read from the watch cache: which
 * group/version is served by which Service, and the group/version ordering
 * of discovery (groupPriorityMinimum highest first, then name; inside a
 * group versionPriority highest first, then Kubernetes' version order).
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Registry } from '../registry/registry.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});

export const APISERVICES = findResource('apiregistration.k8s.io', 'v1', 'apiservices')!;

export interface ServiceRef {
  namespace: string;
  name: string;
  /** Defaults to 443 (SetDefaults_ServiceReference). */
  port: number;
}

export interface ApiServiceView {
  name: string;
  group: string;
  version: string;
  /** Undefined for a Local APIService (served by this server). */
  service?: ServiceRef;
  caBundle?: string;
  insecureSkipTLSVerify: boolean;
  groupPriorityMinimum: number;
  versionPriority: number;
  available: boolean;
  obj: Obj;
}

export function viewOf(obj: Obj): ApiServiceView {
  const spec = o(obj.spec);
  const svc = spec.service && typeof spec.service === 'object' ? o(spec.service) : undefined;
  const cond = (Array.isArray(o(obj.status).conditions) ? (o(obj.status).conditions as Obj[]) : []).find((c) => o(c).type === 'Available');
  return {
    name: String(o(obj.metadata).name ?? ''),
    group: String(spec.group ?? ''),
    version: String(spec.version ?? ''),
    service: svc ? { namespace: String(svc.namespace ?? ''), name: String(svc.name ?? ''), port: Number(svc.port ?? 0) || 443 } : undefined,
    caBundle: typeof spec.caBundle === 'string' && spec.caBundle ? Buffer.from(spec.caBundle, 'base64').toString('utf8') : undefined,
    insecureSkipTLSVerify: spec.insecureSkipTLSVerify === true,
    groupPriorityMinimum: Number(spec.groupPriorityMinimum ?? 0),
    versionPriority: Number(spec.versionPriority ?? 0),
    available: o(cond).status === 'True',
    obj,
  };
}

/** apimachinery's version.CompareKubeAwareVersionStrings: > 0 when a sorts before b. */
export function compareKubeAwareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    return [Number(m[1]), m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa && !pb) return a < b ? 1 : a > b ? -1 : 0;
  if (!pa) return -1;
  if (!pb) return 1;
  if (pa[1] !== pb[1]) return pa[1] - pb[1];
  if (pa[0] !== pb[0]) return pa[0] - pb[0];
  return pb[2] === pa[2] ? 0 : pa[2] - pb[2];
}

export class ApiServiceIndex {
  constructor(private readonly registry: Registry) {}

  all(): ApiServiceView[] {
    return this.registry.cachedList(APISERVICES).map(viewOf);
  }

  /** The APIService with a Service for group/version (the one to proxy to), if any. */
  remote(group: string, version: string): ApiServiceView | undefined {
    const v = this.registry.cachedGet(APISERVICES, undefined, `${version}.${group}`);
    const view = v ? viewOf(v) : undefined;
    return view?.service && view.group === group && view.version === version ? view : undefined;
  }

  /** Whether some remote APIService serves a version of this group. */
  remoteGroup(group: string): ApiServiceView[] {
    return this.all().filter((v) => v.service && v.group === group);
  }

  /** Remote APIServices grouped as discovery lists them: groups by priority, versions by priority. */
  remoteGroups(): { group: string; versions: ApiServiceView[] }[] {
    const byGroup = new Map<string, ApiServiceView[]>();
    for (const v of this.all()) {
      if (!v.service) continue;
      if (!byGroup.has(v.group)) byGroup.set(v.group, []);
      byGroup.get(v.group)!.push(v);
    }
    const groups = [...byGroup].map(([group, versions]) => ({
      group,
      priority: Math.max(...versions.map((x) => x.groupPriorityMinimum)),
      versions: versions.sort((x, y) => y.versionPriority - x.versionPriority || compareKubeAwareVersions(y.version, x.version)),
    }));
    groups.sort((x, y) => y.priority - x.priority || (x.group < y.group ? -1 : x.group > y.group ? 1 : 0));
    return groups.map(({ group, versions }) => ({ group, versions }));
  }
}

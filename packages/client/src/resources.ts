/** Group/version/resource descriptors and the REST paths built from them. */

export interface GVR {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

const gvr = (group: string, version: string, resource: string, namespaced: boolean): GVR => Object.freeze({ group, version, resource, namespaced });

export const Resources = Object.freeze({
  pods: gvr('', 'v1', 'pods', true),
  nodes: gvr('', 'v1', 'nodes', false),
  namespaces: gvr('', 'v1', 'namespaces', false),
  services: gvr('', 'v1', 'services', true),
  endpoints: gvr('', 'v1', 'endpoints', true),
  configmaps: gvr('', 'v1', 'configmaps', true),
  secrets: gvr('', 'v1', 'secrets', true),
  events: gvr('', 'v1', 'events', true),
  serviceaccounts: gvr('', 'v1', 'serviceaccounts', true),
  persistentvolumeclaims: gvr('', 'v1', 'persistentvolumeclaims', true),
  leases: gvr('coordination.k8s.io', 'v1', 'leases', true),
  deployments: gvr('apps', 'v1', 'deployments', true),
  replicasets: gvr('apps', 'v1', 'replicasets', true),
  statefulsets: gvr('apps', 'v1', 'statefulsets', true),
  daemonsets: gvr('apps', 'v1', 'daemonsets', true),
  jobs: gvr('batch', 'v1', 'jobs', true),
});

/** "v1" or "apps/v1". */
export function apiVersionOf(r: GVR): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** /api/v1[/namespaces/ns]/pods[/name[/sub]] */
export function resourcePath(r: GVR, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.resource}`;
  if (name !== undefined) {
    if (!name) throw new Error(`resourcePath: empty name for ${r.resource}`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}

/**
 * The resources the client addresses, as handles into @mkube/api's one
 * resource table (group, version, kind, plural, scope come from
 * registry.ts), and the REST paths built from them.
 */
import { resourceFor, type ResourceInfo } from '@mkube/api';

/** What a REST path needs of a resource; every ResourceInfo of @mkube/api is one. */
export type GVR = Pick<ResourceInfo, 'group' | 'version' | 'resource' | 'namespaced'>;

/** Named handles of the served resources the components use (Resources.pods). */
export const Resources = Object.freeze({
  pods: resourceFor('pods'),
  nodes: resourceFor('nodes'),
  namespaces: resourceFor('namespaces'),
  services: resourceFor('services'),
  endpoints: resourceFor('endpoints'),
  configmaps: resourceFor('configmaps'),
  secrets: resourceFor('secrets'),
  events: resourceFor('events'),
  serviceaccounts: resourceFor('serviceaccounts'),
  replicationcontrollers: resourceFor('replicationcontrollers'),
  leases: resourceFor('leases', 'coordination.k8s.io'),
  deployments: resourceFor('deployments', 'apps'),
  replicasets: resourceFor('replicasets', 'apps'),
  statefulsets: resourceFor('statefulsets', 'apps'),
  daemonsets: resourceFor('daemonsets', 'apps'),
  jobs: resourceFor('jobs', 'batch'),
  endpointslices: resourceFor('endpointslices', 'discovery.k8s.io'),
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

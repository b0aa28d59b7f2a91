/** etcd keys of stored objects, as kube-apiserver lays them out. */
import type { ResourceInfo } from '@mkube/api';

export const DEFAULT_PREFIX = '/registry';

/** Kubernetes' key names where they differ from the plural resource name. */
const KEY_NAMES: Record<string, string> = {
  'services': 'services/specs',
  'endpoints': 'services/endpoints',
  'nodes': 'minions',
  'ingresses': 'ingress',
  'leases': 'leases',
};

export function resourceKeyName(info: Pick<ResourceInfo, 'resource'>): string {
  return KEY_NAMES[info.resource] ?? info.resource;
}

/** Prefix of every object of a resource (ending in "/"), or of one namespace. */
export function resourcePrefix(prefix: string, info: Pick<ResourceInfo, 'resource'>, namespace?: string): string {
  const base = `${prefix}/${resourceKeyName(info)}/`;
  return namespace ? `${base}${namespace}/` : base;
}

export function objectKey(prefix: string, info: Pick<ResourceInfo, 'resource' | 'namespaced'>, namespace: string | undefined, name: string): string {
  return info.namespaced ? `${resourcePrefix(prefix, info, namespace)}${name}` : `${resourcePrefix(prefix, info)}${name}`;
}

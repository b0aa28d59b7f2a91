/**
 * Object keys as client-go's cache uses them: "namespace/name" for
 * namespaced objects, "name" for cluster-scoped ones
 * (MetaNamespaceKeyFunc / SplitMetaNamespaceKey).
 */
import type { KubeObject } from './types/object.js';

export class ObjectKeyError extends Error {
  readonly code = 'OBJECT_KEY_INVALID';
  constructor(readonly key: string, message: string) {
    super(message);
    this.name = 'ObjectKeyError';
  }
}

/** The key of an object: "ns/name", or "name" without a namespace. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? '';
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

/** The key of a namespace and name. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key back into namespace and name; more than one "/" is an error, as upstream. */
export function splitObjectKey(key: string): { namespace?: string; name: string } {
  const parts = key.split('/');
  if (parts.length === 1) return { name: key };
  if (parts.length === 2) return parts[0] ? { namespace: parts[0], name: parts[1]! } : { name: parts[1]! };
  throw new ObjectKeyError(key, `unexpected key format: ${JSON.stringify(key)}`);
}

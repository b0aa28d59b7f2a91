/**
 * The generic object shapes every kind shares: KubeObject (apiVersion, kind,
 * metadata), KubeList<T>, Named<T> (metadata.name set) and Stored<T> — an
 * object as the API server returns it, whose name, uid, resourceVersion and
 * creationTimestamp are set.
 */
import type { ListMeta, ObjectMeta } from './generated.js';

/** Any Kubernetes object: the TypeMeta fields and ObjectMeta (optional, as upstream's OpenAPI). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A list of objects ("PodList"): TypeMeta, ListMeta and the items. */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items: T[];
}

/** An object whose metadata carries a name: what code that addresses or updates it needs. */
export type Named<T extends KubeObject = KubeObject> = T & { metadata: ObjectMeta & { name: string } };

/** ObjectMeta as the API server fills it in on every stored object. */
export type StoredMeta = ObjectMeta & Required<Pick<ObjectMeta, 'name' | 'uid' | 'resourceVersion' | 'creationTimestamp'>>;

/**
 * An object read from the API server (get, list, watch, the reply to a
 * create or update): metadata is present with name, uid, resourceVersion and
 * creationTimestamp.
 */
export type Stored<T extends KubeObject = KubeObject> = T & { metadata: StoredMeta };

/** Narrows an object to Stored<T> when its metadata carries what the API server sets. */
export function isStored<T extends KubeObject>(obj: T): obj is Stored<T> {
  const m = obj.metadata;
  return !!m && !!m.name && !!m.uid && !!m.resourceVersion && !!m.creationTimestamp;
}

/**
 * Owner references as apimachinery's metav1 helpers: the controller
 * reference of an object (GetControllerOf), IsControlledBy, and a new
 * controller reference for an owner (NewControllerRef).
 */
import type { OwnerReference } from './types/generated.js';
import type { KubeObject } from './types/object.js';

/** The owner reference with controller: true, if any (metav1.GetControllerOf). */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return (obj.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
}

/** Is `obj` controlled by `owner` (same uid; metav1.IsControlledBy)? */
export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  const ref = controllerOf(obj);
  return !!ref && !!owner.metadata?.uid && ref.uid === owner.metadata.uid;
}

export class OwnerRefError extends Error {
  readonly code = 'OWNER_REF_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'OwnerRefError';
  }
}

/** A controller reference to `owner` of the given apiVersion and kind (controller and blockOwnerDeletion true). */
export function newControllerRef(owner: KubeObject, gvk: { apiVersion: string; kind: string }): OwnerReference {
  const name = owner.metadata?.name;
  const uid = owner.metadata?.uid;
  if (!name || !uid) throw new OwnerRefError(`newControllerRef: the ${gvk.kind} owner has no ${name ? 'uid' : 'name'}`);
  return { apiVersion: gvk.apiVersion, kind: gvk.kind, name, uid, controller: true, blockOwnerDeletion: true };
}

import type { KObject, OwnerReference, ResourceRef } from '../types.js';
import { apiVersionOf } from '../types.js';

export function controllerRefOf(o: KObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export function isControlledBy(o: KObject, owner: KObject): boolean {
  const ref = controllerRefOf(o);
  return !!ref && ref.uid === owner.metadata.uid;
}

export function newControllerRef(owner: KObject, ref: ResourceRef): OwnerReference {
  return {
    apiVersion: apiVersionOf(ref),
    kind: ref.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const keyFor = (o: KObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name));

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

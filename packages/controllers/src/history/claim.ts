/**
 * ControllerRefManager's claim for the StatefulSet and DaemonSet
 * controllers: of the candidate objects (pods or ControllerRevisions), the
 * parent owns those it controls and its selector matches; it adopts matching
 * orphans (a controller reference with blockOwnerDeletion) and releases owned
 * objects that stop matching. Nothing is adopted while the parent is being
 * deleted. Free of I/O.
 */
import { controllerOf, labelSelectorMatches, newControllerRef, type LabelSelector } from '@mkube/api';
import type { Action, KubeObject, Named, ResourceRef } from '../types.js';

export function claimObjects<T extends Named>(
  parent: Named,
  parentKind: { apiVersion: string; kind: string },
  selector: LabelSelector | undefined,
  candidates: readonly T[],
  ref: ResourceRef<KubeObject>,
): { owned: T[]; actions: Action[] } {
  const owned: T[] = [];
  const actions: Action[] = [];
  const deleting = !!parent.metadata.deletionTimestamp;
  for (const o of candidates) {
    const owner = controllerOf(o);
    const matches = labelSelectorMatches(selector, o.metadata.labels);
    if (owner) {
      if (owner.uid !== parent.metadata.uid) continue;
      if (matches) owned.push(o);
      else if (!deleting && !o.metadata.deletionTimestamp) {
        const next = structuredClone(o);
        next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== parent.metadata.uid);
        actions.push({ verb: 'update', ref, namespace: o.metadata.namespace, object: next });
      }
      continue;
    }
    if (!matches || deleting || o.metadata.deletionTimestamp) continue;
    const next = structuredClone(o);
    next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), newControllerRef(parent, parentKind)];
    actions.push({ verb: 'update', ref, namespace: o.metadata.namespace, object: next });
    owned.push(next);
  }
  return { owned, actions };
}

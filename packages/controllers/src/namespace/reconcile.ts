/**
 * Namespace deletion, free of I/O: while a namespace has a deletionTimestamp,
 * delete everything still in it; once nothing is left, drop the "kubernetes"
 * finalizer (PUT .../finalize) so the API server removes the namespace.
 */
import type { Namespace } from '@mkube/api';
import type { Action, Named, ResourceRef } from '../types.js';
import { R } from '../types.js';

export const FINALIZER_KUBERNETES = 'kubernetes';

export interface NamespaceInput {
  ns: Named<Namespace>;
  /** What is left in the namespace, per resource. */
  contents: Array<{ ref: ResourceRef; items: Named[] }>;
}

export type NamespaceAction = Action | { verb: 'finalize'; ref: typeof R.namespaces; object: Named<Namespace> };

export function reconcileNamespace(input: NamespaceInput): { actions: NamespaceAction[]; remaining: number } {
  const { ns } = input;
  if (!ns.metadata.deletionTimestamp) return { actions: [], remaining: 0 };
  const specFinalizers = ns.spec?.finalizers ?? [];
  const actions: NamespaceAction[] = [];
  let remaining = 0;
  for (const { ref, items } of input.contents) {
    for (const o of items) {
      remaining++;
      if (o.metadata.deletionTimestamp) continue;
      actions.push({ verb: 'delete', ref, namespace: ns.metadata.name, name: o.metadata.name, uid: o.metadata.uid, propagationPolicy: 'Background', reason: `namespace ${ns.metadata.name} is terminating` });
    }
  }
  if (remaining === 0 && specFinalizers.includes(FINALIZER_KUBERNETES)) {
    const next = structuredClone(ns);
    next.spec = { ...(next.spec ?? {}), finalizers: specFinalizers.filter((f) => f !== FINALIZER_KUBERNETES) };
    actions.push({ verb: 'finalize', ref: R.namespaces, object: next });
  }
  return { actions, remaining };
}

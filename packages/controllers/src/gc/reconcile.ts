/**
 * Garbage collector decisions, free of I/O, after Kubernetes' garbagecollector:
 *  - an object all of whose owners are gone (by uid) is deleted (background);
 *  - an owner being deleted in the foreground (finalizer foregroundDeletion)
 *    has its dependents deleted and loses the finalizer once no dependent
 *    with blockOwnerDeletion is left;
 *  - an owner being deleted with orphan propagation (finalizer orphan) has its
 *    ownerReference removed from every dependent, then loses the finalizer.
 */
import type { Action, Named, OwnerReference, ResourceRef } from '../types.js';

export const FINALIZER_FOREGROUND = 'foregroundDeletion';
export const FINALIZER_ORPHAN = 'orphan';

/** What the graph knows of an owner reference. */
export type OwnerState = 'present' | 'absent' | 'deletingForeground' | 'unknown';

export interface GcInput {
  obj: Named;
  ref: ResourceRef;
  /** Objects whose ownerReferences name `obj`'s uid, with their resource. */
  dependents: Array<{ obj: Named; ref: ResourceRef }>;
  /** The state of one of `obj`'s owners. */
  ownerState(owner: OwnerReference, namespace: string | undefined): OwnerState;
}

const clone = <T>(v: T): T => structuredClone(v);

export interface GcPlan {
  actions: Action[];
  /** Dependents with blockOwnerDeletion still in the way (foreground). */
  waitingFor: number;
  /** Deletions that rest on an owner being absent in the cache: confirm with the API before acting. */
  needsConfirmation: OwnerReference[];
}

function withoutFinalizer(o: Named, f: string): Named {
  const next = clone(o);
  next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((x) => x !== f);
  return next;
}

export function reconcileGc(input: GcInput): GcPlan {
  const { obj, ref } = input;
  const ns = obj.metadata.namespace;
  const actions: Action[] = [];
  const finalizers = obj.metadata.finalizers ?? [];
  const uid = obj.metadata.uid;

  if (obj.metadata.deletionTimestamp && finalizers.includes(FINALIZER_ORPHAN)) {
    for (const d of input.dependents) {
      const next = clone(d.obj);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      actions.push({ verb: 'update', ref: d.ref, namespace: d.obj.metadata.namespace, object: next });
    }
    if (input.dependents.length === 0) actions.push({ verb: 'update', ref, namespace: ns, object: withoutFinalizer(obj, FINALIZER_ORPHAN) });
    return { actions, waitingFor: 0, needsConfirmation: [] };
  }

  if (obj.metadata.deletionTimestamp && finalizers.includes(FINALIZER_FOREGROUND)) {
    let blocking = 0;
    for (const d of input.dependents) {
      const r = (d.obj.metadata.ownerReferences ?? []).find((x) => x.uid === uid);
      if (r?.blockOwnerDeletion) blocking++;
      if (!d.obj.metadata.deletionTimestamp) {
        actions.push({ verb: 'delete', ref: d.ref, namespace: d.obj.metadata.namespace, name: d.obj.metadata.name, uid: d.obj.metadata.uid, propagationPolicy: 'Foreground', reason: `owner ${ref.kind} ${obj.metadata.name} deleted in the foreground` });
      }
    }
    if (blocking === 0) actions.push({ verb: 'update', ref, namespace: ns, object: withoutFinalizer(obj, FINALIZER_FOREGROUND) });
    return { actions, waitingFor: blocking, needsConfirmation: [] };
  }

  const owners = obj.metadata.ownerReferences ?? [];
  if (owners.length === 0 || obj.metadata.deletionTimestamp) return { actions, waitingFor: 0, needsConfirmation: [] };
  const solid: OwnerReference[] = [];
  const dangling: OwnerReference[] = [];
  const waiting: OwnerReference[] = [];
  for (const o of owners) {
    const st = input.ownerState(o, ns);
    if (st === 'absent') dangling.push(o);
    else if (st === 'deletingForeground') waiting.push(o);
    else solid.push(o); // present or unknown: never delete on a guess
  }
  if (solid.length > 0) {
    if (dangling.length === 0 && !waiting.some((w) => w.blockOwnerDeletion)) return { actions, waitingFor: 0, needsConfirmation: [] };
    // Keep the object: drop references to owners that are gone, stop blocking owners that wait for us.
    const next = clone(obj);
    const gone = new Set(dangling.map((d) => d.uid));
    next.metadata.ownerReferences = owners.filter((r) => !gone.has(r.uid)).map((r) => (waiting.some((w) => w.uid === r.uid) ? { ...r, blockOwnerDeletion: false } : r));
    actions.push({ verb: 'update', ref, namespace: ns, object: next });
    return { actions, waitingFor: 0, needsConfirmation: dangling };
  }
  if (dangling.length === 0 && waiting.length > 0) {
    actions.push({ verb: 'delete', ref, namespace: ns, name: obj.metadata.name, uid, propagationPolicy: 'Foreground', reason: 'owners deleted in the foreground' });
    return { actions, waitingFor: 0, needsConfirmation: [] };
  }
  actions.push({ verb: 'delete', ref, namespace: ns, name: obj.metadata.name, uid, propagationPolicy: 'Background', reason: 'all owners are gone' });
  return { actions, waitingFor: 0, needsConfirmation: dangling };
}

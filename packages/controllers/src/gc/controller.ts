/**
 * The garbage collector: watches the kinds that carry ownerReferences, keeps
 * an owner-uid index, and deletes dependents whose owners are gone (after
 * confirming the absence with a live GET), runs foreground deletion and
 * orphaning for owners carrying those finalizers.
 */
import { objectKey as keyFor, resourceFor } from '@mkube/api';
import { ApiError, type Informer } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import type { KubeObject, Named, OwnerReference, ResourceRef } from '../types.js';
import { FINALIZER_FOREGROUND, FINALIZER_ORPHAN, reconcileGc, type OwnerState } from './reconcile.js';

/** The kinds the collector follows (owners and dependents), from the resource table. */
export const GC_RESOURCES: ResourceRef[] = [
  resourceFor('pods'),
  resourceFor('services'),
  resourceFor('endpoints'),
  resourceFor('configmaps'),
  resourceFor('secrets'),
  resourceFor('serviceaccounts'),
  resourceFor('nodes'),
  resourceFor('replicationcontrollers'),
  resourceFor('replicasets', 'apps'),
  resourceFor('deployments', 'apps'),
  resourceFor('statefulsets', 'apps'),
  resourceFor('daemonsets', 'apps'),
  resourceFor('controllerrevisions', 'apps'),
  resourceFor('persistentvolumeclaims'),
  resourceFor('jobs', 'batch'),
  resourceFor('cronjobs', 'batch'),
];

const BY_OWNER = 'ownerUid';
const hasGcFinalizer = (o: Named) => !!o.metadata.deletionTimestamp && (o.metadata.finalizers ?? []).some((f) => f === FINALIZER_FOREGROUND || f === FINALIZER_ORPHAN);

export function garbageCollector(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'garbagecollector' });
  const informers = new Map<string, { ref: ResourceRef; inf: Informer<KubeObject> }>();
  for (const r of GC_RESOURCES) {
    const inf = ctx.informers.for(r);
    inf.addIndexer(BY_OWNER, (o) => (o.metadata.ownerReferences ?? []).map((x) => x.uid));
    informers.set(`${r.group}/${r.resource}`, { ref: r, inf });
  }
  const byKind = new Map(GC_RESOURCES.map((r) => [`${r.group}/${r.kind}`, r]));
  const qkey = (r: ResourceRef, o: Named) => `${r.group}/${r.resource}|${keyFor(o)}`;

  const refFor = (o: OwnerReference): ResourceRef | undefined => {
    const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
    return byKind.get(`${group}/${o.kind}`);
  };
  const ownerKey = (r: ResourceRef, o: OwnerReference, ns: string | undefined) => (r.namespaced ? `${ns}/${o.name}` : o.name);
  const ownerState = (o: OwnerReference, ns: string | undefined): OwnerState => {
    const r = refFor(o);
    if (!r) return 'unknown';
    const owner = informers.get(`${r.group}/${r.resource}`)!.inf.get(ownerKey(r, o, ns));
    if (!owner || owner.metadata.uid !== o.uid) return 'absent';
    if (owner.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes(FINALIZER_FOREGROUND)) return 'deletingForeground';
    return 'present';
  };
  const dependentsOf = (uid: string) => {
    const out: Array<{ obj: Named; ref: ResourceRef }> = [];
    for (const { ref: r, inf } of informers.values()) for (const o of inf.byIndex(BY_OWNER, uid)) out.push({ obj: o, ref: r });
    return out;
  };

  const c = new QueueController({
    name: 'garbagecollector',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const [rk, objKey] = key.split('|') as [string, string];
      const entry = informers.get(rk);
      const obj = entry?.inf.get(objKey);
      if (!entry || !obj) return;
      const plan = reconcileGc({ obj, ref: entry.ref, dependents: obj.metadata.uid ? dependentsOf(obj.metadata.uid) : [], ownerState });
      // The cache may simply not have seen a new owner yet: ask the server before acting on an absence.
      for (const o of plan.needsConfirmation) {
        const r = refFor(o)!;
        try {
          const live = await ctx.client.resource<KubeObject>(r).get(r.namespaced ? obj.metadata.namespace : undefined, o.name);
          if (live.metadata.uid === o.uid) return { requeueAfterMs: 1000 };
        } catch (err) {
          if (!ApiError.isNotFound(err)) throw err;
        }
      }
      for (const a of plan.actions) if (a.verb === 'delete') log.info({ object: `${entry.ref.resource} ${objKey}`, target: `${a.ref.resource} ${a.namespace ?? ''}/${a.name}`, reason: a.reason }, 'deleting');
      await ctx.executor.runAll(plan.actions);
      if (plan.waitingFor > 0) return { requeueAfterMs: 2000 };
    },
  });

  for (const { ref: r, inf } of informers.values()) {
    const consider = (o: Named) => {
      if ((o.metadata.ownerReferences ?? []).length > 0 || hasGcFinalizer(o)) c.enqueue(qkey(r, o));
    };
    /** Owners this object no longer points to (an orphaning owner waits for exactly that). */
    const releasedOwners = (old: Named, cur: Named) => {
      const kept = new Set((cur.metadata.ownerReferences ?? []).map((x) => x.uid));
      for (const owner of old.metadata.ownerReferences ?? []) {
        if (kept.has(owner.uid)) continue;
        const orr = refFor(owner);
        if (!orr) continue;
        const ok = ownerKey(orr, owner, cur.metadata.namespace);
        if (informers.get(`${orr.group}/${orr.resource}`)!.inf.get(ok)) c.enqueue(`${orr.group}/${orr.resource}|${ok}`);
      }
    };
    inf.addEventHandler({
      add: consider,
      update: (old, o) => {
        consider(o);
        releasedOwners(old, o);
      },
      delete: (o) => {
        // Dependents may now be orphans; owners waiting in the foreground may now be free.
        if (o.metadata.uid) for (const d of dependentsOf(o.metadata.uid)) c.enqueue(qkey(d.ref, d.obj));
        for (const owner of o.metadata.ownerReferences ?? []) {
          const orr = refFor(owner);
          if (!orr) continue;
          const ok = ownerKey(orr, owner, o.metadata.namespace);
          if (informers.get(`${orr.group}/${orr.resource}`)!.inf.get(ok)) c.enqueue(`${orr.group}/${orr.resource}|${ok}`);
        }
      },
    });
  }
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

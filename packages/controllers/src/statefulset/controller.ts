/**
 * The StatefulSet controller: wiring of reconcileStatefulSet to the set,
 * pod, ControllerRevision and PersistentVolumeClaim caches and a work queue.
 * A plan runs in upstream's order: adoption, the update revision, the pod
 * and claim writes one by one (each with its SuccessfulCreate /
 * SuccessfulDelete / Failed… event on the set), the status (also after a
 * failed write), then history truncation. Pod names are fixed, so a write
 * decided on a stale cache fails with AlreadyExists/NotFound/Conflict and is
 * retried, never doubled.
 */
import { controllerOf, labelSelectorMatches, objectKey as keyFor, splitObjectKey, type Pod } from '@mkube/api';
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { ActionError, describe } from '../runtime/executor.js';
import { inNamespace } from '../runtime/informers.js';
import { R, type KubeObject, type Named } from '../types.js';
import { controllerRevisions } from '../history/revision.js';
import { STATEFUL_SET_KIND, claimsResource, statefulSets } from './identity.js';
import { reconcileStatefulSet } from './reconcile.js';

export function statefulSetController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'statefulset' });
  const sets = ctx.informers.for(statefulSets);
  const pods = ctx.informers.for(R.pods);
  const revisions = ctx.informers.for(controllerRevisions);
  const claimsRef = claimsResource();
  const claims = claimsRef ? ctx.informers.for(claimsRef) : undefined;
  const events = new EventRecorder(ctx.client, log, 'statefulset-controller', () => ctx.clock.now());

  const c = new QueueController({
    name: 'statefulset',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const set = sets.get(key);
      if (!set) return;
      const ns = splitObjectKey(key).namespace ?? '';
      const plan = reconcileStatefulSet({
        set,
        pods: inNamespace(pods, ns),
        revisions: inNamespace(revisions, ns),
        claims: claims ? inNamespace(claims, ns) : undefined,
        claimsRef,
        now: ctx.clock.now(),
      });
      await ctx.executor.runAll(plan.claims);
      await ctx.executor.runAll(plan.revisions);
      for (const e of plan.events) events.record(set, STATEFUL_SET_KIND, e);
      let failure: unknown;
      for (const step of plan.steps) {
        try {
          await ctx.executor.run(step.action);
          if (step.success) events.record(set, STATEFUL_SET_KIND, step.success);
          log.info({ statefulset: key, verb: step.action.verb, resource: step.action.ref.resource, object: describe(step.action) }, 'wrote');
        } catch (err) {
          // A stale cache re-deciding a write already done: not worth an event.
          if (!ApiError.isAlreadyExists(err) && !ApiError.isConflict(err) && step.failure) events.record(set, STATEFUL_SET_KIND, step.failure((err as Error).message));
          failure = new ActionError(step.action, err);
          break;
        }
      }
      if (plan.status) await ctx.executor.runAll([plan.status]);
      if (failure) throw failure;
      await ctx.executor.runAll(plan.history);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  const ownerOf = (o: Named<KubeObject>): string[] => {
    const ref = controllerOf(o);
    if (ref) return ref.kind === 'StatefulSet' ? [`${o.metadata.namespace}/${ref.name}`] : [];
    return inNamespace(sets, o.metadata.namespace ?? '')
      .filter((s) => labelSelectorMatches(s.spec?.selector, o.metadata.labels))
      .map(keyFor);
  };
  const enqueueOwners = (...objs: Named<KubeObject>[]): void => new Set(objs.flatMap(ownerOf)).forEach((k) => c.enqueue(k));

  sets.addEventHandler({ add: (s) => c.enqueue(keyFor(s)), update: (_o, s) => c.enqueue(keyFor(s)), delete: (s) => c.enqueue(keyFor(s)) });
  pods.addEventHandler({
    add: (p: Named<Pod>) => enqueueOwners(p),
    update: (old: Named<Pod>, p: Named<Pod>) => enqueueOwners(old, p),
    delete: (p: Named<Pod>) => enqueueOwners(p),
  });
  revisions.addEventHandler({ add: (r) => enqueueOwners(r), update: (o, r) => enqueueOwners(o, r), delete: (r) => enqueueOwners(r) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

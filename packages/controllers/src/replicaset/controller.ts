/**
 * The ReplicaSet controller: wiring of reconcileReplicaSet to informers, a
 * work queue and expectations; the same controller, with the
 * ReplicationController flavor, is the replication controller.
 */
import { Expectations } from '../expectations.js';
import { QueueController } from '../runtime/controller.js';
import { ActionError } from '../runtime/executor.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { controllerOf, labelSelectorMatches, objectKey as keyFor, splitObjectKey, type Pod } from '@mkube/api';
import { R, type Named } from '../types.js';
import { reconcileReplicaSet } from './reconcile.js';
import { REPLICA_SET, REPLICATION_CONTROLLER, type ReplicaSetLike, type SetFlavor } from './flavor.js';

export function replicaSetController(ctx: ControllerContext): RunningController {
  return setController(ctx, REPLICA_SET);
}

export function replicationControllerController(ctx: ControllerContext): RunningController {
  return setController(ctx, REPLICATION_CONTROLLER);
}

function setController<S extends ReplicaSetLike>(ctx: ControllerContext, flavor: SetFlavor<S>): RunningController {
  const log = ctx.log.child({ controller: flavor.name });
  const sets = ctx.informers.for(flavor.ref);
  const pods = ctx.informers.for(R.pods);
  const expectations = new Expectations(ctx.clock);

  const ownerKey = (pod: Named<Pod>): string | undefined => {
    const ref = controllerOf(pod);
    if (!ref || ref.kind !== flavor.ref.kind) return undefined;
    const key = `${pod.metadata.namespace}/${ref.name}`;
    const rs = sets.get(key);
    return rs && rs.metadata.uid === ref.uid ? key : undefined;
  };
  const matchingSets = (pod: Named<Pod>): string[] =>
    inNamespace(sets, pod.metadata.namespace ?? '').filter((rs) => labelSelectorMatches(flavor.selector(rs), pod.metadata.labels)).map(keyFor);

  const c = new QueueController({
    name: flavor.name,
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const rs = sets.get(key);
      if (!rs) {
        expectations.forget(key);
        return;
      }
      const plan = reconcileReplicaSet({ rs, pods: inNamespace(pods, splitObjectKey(key).namespace ?? ''), now: ctx.clock.now(), expectationsSatisfied: expectations.satisfied(key), flavor });
      await ctx.executor.runAll(plan.claims);
      if (plan.creates.length > 0 || plan.deletes.length > 0) {
        expectations.expect(key, plan.creates.length, plan.deletes.map((d) => `${d.namespace}/${d.name}`));
        log.info({ rs: key, create: plan.creates.length, delete: plan.deletes.map((d) => d.name) }, plan.creates.length ? 'creating pods' : 'deleting pods');
      }
      // Slow start: batches of 1, 2, 4, ... so a broken template fails once, not 500 times.
      let batch = 1;
      let done = 0;
      let failure: unknown;
      while (done < plan.creates.length && !failure) {
        const chunk = plan.creates.slice(done, done + batch);
        const results = await Promise.allSettled(chunk.map((a) => ctx.executor.run(a)));
        for (const r of results) {
          if (r.status === 'rejected') {
            expectations.creationObserved(key);
            failure ??= new ActionError(chunk[0]!, r.reason);
          }
        }
        done += chunk.length;
        batch *= 2;
      }
      for (let i = done; i < plan.creates.length; i++) expectations.creationObserved(key);
      const delResults = await Promise.allSettled(plan.deletes.map((a) => ctx.executor.run(a)));
      delResults.forEach((r, i) => {
        if (r.status === 'rejected') {
          const d = plan.deletes[i]!;
          expectations.deletionObserved(key, `${d.namespace}/${d.name}`);
          failure ??= new ActionError(d, r.reason);
        }
      });
      if (plan.status) await ctx.executor.runAll([plan.status]);
      if (failure) throw failure;
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  sets.addEventHandler({
    add: (rs) => c.enqueue(keyFor(rs)),
    update: (_old, rs) => c.enqueue(keyFor(rs)),
    delete: (rs) => {
      expectations.forget(keyFor(rs));
      c.enqueue(keyFor(rs));
    },
  });
  pods.addEventHandler({
    add: (pod) => {
      if (pod.metadata.deletionTimestamp) return;
      const k = ownerKey(pod);
      if (k) {
        expectations.creationObserved(k);
        c.enqueue(k);
      } else if (!controllerOf(pod)) for (const s of matchingSets(pod)) c.enqueue(s);
    },
    update: (old, pod) => {
      const k = ownerKey(pod);
      const ok = ownerKey(old);
      if (pod.metadata.deletionTimestamp && !old.metadata.deletionTimestamp && k) expectations.deletionObserved(k, keyFor(pod));
      if (ok && ok !== k) c.enqueue(ok);
      if (k) c.enqueue(k);
      else if (!controllerOf(pod)) for (const s of matchingSets(pod)) c.enqueue(s);
    },
    delete: (pod) => {
      const k = ownerKey(pod);
      if (!k) return;
      expectations.deletionObserved(k, keyFor(pod));
      c.enqueue(k);
    },
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

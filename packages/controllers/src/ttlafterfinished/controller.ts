/**
 * The TTL-after-finished controller: wiring of reconcileTtl to the Job cache
 * and a work queue. The deletion is preconditioned on the Job's uid, and the
 * decision is re-made on a fresh read of the Job (as upstream) so a TTL
 * changed in the meantime is honoured.
 */
import { ApiError } from '@mkube/client';
import { objectKey as keyFor, splitObjectKey, type Job } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import type { Named } from '../types.js';
import { JOBS } from '../job/resource.js';
import { reconcileTtl } from './reconcile.js';

export function ttlAfterFinishedController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'ttl-after-finished' });
  const jobs = ctx.informers.for(JOBS);

  const c = new QueueController({
    name: 'ttl-after-finished',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const cached = jobs.get(key);
      if (!cached) return;
      let plan = reconcileTtl(cached, ctx.clock.now());
      if (!plan.action) return { requeueAfterMs: plan.requeueAfterMs };
      const { namespace, name } = splitObjectKey(key);
      let fresh: Named<Job>;
      try {
        fresh = await ctx.client.resource<Job>(JOBS).get(namespace, name);
      } catch (err) {
        if (ApiError.isNotFound(err)) return;
        throw err;
      }
      plan = reconcileTtl(fresh, ctx.clock.now());
      if (!plan.action) return { requeueAfterMs: plan.requeueAfterMs };
      log.info({ job: key }, 'deleting a finished job whose TTL expired');
      await ctx.executor.runAll([plan.action]);
    },
  });
  const enqueue = (j: Named<Job>) => {
    if (j.spec?.ttlSecondsAfterFinished !== undefined && j.spec.ttlSecondsAfterFinished !== null) c.enqueue(keyFor(j));
  };
  jobs.addEventHandler({ add: enqueue, update: (_o, j) => enqueue(j) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

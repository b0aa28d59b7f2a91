/**
 * The CronJob controller: wiring of reconcileCronJob to the CronJob and Job
 * caches and a work queue; every CronJob comes back at its next schedule time
 * (requeueAfterMs), and whenever one of its Jobs changes.
 */
import { ApiError } from '@mkube/client';
import { controllerOf, objectKey as keyFor, splitObjectKey, type CronJob, type Job } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { inNamespace } from '../runtime/informers.js';
import type { Named } from '../types.js';
import { CRONJOBS, JOBS } from '../job/resource.js';
import { reconcileCronJob } from './reconcile.js';

export function cronJobController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'cronjob' });
  const cronjobs = ctx.informers.for(CRONJOBS);
  const jobs = ctx.informers.for(JOBS);
  const events = new EventRecorder(ctx.client, log, 'cronjob-controller', () => ctx.clock.now());

  const c = new QueueController({
    name: 'cronjob',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const cached = cronjobs.get(key);
      if (!cached) return;
      const { namespace, name } = splitObjectKey(key);
      const nsJobs = inNamespace(jobs, namespace ?? '');
      let cj = cached;
      let plan = reconcileCronJob({ cj, jobs: nsJobs, now: ctx.clock.now() });
      if (plan.unexpectedJobs.length) {
        // A Job missing from status.active may be one our last status write lists and the cache does not show yet.
        try {
          cj = await ctx.client.resource<CronJob>(CRONJOBS).get(namespace, name);
        } catch (err) {
          if (ApiError.isNotFound(err)) return;
          throw err;
        }
        plan = reconcileCronJob({ cj, jobs: nsJobs, now: ctx.clock.now() });
      }
      if (plan.actions.some((a) => a.verb === 'create')) log.info({ cronjob: key }, 'starting a scheduled job');
      await ctx.executor.runAll(plan.actions);
      for (const e of plan.events) events.record(cj, CRONJOBS, e);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  const ownerOf = (j: Named<Job>): string | undefined => {
    const ref = controllerOf(j);
    return ref?.kind === 'CronJob' ? `${j.metadata.namespace}/${ref.name}` : undefined;
  };
  const enqueueOwner = (j: Named<Job>) => {
    const k = ownerOf(j);
    if (k) c.enqueue(k);
  };
  cronjobs.addEventHandler({ add: (cj) => c.enqueue(keyFor(cj)), update: (_o, cj) => c.enqueue(keyFor(cj)) });
  jobs.addEventHandler({ add: enqueueOwner, update: (_o, j) => enqueueOwner(j), delete: enqueueOwner });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

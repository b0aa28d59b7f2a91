/**
 * The Job controller: wiring of reconcileJob to the Job and pod caches, a
 * work queue, create/delete expectations and the expectations of finalizer
 * removals (so a pod the cache still shows with the tracking finalizer is
 * never counted twice); pods left with the tracking finalizer by a deleted or
 * finished Job go through a second queue (orphans.ts); events as upstream (SuccessfulCreate,
 * SuccessfulDelete, Completed, the failure reasons, Suspended, Resumed).
 */
import { ApiError } from '@mkube/client';
import { controllerOf, objectKey as keyFor, splitObjectKey, type Job, type Pod } from '@mkube/api';
import { Expectations } from '../expectations.js';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { ActionError } from '../runtime/executor.js';
import { inNamespace } from '../runtime/informers.js';
import { R, type Named } from '../types.js';
import { JOB_TRACKING_FINALIZER } from './labels.js';
import { isOrphanTrackedPod, removeTrackingFinalizer } from './orphans.js';
import { reconcileJob } from './reconcile.js';
import { JOBS } from './resource.js';

export function jobController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'job' });
  const jobs = ctx.informers.for(JOBS);
  const pods = ctx.informers.for(R.pods);
  const expectations = new Expectations(ctx.clock);
  /** Per Job key: uids of pods whose finalizer removal was issued and not yet seen. */
  const removing = new Map<string, Set<string>>();
  const events = new EventRecorder(ctx.client, log, 'job-controller', () => ctx.clock.now());

  const ownerKey = (pod: Named<Pod>): string | undefined => {
    const ref = controllerOf(pod);
    if (!ref || ref.kind !== 'Job') return undefined;
    return `${pod.metadata.namespace}/${ref.name}`;
  };
  const finalizerSeen = (pod: Named<Pod>): void => {
    const k = ownerKey(pod);
    if (!k) return;
    const set = removing.get(k);
    if (set && !(pod.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)) set.delete(pod.metadata.uid ?? '');
  };

  const c = new QueueController({
    name: 'job',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const job = jobs.get(key);
      if (!job) {
        expectations.forget(key);
        removing.delete(key);
        return;
      }
      const rm = removing.get(key) ?? new Set<string>();
      removing.set(key, rm);
      const plan = reconcileJob({
        job,
        pods: inNamespace(pods, splitObjectKey(key).namespace ?? ''),
        now: ctx.clock.now(),
        expectationsSatisfied: expectations.satisfied(key),
        finalizersRemoving: rm,
      });
      await ctx.executor.runAll(plan.claims);
      if (plan.recordUncounted) await ctx.executor.runAll([plan.recordUncounted]);
      // Finalizers come off only after the outcomes are in uncountedTerminatedPods.
      for (const uid of plan.finalizerUids) rm.add(uid);
      const fin = await Promise.allSettled(plan.removeFinalizers.map((a) => ctx.executor.run(a)));
      let failure: unknown;
      fin.forEach((r, i) => {
        if (r.status === 'rejected') {
          rm.delete(plan.finalizerUids[i]!);
          // A pod already gone has no finalizer left to remove.
          if (!ApiError.isNotFound(r.reason)) failure ??= new ActionError(plan.removeFinalizers[i]!, r.reason);
        }
      });
      if (failure) throw failure;
      if (plan.creates.length || plan.deletes.length) {
        expectations.expect(key, plan.creates.length, plan.deletes.map((d) => `${d.namespace}/${d.name}`));
        log.info({ job: key, create: plan.creates.length, delete: plan.deletes.map((d) => d.name) }, plan.creates.length ? 'creating pods' : 'deleting pods');
      }
      // Slow start as the ReplicaSet controller: batches of 1, 2, 4, ...
      let batch = 1;
      let done = 0;
      while (done < plan.creates.length && !failure) {
        const chunk = plan.creates.slice(done, done + batch);
        const results = await Promise.allSettled(chunk.map((a) => ctx.executor.run(a)));
        results.forEach((r, i) => {
          if (r.status === 'rejected') {
            expectations.creationObserved(key);
            failure ??= new ActionError(chunk[i]!, r.reason);
            events.record(job, JOBS, { type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${(r.reason as Error)?.message ?? String(r.reason)}` });
          } else events.record(job, JOBS, { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${r.value?.metadata?.name ?? ''}` });
        });
        done += chunk.length;
        batch *= 2;
      }
      for (let i = done; i < plan.creates.length; i++) expectations.creationObserved(key);
      const dels = await Promise.allSettled(plan.deletes.map((a) => ctx.executor.run(a)));
      dels.forEach((r, i) => {
        const d = plan.deletes[i]!;
        if (r.status === 'rejected') {
          expectations.deletionObserved(key, `${d.namespace}/${d.name}`);
          failure ??= new ActionError(d, r.reason);
          events.record(job, JOBS, { type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${(r.reason as Error)?.message ?? String(r.reason)}` });
        } else events.record(job, JOBS, { type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${d.name}` });
      });
      if (failure) throw failure;
      if (plan.status) await ctx.executor.runAll([plan.status]);
      for (const e of plan.events) events.record(job, JOBS, e);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  // Pods with the tracking finalizer whose Job is gone or finished (upstream's orphan queue), keyed by pod.
  const jobNamed = (ns: string, name: string) => jobs.get(`${ns}/${name}`);
  const orphans = new QueueController({
    name: 'job-orphan-pods',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const pod = pods.get(key);
      if (!pod || !isOrphanTrackedPod(pod, jobNamed)) return;
      try {
        await ctx.executor.run(removeTrackingFinalizer(pod));
      } catch (err) {
        if (!ApiError.isNotFound(err)) throw err;
      }
    },
  });
  const checkOrphan = (pod: Named<Pod>) => {
    if (isOrphanTrackedPod(pod, jobNamed)) orphans.enqueue(keyFor(pod));
  };

  const enqueueJob = (job: Named<Job>) => c.enqueue(keyFor(job));
  jobs.addEventHandler({
    add: enqueueJob,
    update: (_o, j) => enqueueJob(j),
    delete: (j) => {
      expectations.forget(keyFor(j));
      removing.delete(keyFor(j));
      // Its pods keep the finalizer only for this Job's counting: let them go (upstream's cleanupPodFinalizers).
      for (const pod of inNamespace(pods, j.metadata.namespace ?? '')) if (controllerOf(pod)?.uid === j.metadata.uid) checkOrphan(pod);
    },
  });
  pods.addEventHandler({
    add: (pod) => {
      checkOrphan(pod);
      const k = ownerKey(pod);
      if (!k) return;
      expectations.creationObserved(k);
      c.enqueue(k);
    },
    update: (old, pod) => {
      finalizerSeen(pod);
      checkOrphan(pod);
      const k = ownerKey(pod);
      if (pod.metadata.deletionTimestamp && !old.metadata.deletionTimestamp && k) expectations.deletionObserved(k, keyFor(pod));
      const ok = ownerKey(old);
      if (ok && ok !== k) c.enqueue(ok);
      if (k) c.enqueue(k);
    },
    delete: (pod) => {
      const k = ownerKey(pod);
      if (!k) return;
      removing.get(k)?.delete(pod.metadata.uid ?? '');
      expectations.deletionObserved(k, keyFor(pod));
      c.enqueue(k);
    },
  });
  return {
    name: c.name,
    start: () => {
      c.start();
      orphans.start();
    },
    stop: async () => {
      await Promise.all([c.stop(), orphans.stop()]);
    },
  };
}

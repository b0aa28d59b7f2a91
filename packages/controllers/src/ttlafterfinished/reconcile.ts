/**
 * TTL-after-finished, free of I/O: a finished Job (Complete or Failed) with
 * spec.ttlSecondsAfterFinished is deleted that long after it finished (the
 * finishing condition's lastTransitionTime, else completionTime), with
 * background propagation so its pods go too; otherwise come back when it
 * expires.
 */
import { parseTime, type Job } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { JOBS } from '../job/resource.js';

export interface TtlPlan {
  action?: Action;
  requeueAfterMs?: number;
}

/** When the Job finished (upstream's jobFinishTime), or undefined while it runs. */
export function jobFinishTime(job: Job): number | undefined {
  for (const c of job.status?.conditions ?? []) {
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return parseTime(c.lastTransitionTime) ?? parseTime(job.status?.completionTime);
  }
  return undefined;
}

export function reconcileTtl(job: Named<Job>, now: number): TtlPlan {
  const ttl = job.spec?.ttlSecondsAfterFinished;
  if (ttl === undefined || ttl === null || job.metadata.deletionTimestamp) return {};
  const finished = jobFinishTime(job);
  if (finished === undefined) return {};
  const expireAt = finished + ttl * 1000;
  if (expireAt > now) return { requeueAfterMs: expireAt - now };
  return { action: { verb: 'delete', ref: JOBS, namespace: job.metadata.namespace, name: job.metadata.name, uid: job.metadata.uid, propagationPolicy: 'Background', reason: 'ttlSecondsAfterFinished expired' } };
}

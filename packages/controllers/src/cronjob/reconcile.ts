/**
 * CronJob reconcile, free of I/O (upstream's cronjob controllerv2 syncCronJob):
 * from the CronJob, the Jobs of its namespace and an injected time, decide the
 * status.active list, lastScheduleTime / lastSuccessfulTime, whether a Job
 * starts now (the most recent missed schedule within startingDeadlineSeconds,
 * at most 100 missed starts counted before the "too many missed start times"
 * warning, concurrencyPolicy Allow/Forbid/Replace, suspend), which finished
 * Jobs go beyond the history limits, and when to come back.
 */
import { controllerOf, formatTime, isConditionTrue, newControllerRef, parseTime, type CronJob, type CronJobStatus, type Job, type ObjectReference } from '@mkube/api';
import type { Action, Named } from '../types.js';
import type { EventSpec } from '../runtime/events.js';
import { CRONJOB_SCHEDULED_TIMESTAMP } from '../job/labels.js';
import { CRONJOBS, JOBS } from '../job/resource.js';
import { isValidTimeZone, parseSchedule, type Schedule } from './schedule.js';

export const MAX_MISSED_SCHEDULES = 100;

export interface CronJobInput {
  cj: Named<CronJob>;
  /** Every Job in the CronJob's namespace. */
  jobs: Named<Job>[];
  now: number;
}

export interface CronJobPlan {
  /** In order: Replace's deletions, the new Job, the status, history cleanup. */
  actions: Action[];
  events: EventSpec[];
  requeueAfterMs?: number;
  /**
   * Unfinished Jobs controlled by the CronJob but missing from status.active (created by
   * `kubectl create job --from=cronjob/...`, or by us on a CronJob status the cache does not show
   * yet). The caller decides again on a fresh read of the CronJob before acting (as upstream).
   */
  unexpectedJobs: string[];
}

const clone = <T>(v: T): T => structuredClone(v);

export const jobFinished = (j: Job): { done: boolean; type?: 'Complete' | 'Failed' } => {
  if (isConditionTrue(j.status?.conditions, 'Complete')) return { done: true, type: 'Complete' };
  if (isConditionTrue(j.status?.conditions, 'Failed')) return { done: true, type: 'Failed' };
  return { done: false };
};

/** getJobName: `<cronjob>-<scheduled time in minutes since the epoch>`. */
export function jobNameFor(cj: Named<CronJob>, scheduledMs: number): string {
  return `${cj.metadata.name}-${Math.floor(scheduledMs / 60_000)}`;
}

/**
 * mostRecentScheduleTime: the latest activation in (earliest, now], where
 * earliest is lastScheduleTime (or creation), no earlier than now minus
 * startingDeadlineSeconds; and how many were missed. Counting stops past
 * MAX_MISSED_SCHEDULES + 1 (the answer is then "too many"), the most recent
 * still found by stepping from now back a window.
 */
export function mostRecentSchedule(cj: Named<CronJob>, sched: Schedule, now: number): { time?: number; missed: number; next: number } {
  let earliest = parseTime(cj.status?.lastScheduleTime) ?? parseTime(cj.metadata.creationTimestamp) ?? now;
  const sds = cj.spec?.startingDeadlineSeconds;
  if (sds !== undefined && sds !== null) earliest = Math.max(earliest, now - sds * 1000);
  const next = sched.next(now);
  if (earliest > now) return { missed: 0, next };
  let t = sched.next(earliest);
  let missed = 0;
  let last: number | undefined;
  while (t <= now) {
    missed++;
    last = t;
    if (missed > MAX_MISSED_SCHEDULES) {
      // Too many to walk one by one: look back from now in growing windows for the latest activation.
      for (let span = 60_000; ; span *= 4) {
        const from = Math.max(earliest, now - span);
        let found: number | undefined;
        for (let n = sched.next(from), steps = 0; n <= now && steps < 10_000; n = sched.next(n), steps++) found = n;
        if (found !== undefined) return { time: found, missed, next };
      }
    }
    t = sched.next(t);
  }
  return { time: last, missed, next };
}

const ref = (j: Named<Job>): ObjectReference => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  name: j.metadata.name,
  namespace: j.metadata.namespace,
  uid: j.metadata.uid,
  resourceVersion: j.metadata.resourceVersion,
});

/** The Job for one scheduled time (getJobFromTemplate2). */
export function jobFromTemplate(cj: Named<CronJob>, scheduledMs: number): Named<Job> {
  const tpl = clone(cj.spec?.jobTemplate ?? {});
  const annotations: Record<string, string> = { ...(tpl.metadata?.annotations ?? {}), [CRONJOB_SCHEDULED_TIMESTAMP]: formatTime(scheduledMs) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobNameFor(cj, scheduledMs),
      namespace: cj.metadata.namespace,
      labels: { ...(tpl.metadata?.labels ?? {}) },
      annotations,
      ownerReferences: [newControllerRef(cj, CRONJOBS)],
    },
    spec: tpl.spec ?? { template: { spec: { containers: [] } } },
  };
}

const startedAt = (j: Job): number => parseTime(j.status?.startTime) ?? parseTime(j.metadata?.creationTimestamp) ?? 0;

export function reconcileCronJob(input: CronJobInput): CronJobPlan {
  const { cj, now } = input;
  const plan: CronJobPlan = { actions: [], events: [], unexpectedJobs: [] };
  if (cj.metadata.deletionTimestamp) return plan;
  const ns = cj.metadata.namespace;
  const owned = input.jobs.filter((j) => controllerOf(j)?.uid === cj.metadata.uid);
  const byName = new Map(owned.map((j) => [j.metadata.name, j]));
  const status: CronJobStatus = clone(cj.status ?? {});
  let active = [...(status.active ?? [])];
  let changed = false;

  // --- status.active against the Jobs.
  for (const j of owned) {
    const fin = jobFinished(j);
    // A Job this controller just created is listed by name until its uid is known.
    const at = active.findIndex((a) => a.uid === j.metadata.uid || (!a.uid && a.name === j.metadata.name));
    const listed = at >= 0;
    if (listed && !active[at]!.uid) {
      active[at] = ref(j);
      changed = true;
    }
    if (!fin.done && !listed) {
      // As upstream: not adopted into status.active (its caller re-reads the CronJob first, see unexpectedJobs).
      plan.unexpectedJobs.push(j.metadata.name);
      plan.events.push({ type: 'Warning', reason: 'UnexpectedJob', message: `Saw a job that the controller did not create or forgot: ${j.metadata.name}` });
    } else if (fin.done && listed) {
      active = active.filter((a) => a.uid !== j.metadata.uid);
      changed = true;
      plan.events.push({ type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed job: ${j.metadata.name}, condition: ${fin.type}` });
    }
    if (fin.type === 'Complete') {
      const done = parseTime(j.status?.completionTime);
      if (done !== undefined && (parseTime(status.lastSuccessfulTime) ?? 0) < done) {
        status.lastSuccessfulTime = formatTime(done);
        changed = true;
      }
    }
  }
  for (const a of [...active]) {
    const j = byName.get(a.name ?? '');
    if (a.uid && (!j || j.metadata.uid !== a.uid)) {
      active = active.filter((x) => x !== a);
      changed = true;
      plan.events.push({ type: 'Normal', reason: 'MissingJob', message: `Active job went missing: ${a.name}` });
    }
  }

  // --- History limits (finished Jobs, oldest first).
  const cleanup: Action[] = [];
  const limitOf = (v: number | undefined | null): number | undefined => (v === undefined || v === null ? undefined : v);
  for (const [type, limit] of [['Complete', limitOf(cj.spec?.successfulJobsHistoryLimit)], ['Failed', limitOf(cj.spec?.failedJobsHistoryLimit)]] as const) {
    if (limit === undefined) continue;
    const finished = owned.filter((j) => jobFinished(j).type === type && !j.metadata.deletionTimestamp).sort((a, b) => startedAt(a) - startedAt(b));
    for (const j of finished.slice(0, Math.max(finished.length - limit, 0))) {
      cleanup.push({ verb: 'delete', ref: JOBS, namespace: ns, name: j.metadata.name, uid: j.metadata.uid, propagationPolicy: 'Background', reason: 'history limit' });
      plan.events.push({ type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted job ${j.metadata.name}` });
    }
  }

  const finish = (): CronJobPlan => {
    status.active = active;
    if (changed) {
      const next = clone(cj);
      next.status = status;
      plan.actions.push({ verb: 'updateStatus', ref: CRONJOBS, namespace: ns, object: next });
    }
    plan.actions.push(...cleanup);
    return plan;
  };

  // --- Schedule.
  const tz = cj.spec?.timeZone ?? undefined;
  if (tz !== undefined && !isValidTimeZone(tz)) {
    plan.events.push({ type: 'Warning', reason: 'UnknownTimeZone', message: `invalid timeZone: "${tz}": unknown time zone ${tz}` });
    return finish();
  }
  let sched: Schedule;
  try {
    sched = parseSchedule(cj.spec?.schedule ?? '', tz);
  } catch (err) {
    plan.events.push({ type: 'Warning', reason: 'UnparseableSchedule', message: `unparseable schedule: "${cj.spec?.schedule ?? ''}" : ${(err as Error).message}` });
    return finish();
  }
  if (cj.spec?.suspend) return finish();
  const recent = mostRecentSchedule(cj, sched, now);
  plan.requeueAfterMs = Math.max(recent.next - now, 0) + 100;
  if (recent.missed > MAX_MISSED_SCHEDULES) {
    plan.events.push({ type: 'Warning', reason: 'TooManyMissedTimes', message: `too many missed start times: ${recent.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew` });
  }
  if (recent.time === undefined) return finish();
  const scheduled = recent.time;
  const sds = cj.spec?.startingDeadlineSeconds;
  if (sds !== undefined && sds !== null && scheduled + sds * 1000 < now) {
    plan.events.push({ type: 'Warning', reason: 'MissSchedule', message: `Missed scheduled time to start a job: ${formatTime(scheduled)}` });
    return finish();
  }
  const name = jobNameFor(cj, scheduled);
  if (byName.has(name) || active.some((a) => a.name === name)) return finish();
  const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
  if (policy === 'Forbid' && active.length > 0) {
    plan.events.push({ type: 'Normal', reason: 'JobAlreadyActive', message: 'Not starting job because prior execution is running and concurrency policy is Forbid' });
    return finish();
  }
  if (policy === 'Replace') {
    for (const a of active) {
      plan.actions.push({ verb: 'delete', ref: JOBS, namespace: ns, name: a.name ?? '', uid: a.uid, propagationPolicy: 'Background', reason: 'concurrencyPolicy Replace' });
      plan.events.push({ type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted job ${a.name}` });
    }
    if (active.length) changed = true;
    active = [];
  }
  const job = jobFromTemplate(cj, scheduled);
  plan.actions.push({ verb: 'create', ref: JOBS, namespace: ns, object: job });
  plan.events.push({ type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${name}` });
  active.push({ apiVersion: 'batch/v1', kind: 'Job', name, namespace: ns });
  status.lastScheduleTime = formatTime(scheduled);
  changed = true;
  return finish();
}

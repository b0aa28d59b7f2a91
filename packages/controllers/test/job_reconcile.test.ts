// Pure reconcile tests of the Job, CronJob and TTL-after-finished controllers:
// counting through uncountedTerminatedPods and the finalizer, back-off,
// podFailurePolicy, deadlines, Indexed bookkeeping, suspend, conditions;
// CronJob schedules, missed starts, concurrency policies, history; TTL.
import test from 'ava';
import type { CronJob, Job, Pod } from '@mkube/api';
import { reconcileJob, podFailureBackoffMs } from '../src/job/reconcile.js';
import { formatIndexes, parseIndexes } from '../src/job/indexes.js';
import { mostRecentSchedule, reconcileCronJob, jobNameFor } from '../src/cronjob/reconcile.js';
import { parseSchedule } from '../src/cronjob/schedule.js';
import { reconcileTtl } from '../src/ttlafterfinished/reconcile.js';
import type { Named } from '../src/types.js';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
let seq = 0;

function job(spec: Partial<NonNullable<Job['spec']>> = {}, status: Job['status'] = {}): Named<Job> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'ns', uid: 'job-uid', resourceVersion: '1', creationTimestamp: iso(T0) },
    spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'job-uid' } }, template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': 'job-uid' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'x' }] } }, completions: 1, parallelism: 1, backoffLimit: 6, ...spec },
    status: { startTime: iso(T0), ...status },
  };
}

function pod(phase: string, opts: { exit?: number; index?: number; finalizer?: boolean; deleted?: boolean; at?: number; failureCount?: number } = {}): Named<Pod> {
  const n = seq++;
  const at = opts.at ?? T0;
  return {
    metadata: {
      name: `j-${n}`,
      namespace: 'ns',
      uid: `pod-${n}`,
      labels: { 'batch.kubernetes.io/controller-uid': 'job-uid' },
      annotations: { ...(opts.index !== undefined ? { 'batch.kubernetes.io/job-completion-index': String(opts.index) } : {}), ...(opts.failureCount !== undefined ? { 'batch.kubernetes.io/job-index-failure-count': String(opts.failureCount) } : {}) },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'job-uid', controller: true }],
      finalizers: opts.finalizer === false ? [] : ['batch.kubernetes.io/job-tracking'],
      ...(opts.deleted ? { deletionTimestamp: iso(at) } : {}),
    },
    spec: { containers: [{ name: 'main', image: 'x' }] },
    status: {
      phase,
      ...(opts.exit !== undefined ? { containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: opts.exit, finishedAt: iso(at) } } }] } : {}),
    },
  };
}

const run = (j: Named<Job>, pods: Named<Pod>[], now = T0 + 1000) => reconcileJob({ job: j, pods, now, expectationsSatisfied: true });
const statusOf = (p: ReturnType<typeof run>) => (p.status?.verb === 'updateStatus' ? (p.status.object as Job).status! : undefined);
const condOf = (p: ReturnType<typeof run>, type: string) => statusOf(p)?.conditions?.find((c) => c.type === type);

test('creates up to parallelism pods with the finalizer, owner and generateName', (t) => {
  const plan = run(job({ completions: 5, parallelism: 2 }), []);
  t.is(plan.creates.length, 2);
  const p = (plan.creates[0] as { object: Pod }).object;
  t.deepEqual(p.metadata?.finalizers, ['batch.kubernetes.io/job-tracking']);
  t.is(p.metadata?.generateName, 'j-');
  t.is(p.metadata?.ownerReferences?.[0]?.kind, 'Job');
  t.is(statusOf(plan)?.active, 2);
});

test('no new pods when completions are nearly reached; excess active pods are deleted', (t) => {
  const j = job({ completions: 3, parallelism: 3 }, { succeeded: 2 });
  const plan = run(j, [pod('Running'), pod('Running')]);
  t.is(plan.creates.length, 0);
  t.is(plan.deletes.length, 1);
});

test('a finished pod is recorded in uncountedTerminatedPods, its finalizer removed, then counted', (t) => {
  const done = pod('Succeeded', { exit: 0 });
  const plan = run(job(), [done]);
  const rec = (plan.recordUncounted as { object: Job }).object.status!;
  t.deepEqual(rec.uncountedTerminatedPods?.succeeded, [done.metadata.uid]);
  t.deepEqual(plan.finalizerUids, [done.metadata.uid]);
  t.deepEqual((plan.removeFinalizers[0] as { object: Pod }).object.metadata?.finalizers, []);
  const st = statusOf(plan)!;
  t.is(st.succeeded, 1);
  t.deepEqual(st.uncountedTerminatedPods, {});
  t.is(condOf(plan, 'SuccessCriteriaMet')?.status, 'True');
  t.is(condOf(plan, 'Complete')?.reason, 'CompletionsReached');
  t.truthy(st.completionTime);
});

test('a pod already in uncountedTerminatedPods but gone is still counted (no outcome lost)', (t) => {
  const plan = run(job({ completions: 2 }, { uncountedTerminatedPods: { failed: ['gone-uid'] } }), [pod('Running')]);
  t.is(statusOf(plan)?.failed, 1);
  t.is(plan.recordUncounted, undefined);
});

test('a pod without the finalizer is not counted again; one whose removal is in flight is skipped', (t) => {
  const counted = pod('Succeeded', { exit: 0, finalizer: false });
  const inflight = pod('Failed', { exit: 1 });
  const plan = reconcileJob({ job: job({ completions: 3 }, { succeeded: 1 }), pods: [counted, inflight], now: T0, expectationsSatisfied: true, finalizersRemoving: new Set([inflight.metadata.uid!]) });
  t.is(statusOf(plan)?.succeeded ?? 1, 1);
  t.is(statusOf(plan)?.failed ?? 0, 0);
  t.is(plan.removeFinalizers.length, 0);
});

test('a deleted running pod counts as failed (replacement policy TerminatingOrFailed)', (t) => {
  const plan = run(job({ completions: 1 }), [pod('Running', { deleted: true })]);
  t.is(statusOf(plan)?.failed, 1);
  t.is(statusOf(plan)?.terminating, 1);
});

test('failed pods back off 10 s doubling up to 6 min before a replacement', (t) => {
  t.is(podFailureBackoffMs(1), 10_000);
  t.is(podFailureBackoffMs(2), 20_000);
  t.is(podFailureBackoffMs(10), 360_000);
  const f = pod('Failed', { exit: 1, finalizer: false, at: T0 });
  const early = run(job({}, { failed: 1 }), [f], T0 + 3000);
  t.is(early.creates.length, 0);
  t.true(early.requeueAfterMs! > 6000 && early.requeueAfterMs! <= 7000);
  const later = run(job({}, { failed: 1 }), [f], T0 + 10_001);
  t.is(later.creates.length, 1);
});

test('backoffLimit exceeded: FailureTarget, active pods deleted, Failed once none runs', (t) => {
  const j = job({ backoffLimit: 1, completions: 2, parallelism: 2 }, { failed: 1 });
  const plan = run(j, [pod('Failed', { exit: 1 }), pod('Running')]);
  t.is(condOf(plan, 'FailureTarget')?.reason, 'BackoffLimitExceeded');
  t.is(condOf(plan, 'Failed'), undefined);
  t.is(plan.deletes.length, 1);
  const after = run({ ...j, status: statusOf(plan) }, [pod('Failed', { exit: 137, finalizer: false })]);
  t.is(condOf(after, 'Failed')?.reason, 'BackoffLimitExceeded');
  t.is(condOf(after, 'Failed')?.message, 'Job has reached the specified backoff limit');
  t.is(after.events.find((e) => e.type === 'Warning')?.reason, 'BackoffLimitExceeded');
});

test('OnFailure: container restarts count toward the backoffLimit', (t) => {
  const j = job({ backoffLimit: 2, template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': 'job-uid' } }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'main', image: 'x' }] } } });
  const p = pod('Running');
  p.status!.containerStatuses = [{ name: 'main', image: 'x', imageID: '', ready: false, restartCount: 3 }];
  t.is(condOf(run(j, [p]), 'FailureTarget')?.reason, 'BackoffLimitExceeded');
});

test('activeDeadlineSeconds: DeadlineExceeded; before it, a requeue at the deadline', (t) => {
  const j = job({ activeDeadlineSeconds: 30 });
  const before = run(j, [pod('Running')], T0 + 10_000);
  t.true(before.requeueAfterMs! >= 20_000 && before.requeueAfterMs! < 21_000);
  const after = run(j, [pod('Running')], T0 + 30_000);
  t.is(condOf(after, 'FailureTarget')?.reason, 'DeadlineExceeded');
  t.is(condOf(after, 'FailureTarget')?.message, 'Job was active longer than specified deadline');
  t.is(after.deletes.length, 1);
});

test('podFailurePolicy: FailJob with upstream message, Ignore not counted, Count counted', (t) => {
  const policy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } }, { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }] };
  const failJob = pod('Failed', { exit: 42 });
  const plan = run(job({ podFailurePolicy: policy }), [failJob]);
  t.is(condOf(plan, 'FailureTarget')?.reason, 'PodFailurePolicy');
  t.is(condOf(plan, 'FailureTarget')?.message, `Container main for pod ns/${failJob.metadata.name} failed with exit code 42 matching FailJob rule at index 0`);
  const disrupted = pod('Failed', { exit: 137 });
  disrupted.status!.conditions = [{ type: 'DisruptionTarget', status: 'True' }];
  const ign = run(job({ podFailurePolicy: policy }), [disrupted]);
  t.is(statusOf(ign)?.failed ?? 0, 0);
  t.is(ign.removeFinalizers.length, 1);
  t.is(ign.creates.length, 1);
  const other = run(job({ podFailurePolicy: policy }), [pod('Failed', { exit: 1 })]);
  t.is(statusOf(other)?.failed, 1);
});

test('Indexed: one pod per missing index with annotation, label, hostname, env; completedIndexes', (t) => {
  const j = job({ completionMode: 'Indexed', completions: 4, parallelism: 2 }, { completedIndexes: '0' });
  const plan = run(j, [pod('Running', { index: 1 })]);
  t.is(plan.creates.length, 1);
  const p = (plan.creates[0] as { object: Pod }).object;
  t.is(p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'], '2');
  t.is(p.metadata?.labels?.['batch.kubernetes.io/job-completion-index'], '2');
  t.is(p.metadata?.generateName, 'j-2-');
  t.is(p.spec?.hostname, 'j-2');
  t.truthy(p.spec?.containers[0]?.env?.find((e) => e.name === 'JOB_COMPLETION_INDEX'));
  const done = run(j, [pod('Succeeded', { index: 1, exit: 0 }), pod('Succeeded', { index: 1, exit: 0 }), pod('Running', { index: 3 })]);
  t.is(statusOf(done)?.completedIndexes, '0,1');
  t.is(statusOf(done)?.succeeded, 2);
  t.deepEqual(parseIndexes('1,3-5,7', 10), new Set([1, 3, 4, 5, 7]));
  t.is(formatIndexes([7, 1, 3, 4, 5, 9, 10]), '1,3-5,7,9,10');
});

test('backoffLimitPerIndex and FailIndex: failedIndexes, replacement with failure count, FailedIndexes at the end', (t) => {
  const spec = { completionMode: 'Indexed', completions: 2, parallelism: 2, backoffLimitPerIndex: 1, podFailurePolicy: { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [3] } }] } };
  const a = run(job(spec), [pod('Failed', { index: 0, exit: 1, failureCount: 0, at: T0 - 60_000 }), pod('Failed', { index: 1, exit: 3, failureCount: 0, at: T0 - 60_000 })], T0);
  t.is(statusOf(a)?.failedIndexes, '1');
  const repl = a.creates.map((c) => (c as { object: Pod }).object.metadata?.annotations);
  t.deepEqual(repl.map((x) => x?.['batch.kubernetes.io/job-completion-index']), ['0']);
  t.is(repl[0]?.['batch.kubernetes.io/job-index-failure-count'], '1');
  const b = run(job(spec, { failedIndexes: '1' }), [pod('Succeeded', { index: 0, exit: 0 })]);
  t.is(condOf(b, 'FailureTarget')?.reason, 'FailedIndexes');
});

test('suspend: Suspended condition, active pods deleted, startTime cleared; resume: JobResumed', (t) => {
  const s = run(job({ suspend: true }), [pod('Running')]);
  t.is(condOf(s, 'Suspended')?.reason, 'JobSuspended');
  t.is(s.deletes.length, 1);
  t.is(statusOf(s)?.startTime, undefined);
  const r = run(job({ suspend: false }, { conditions: [{ type: 'Suspended', status: 'True', reason: 'JobSuspended' }], startTime: undefined }), []);
  t.is(condOf(r, 'Suspended')?.status, 'False');
  t.is(condOf(r, 'Suspended')?.reason, 'JobResumed');
  t.is(r.creates.length, 1);
});

test('a finished Job only removes finalizers; a Job managed elsewhere is left alone', (t) => {
  const fin = run(job({}, { conditions: [{ type: 'Complete', status: 'True' }], succeeded: 1 }), [pod('Failed', { exit: 1 })]);
  t.is(fin.removeFinalizers.length, 1);
  t.is(fin.creates.length, 0);
  t.is(statusOf(fin)?.failed ?? 0, 0);
  const other = run(job({ managedBy: 'example.com/other' }), []);
  t.is(other.creates.length + (other.status ? 1 : 0), 0);
});

// --- CronJob

function cronJob(spec: Partial<NonNullable<CronJob['spec']>> = {}, status: CronJob['status'] = {}, created = T0 - 3600_000): Named<CronJob> {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'cj', namespace: 'ns', uid: 'cj-uid', creationTimestamp: iso(created) },
    spec: { schedule: '*/5 * * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Allow', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } } }, ...spec },
    status,
  };
}
const ownedJob = (name: string, cond?: string, at = T0): Named<Job> => ({
  metadata: { name, namespace: 'ns', uid: `${name}-uid`, creationTimestamp: iso(at), ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'cj', uid: 'cj-uid', controller: true }] },
  spec: { template: { spec: { containers: [] } } },
  status: { startTime: iso(at), ...(cond ? { conditions: [{ type: cond, status: 'True' }], ...(cond === 'Complete' ? { completionTime: iso(at + 1000) } : {}) } : {}) },
});

test('schedules: descriptors, ? and names as robfig/cron; TZ= and six fields refused; timeZone honoured', (t) => {
  t.is(parseSchedule('@hourly').next(T0), T0 + 3600_000);
  t.is(parseSchedule('0 0 ? * MON', 'Etc/UTC').next(T0), Date.UTC(2024, 0, 8));
  t.throws(() => parseSchedule('TZ=UTC 0 * * * *'), { message: /cannot use TZ or CRON_TZ/ });
  t.throws(() => parseSchedule('0 0 * * * *'), { message: /expected exactly 5 fields/ });
  t.is(parseSchedule('0 9 * * *', 'America/New_York').next(T0), Date.UTC(2024, 0, 1, 14));
});

test('CronJob starts the most recent missed schedule, named NAME-<minutes>, and sets status', (t) => {
  const plan = reconcileCronJob({ cj: cronJob({}, { lastScheduleTime: iso(T0 - 600_000) }), jobs: [], now: T0 + 2000 });
  const create = plan.actions.find((a) => a.verb === 'create') as { object: Job };
  t.is(create.object.metadata?.name, jobNameFor(cronJob(), T0));
  t.is(create.object.metadata?.name, `cj-${T0 / 60_000}`);
  t.is(create.object.metadata?.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], iso(T0));
  const st = (plan.actions.find((a) => a.verb === 'updateStatus') as { object: CronJob }).object.status!;
  t.is(st.lastScheduleTime, iso(T0));
  t.is(st.active?.[0]?.name, `cj-${T0 / 60_000}`);
  t.is(plan.requeueAfterMs, 300_000 - 2000 + 100);
});

test('more than 100 missed starts: TooManyMissedTimes warning, still starts the most recent', (t) => {
  const cj = cronJob({ schedule: '* * * * *' }, {}, T0 - 200 * 60_000);
  const r = mostRecentSchedule(cj, parseSchedule('* * * * *', 'Etc/UTC'), T0 + 30_000);
  t.is(r.time, T0);
  t.true(r.missed > 100);
  const plan = reconcileCronJob({ cj, jobs: [], now: T0 + 30_000 });
  t.regex(plan.events.find((e) => e.reason === 'TooManyMissedTimes')!.message, /^too many missed start times: \d+\. Set or decrease \.spec\.startingDeadlineSeconds or check clock skew$/);
  t.truthy(plan.actions.find((a) => a.verb === 'create'));
});

test('startingDeadlineSeconds: a start missed by more than the deadline is skipped', (t) => {
  const plan = reconcileCronJob({ cj: cronJob({ startingDeadlineSeconds: 10 }, { lastScheduleTime: iso(T0 - 300_000) }), jobs: [], now: T0 + 60_000 });
  t.falsy(plan.actions.find((a) => a.verb === 'create'));
});

test('concurrencyPolicy Forbid waits for the active Job; Replace deletes it first', (t) => {
  const running = ownedJob('cj-old');
  const st = { lastScheduleTime: iso(T0 - 300_000), active: [{ kind: 'Job', name: 'cj-old', namespace: 'ns', uid: 'cj-old-uid' }] };
  const forbid = reconcileCronJob({ cj: cronJob({ concurrencyPolicy: 'Forbid' }, st), jobs: [running], now: T0 + 1000 });
  t.falsy(forbid.actions.find((a) => a.verb === 'create'));
  t.truthy(forbid.events.find((e) => e.reason === 'JobAlreadyActive'));
  const replace = reconcileCronJob({ cj: cronJob({ concurrencyPolicy: 'Replace' }, st), jobs: [running], now: T0 + 1000 });
  const verbs = replace.actions.map((a) => a.verb);
  t.deepEqual(verbs.slice(0, 2), ['delete', 'create']);
});

test('finished Jobs leave status.active, set lastSuccessfulTime, and go beyond the history limits; suspend starts nothing', (t) => {
  const jobs = [ownedJob('cj-1', 'Complete', T0 - 3000_000), ownedJob('cj-2', 'Complete', T0 - 2000_000), ownedJob('cj-3', 'Failed', T0 - 1000_000)];
  const st = { lastScheduleTime: iso(T0), active: [{ kind: 'Job', name: 'cj-2', namespace: 'ns', uid: 'cj-2-uid' }] };
  const plan = reconcileCronJob({ cj: cronJob({ successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 0 }, st), jobs, now: T0 + 1000 });
  const status = (plan.actions.find((a) => a.verb === 'updateStatus') as { object: CronJob }).object.status!;
  t.deepEqual(status.active, []);
  t.is(status.lastSuccessfulTime, iso(T0 - 2000_000 + 1000));
  t.deepEqual(plan.actions.filter((a) => a.verb === 'delete').map((a) => (a as { name: string }).name).sort(), ['cj-1', 'cj-3']);
  const susp = reconcileCronJob({ cj: cronJob({ suspend: true }, { lastScheduleTime: iso(T0 - 600_000) }), jobs: [], now: T0 + 1000 });
  t.falsy(susp.actions.find((a) => a.verb === 'create'));
});

// --- TTL

test('TTL-after-finished: waits, then deletes in the background; unfinished Jobs stay', (t) => {
  const finished = job({ ttlSecondsAfterFinished: 60 }, { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(T0) }] });
  t.is(reconcileTtl(finished, T0 + 10_000).requeueAfterMs, 50_000);
  const del = reconcileTtl(finished, T0 + 60_000).action as { verb: string; propagationPolicy: string };
  t.is(del.verb, 'delete');
  t.is(del.propagationPolicy, 'Background');
  t.deepEqual(reconcileTtl(job({ ttlSecondsAfterFinished: 0 }), T0 + 1e9), {});
});

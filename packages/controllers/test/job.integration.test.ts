// The Job, CronJob and TTL-after-finished controllers against a real etcd 3.4
// and API server over HTTPS, with a FakeKubelet finishing the pods (exit codes
// chosen per test); the API's generated selector and labels, the tracking
// finalizer, conditions and counters as upstream.
import test from 'ava';
import type { CronJob, Job, Pod } from '@mkube/api';
import { Resources } from '@mkube/client';
import { JOBS, CRONJOBS } from '../src/job/resource.js';
import { eventually, startFixture, type Fixture } from './helpers/cluster.js';
import { FakeKubelet } from './helpers/fake_kubelet.js';

let fx: Fixture;
let kubelet: FakeKubelet;
/** Exit code per Job name (0 succeeds; undefined keeps pods running). */
const exitCodes = new Map<string, number | undefined>();
const running = new Map<string, Set<string>>();
const maxRunning = new Map<string, number>();

test.before(async () => {
  fx = await startFixture({ controllers: ['job', 'cronjob', 'ttl-after-finished', 'garbagecollector'] });
  kubelet = new FakeKubelet(fx.client, {
    exitCode: (pod) => exitCodes.get(pod.metadata.labels?.['batch.kubernetes.io/job-name'] ?? ''),
    onPod: (pod) => {
      const job = pod.metadata.labels?.['batch.kubernetes.io/job-name'] ?? '';
      const set = running.get(job) ?? new Set();
      set.add(pod.metadata.name);
      running.set(job, set);
    },
  });
  kubelet.start();
});
test.after.always(async () => {
  kubelet?.stop();
  await fx?.stop();
});

const jobs = () => fx.client.resource<Job>(JOBS);
const pods = () => fx.client.resource<Pod>(Resources.pods);
const cond = (j: Job | undefined, type: string) => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True');

function jobSpec(name: string, extra: Partial<NonNullable<Job['spec']>> = {}): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } }, ...extra },
  };
}

test.serial('a Job of 6 completions with parallelism 2 completes, never more than 2 pods active, tracked with the finalizer', async (t) => {
  exitCodes.set('six', 0);
  const created = await jobs().create('default', jobSpec('six', { completions: 6, parallelism: 2 }));
  // The API generated the selector and the pod labels.
  t.deepEqual(created.spec?.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': created.metadata.uid } });
  t.is(created.spec?.template.metadata?.labels?.['job-name'], 'six');
  t.is(created.spec?.template.metadata?.labels?.['controller-uid'], created.metadata.uid);
  let peak = 0;
  const done = await eventually(
    'Complete',
    async () => {
      const j = await jobs().get('default', 'six');
      const live = (await pods().list('default', { labelSelector: 'job-name=six' })).items.filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
      peak = Math.max(peak, live.length);
      return cond(j, 'Complete') ? j : undefined;
    },
    60_000,
  );
  t.true(peak <= 2, `at most 2 active, saw ${peak}`);
  t.is(done.status?.succeeded, 6);
  t.is(done.status?.active ?? 0, 0);
  t.truthy(done.status?.completionTime);
  t.truthy(cond(done, 'SuccessCriteriaMet'));
  t.is(cond(done, 'Complete')?.reason, 'CompletionsReached');
  const all = (await pods().list('default', { labelSelector: 'job-name=six' })).items;
  t.is(all.length, 6);
  await eventually('finalizers removed', async () => (await pods().list('default', { labelSelector: 'job-name=six' })).items.every((p) => !(p.metadata.finalizers ?? []).length));
  for (const p of all) t.is(p.metadata.ownerReferences?.[0]?.kind, 'Job');
});

test.serial('a Job whose pods fail reaches its backoffLimit: FailureTarget then Failed with BackoffLimitExceeded', async (t) => {
  exitCodes.set('failing', 1);
  await jobs().create('default', jobSpec('failing', { backoffLimit: 1 }));
  const j = await eventually('Failed', async () => {
    const j = await jobs().get('default', 'failing');
    return cond(j, 'Failed') ? j : undefined;
  }, 60_000);
  t.is(cond(j, 'Failed')?.reason, 'BackoffLimitExceeded');
  t.is(cond(j, 'Failed')?.message, 'Job has reached the specified backoff limit');
  t.is(cond(j, 'FailureTarget')?.reason, 'BackoffLimitExceeded');
  t.is(j.status?.failed, 2);
  // The second pod waited out the 10 s back-off after the first failure.
  const ps = (await pods().list('default', { labelSelector: 'job-name=failing' })).items.sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp));
  t.is(ps.length, 2);
  t.true(Date.parse(ps[1]!.metadata.creationTimestamp) - Date.parse(ps[0]!.metadata.creationTimestamp) >= 9_000);
});

test.serial('an Indexed Job runs each index once, with the index annotation, env and hostname', async (t) => {
  exitCodes.set('idx', 0);
  await jobs().create('default', jobSpec('idx', { completions: 4, parallelism: 4, completionMode: 'Indexed' }));
  const j = await eventually('Complete', async () => {
    const j = await jobs().get('default', 'idx');
    return cond(j, 'Complete') ? j : undefined;
  }, 60_000);
  t.is(j.status?.completedIndexes, '0-3');
  const ps = (await pods().list('default', { labelSelector: 'job-name=idx' })).items;
  t.deepEqual(ps.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort(), ['0', '1', '2', '3']);
  for (const p of ps) {
    const ix = p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];
    t.is(p.spec?.hostname, `idx-${ix}`);
    t.true(p.metadata.name.startsWith(`idx-${ix}-`));
    t.is(p.spec?.containers[0]?.env?.find((e) => e.name === 'JOB_COMPLETION_INDEX')?.valueFrom?.fieldRef?.fieldPath, "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  }
});

test.serial('a pod deleted early keeps its outcome: counted failed, replaced, the Job completes', async (t) => {
  exitCodes.set('early', undefined);
  await jobs().create('default', jobSpec('early', { completions: 1, backoffLimit: 3 }));
  const first = await eventually('pod', async () => (await pods().list('default', { labelSelector: 'job-name=early' })).items[0]);
  exitCodes.set('early', 0);
  await pods().delete('default', first.metadata.name);
  const j = await eventually('Complete', async () => {
    const j = await jobs().get('default', 'early');
    return cond(j, 'Complete') ? j : undefined;
  }, 60_000);
  t.is(j.status?.failed, 1);
  t.is(j.status?.succeeded, 1);
  await eventually('deleted pod gone', async () => (await pods().list('default', { labelSelector: 'job-name=early' })).items.every((p) => p.metadata.name !== first.metadata.name));
});

test.serial('suspend deletes the active pods and sets Suspended; resume starts again', async (t) => {
  exitCodes.set('susp', undefined);
  await jobs().create('default', jobSpec('susp', { parallelism: 2, completions: 2 }));
  await eventually('2 pods', async () => (await pods().list('default', { labelSelector: 'job-name=susp' })).items.length === 2);
  const cur = await jobs().get('default', 'susp');
  cur.spec!.suspend = true;
  await jobs().update(cur);
  const j = await eventually('Suspended', async () => {
    const j = await jobs().get('default', 'susp');
    return cond(j, 'Suspended') && (await pods().list('default', { labelSelector: 'job-name=susp' })).items.length === 0 ? j : undefined;
  }, 30_000);
  t.is(cond(j, 'Suspended')?.reason, 'JobSuspended');
  t.falsy(j.status?.startTime);
  t.is(j.status?.failed ?? 0, 0);
  exitCodes.set('susp', 0);
  const again = await jobs().get('default', 'susp');
  again.spec!.suspend = false;
  await jobs().update(again);
  const done = await eventually('Complete', async () => {
    const j = await jobs().get('default', 'susp');
    return cond(j, 'Complete') ? j : undefined;
  }, 60_000);
  t.is(done.status?.conditions?.find((c) => c.type === 'Suspended')?.status, 'False');
});

test.serial('ttlSecondsAfterFinished deletes the finished Job and its pods', async (t) => {
  exitCodes.set('ttl', 0);
  await jobs().create('default', jobSpec('ttl', { ttlSecondsAfterFinished: 1 }));
  await eventually('Job gone (404)', async () => {
    try {
      await jobs().get('default', 'ttl');
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  }, 30_000);
  await eventually('pods gone', async () => (await pods().list('default', { labelSelector: 'job-name=ttl' })).items.length === 0, 30_000);
  t.pass();
});

test.serial('the API refuses TZ= in a CronJob schedule and an unknown timeZone', async (t) => {
  const cj = (schedule: string, timeZone?: string): CronJob => ({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'bad' },
    spec: { schedule, ...(timeZone ? { timeZone } : {}), jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
  });
  const e1 = await t.throwsAsync(fx.client.resource<CronJob>(CRONJOBS).create('default', cj('TZ=UTC 0 * * * *')));
  t.regex(e1!.message, /cannot use TZ or CRON_TZ in schedule, use timeZone field instead/);
  const e2 = await t.throwsAsync(fx.client.resource<CronJob>(CRONJOBS).create('default', cj('0 * * * *', 'Mars/Olympus')));
  t.regex(e2!.message, /spec.timeZone/);
  const e3 = await t.throwsAsync(jobs().create('default', jobSpec('pfp', { podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [0] } }] } })));
  t.regex(e3!.message, /must not be 0 for the In operator/);
});

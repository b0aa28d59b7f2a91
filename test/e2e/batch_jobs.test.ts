// Jobs and CronJobs on real containers: a lab worker (its own network namespace, containerd and
// node agent), the API server, the scheduler and the controller manager's job, cronjob,
// ttl-after-finished, garbagecollector and serviceaccount controllers (the controller manager and the
// scheduler under their own identities, as `mkube up` runs them); kubectl 1.27 and 1.33.
// A Job of 6 completions with parallelism 2 completes with never more than 2 pods active (a pod
// watch); a Job whose pods exit 1 hits backoffLimit 1 and is Failed (BackoffLimitExceeded); an
// Indexed Job runs each index once (its pods print JOB_COMPLETION_INDEX, read by `kubectl logs`);
// a CronJob whose schedule is the next minute creates its Job on that minute and the Job completes;
// `kubectl wait --for=condition=complete`, `kubectl create job --from=cronjob/x`, the `kubectl get
// jobs/cronjobs` columns, and ttlSecondsAfterFinished deleting a Job and its pods (404s); `kubectl
// delete job` of a running Job leaves no pod behind; `kubectl create job/cronjob`, `logs job/x`,
// `describe job/cronjob`.
import test from 'ava';
import { type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ApiError, Resources, type WatchHandle } from '@mkube/client';
import { resourceFor, type CronJob, type Event, type Job, type Pod } from '@mkube/api';
import { issueCertificate, kubeconfig } from '@mkube/apiserver';
import { ControllerManager } from '@mkube/controllers';
import { killChild, KUBECTL, kubectlBin, kubectlFor, labDown, labUp, startLabAgents, startScheduler, waitFor, waitNodesReady, type LabAgents, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';

const LAB = 'mkbatch';
const SUBNET = 144; // node 10.213.144.0/24, pods 10.213.145.0/24
const KUBECTL_127 = kubectlBin('1.27');
const JOBS = resourceFor('jobs', 'batch');
const CRONJOBS = resourceFor('cronjobs', 'batch');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let nodeAgents: LabAgents | undefined;
let scheduler: ChildProcess | undefined;
const watches: WatchHandle[] = [];

const kube = kubectlFor(() => cp!);
const k = (args: string[], bin = KUBECTL, timeoutMs?: number) => kube.kWith(bin, args, timeoutMs);
const { apply } = kube;
const jobs = () => cp!.client.resource<Job>(JOBS);
const cronjobs = () => cp!.client.resource<CronJob>(CRONJOBS);
const pods = () => cp!.client.resource<Pod>(Resources.pods);
const jobPods = async (job: string) => (await pods().list('default', { labelSelector: `batch.kubernetes.io/job-name=${job}` })).items;
const condTrue = (j: Job | undefined, type: string) => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True');
const waitCondition = (name: string, type: string, timeoutMs: number) =>
  waitFor(`job ${name} ${type}`, timeoutMs, async () => {
    const j = await jobs().get('default', name);
    return condTrue(j, type) ? j : undefined;
  });
/** The status code of a GET: 200, or the API's error code (404 once gone). */
const getStatus = async (get: () => Promise<unknown>): Promise<number> => {
  try {
    await get();
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.code ?? 0;
    throw err;
  }
};
/** Rows of a `kubectl get` table, split on runs of two or more spaces (the header first). */
const table = (out: string) => out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));

/** A client certificate issued by the cluster CA for `subject`, in a kubeconfig for the API server. */
function componentKubeconfig(c: ControlPlane, base: string, subject: string): string {
  const pki = join(c.dir, 'api', 'pki');
  issueCertificate(pki, base, subject, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const path = join(c.dir, `${base}.kubeconfig`);
  const read = (f: string) => readFileSync(join(pki, f), 'utf8');
  writeFileSync(path, kubeconfig(`https://${lab!.gateway}:${c.port}`, read('ca.crt'), subject.replace(/^.*CN=/, ''), { cert: read(`${base}.crt`), key: read(`${base}.key`) }), { mode: 0o600 });
  return path;
}

test.before(async () => {
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  const worker = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  // The controller manager and the scheduler as `mkube up` runs them: their own identities, under the bootstrap RBAC policy.
  const cmKubeconfig = componentKubeconfig(cp, 'controller-manager', '/CN=system:kube-controller-manager');
  const schedKubeconfig = componentKubeconfig(cp, 'scheduler', '/CN=system:kube-scheduler');
  cm = new ControllerManager({
    kubeconfig: cmKubeconfig,
    leaderElect: false,
    controllers: ['job', 'cronjob', 'ttl-after-finished', 'garbagecollector', 'serviceaccount'],
    metricsPort: -1,
    logger: pino({ level: process.env.MKUBE_DEBUG ? 'debug' : 'silent' }),
  });
  await cm.start();
  scheduler = startScheduler(schedKubeconfig);
  nodeAgents = await startLabAgents(cp, LAB, [worker]);
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 1);
  await waitFor('the default ServiceAccount', 30_000, async () => ((await getStatus(() => cp!.client.resource(Resources.serviceaccounts).get('default', 'default'))) === 200 ? true : undefined));
});

test.after.always(async () => {
  for (const w of watches) w.stop();
  await killChild(scheduler);
  await nodeAgents?.kill();
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  nodeAgents?.remove();
});

const JOB = (name: string, spec: string, command: string, extraPodSpec = '') => `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1${extraPodSpec}
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, '${command}']
`;

test('a Job of 6 completions, parallelism 2: never more than 2 pods active, Complete; kubectl wait (1.27, 1.33) and get jobs', async (t) => {
  t.timeout(150_000);
  // Every pod of the Job as the watch reports it; the active ones (neither terminal nor deleting) counted after each event.
  const { resourceVersion } = await pods().list('default', { labelSelector: 'batch.kubernetes.io/job-name=par' });
  const state = new Map<string, { phase?: string; deleting: boolean }>();
  let peak = 0;
  watches.push(
    pods().watch('default', { labelSelector: 'batch.kubernetes.io/job-name=par', resourceVersion, timeoutSeconds: 600 }, (type, p) => {
      if (type === 'BOOKMARK' || type === 'ERROR') return;
      if (type === 'DELETED') state.delete(p.metadata.uid!);
      else state.set(p.metadata.uid!, { phase: p.status?.phase, deleting: !!p.metadata.deletionTimestamp });
      const active = [...state.values()].filter((s) => s.phase !== 'Succeeded' && s.phase !== 'Failed' && !s.deleting).length;
      peak = Math.max(peak, active);
    }),
  );
  let statusPeak = 0;
  const { resourceVersion: jrv } = await jobs().list('default');
  watches.push(
    jobs().watch('default', { resourceVersion: jrv, timeoutSeconds: 600 }, (type, j) => {
      if (j.metadata?.name === 'par' && type !== 'BOOKMARK' && type !== 'ERROR') statusPeak = Math.max(statusPeak, Number(j.status?.active ?? 0));
    }),
  );
  const t0 = Date.now();
  await apply('par', JOB('par', 'completions: 6\nparallelism: 2', 'sleep 2; echo done'));
  // kubectl wait from both versions, started while the Job runs.
  const waits = [KUBECTL_127, KUBECTL].map((bin) => k(['wait', '--for=condition=complete', 'job/par', '--timeout=120s'], bin, 130_000));
  const outs = await Promise.all(waits);
  for (const out of outs) t.is(out.trim(), 'job.batch/par condition met');
  const secs = (Date.now() - t0) / 1000;
  const job = await jobs().get('default', 'par');
  t.log(`6 completions in ${secs.toFixed(1)} s; peak active pods ${peak} (watch), ${statusPeak} (status.active)`);
  t.is(job.status?.succeeded, 6);
  t.falsy(job.status?.failed);
  t.is(job.status?.active ?? 0, 0);
  t.like(condTrue(job, 'Complete'), { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
  t.truthy(condTrue(job, 'SuccessCriteriaMet'));
  t.truthy(job.status?.completionTime);
  t.is(peak, 2, 'two pods ran at once, never more');
  t.true(statusPeak <= 2);
  const ps = await jobPods('par');
  t.is(ps.length, 6);
  t.true(ps.every((p) => p.status?.phase === 'Succeeded' && !(p.metadata.finalizers ?? []).includes('batch.kubernetes.io/job-tracking')));
  t.true(ps.every((p) => /^par-[a-z0-9]{5}$/.test(p.metadata.name)), ps.map((p) => p.metadata.name).join(' '));
  t.is((await k(['logs', ps[0]!.metadata.name])).trim(), 'done');
  // kubectl get jobs: the server's columns.
  const out = await k(['get', 'jobs', 'par']);
  t.log(out.trim());
  const [head, row] = table(out);
  t.deepEqual(head, ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE']);
  t.deepEqual(row!.slice(0, 3), ['par', 'Complete', '6/6']);
  t.regex(row![3]!, /^\d+s$/);
  const wide = table(await k(['get', 'jobs', 'par', '-o', 'wide']));
  t.deepEqual(wide[0], ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
  t.deepEqual(wide[1]!.slice(5), ['main', 'busybox', `batch.kubernetes.io/controller-uid=${job.metadata.uid}`]);
});

test('a Job whose pods fail hits backoffLimit 1: Failed, BackoffLimitExceeded, after a 10 s back-off', async (t) => {
  t.timeout(120_000);
  await apply('fail', JOB('fail', 'backoffLimit: 1', 'echo oops; exit 1'));
  const out = await k(['wait', '--for=condition=failed', 'job/fail', '--timeout=100s'], KUBECTL, 110_000);
  t.is(out.trim(), 'job.batch/fail condition met');
  const job = await jobs().get('default', 'fail');
  t.like(condTrue(job, 'Failed'), { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  t.like(condTrue(job, 'FailureTarget'), { reason: 'BackoffLimitExceeded' });
  t.falsy(condTrue(job, 'Complete'));
  t.is(job.status?.failed, 2);
  t.falsy(job.status?.succeeded);
  const ps = (await jobPods('fail')).sort((a, b) => Date.parse(a.metadata.creationTimestamp!) - Date.parse(b.metadata.creationTimestamp!));
  t.is(ps.length, 2);
  t.true(ps.every((p) => p.status?.phase === 'Failed'));
  // The replacement waited out the first failure's back-off (10 s).
  const firstEnd = Date.parse(ps[0]!.status!.containerStatuses![0]!.state!.terminated!.finishedAt!);
  const second = Date.parse(ps[1]!.metadata.creationTimestamp!);
  t.log(`second pod created ${((second - firstEnd) / 1000).toFixed(1)} s after the first failed`);
  t.true(second - firstEnd >= 9_000);
  const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.kind === 'Job' && e.involvedObject.name === 'fail');
  t.true(events.some((e) => e.type === 'Warning' && e.reason === 'BackoffLimitExceeded' && e.message === 'Job has reached the specified backoff limit'), JSON.stringify(events.map((e) => [e.reason, e.message])));
  const [, row] = table(await k(['get', 'job', 'fail']));
  t.deepEqual(row!.slice(0, 3), ['fail', 'Failed', '0/1']);
});

test('an Indexed Job runs each completion index once: JOB_COMPLETION_INDEX and hostname read by kubectl logs', async (t) => {
  t.timeout(120_000);
  await apply('idx', JOB('idx', 'completions: 4\nparallelism: 2\ncompletionMode: Indexed', 'echo index=$JOB_COMPLETION_INDEX host=$(hostname)'));
  const job = await waitCondition('idx', 'Complete', 100_000);
  t.is(job.status?.completedIndexes, '0-3');
  t.is(job.status?.succeeded, 4);
  const ps = await jobPods('idx');
  t.is(ps.length, 4, 'one pod per index');
  const seen: number[] = [];
  for (const p of ps) {
    const ix = p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];
    t.regex(p.metadata.name, new RegExp(`^idx-${ix}-[a-z0-9]{5}$`));
    const log = (await k(['logs', p.metadata.name])).trim();
    t.is(log, `index=${ix} host=idx-${ix}`);
    seen.push(Number(/index=(\d+)/.exec(log)![1]));
  }
  t.deepEqual(seen.sort(), [0, 1, 2, 3]);
});

/** A cron minute field and the time it fires: the next whole minute at least `leadMs` away. */
function nextMinute(leadMs: number): { at: number; schedule: string } {
  const at = Math.ceil((Date.now() + leadMs) / 60_000) * 60_000;
  return { at, schedule: `${new Date(at).getUTCMinutes()} * * * *` };
}

test('a CronJob whose schedule is the next minute creates its Job on the minute, and the Job completes', async (t) => {
  t.timeout(150_000);
  const { at, schedule } = nextMinute(15_000);
  await apply(
    'tick',
    `apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: '${schedule}'
  timeZone: Etc/UTC
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'echo tick']
`,
  );
  const name = `tick-${at / 60_000}`;
  const cols = table(await k(['get', 'cronjobs', 'tick']));
  t.deepEqual(cols[0], ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE']);
  t.deepEqual(cols[1]!.slice(0, 6), ['tick', schedule, 'Etc/UTC', 'False', '0', '<none>']);
  const job = await waitFor(`job ${name}`, at + 70_000 - Date.now(), async () => {
    const r = await jobs().get('default', name).catch(() => undefined);
    return r;
  });
  const lag = Date.parse(job.metadata.creationTimestamp!) - at;
  t.log(`${name} created ${(lag / 1000).toFixed(1)} s after its scheduled minute ${new Date(at).toISOString()}`);
  t.true(lag >= 0 && lag < 70_000);
  t.is(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], new Date(at).toISOString().replace('.000Z', 'Z'));
  t.like(job.metadata.ownerReferences?.[0], { kind: 'CronJob', name: 'tick', controller: true });
  await waitCondition(name, 'Complete', 60_000);
  const [p] = await jobPods(name);
  t.is((await k(['logs', p!.metadata.name])).trim(), 'tick');
  const cj = await waitFor('the CronJob to see its Job complete', 30_000, async () => {
    const c = await cronjobs().get('default', 'tick');
    return c.status?.lastSuccessfulTime && !(c.status.active ?? []).length ? c : undefined;
  });
  t.is(Date.parse(cj.status!.lastScheduleTime!), at);
  const rows = table(await k(['get', 'cronjobs', 'tick']));
  t.deepEqual(rows[1]!.slice(0, 5), ['tick', schedule, 'Etc/UTC', 'False', '0']);
  t.regex(rows[1]![5]!, /^\d+s$/);
  const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.kind === 'CronJob' && e.involvedObject.name === 'tick');
  t.true(events.some((e) => e.reason === 'SuccessfulCreate' && e.message === `Created job ${name}`));
  t.true(events.some((e) => e.reason === 'SawCompletedJob' && e.message === `Saw completed job: ${name}, condition: Complete`));
  await k(['delete', 'cronjob', 'tick']);
});

test('kubectl create job --from=cronjob/x: a Job from the template, owned by the CronJob, completes (kubectl wait 1.27 and 1.33)', async (t) => {
  t.timeout(120_000);
  await apply(
    'nightly',
    `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: '0 3 * * *'
  suspend: true
  jobTemplate:
    metadata:
      labels: {purpose: nightly}
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'echo nightly']
`,
  );
  const cj = await cronjobs().get('default', 'nightly');
  t.is((await k(['create', 'job', 'manual', '--from=cronjob/nightly'])).trim(), 'job.batch/manual created');
  const job = await jobs().get('default', 'manual');
  t.is(job.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
  t.is(job.metadata.labels?.purpose, 'nightly');
  t.like(job.metadata.ownerReferences?.[0], { kind: 'CronJob', name: 'nightly', uid: cj.metadata.uid });
  for (const bin of [KUBECTL_127, KUBECTL]) t.is((await k(['wait', '--for=condition=complete', 'job/manual', '--timeout=90s'], bin, 100_000)).trim(), 'job.batch/manual condition met');
  const [p] = await jobPods('manual');
  t.is((await k(['logs', p!.metadata.name])).trim(), 'nightly');
  // As upstream: a Job the controller did not start is not listed as active, but its success counts.
  const after = await waitFor('lastSuccessfulTime', 30_000, async () => {
    const c = await cronjobs().get('default', 'nightly');
    return c.status?.lastSuccessfulTime ? c : undefined;
  });
  t.falsy(after.status?.lastScheduleTime);
  t.deepEqual(after.status?.active ?? [], []);
  const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.kind === 'CronJob' && e.involvedObject.name === 'nightly');
  t.true(events.some((e) => e.type === 'Warning' && e.reason === 'UnexpectedJob' && e.message === 'Saw a job that the controller did not create or forgot: manual'), JSON.stringify(events.map((e) => [e.reason, e.message])));
  const [, row] = table(await k(['get', 'cronjob', 'nightly']));
  t.deepEqual(row!.slice(0, 6), ['nightly', '0 3 * * *', '<none>', 'True', '0', '<none>']);
});

test('ttlSecondsAfterFinished: the finished Job and its pods are deleted (404)', async (t) => {
  t.timeout(120_000);
  await apply('short', JOB('short', 'completions: 2\nparallelism: 2\nttlSecondsAfterFinished: 3', 'echo short'));
  const job = await waitCondition('short', 'Complete', 90_000);
  const finished = Date.parse(condTrue(job, 'Complete')!.lastTransitionTime!);
  const names = (await jobPods('short')).map((p) => p.metadata.name);
  t.is(names.length, 2);
  await waitFor('job short gone', 30_000, async () => ((await getStatus(() => jobs().get('default', 'short'))) === 404 ? true : undefined));
  const gone = Date.now();
  t.log(`job deleted ${((gone - finished) / 1000).toFixed(1)} s after it finished (ttl 3 s)`);
  t.true(gone - finished >= 3_000);
  for (const n of names) await waitFor(`pod ${n} gone`, 30_000, async () => ((await getStatus(() => pods().get('default', n))) === 404 ? true : undefined));
  t.is(await getStatus(() => jobs().get('default', 'short')), 404);
});

test('kubectl delete job while its pods run: the pods are deleted and gone (404), none kept by the tracking finalizer', async (t) => {
  t.timeout(120_000);
  await apply('long', JOB('long', 'completions: 2\nparallelism: 2', 'exec sleep 3600'));
  const running = await waitFor('two running pods', 90_000, async () => {
    const ps = (await jobPods('long')).filter((p) => p.status?.phase === 'Running');
    return ps.length === 2 ? ps : undefined;
  });
  t.true(running.every((p) => (p.metadata.finalizers ?? []).includes('batch.kubernetes.io/job-tracking')));
  t.is((await k(['delete', 'job', 'long', '--wait=false'])).trim(), 'job.batch "long" deleted');
  for (const p of running) await waitFor(`pod ${p.metadata.name} gone`, 60_000, async () => ((await getStatus(() => pods().get('default', p.metadata.name))) === 404 ? true : undefined));
  t.is(await getStatus(() => jobs().get('default', 'long')), 404);
});

test('kubectl create job NAME --image -- CMD, logs job/NAME, describe job, and get pods showing Completed', async (t) => {
  t.timeout(120_000);
  t.is((await k(['create', 'job', 'hello', '--image=busybox', '--', 'sh', '-c', 'echo hello from $(hostname)'])).trim(), 'job.batch/hello created');
  t.is((await k(['wait', '--for=condition=complete', 'job/hello', '--timeout=90s'], KUBECTL, 100_000)).trim(), 'job.batch/hello condition met');
  const [p] = await jobPods('hello');
  // The container's last output can reach its log file just after its exit is reported (containerd's
  // shim copies the pipe to the file): wait for the line rather than expect it in the same instant.
  const logs = await waitFor('the Job pod\'s log line', 20_000, async () => {
    const out = (await k(['logs', 'job/hello'])).trim();
    return out ? out : undefined;
  });
  t.is(logs, `hello from ${p!.metadata.name}`);
  const desc = await k(['describe', 'job', 'hello']);
  t.regex(desc, /^Name:\s+hello$/m);
  t.regex(desc, /^Completions:\s+1$/m);
  t.regex(desc, /^Parallelism:\s+1$/m);
  t.regex(desc, /^Pods Statuses:\s+0 Active \(0 Ready\) \/ 1 Succeeded \/ 0 Failed$/m);
  t.regex(desc, new RegExp(`Normal\\s+SuccessfulCreate\\s+\\S+\\s+job-controller\\s+Created pod: ${p!.metadata.name}`));
  t.regex(desc, /Normal\s+Completed\s+\S+\s+job-controller\s+Job completed/);
  const podsOut = table(await k(['get', 'pods', '-l', 'batch.kubernetes.io/job-name=hello']));
  t.deepEqual(podsOut[1]!.slice(0, 3), [p!.metadata.name, '0/1', 'Completed']);
  const cjDesc = await k(['create', 'cronjob', 'every5', '--image=busybox', '--schedule=*/5 * * * *', '--', 'date']);
  t.is(cjDesc.trim(), 'cronjob.batch/every5 created');
  const cj = await cronjobs().get('default', 'every5');
  t.like(cj.spec, { concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, suspend: false });
  const d = await k(['describe', 'cronjob', 'every5']);
  t.regex(d, /^Schedule:\s+\*\/5 \* \* \* \*$/m);
  t.regex(d, /^Concurrency Policy:\s+Allow$/m);
  await k(['delete', 'cronjob', 'every5']);
});

test('a CronJob every minute with concurrencyPolicy Replace: the next minute replaces the running Job, whose pod goes (404)', async (t) => {
  t.timeout(180_000);
  await apply(
    'minutely',
    `apiVersion: batch/v1
kind: CronJob
metadata: {name: minutely}
spec:
  schedule: '* * * * *'
  concurrencyPolicy: Replace
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'exec sleep 3600']
`,
  );
  const created = Date.parse((await cronjobs().get('default', 'minutely')).metadata.creationTimestamp!);
  const first = Math.floor(created / 60_000) * 60_000 + 60_000;
  const nameA = `minutely-${first / 60_000}`;
  const nameB = `minutely-${first / 60_000 + 1}`;
  const jobA = await waitFor(`job ${nameA}`, first + 70_000 - Date.now(), async () => jobs().get('default', nameA).catch(() => undefined));
  t.true(Date.parse(jobA.metadata.creationTimestamp!) - first < 70_000);
  const [podA] = await waitFor(`a running pod of ${nameA}`, 60_000, async () => {
    const ps = (await jobPods(nameA)).filter((p) => p.status?.phase === 'Running');
    return ps.length ? ps : undefined;
  });
  // The next minute: A is deleted (its pod with it) and B started.
  const jobB = await waitFor(`job ${nameB}`, first + 60_000 + 70_000 - Date.now(), async () => jobs().get('default', nameB).catch(() => undefined));
  t.log(`${nameA} created ${((Date.parse(jobA.metadata.creationTimestamp!) - first) / 1000).toFixed(1)} s after its minute, ${nameB} ${((Date.parse(jobB.metadata.creationTimestamp!) - first - 60_000) / 1000).toFixed(1)} s after its`);
  await waitFor(`job ${nameA} gone`, 30_000, async () => ((await getStatus(() => jobs().get('default', nameA))) === 404 ? true : undefined));
  await waitFor(`pod ${podA!.metadata.name} gone`, 60_000, async () => ((await getStatus(() => pods().get('default', podA!.metadata.name))) === 404 ? true : undefined));
  const cj = await waitFor('status.active = [B]', 30_000, async () => {
    const c = await cronjobs().get('default', 'minutely');
    return c.status?.active?.length === 1 && c.status.active[0]!.uid === jobB.metadata.uid ? c : undefined;
  });
  t.is(Date.parse(cj.status!.lastScheduleTime!), first + 60_000);
  const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.kind === 'CronJob' && e.involvedObject.name === 'minutely');
  t.true(events.some((e) => e.reason === 'SuccessfulDelete' && e.message === `Deleted job ${nameA}`), JSON.stringify(events.map((e) => [e.reason, e.message])));
  t.true(events.some((e) => e.reason === 'SuccessfulCreate' && e.message === `Created job ${nameB}`));
  await k(['delete', 'cronjob', 'minutely']);
});

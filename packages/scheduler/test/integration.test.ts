// The scheduler against a real API server on a real etcd 3.4: pods get bound,
// an unschedulable pod gets its PodScheduled condition and events, a node
// added later helps it, and with two replicas only the Lease holder schedules.
import test from 'ava';
import { request } from 'node:http';
import { ApiError, Resources } from '@mkube/client';
import { pino } from 'pino';
import { Scheduler } from '../src/scheduler.js';
import { createNode, ensureNamespace, eventually, podObj, startCluster } from './api_cluster.js';

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

test('binds pods, reports an unschedulable pod as kube-scheduler does, and retries it when a node is added', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  for (const n of ['n1', 'n2', 'n3']) await createNode(c, n, '2');
  const sched = new Scheduler({ client: cluster.client(), logger: pino({ level: 'silent' }), metricsPort: 0, metricsHost: '127.0.0.1', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250, identity: 'sched-a' });
  t.teardown(() => sched.stop());
  await sched.start();

  const pods = c.resource(Resources.pods);
  for (let i = 0; i < 4; i++) await pods.create('default', podObj(`web-${i}`, '500m'));
  await pods.create('default', podObj('huge', '3'));

  const bound = await eventually('4 pods bound', async () => {
    const { items } = await pods.list('default');
    const b = items.filter((p) => p.metadata.name.startsWith('web-') && p.spec.nodeName);
    return b.length === 4 ? b : undefined;
  });
  // Least-allocated scoring spreads them: no node holds more than 2.
  const perNode = new Map<string, number>();
  for (const p of bound) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
  t.true([...perNode.values()].every((n) => n <= 2));

  const msg = '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';
  const cond = await eventually('PodScheduled=False on huge', async () => {
    const p = await pods.get('default', 'huge');
    return (p.status?.conditions ?? []).find((x: { type: string }) => x.type === 'PodScheduled');
  });
  t.like(cond, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: msg });
  t.falsy((await pods.get('default', 'huge')).spec.nodeName);

  const events = c.resource(Resources.events);
  const evs = await eventually('events', async () => {
    const { items } = await events.list('default');
    const failed = items.find((e) => (e as { reason?: string }).reason === 'FailedScheduling');
    const ok = items.filter((e) => (e as { reason?: string }).reason === 'Scheduled');
    return failed && ok.length === 4 ? { failed, ok } : undefined;
  });
  t.like(evs.failed, { type: 'Warning', message: msg, involvedObject: { kind: 'Pod', name: 'huge', namespace: 'default' } });
  t.regex(String((evs.ok[0] as { message?: string }).message), /^Successfully assigned default\/web-\d to n\d$/);

  // A big enough node arrives: the parked pod moves back and is bound there.
  await createNode(c, 'big', '8');
  const hugeNode = await eventually('huge bound', async () => (await pods.get('default', 'huge')).spec.nodeName as string | undefined, 20_000);
  t.is(hugeNode, 'big');

  const health = await httpGet(sched.metricsPort!, '/healthz');
  t.is(health.status, 200);
  // The e2e latency is observed when the bind call returns, which may be after the watch showed the pod bound.
  const metrics = await eventually('e2e latency of 5 pods', async () => {
    const m = await httpGet(sched.metricsPort!, '/metrics');
    return /scheduler_pod_scheduling_duration_seconds_count\{profile="default-scheduler"\} 5/.test(m.body) ? m : undefined;
  });
  t.regex(metrics.body, /scheduler_schedule_attempts_total\{result="scheduled",profile="default-scheduler"\} 5/);
  t.regex(metrics.body, /scheduler_schedule_attempts_total\{result="unschedulable",profile="default-scheduler"\} [1-9]/);
  t.regex(metrics.body, /scheduler_pod_scheduling_duration_seconds_count\{profile="default-scheduler"\} 5/);
  t.regex(metrics.body, /scheduler_pending_pods\{queue="unschedulable"\} 0/);
  const lease = await c.resource(Resources.leases).get('kube-system', 'kube-scheduler');
  t.is(lease.spec.holderIdentity, 'sched-a');
});

test('with two replicas only the lease holder schedules; the other takes over when it stops', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  await createNode(c, 'n1', '4');
  const opts = { logger: pino({ level: 'silent' }), leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };
  const a = new Scheduler({ client: cluster.client(), identity: 'a', ...opts });
  const b = new Scheduler({ client: cluster.client(), identity: 'b', ...opts });
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  await a.start();
  await b.start();
  const leader = await eventually('a leader', async () => (a.isLeader() ? a : b.isLeader() ? b : undefined));
  const follower = leader === a ? b : a;
  t.false(follower.isLeader());
  const pods = c.resource(Resources.pods);
  await pods.create('default', podObj('p1', '100m'));
  await eventually('p1 bound', async () => (await pods.get('default', 'p1')).spec.nodeName);
  const followerAttempts = (await follower.metrics.attempts.get()).values.reduce((s, v) => s + v.value, 0);
  const leaderAttempts = (await leader.metrics.attempts.get()).values.reduce((s, v) => s + v.value, 0);
  t.is(followerAttempts, 0);
  t.is(leaderAttempts, 1);
  await leader.stop();
  await eventually('follower takes over', async () => follower.isLeader(), 10_000);
  await pods.create('default', podObj('p2', '100m'));
  await eventually('p2 bound', async () => (await pods.get('default', 'p2')).spec.nodeName);
  t.is((await follower.metrics.attempts.get()).values.reduce((s, v) => s + v.value, 0), 1);
});

test('the mkube-scheduler command schedules, serves /healthz and exits cleanly on SIGTERM', async (t) => {
  const { spawn } = await import('node:child_process');
  const { freePort } = await import('@mkube/testing');
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  await createNode(c, 'n1', '2');
  const port = await freePort();
  const bin = new URL('../src/bin/mkube-scheduler.ts', import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', bin, '--kubeconfig', cluster.server.kubeconfigPath, '--leader-elect', `--metrics-port=${port}`, '--bind-address', '127.0.0.1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const pods = c.resource(Resources.pods);
  await pods.create('default', podObj('cmd-pod', '100m'));
  const nodeName = await eventually('cmd-pod bound', async () => (await pods.get('default', 'cmd-pod')).spec.nodeName as string | undefined, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}; scheduler output:\n${output}`);
  });
  t.is(nodeName, 'n1');
  t.is((await httpGet(port, '/healthz')).status, 200);
  const lease = await c.resource(Resources.leases).get('kube-system', 'kube-scheduler');
  t.truthy(lease.spec.holderIdentity);
  proc.kill('SIGTERM');
  t.is(await exited, 0);
  // Stepping down released the lease.
  t.falsy((await c.resource(Resources.leases).get('kube-system', 'kube-scheduler')).spec.holderIdentity);
});

test('preemption through the API: a high-priority pod (by PriorityClass) evicts a lower-priority one and is bound', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  const pcs = c.resource({ group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', namespaced: false });
  await pcs.create(undefined, { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'low' }, value: 10 });
  await pcs.create(undefined, { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000 });
  await createNode(c, 'n1', '1');
  const sched = new Scheduler({ client: cluster.client(), logger: pino({ level: process.env.SCHED_TEST_LOG ?? 'silent' }), leaderElect: false });
  t.teardown(() => sched.stop());
  await sched.start();
  const pods = c.resource(Resources.pods);
  const victim = podObj('victim', '800m');
  victim.spec = { ...victim.spec, priorityClassName: 'low', terminationGracePeriodSeconds: 0 };
  await pods.create('default', victim);
  await eventually('victim bound', async () => (await pods.get('default', 'victim')).spec.nodeName);
  const vip = podObj('vip', '800m');
  vip.spec = { ...vip.spec, priorityClassName: 'high' };
  await pods.create('default', vip);
  const node = await eventually('vip bound', async () => (await pods.get('default', 'vip')).spec.nodeName as string | undefined, 20_000);
  t.is(node, 'n1');
  await t.throwsAsync(pods.get('default', 'victim'), { instanceOf: ApiError, message: /404/ });
  const { items } = await c.resource(Resources.events).list('default');
  const preempted = items.find((e) => (e as { reason?: string }).reason === 'Preempted') as { message?: string; involvedObject?: { name?: string } } | undefined;
  t.is(preempted?.involvedObject?.name, 'victim');
  t.regex(String(preempted?.message), /^Preempted by pod \S+ on node n1$/);
  const failed = items.find((e) => (e as { reason?: string; involvedObject?: { name?: string } }).reason === 'FailedScheduling') as { message?: string } | undefined;
  t.is(failed?.message, '0/1 nodes are available: 1 Insufficient cpu.');
});

// Several profiles served by one scheduler against a real API server on a
// real etcd 3.4: pods are scheduled by the profile their spec.schedulerName
// names (a MostAllocated profile packs, the default spreads), events and
// metrics name the profile, pods of unknown schedulers are left alone; the
// mkube-scheduler command reads the profiles from --config and refuses a bad
// file with one line naming the field.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources, type KubeObject } from '@mkube/client';
import { pino } from 'pino';
import { parseSchedulerConfig } from '../src/config/load.js';
import { inTreeRegistry } from '../src/plugins/registry.js';
import { Scheduler } from '../src/scheduler.js';
import { createNode, ensureNamespace, eventually, podObj, startCluster } from './api_cluster.js';

const CONFIG = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: default-scheduler
  - schedulerName: binpack
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
`;

const bin = new URL('../src/bin/mkube-scheduler.ts', import.meta.url).pathname;

function withScheduler(p: KubeObject, schedulerName: string): KubeObject {
  return { ...p, spec: { ...p.spec, schedulerName } };
}

test('two profiles in one scheduler: each pod goes through the profile it names; events and metrics name the profile', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  for (const n of ['n1', 'n2', 'n3']) await createNode(c, n, '4');
  const sched = new Scheduler({
    client: cluster.client(), logger: pino({ level: 'silent' }), leaderElect: false,
    config: parseSchedulerConfig(CONFIG, inTreeRegistry()),
  });
  t.teardown(() => sched.stop());
  await sched.start();
  t.deepEqual([...sched.core.frameworks.keys()], ['default-scheduler', 'binpack']);

  const pods = c.resource(Resources.pods);
  // Created first: had the scheduler taken it, it would be bound before the others.
  await pods.create('default', withScheduler(podObj('stranger', '100m'), 'someone-else'));
  for (let i = 0; i < 3; i++) await pods.create('default', withScheduler(podObj(`packed-${i}`, '500m'), 'binpack'));
  const packed = await eventually('3 binpack pods bound', async () => {
    const { items } = await pods.list('default');
    const b = items.filter((p) => p.metadata.name.startsWith('packed-') && p.spec.nodeName);
    return b.length === 3 ? b : undefined;
  });
  const packedNodes = new Set(packed.map((p) => p.spec.nodeName as string));
  t.is(packedNodes.size, 1, 'MostAllocated puts them on one node');

  for (let i = 0; i < 2; i++) await pods.create('default', podObj(`spread-${i}`, '500m'));
  const spread = await eventually('2 default pods bound', async () => {
    const { items } = await pods.list('default');
    const b = items.filter((p) => p.metadata.name.startsWith('spread-') && p.spec.nodeName);
    return b.length === 2 ? b : undefined;
  });
  const spreadNodes = new Set(spread.map((p) => p.spec.nodeName as string));
  t.is(spreadNodes.size, 2, 'LeastAllocated spreads them');
  for (const n of spreadNodes) t.false(packedNodes.has(n), 'and away from the packed node');

  const stranger = await pods.get('default', 'stranger');
  t.falsy(stranger.spec.nodeName);
  t.falsy((stranger.status?.conditions ?? []).find((x: { type: string }) => x.type === 'PodScheduled'));

  const evs = await eventually('5 Scheduled events', async () => {
    const { items } = await c.resource(Resources.events).list('default');
    const ok = items.filter((e) => (e as { reason?: string }).reason === 'Scheduled') as unknown as { involvedObject: { name: string }; source: { component: string }; reportingComponent: string }[];
    return ok.length === 5 ? ok : undefined;
  });
  for (const e of evs) {
    const want = e.involvedObject.name.startsWith('packed-') ? 'binpack' : 'default-scheduler';
    t.is(e.source.component, want);
    t.is(e.reportingComponent, want);
  }
  t.false(evs.some((e) => e.involvedObject.name === 'stranger'));
  const attempts = (await sched.metrics.attempts.get()).values;
  t.is(attempts.find((v) => v.labels.profile === 'binpack' && v.labels.result === 'scheduled')?.value, 3);
  t.is(attempts.find((v) => v.labels.profile === 'default-scheduler' && v.labels.result === 'scheduled')?.value, 2);
});

test('mkube-scheduler --config: the profiles (and the kubeconfig and leader election) come from the file', async (t) => {
  const cluster = await startCluster();
  const dir = await mkdtemp(join(tmpdir(), 'mkube-sched-config-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const c = cluster.client();
  await ensureNamespace(c, 'default');
  await ensureNamespace(c, 'kube-system');
  await createNode(c, 'n1', '2');
  const cfg = join(dir, 'scheduler.yaml');
  await writeFile(cfg, `${CONFIG}clientConnection:\n  kubeconfig: ${cluster.server.kubeconfigPath}\nleaderElection:\n  leaderElect: false\n`);
  const proc = spawn(process.execPath, ['--import', 'tsx', bin, '--config', cfg, '--metrics-port=-1', '--v', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const pods = c.resource(Resources.pods);
  await pods.create('default', withScheduler(podObj('by-binpack', '100m'), 'binpack'));
  const node = await eventually('by-binpack bound', async () => (await pods.get('default', 'by-binpack')).spec.nodeName as string | undefined, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}; scheduler output:\n${output}`);
  });
  t.is(node, 'n1');
  // No Lease: leader election is off in the file.
  await t.throwsAsync(c.resource(Resources.leases).get('kube-system', 'kube-scheduler'), { message: /404|not found/i });
  proc.kill('SIGTERM');
  t.is(await exited, 0);
});

test('mkube-scheduler --config with a bad file: one line naming the field, exit 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-sched-badconfig-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'bad.yaml');
  await writeFile(cfg, `${CONFIG}    plugins:\n      filter:\n        enabled: [{ name: NodeAffinityy }]\n`);
  const proc = spawn(process.execPath, ['--import', 'tsx', bin, '--config', cfg, '--kubeconfig', join(dir, 'unused')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  t.is(code, 1);
  // Node's own process warnings ("(node:PID) ...Warning", "(Use `node --trace-warnings ...`") are not ours.
  const ours = stderr.split('\n').filter((l) => l && !l.startsWith('(node:') && !l.startsWith('(Use `node'));
  t.deepEqual(ours, [`mkube-scheduler: invalid --config ${cfg}: profiles[1].plugins.filter.enabled[0].name: Not found: "NodeAffinityy": no plugin of this name is registered`], stderr);
});

// kubectl drain / cordon / uncordon and the pod garbage collector on real containers: two lab
// workers (network namespaces with their own containerd) run mkube-node-agent against one API
// server, with the scheduler and the controller manager (replicaset, deployment, disruption, podgc).
// A 3-replica Deployment all on w1 under a PDB minAvailable 2 is drained off w1 with kubectl 1.33:
// one eviction at a time, the others refused with 429 until the replacement on w2 is Ready; kubectl
// 1.27 cordons/uncordons and refuses a pod without a controller unless --force. Then w1's agent
// dies and its Node object is deleted: the pod bound to it is gone from the API (404) within the
// GC's period.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerManager } from '@mkube/controllers';
import { Resources, type KubeObject } from '@mkube/client';
import { run, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, REPO_ROOT, type LabSummary } from './lab_helper.js';

const LAB = 'mkdr';
const SUBNET = 140; // nodes 10.213.140.0/24, pods 10.213.141.0/24 and 10.213.142.0/24
const KUBECTL_133 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const KUBECTL_127 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let scheduler: ChildProcess | undefined;
const agents: AgentProcess[] = [];
const roots: string[] = [];

test.after.always(async () => {
  for (const a of agents) await a.kill('SIGKILL');
  if (scheduler && scheduler.exitCode === null) {
    const exited = new Promise((r) => scheduler!.once('exit', r));
    scheduler.kill('SIGKILL');
    await exited;
  }
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

type P = { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string }; status: { phase?: string; conditions?: Array<{ type: string; status: string }> } };
const ready = (p: P) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

test('kubectl drain honours a PDB one eviction at a time; cordon/uncordon; a deleted node’s pods are collected', async (t) => {
  t.timeout(420_000);
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)]);
  const [w1, w2] = [lab.workers[0]!, lab.workers[1]!];
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  const k = async (bin: string, args: string[], timeoutMs = 60_000) => run(bin, ['--kubeconfig', cp!.kubeconfigPath, ...args], timeoutMs);
  cm = new ControllerManager({
    kubeconfig: cp.kubeconfigPath,
    leaderElect: false,
    controllers: ['replicaset', 'deployment', 'disruption', 'podgc'],
    metricsPort: -1,
    logger: pino({ level: 'silent' }),
    config: { podGcPeriodMs: 2_000, podGcQuarantineMs: 4_000 },
  });
  await cm.start();
  scheduler = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'packages', 'scheduler', 'src', 'bin', 'mkube-scheduler.ts'), '--kubeconfig', cp.kubeconfigPath, '--metrics-port', '0', '--leader-elect=false'], { cwd: REPO_ROOT, stdio: 'ignore' });
  for (const w of [w1, w2]) {
    const root = tmpRoot(`${LAB}-${w.name}`);
    roots.push(root);
    agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, '--node-lease-renew-interval', '2'], { netns: true }));
  }
  const nodes = cp.client.resource(Resources.nodes);
  const pods = cp.client.resource(Resources.pods);
  await waitFor('both nodes registered', 30_000, async () => ((await nodes.list()).items.length === 2 ? true : undefined));

  // kubectl 1.27: cordon sets spec.unschedulable, uncordon clears it.
  await k(KUBECTL_127, ['cordon', w2.name]);
  t.true((await nodes.get(undefined, w2.name)).spec?.unschedulable === true);
  t.regex((await k(KUBECTL_127, ['get', 'node', w2.name])).stdout, /Ready,SchedulingDisabled/);

  // All three replicas land on w1 (w2 is cordoned), guarded by minAvailable 2.
  await cp.client.request('POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }] },
      },
    },
  });
  await cp.client.request('POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web' },
    spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
  });
  const web = async () => (await pods.list('default', { labelSelector: 'app=web' })).items as unknown as P[];
  await waitFor('3 ready replicas on w1', 120_000, async () => {
    const ps = (await web()).filter(ready);
    return ps.length === 3 && ps.every((p) => p.spec.nodeName === w1.name) ? true : undefined;
  });
  await waitFor('the PDB allowing 1 disruption', 30_000, async () => {
    const pdb = (await cp!.client.request('GET', '/apis/policy/v1/namespaces/default/poddisruptionbudgets/web')) as { status?: { disruptionsAllowed?: number; currentHealthy?: number } };
    return pdb.status?.disruptionsAllowed === 1 && pdb.status.currentHealthy === 3 ? true : undefined;
  });
  t.regex((await k(KUBECTL_133, ['get', 'pdb', 'web'])).stdout, /web\s+2\s+N\/A\s+1\s+/);
  await k(KUBECTL_127, ['uncordon', w2.name]);
  t.falsy((await nodes.get(undefined, w2.name)).spec?.unschedulable);

  // A pod without a controller on w1: kubectl drain refuses without --force (client side).
  await pods.create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: 'default' }, spec: { nodeName: w1.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }] } } as KubeObject);
  const refused = await k(KUBECTL_127, ['drain', w1.name, '--ignore-daemonsets', '--timeout=20s']).then(
    () => '',
    (err: Error) => err.message,
  );
  t.regex(refused, /cannot delete Pods (that )?declare no controller \(use --force to override\): default\/bare/);
  await pods.delete('default', 'bare', { gracePeriodSeconds: 0 });

  // kubectl 1.33 drains w1: every web pod is evicted, one at a time.
  const started = Date.now();
  let maxGone = 0;
  let polling = true;
  const watcher = (async () => {
    while (polling) {
      const ps = await web().catch(() => []);
      // Never fewer than minAvailable ready pods while draining.
      maxGone = Math.max(maxGone, 3 - ps.filter(ready).length);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const drained = await k(KUBECTL_133, ['drain', w1.name, '--ignore-daemonsets', '--timeout=180s', '-v=6'], 200_000).finally(() => {
    polling = false;
  });
  await watcher;
  const drainSeconds = (Date.now() - started) / 1000;
  // kubectl's -v=6 request log: one line per response (1.33 logs it as key=values, older releases as text).
  const refusals = drained.stderr.split('\n').filter((l) => /\/eviction\b/.test(l) && /\b429 Too Many Requests\b/.test(l)).length;
  const evicted = (drained.stdout.match(/pod\/web-\S+ evicted/g) ?? []).length;
  t.log(`drain took ${drainSeconds.toFixed(1)} s: ${evicted} evictions, ${refusals} refused with 429; at most ${maxGone} replica(s) not ready at a time`);
  t.is(evicted, 3, drained.stdout);
  t.true(refusals >= 1, `later evictions were refused while the replacement was not ready:\n${drained.stderr.split('\n').filter((l) => /eviction/.test(l)).slice(0, 10).join('\n')}`);
  t.regex(drained.stderr, /Cannot evict pod as it would violate the pod's disruption budget\./);
  t.regex(drained.stdout, new RegExp(`node/${w1.name} drained`));
  t.true(maxGone <= 1, `at most one replica disrupted at a time (saw ${maxGone})`);
  await waitFor('3 ready replicas on w2', 60_000, async () => {
    const ps = (await web()).filter(ready);
    return ps.length === 3 && ps.every((p) => p.spec.nodeName === w2.name) ? true : undefined;
  });
  t.true((await nodes.get(undefined, w1.name)).spec?.unschedulable === true);

  // w1 dies and its Node object is deleted: the pod still bound to it is collected (404).
  await pods.create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stranded', namespace: 'default' }, spec: { nodeName: w1.name, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }] } } as KubeObject);
  await waitFor('stranded Running', 60_000, async () => ((await pods.get('default', 'stranded')).status?.phase === 'Running' ? true : undefined));
  await agents[0]!.kill('SIGKILL');
  await nodes.delete(undefined, w1.name);
  const gcStart = Date.now();
  await waitFor('stranded gone (404)', 30_000, async () => {
    try {
      await pods.get('default', 'stranded');
      return undefined;
    } catch (err) {
      return (err as { code?: number }).code === 404 ? true : undefined;
    }
  });
  t.log(`pod of the deleted node gone after ${((Date.now() - gcStart) / 1000).toFixed(1)} s (GC period 2 s, quarantine 4 s)`);
});

// The pod lifecycle engine over the FakeRuntime (no containerd, no root):
// the worker's phases (syncing → terminating → terminated), the executor's
// CRI calls, crash back-off, native sidecars, sandbox replacement, probes,
// and cleanup failures logged with their error and retried until the node
// holds nothing of the pod (the API object is deleted last).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryApiPort } from '../src/api_port.js';
import { CriError } from '../src/cri/cri_error.js';
import { FakeRuntime } from '../src/cri/fake_runtime.js';
import type { AgentPod, AgentPodStatus } from '../src/api_types.js';
import type { Logger } from '../src/logger.js';
import { PodLifecycleEngine } from '../src/sync.js';
import { ctr, fakePod, NODE } from './fake_pod.js';
import { waitFor } from './lab_helper.js';

interface LogLine {
  level: string;
  msg?: string;
  obj: Record<string, unknown>;
}

function capturingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const out = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg, obj: { ...bindings, ...obj } });
  return { debug: () => undefined, info: out('info'), warn: out('warn'), error: out('error'), child: (b) => capturingLogger(lines, { ...bindings, ...b }) };
}

async function start(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-fake-engine-'));
  const fake = new FakeRuntime();
  const api = new InMemoryApiPort();
  const logs: LogLine[] = [];
  const engine = new PodLifecycleEngine({
    nodeName: NODE.nodeName,
    nodeIP: NODE.nodeIP,
    cri: fake,
    api,
    rootDir: join(dir, 'root'),
    podLogsDir: join(dir, 'pods'),
    cgroupFsRoot: join(dir, 'cgroup'),
    relistIntervalMs: 50,
    resyncIntervalMs: 500,
    crashBackoff: { baseMs: 300, capMs: 1_200, resetAfterMs: 60_000 },
    logger: capturingLogger(logs),
  });
  await engine.start();
  t.teardown(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = (spec: Partial<AgentPod['spec']>, name = 'p'): AgentPod => {
    const pod = fakePod({ terminationGracePeriodSeconds: 1, ...spec }, name);
    api.putPod(pod);
    return pod;
  };
  const last = (uid: string): AgentPodStatus | undefined => api.statusHistory(uid).at(-1);
  const waitStatus = (uid: string, what: string, pred: (s: AgentPodStatus) => boolean): Promise<AgentPodStatus> =>
    waitFor(`${what} (last: ${JSON.stringify(last(uid) ?? null)})`, 10_000, () => {
      const s = last(uid);
      return s && pred(s) ? s : undefined;
    });
  return { fake, api, engine, logs, put, last, waitStatus };
}

const cstatus = (s: AgentPodStatus, name: string) => [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? [])].find((c) => c.name === name);
const idOf = (s: AgentPodStatus, name: string) => (cstatus(s, name)?.containerID ?? '').replace('containerd://', '');

test('a pod runs: sandbox, container, Running; the crash of a container restarts it, then CrashLoopBackOff with its event', async (t) => {
  const e = await start(t);
  const pod = e.put({ containers: [ctr('main')] });
  const uid = pod.metadata.uid;
  let s = await e.waitStatus(uid, 'Running', (x) => x.phase === 'Running' && cstatus(x, 'main')?.state?.running !== undefined);
  t.is(s.podIP?.startsWith('10.88.0.'), true);
  t.deepEqual(e.fake.calls.filter((c) => /^(RunPodSandbox|CreateContainer|StartContainer)/.test(c)).map((c) => c.split(' ')[0]), ['RunPodSandbox', 'CreateContainer', 'StartContainer']);

  e.fake.exitContainer(idOf(s, 'main'), 1);
  s = await e.waitStatus(uid, 'restarted', (x) => cstatus(x, 'main')?.restartCount === 1 && cstatus(x, 'main')?.state?.running !== undefined);
  t.is(cstatus(s, 'main')!.lastState?.terminated?.exitCode, 1);

  e.fake.exitContainer(idOf(s, 'main'), 1);
  s = await e.waitStatus(uid, 'CrashLoopBackOff', (x) => cstatus(x, 'main')?.state?.waiting?.reason === 'CrashLoopBackOff');
  t.regex(cstatus(s, 'main')!.state?.waiting!.message!, new RegExp(`^back-off 0s restarting failed container=main pod=p_default\\(${uid}\\)$`));
  t.is(s.phase, 'Running');
  t.true(e.api.eventsFor(uid).some((x) => x.reason === 'BackOff' && x.message === `Back-off restarting failed container main in pod p_default(${uid})`));
  await e.waitStatus(uid, 'restarted after the back-off', (x) => cstatus(x, 'main')?.restartCount === 2 && cstatus(x, 'main')?.state?.running !== undefined);
});

test('restartPolicy Never: the pod completes, the worker goes terminating → terminated, containers are kept for logs until the pod is deleted', async (t) => {
  const e = await start(t);
  const pod = e.put({ restartPolicy: 'Never', containers: [ctr('main')] });
  const uid = pod.metadata.uid;
  const s = await e.waitStatus(uid, 'Running', (x) => cstatus(x, 'main')?.state?.running !== undefined);
  e.fake.exitContainer(idOf(s, 'main'), 0);
  await e.waitStatus(uid, 'Succeeded', (x) => x.phase === 'Succeeded');
  await waitFor('sandbox stopped', 5_000, () => (e.fake.podSandboxes(uid).every((x) => x.state === 'SANDBOX_NOTREADY') ? true : undefined));
  t.is(e.fake.podContainers(uid).length, 1, 'the exited container stays (its logs are readable)');
  t.deepEqual(e.engine.podUids(), [uid]);
  t.true(e.logs.some((l) => l.msg === 'pod terminated' && l.obj.uid === uid));

  e.api.markDeleted(uid, 0);
  await waitFor('pod deleted from the API', 5_000, () => (e.api.getPod(uid) ? undefined : true));
  t.deepEqual(e.fake.podContainers(uid), []);
  t.deepEqual(e.fake.podSandboxes(uid), []);
  t.deepEqual(e.engine.podUids(), []);
});

test('a failed cleanup step is logged with its error and retried; the API object is deleted only once the node holds nothing of the pod', async (t) => {
  const e = await start(t);
  const pod = e.put({ containers: [ctr('main')] });
  const uid = pod.metadata.uid;
  await e.waitStatus(uid, 'Running', (x) => cstatus(x, 'main')?.state?.running !== undefined);
  e.fake.failNext('RemovePodSandbox', 'UNAVAILABLE', 'containerd is restarting', 2);
  e.api.markDeleted(uid, 0);
  await waitFor('pod deleted from the API', 10_000, () => (e.api.getPod(uid) ? undefined : true));
  const failed = e.logs.filter((l) => l.level === 'warn' && l.msg === 'pod cleanup step failed; retrying' && l.obj.uid === uid);
  t.is(failed.length, 2, 'each failed round logged');
  const err = failed[0]!.obj.err as Error & { cause?: unknown; code?: string };
  t.true(err instanceof Error, 'the error object itself, so its stack survives');
  t.is(err.code, 'PodCleanupFailed');
  t.true(err.cause instanceof CriError);
  t.regex(String(failed[0]!.obj.step), /^RemovePodSandbox /);
  t.deepEqual([failed[0]!.obj.attempt, failed[1]!.obj.attempt], [1, 2]);
  // The delete came after the successful removal.
  const removes = e.fake.calls.filter((c) => c.startsWith('RemovePodSandbox'));
  t.true(removes.length >= 3);
  t.deepEqual(e.fake.podSandboxes(uid), []);
  t.deepEqual(e.fake.podContainers(uid), []);
});

test('native sidecar: started before the next init container, keeps running beside the app; the pod is Running, not stuck in Init', async (t) => {
  const e = await start(t);
  const pod = e.put({ initContainers: [ctr('proxy', { restartPolicy: 'Always' }), ctr('setup')], containers: [ctr('app')] });
  const uid = pod.metadata.uid;
  let s = await e.waitStatus(uid, 'setup running', (x) => cstatus(x, 'setup')?.state?.running !== undefined);
  t.truthy(cstatus(s, 'proxy')?.state?.running, 'the sidecar runs while the next init container does');
  t.is(s.phase, 'Pending');
  e.fake.exitContainer(idOf(s, 'setup'), 0);
  s = await e.waitStatus(uid, 'app running', (x) => cstatus(x, 'app')?.state?.running !== undefined);
  t.is(s.phase, 'Running');
  t.truthy(cstatus(s, 'proxy')!.state?.running);
  t.is(cstatus(s, 'proxy')!.started, true);
  t.is(s.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
  t.is(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  // The sidecar crashes: restarted, the pod stays Running.
  e.fake.exitContainer(idOf(s, 'proxy'), 1);
  s = await e.waitStatus(uid, 'sidecar restarted', (x) => cstatus(x, 'proxy')?.restartCount === 1 && cstatus(x, 'proxy')?.state?.running !== undefined);
  t.is(s.phase, 'Running');
});

test('the sandbox dies: SandboxChanged, a new sandbox (next attempt) and the container again with its restart count carried on', async (t) => {
  const e = await start(t);
  const pod = e.put({ containers: [ctr('main')] });
  const uid = pod.metadata.uid;
  await e.waitStatus(uid, 'Running', (x) => cstatus(x, 'main')?.state?.running !== undefined);
  const [sb] = e.fake.podSandboxes(uid);
  e.fake.killSandbox(sb!.id);
  const s = await e.waitStatus(uid, 'running again', (x) => cstatus(x, 'main')?.state?.running !== undefined && cstatus(x, 'main')!.restartCount >= 1);
  t.is(cstatus(s, 'main')!.restartCount, 1);
  t.deepEqual(e.fake.podSandboxes(uid).map((x) => [x.state, x.attempt]), [['SANDBOX_READY', 1]]);
  t.true(e.api.eventsFor(uid).some((x) => x.reason === 'SandboxChanged' && x.message === 'Pod sandbox changed, it will be killed and re-created.'));
});

test('a failing exec liveness probe kills the container with kubelet’s Killing message and starts it again', async (t) => {
  const e = await start(t);
  let healthy = true;
  e.fake.execHandler = () => ({ exitCode: healthy ? 0 : 1, stdout: healthy ? '' : 'unhealthy' });
  const pod = e.put({ containers: [ctr('main', { livenessProbe: { exec: { command: ['check'] }, periodSeconds: 1, failureThreshold: 1 } })] });
  const uid = pod.metadata.uid;
  await e.waitStatus(uid, 'Running', (x) => cstatus(x, 'main')?.state?.running !== undefined);
  healthy = false;
  const s = await e.waitStatus(uid, 'restarted', (x) => (cstatus(x, 'main')?.restartCount ?? 0) >= 1);
  healthy = true;
  t.true(e.api.eventsFor(uid).some((x) => x.reason === 'Killing' && x.message === 'Container main failed liveness probe, will be restarted'));
  t.true(e.api.eventsFor(uid).some((x) => x.reason === 'Unhealthy' && x.message === 'Liveness probe failed: unhealthy'));
  t.is(cstatus(s, 'main')!.lastState?.terminated?.exitCode, 137);
});

test('a deleted pod with a running container goes through terminating (final status written) before cleanup', async (t) => {
  const e = await start(t);
  const pod = e.put({ containers: [ctr('main')] });
  const uid = pod.metadata.uid;
  await e.waitStatus(uid, 'Running', (x) => cstatus(x, 'main')?.state?.running !== undefined);
  e.api.markDeleted(uid, 1);
  await waitFor('pod deleted from the API', 10_000, () => (e.api.getPod(uid) ? undefined : true));
  const final = e.api.statusHistory(uid).at(-1)!;
  t.is(final.phase, 'Failed', 'stopped with SIGKILL (137): a terminal, failed status is written before the delete');
  t.truthy(cstatus(final, 'main')?.state?.terminated);
  t.true(e.api.eventsFor(uid).some((x) => x.reason === 'Killing' && x.message === 'Stopping container main'));
  t.deepEqual(e.fake.size, { sandboxes: 0, containers: 0 });
});

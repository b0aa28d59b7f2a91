// computePodActions over the FakeRuntime (no containerd, no root): the pod's
// runtime state is built in the fake as the agent labels it, read back with
// the agent's RuntimeObserver, and the decision checked against kubelet's:
// every restart policy × exit code × probe state, back-off, created/unknown
// instances, init containers (failing, succeeding, native sidecars) and
// sandbox changes.
import test from 'ava';
import { FakeRuntime } from '../src/cri/fake_runtime.js';
import type { AgentPod, RestartPolicy } from '../src/api_types.js';
import { computePodActions, type PodActions, type ProbeKind, type ProbeState } from '../src/kuberuntime/pod_actions.js';
import { RuntimeObserver } from '../src/kuberuntime/runtime_observer.js';
import { Backoff } from '../src/runtime/backoff.js';
import { ctr, fakePod, ManualClock, runContainer, runSandbox } from './fake_pod.js';

interface World {
  clock: ManualClock;
  fake: FakeRuntime;
  backoff: Backoff;
  probes: Map<string, ProbeState>;
}

function world(): World {
  const clock = new ManualClock();
  return { clock, fake: new FakeRuntime(clock), backoff: new Backoff(clock, { baseMs: 10_000, capMs: 300_000, resetAfterMs: 600_000 }), probes: new Map() };
}

async function decide(w: World, pod: AgentPod, restartBase?: Record<string, number>): Promise<PodActions> {
  const status = await new RuntimeObserver(w.fake, pod.metadata.uid).observe();
  return computePodActions(pod, status, {
    probes: { get: (id: string, kind: ProbeKind) => w.probes.get(`${id}/${kind}`) },
    backoff: w.backoff,
    ...(restartBase ? { restartBase } : {}),
  });
}

const names = (list: { name: string }[]): string[] => list.map((x) => x.name);

// ------------------------------------------------------------ restart policy × exit code

const policies: RestartPolicy[] = ['Always', 'OnFailure', 'Never'];
for (const policy of policies) {
  for (const exit of [0, 1, 137]) {
    const restarts = policy === 'Always' || (policy === 'OnFailure' && exit !== 0);
    test(`restartPolicy ${policy}, container exited ${exit}: ${restarts ? 'restarted' : 'not restarted, pod killed'}`, async (t) => {
      const w = world();
      const pod = fakePod({ restartPolicy: policy });
      const sb = await runSandbox(w.fake, pod);
      await runContainer(w.fake, pod, sb, 'main', { exit });
      const a = await decide(w, pod);
      t.false(a.createSandbox);
      t.deepEqual(a.containersToKill, []);
      if (restarts) {
        t.false(a.killPod);
        t.deepEqual(names(a.containersToStart), ['main']);
        t.is(a.containersToStart[0]!.restartCount, 1);
        t.truthy(a.containersToStart[0]!.backoff, 'a crash restart advances the back-off');
      } else {
        t.true(a.killPod, 'nothing runs and nothing will: the sandbox is stopped');
        t.deepEqual(a.containersToStart, []);
      }
    });
  }
}

// ------------------------------------------------------------ restart policy × probe state

for (const policy of policies) {
  for (const kind of ['liveness', 'startup'] as const) {
    for (const state of ['success', 'failure', 'unknown', undefined] as const) {
      test(`restartPolicy ${policy}, running container, ${kind} probe ${state ?? 'not run yet'}`, async (t) => {
        const w = world();
        const probe = { exec: { command: ['true'] } };
        const pod = fakePod({ restartPolicy: policy, containers: [ctr('main', kind === 'liveness' ? { livenessProbe: probe } : { startupProbe: probe })] });
        const sb = await runSandbox(w.fake, pod);
        const id = await runContainer(w.fake, pod, sb, 'main', { restartCount: 2 });
        if (state) w.probes.set(`${id}/${kind}`, state);
        const a = await decide(w, pod);
        t.false(a.createSandbox);
        if (state !== 'failure') {
          t.deepEqual(a, { ...a, killPod: false, containersToKill: [], containersToStart: [], initContainersToStart: [], backingOff: [] });
          return;
        }
        const what = `Container main failed ${kind} probe`;
        t.deepEqual(a.containersToKill, [
          { id, name: 'main', kind: 'regular', reason: kind === 'liveness' ? 'LivenessProbe' : 'StartupProbe', message: policy === 'Never' ? what : `${what}, will be restarted` },
        ]);
        if (policy === 'Never') {
          t.deepEqual(a.containersToStart, []);
          t.true(a.killPod);
        } else {
          t.false(a.killPod);
          t.deepEqual(a.containersToStart, [{ name: 'main', kind: 'regular', index: 0, restartCount: 3 }]);
        }
      });
    }
  }
}

test('a second liveness failure: the container is killed, its start waits out the back-off of its previous crash (doBackOff)', async (t) => {
  const w = world();
  const pod = fakePod({ containers: [ctr('main', { livenessProbe: { exec: { command: ['x'] } } })] });
  const sb = await runSandbox(w.fake, pod);
  const first = await runContainer(w.fake, pod, sb, 'main', { exit: 137 });
  const finishedAt = Number(BigInt((await w.fake.containerStatus(first)).status!.finished_at) / 1_000_000n);
  w.backoff.next(`${pod.metadata.uid}/main`, finishedAt);
  const id = await runContainer(w.fake, pod, sb, 'main', { restartCount: 1 });
  w.probes.set(`${id}/liveness`, 'failure');
  const a = await decide(w, pod);
  t.deepEqual(a.containersToKill.map((k) => [k.id, k.reason]), [[id, 'LivenessProbe']]);
  t.deepEqual(a.containersToStart, []);
  t.deepEqual(a.backingOff.map((b) => [b.name, b.until]), [['main', finishedAt + 10_000]]);
});

test('liveness failure wins over startup failure in the message, as kubelet checks it first', async (t) => {
  const w = world();
  const pod = fakePod({ containers: [ctr('main', { livenessProbe: { exec: { command: ['x'] } }, startupProbe: { exec: { command: ['x'] } } })] });
  const id = await runContainer(w.fake, pod, await runSandbox(w.fake, pod), 'main');
  w.probes.set(`${id}/liveness`, 'failure');
  w.probes.set(`${id}/startup`, 'failure');
  t.is((await decide(w, pod)).containersToKill[0]!.reason, 'LivenessProbe');
});

// ------------------------------------------------------------ CrashLoopBackOff

test('CrashLoopBackOff: the first crash restarts at once, the next waits 10 s, then 20 s; the message is kubelet’s', async (t) => {
  const w = world();
  const pod = fakePod();
  const sb = await runSandbox(w.fake, pod);
  let id = await runContainer(w.fake, pod, sb, 'main', { exit: 2 });
  let a = await decide(w, pod);
  t.deepEqual(names(a.containersToStart), ['main']);
  const { key, failedAt } = a.containersToStart[0]!.backoff!;
  t.is(key, `${pod.metadata.uid}/main`);
  w.backoff.next(key, failedAt); // the executor records the restart

  w.clock.advance(1_000);
  id = await runContainer(w.fake, pod, sb, 'main', { restartCount: 1, exit: 2 });
  a = await decide(w, pod);
  t.deepEqual(a.containersToStart, []);
  t.false(a.killPod, 'a container in back-off keeps the pod');
  t.is(a.backingOff.length, 1);
  const finishedAt = Number(BigInt((await w.fake.containerStatus(id)).status!.finished_at) / 1_000_000n);
  t.is(a.backingOff[0]!.until, finishedAt + 10_000, 'measured from when the container failed');
  t.is(a.backingOff[0]!.message, `back-off 10s restarting failed container=main pod=p_default(${pod.metadata.uid})`);

  w.clock.advance(10_010);
  a = await decide(w, pod);
  t.deepEqual(names(a.containersToStart), ['main']);
  t.is(a.containersToStart[0]!.restartCount, 2);
  w.backoff.next(key, a.containersToStart[0]!.backoff!.failedAt);
  t.is(w.backoff.delayMs(key), 20_000);
  t.truthy(id);
});

test('back-off past a minute is worded in minutes and seconds (5m0s at the cap)', async (t) => {
  const w = world();
  const pod = fakePod();
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'main', { restartCount: 9, exit: 1 });
  const key = `${pod.metadata.uid}/main`;
  for (let i = 0; i < 10; i++) w.backoff.next(key, w.clock.now());
  const a = await decide(w, pod);
  t.regex(a.backingOff[0]!.message, /^back-off 5m0s restarting failed container=main /);
});

// ------------------------------------------------------------ created / unknown instances

test('a created-but-never-started instance is replaced with the same restart count', async (t) => {
  const w = world();
  const pod = fakePod();
  const sb = await runSandbox(w.fake, pod);
  const id = await runContainer(w.fake, pod, sb, 'main', { restartCount: 4, createdOnly: true });
  const a = await decide(w, pod);
  t.deepEqual(a.containersToStart, [{ name: 'main', kind: 'regular', index: 0, restartCount: 4, replaces: id }]);
});

test('a container in unknown state is killed before it is started again', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'Never' });
  const sb = await runSandbox(w.fake, pod);
  const id = await runContainer(w.fake, pod, sb, 'main');
  w.fake.makeUnknown(id);
  const a = await decide(w, pod);
  t.deepEqual(a.containersToKill, [{ id, name: 'main', kind: 'regular', reason: 'Unknown', message: 'Container is in "unknown" state, try killing it before restart' }]);
  t.deepEqual(names(a.containersToStart), ['main']);
});

test('a deleted pod restarts nothing', async (t) => {
  const w = world();
  const pod = fakePod();
  pod.metadata.deletionTimestamp = '2026-12-01T10:00:00Z';
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'main', { exit: 1 });
  const a = await decide(w, pod);
  t.deepEqual(a.containersToStart, []);
  t.true(a.killPod);
});

test('several containers: only those that should run are started, running ones are kept', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'OnFailure', containers: [ctr('a'), ctr('b'), ctr('c'), ctr('d')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'a');
  await runContainer(w.fake, pod, sb, 'b', { exit: 0 });
  await runContainer(w.fake, pod, sb, 'c', { exit: 1 });
  const a = await decide(w, pod);
  t.deepEqual(
    a.containersToStart.map((s) => [s.name, s.index, s.restartCount]),
    [
      ['c', 2, 1],
      ['d', 3, 0],
    ],
  );
  t.false(a.killPod);
});

// ------------------------------------------------------------ init containers

test('init containers: the first starts first, nothing else', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [ctr('i1'), ctr('i2')] });
  await runSandbox(w.fake, pod);
  const a = await decide(w, pod);
  t.deepEqual(names(a.initContainersToStart), ['i1']);
  t.deepEqual(a.containersToStart, []);
});

test('init containers: a running init container is waited for', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [ctr('i1'), ctr('i2')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'i1', { kind: 'init' });
  const a = await decide(w, pod);
  t.deepEqual(a.initContainersToStart, []);
  t.deepEqual(a.containersToStart, []);
  t.false(a.killPod);
});

test('init containers: a succeeded one hands over to the next, the last to the containers', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [ctr('i1'), ctr('i2')], containers: [ctr('a'), ctr('b')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'i1', { kind: 'init', exit: 0 });
  t.deepEqual(names((await decide(w, pod)).initContainersToStart), ['i2']);
  await runContainer(w.fake, pod, sb, 'i2', { kind: 'init', exit: 0 });
  const a = await decide(w, pod);
  t.deepEqual(a.initContainersToStart, []);
  t.deepEqual(names(a.containersToStart), ['a', 'b']);
});

for (const policy of policies) {
  test(`init containers: a failed one with restartPolicy ${policy} ${policy === 'Never' ? 'fails the pod' : 'is retried with back-off'}`, async (t) => {
    const w = world();
    const pod = fakePod({ restartPolicy: policy, initContainers: [ctr('i1'), ctr('i2')] });
    const sb = await runSandbox(w.fake, pod);
    await runContainer(w.fake, pod, sb, 'i1', { kind: 'init', exit: 1 });
    const a = await decide(w, pod);
    t.deepEqual(a.containersToStart, []);
    if (policy === 'Never') {
      t.true(a.killPod);
      t.deepEqual(a.initContainersToStart, []);
      return;
    }
    t.false(a.killPod);
    t.deepEqual(a.initContainersToStart.map((s) => [s.name, s.restartCount]), [['i1', 1]]);
    w.backoff.next(a.initContainersToStart[0]!.backoff!.key, a.initContainersToStart[0]!.backoff!.failedAt);
    await runContainer(w.fake, pod, sb, 'i1', { kind: 'init', restartCount: 1, exit: 1 });
    const again = await decide(w, pod);
    t.deepEqual(again.initContainersToStart, []);
    t.deepEqual(names(again.backingOff), ['i1']);
  });
}

test('init containers: once a regular container runs, completed init containers removed from the runtime do not run again', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [ctr('i1')], containers: [ctr('a')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'a');
  const a = await decide(w, pod);
  t.deepEqual(a.initContainersToStart, []);
  t.deepEqual(a.containersToStart, []);
  t.false(a.killPod);
});

// ------------------------------------------------------------ native sidecars

const sidecar = (name: string, extra = {}) => ctr(name, { restartPolicy: 'Always', ...extra });

test('sidecar: once running (no startup probe) the next init container starts; it does not block the pod in Init', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [sidecar('proxy'), ctr('setup')], containers: [ctr('app')] });
  const sb = await runSandbox(w.fake, pod);
  t.deepEqual(names((await decide(w, pod)).initContainersToStart), ['proxy']);
  await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init' });
  t.deepEqual(names((await decide(w, pod)).initContainersToStart), ['setup']);
  await runContainer(w.fake, pod, sb, 'setup', { kind: 'init', exit: 0 });
  const a = await decide(w, pod);
  t.deepEqual(a.initContainersToStart, [], 'the running sidecar is kept, not started again');
  t.deepEqual(names(a.containersToStart), ['app']);
});

test('sidecar as the last init container: running means initialized', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [sidecar('proxy')], containers: [ctr('app')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init' });
  t.deepEqual(names((await decide(w, pod)).containersToStart), ['app']);
});

test('sidecar with a startup probe: the next init container waits for it; a failed startup probe restarts it', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [sidecar('proxy', { startupProbe: { exec: { command: ['x'] } } }), ctr('setup')] });
  const sb = await runSandbox(w.fake, pod);
  const id = await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init' });
  let a = await decide(w, pod);
  t.deepEqual(a.initContainersToStart, [], 'startup probe not run yet: wait');
  w.probes.set(`${id}/startup`, 'failure');
  a = await decide(w, pod);
  t.deepEqual(a.containersToKill, [{ id, name: 'proxy', kind: 'init', reason: 'StartupProbe', message: 'Init container proxy failed startup probe' }]);
  t.deepEqual(names(a.initContainersToStart), ['proxy']);
  w.probes.set(`${id}/startup`, 'success');
  t.deepEqual(names((await decide(w, pod)).initContainersToStart), ['setup']);
});

test('sidecar: a failed liveness probe restarts it, the pod keeps going', async (t) => {
  const w = world();
  const pod = fakePod({ initContainers: [sidecar('proxy', { livenessProbe: { exec: { command: ['x'] } } })], containers: [ctr('app')] });
  const sb = await runSandbox(w.fake, pod);
  const id = await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init' });
  await runContainer(w.fake, pod, sb, 'app');
  w.probes.set(`${id}/liveness`, 'failure');
  const a = await decide(w, pod);
  t.deepEqual(a.containersToKill, [{ id, name: 'proxy', kind: 'init', reason: 'LivenessProbe', message: 'Init container proxy failed liveness probe' }]);
  t.deepEqual(names(a.initContainersToStart), ['proxy']);
  t.false(a.killPod);
});

for (const policy of policies) {
  test(`sidecar that exited is restarted whatever the pod's restartPolicy (${policy})`, async (t) => {
    const w = world();
    const pod = fakePod({ restartPolicy: policy, initContainers: [sidecar('proxy')], containers: [ctr('app')] });
    const sb = await runSandbox(w.fake, pod);
    await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init', exit: 1 });
    await runContainer(w.fake, pod, sb, 'app');
    const a = await decide(w, pod);
    t.deepEqual(a.initContainersToStart.map((s) => [s.name, s.restartCount]), [['proxy', 1]]);
    t.false(a.killPod);
  });
}

test('sidecar does not keep a finished pod alive: the containers are done, the pod is killed, the sidecar not restarted', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'Never', initContainers: [sidecar('proxy')], containers: [ctr('app')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'proxy', { kind: 'init' });
  await runContainer(w.fake, pod, sb, 'app', { exit: 0 });
  const a = await decide(w, pod);
  t.true(a.killPod);
  t.deepEqual(a.initContainersToStart, []);
  t.deepEqual(a.containersToStart, []);
});

// ------------------------------------------------------------ sandbox changes

test('no sandbox: create one (attempt 0) and start the containers', async (t) => {
  const w = world();
  const pod = fakePod({ containers: [ctr('a'), ctr('b')] });
  const a = await decide(w, pod);
  t.true(a.createSandbox);
  t.true(a.killPod);
  t.is(a.attempt, 0);
  t.is(a.sandboxId, undefined);
  t.deepEqual(names(a.containersToStart), ['a', 'b']);
});

test('no sandbox, with init containers: only the first init container is started', async (t) => {
  const w = world();
  const a = await decide(w, fakePod({ initContainers: [sidecar('proxy'), ctr('setup')] }));
  t.true(a.createSandbox);
  t.deepEqual(names(a.initContainersToStart), ['proxy']);
  t.deepEqual(a.containersToStart, []);
});

test('the sandbox died: kill and re-create it with the next attempt; restart counts continue', async (t) => {
  const w = world();
  const pod = fakePod();
  const sb = await runSandbox(w.fake, pod, 3);
  await runContainer(w.fake, pod, sb, 'main', { restartCount: 2 });
  w.fake.killSandbox(sb);
  const a = await decide(w, pod);
  t.true(a.killPod);
  t.true(a.createSandbox);
  t.is(a.sandboxId, sb);
  t.is(a.attempt, 4);
  t.deepEqual(a.containersToStart.map((s) => [s.name, s.restartCount]), [['main', 3]]);
});

test('two ready sandboxes: the pod is re-created in one', async (t) => {
  const w = world();
  const pod = fakePod();
  await runSandbox(w.fake, pod, 0);
  const newer = await runSandbox(w.fake, pod, 1);
  const a = await decide(w, pod);
  t.true(a.createSandbox);
  t.is(a.sandboxId, newer);
  t.is(a.attempt, 2);
});

test('the sandbox died after a restartPolicy Never pod ran: no new sandbox, the pod is terminal', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'Never' });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'main');
  w.fake.killSandbox(sb);
  const a = await decide(w, pod);
  t.false(a.createSandbox);
  t.true(a.killPod);
  t.true(a.podIsTerminal);
  t.deepEqual(a.containersToStart, []);
});

test('the sandbox is gone but every OnFailure container succeeded: no new sandbox', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'OnFailure', containers: [ctr('a'), ctr('b')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'a', { exit: 0 });
  await runContainer(w.fake, pod, sb, 'b', { exit: 0 });
  await w.fake.stopPodSandbox(sb);
  const a = await decide(w, pod);
  t.false(a.createSandbox);
  t.false(a.podIsTerminal);
});

test('the sandbox of an OnFailure pod died with one container failed: re-created, only the failed one starts', async (t) => {
  const w = world();
  const pod = fakePod({ restartPolicy: 'OnFailure', containers: [ctr('a'), ctr('b')] });
  const sb = await runSandbox(w.fake, pod);
  await runContainer(w.fake, pod, sb, 'a', { exit: 0 });
  await runContainer(w.fake, pod, sb, 'b', { exit: 1 });
  w.fake.killSandbox(sb);
  const a = await decide(w, pod);
  t.true(a.createSandbox);
  t.deepEqual(a.containersToStart.map((s) => [s.name, s.restartCount]), [['b', 1]]);
});

test('a restart base carried from removed sandboxes continues the count of a container with no instance left', async (t) => {
  const w = world();
  const pod = fakePod();
  await runSandbox(w.fake, pod, 1);
  const a = await decide(w, pod, { main: 5 });
  t.deepEqual(a.containersToStart.map((s) => [s.name, s.restartCount]), [['main', 5]]);
});

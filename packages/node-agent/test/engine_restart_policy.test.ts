// Restart policies, CrashLoopBackOff timing (small injected base) and bad
// input (missing image, missing command, missing configMap key) against a
// real containerd; a healthy pod next to them stays undisturbed.
import test from 'ava';
import { bb, cid, cs, makePod, running, startHarness, waitStatus, type Harness } from './engine_helper.js';
import { waitFor } from './lab_helper.js';

let h: Harness;
let healthyUid = '';
let healthyId = '';

test.before(async (t) => {
  t.timeout(120_000);
  h = await startHarness('mkeng2', 110);
  const healthy = makePod(h, 'healthy', { containers: [bb('main', 'trap "exit 0" TERM; sleep 3600 & wait')] });
  healthyUid = healthy.metadata.uid;
  h.api.putPod(healthy);
  healthyId = cid(await waitStatus(h, healthyUid, 'healthy running', running('main')), 'main');
});

test.after.always(async () => {
  await h?.close();
});

test.afterEach.always(async (t) => {
  // Nothing else is disturbed: the healthy pod keeps its one container.
  const s = h.api.statusHistory(healthyUid).at(-1)!;
  t.is(cid(s, 'main'), healthyId);
  t.is(cs(s, 'main')!.restartCount, 0);
});

test('restartPolicy Never: a failed container stays failed', async (t) => {
  const pod = makePod(h, 'never', { restartPolicy: 'Never', containers: [bb('main', 'echo bye; exit 3')] });
  h.api.putPod(pod);
  const s = await waitStatus(h, pod.metadata.uid, 'Failed', (x) => x.phase === 'Failed');
  const c = cs(s, 'main')!;
  t.is(c.restartCount, 0);
  t.is(c.state?.terminated?.exitCode, 3);
  t.is(c.state?.terminated?.reason, 'Error');
  t.false(c.ready);
  await new Promise((r) => setTimeout(r, 1_500));
  t.is(cs(h.api.statusHistory(pod.metadata.uid).at(-1)!, 'main')!.restartCount, 0, 'not restarted');
  t.is(s.conditions!.find((x) => x.type === 'Ready')?.status, 'False');
});

test('restartPolicy OnFailure: exit 0 completes the pod without restart', async (t) => {
  const pod = makePod(h, 'onfailure', { restartPolicy: 'OnFailure', containers: [bb('main', 'exit 0')] });
  h.api.putPod(pod);
  const s = await waitStatus(h, pod.metadata.uid, 'Succeeded', (x) => x.phase === 'Succeeded');
  t.is(cs(s, 'main')!.restartCount, 0);
  t.is(cs(s, 'main')!.state?.terminated?.reason, 'Completed');
});

test.serial('restartPolicy Always: CrashLoopBackOff doubles from the base up to the cap', async (t) => {
  t.timeout(60_000);
  const pod = makePod(h, 'crasher', { restartPolicy: 'Always', containers: [bb('main', 'exit 2')] });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const starts = (): number[] => h.api.eventsFor(uid).filter((e) => e.reason === 'Started').map((e) => e.time);
  await waitFor('5 starts', 30_000, () => (starts().length >= 5 ? true : undefined));
  const s = starts();
  const gaps = s.slice(1).map((x, i) => x - s[i]!);
  t.log(`gaps between starts: ${gaps.join(', ')} ms (base 1000, cap 4000)`);
  t.true(gaps[0]! < 1_500 && gaps[0]! < gaps[2]!, `first restart is immediate: ${gaps[0]}`);
  t.true(gaps[1]! >= 950 && gaps[1]! < 2_500, `second waits base: ${gaps[1]}`);
  t.true(gaps[2]! >= 1_950 && gaps[2]! < 3_500, `third waits 2·base: ${gaps[2]}`);
  t.true(gaps[3]! >= 3_950 && gaps[3]! < 5_500, `fourth waits the cap: ${gaps[3]}`);
  const hist = h.api.statusHistory(uid);
  const backoff = hist.find((x) => cs(x, 'main')?.state?.waiting?.reason === 'CrashLoopBackOff');
  t.truthy(backoff);
  const c = cs(backoff!, 'main')!;
  t.regex(c.state?.waiting!.message!, /^back-off \ds restarting failed container=main pod=crasher_default\(/);
  t.is(c.lastState?.terminated?.exitCode, 2);
  t.is(c.lastState?.terminated?.reason, 'Error');
  t.is(backoff!.phase, 'Running');
  t.true(h.api.eventsFor(uid).some((e) => e.reason === 'BackOff' && e.type === 'Warning'));
  h.api.markDeleted(uid, 1);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) ? undefined : true));
});

test('an image that does not exist: ErrImagePull, then ImagePullBackOff', async (t) => {
  const pod = makePod(h, 'noimage', {
    containers: [{ name: 'main', image: 'registry.invalid/nothere:1', imagePullPolicy: 'IfNotPresent' }],
  });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const pull = await waitStatus(h, uid, 'ErrImagePull', (x) => cs(x, 'main')?.state?.waiting?.reason === 'ErrImagePull');
  t.is(pull.phase, 'Pending');
  t.truthy(cs(pull, 'main')!.state?.waiting!.message);
  await waitStatus(h, uid, 'ImagePullBackOff', (x) => cs(x, 'main')?.state?.waiting?.reason === 'ImagePullBackOff');
  t.regex(cs(h.api.statusHistory(uid).at(-1)!, 'main')!.state?.waiting!.message ?? '', /registry\.invalid\/nothere:1/);
  t.true(h.api.eventsFor(uid).some((e) => e.reason === 'Failed' && /Failed to pull image "registry.invalid\/nothere:1"/.test(e.message)));
  // Never + absent.
  const never = makePod(h, 'neverpull', { containers: [{ name: 'main', image: 'docker.io/library/absent:9', imagePullPolicy: 'Never' }] });
  h.api.putPod(never);
  const s = await waitStatus(h, never.metadata.uid, 'ErrImageNeverPull', (x) => cs(x, 'main')?.state?.waiting?.reason === 'ErrImageNeverPull');
  t.is(cs(s, 'main')!.state?.waiting!.message, 'Container image "docker.io/library/absent:9" is not present with pull policy of Never');
  for (const u of [uid, never.metadata.uid]) h.api.markDeleted(u, 1);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) || h.api.getPod(never.metadata.uid) ? undefined : true));
});

test('a command that does not exist: RunContainerError / CreateContainerError', async (t) => {
  const pod = makePod(h, 'nocmd', { containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['/no/such/binary'] }] });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const s = await waitStatus(h, uid, 'start error', (x) => ['RunContainerError', 'CreateContainerError'].includes(cs(x, 'main')?.state?.waiting?.reason ?? ''));
  t.regex(cs(s, 'main')!.state?.waiting!.message!, /no\/such\/binary/);
  // Kubernetes reports Running once the container has terminated (here: failed to start) and will be restarted.
  t.not(s.phase, 'Succeeded');
  t.true(h.api.eventsFor(uid).some((e) => e.reason === 'Failed' && /no\/such\/binary/.test(e.message)));
  // It keeps retrying with back-off.
  await waitStatus(h, uid, 'CrashLoopBackOff', (x) => cs(x, 'main')?.state?.waiting?.reason === 'CrashLoopBackOff', 15_000);
  h.api.markDeleted(uid, 1);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) ? undefined : true));
});

test('a missing configMap key: CreateContainerConfigError until the key appears', async (t) => {
  h.api.putConfigMap({ metadata: { name: 'partial', namespace: 'default', uid: 'p1' }, data: { present: 'yes' } });
  const pod = makePod(h, 'nokey', {
    containers: [bb('main', 'echo $VALUE; trap "exit 0" TERM; sleep 3600 & wait', { env: [{ name: 'VALUE', valueFrom: { configMapKeyRef: { name: 'partial', key: 'missing' } } }] })],
  });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const s = await waitStatus(h, uid, 'CreateContainerConfigError', (x) => cs(x, 'main')?.state?.waiting?.reason === 'CreateContainerConfigError');
  t.is(cs(s, 'main')!.state?.waiting!.message, "couldn't find key missing in ConfigMap default/partial");
  t.is(s.phase, 'Pending');
  t.true(h.api.eventsFor(uid).some((e) => e.reason === 'Failed' && e.message === "Error: couldn't find key missing in ConfigMap default/partial"));
  h.api.putConfigMap({ metadata: { name: 'partial', namespace: 'default', uid: 'p1' }, data: { present: 'yes', missing: 'now' } });
  await waitStatus(h, uid, 'running after the key appears', running('main'), 15_000);
  h.api.markDeleted(uid, 1);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) ? undefined : true));
});

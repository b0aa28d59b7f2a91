// Agent restart: a new engine over the same containerd adopts running pods
// without duplicates and removes the pods the API no longer has.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bb, cid, cs, makePod, running, startHarness, waitStatus, type Harness } from './engine_helper.js';
import { sleep, waitFor } from './lab_helper.js';

let h: Harness;

test.before(async (t) => {
  t.timeout(120_000);
  h = await startHarness('mkeng4', 116);
});

test.after.always(async () => {
  await h?.close();
});

function podCgroupExists(uid: string): boolean {
  return readdirSync('/sys/fs/cgroup').some((hier) => existsSync(`/sys/fs/cgroup/${hier}${h.node.cgroupParent}/pod${uid}`));
}

test.serial('a pod removed from the source is stopped and cleaned up (no API delete)', async (t) => {
  const pod = makePod(h, 'gone', { containers: [bb('main', 'trap "exit 0" TERM; sleep 3600 & wait')] });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  await waitStatus(h, uid, 'running', running('main'));
  t.true(podCgroupExists(uid));
  h.api.removePod(uid);
  await waitFor('sandbox removed', 20_000, async () =>
    (await h.cri.listPodSandbox({ label_selector: { 'io.kubernetes.pod.uid': uid } })).length === 0 && !h.engine.podUids().includes(uid) ? true : undefined,
  );
  t.false(podCgroupExists(uid));
  t.false(existsSync(join(h.node.logDir, `default_gone_${uid}`)));
  t.false(existsSync(join(h.rootDir, 'pods', uid)));
  t.is(h.api.deletions.length, 0);
});

test.serial('a new engine adopts running pods without duplicates and removes pods deleted meanwhile', async (t) => {
  t.timeout(60_000);
  const keep = makePod(h, 'keep', {
    volumes: [{ name: 'scratch', emptyDir: {} }],
    containers: [bb('main', 'trap "exit 0" TERM; sleep 3600 & wait', { volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }), bb('side', 'trap "exit 0" TERM; sleep 3600 & wait')],
  });
  const drop = makePod(h, 'drop', { containers: [bb('main', 'trap "exit 0" TERM; sleep 3600 & wait')] });
  h.api.putPod(keep);
  h.api.putPod(drop);
  const before = await waitStatus(h, keep.metadata.uid, 'keep running', (s) => running('main')(s) && running('side')(s));
  await waitStatus(h, drop.metadata.uid, 'drop running', running('main'));
  const sandboxesBefore = await h.cri.listPodSandbox({ label_selector: { 'io.kubernetes.pod.uid': keep.metadata.uid } });

  // The agent goes away; meanwhile the API drops one pod.
  await h.engine.stop();
  h.api.removePod(drop.metadata.uid);
  const writesBefore = h.api.statusHistory(keep.metadata.uid).length;
  const createdBefore = h.api.eventsFor(keep.metadata.uid).filter((e) => e.reason === 'Created').length;

  const engine2 = h.newEngine();
  await engine2.start();
  await waitFor('drop cleaned up', 20_000, async () =>
    (await h.cri.listPodSandbox({ label_selector: { 'io.kubernetes.pod.uid': drop.metadata.uid } })).length === 0 && !podCgroupExists(drop.metadata.uid)
      ? true
      : undefined,
  );
  await sleep(2_000); // a few relists and a resync
  await engine2.whenIdle();
  const sandboxesAfter = await h.cri.listPodSandbox({ label_selector: { 'io.kubernetes.pod.uid': keep.metadata.uid } });
  t.deepEqual(sandboxesAfter.map((s) => s.id), sandboxesBefore.map((s) => s.id), 'same sandbox');
  const containers = await h.cri.listContainers({ label_selector: { 'io.kubernetes.pod.uid': keep.metadata.uid } });
  t.is(containers.length, 2, 'no duplicates');
  t.true(containers.every((c) => c.state === 'CONTAINER_RUNNING'));
  t.deepEqual(containers.map((c) => c.id).sort(), [cid(before, 'main'), cid(before, 'side')].sort());
  t.is(h.api.eventsFor(keep.metadata.uid).filter((e) => e.reason === 'Created').length, createdBefore);
  t.is(h.api.statusHistory(keep.metadata.uid).length, writesBefore, 'unchanged status is not rewritten');
  t.is(engine2.podStatus(keep.metadata.uid)?.phase, 'Running');
  t.is(cs(engine2.podStatus(keep.metadata.uid)!, 'main')!.restartCount, 0);
  t.false(existsSync(join(h.node.logDir, `default_drop_${drop.metadata.uid}`)));

  // The adopted pod is still managed: deleting it works through the new engine.
  h.api.markDeleted(keep.metadata.uid, 2);
  await waitFor('keep deleted', 20_000, () => (h.api.getPod(keep.metadata.uid) ? undefined : true));
  t.false(podCgroupExists(keep.metadata.uid));
  await engine2.stop();
});

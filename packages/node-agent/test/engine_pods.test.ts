// The pod lifecycle engine against a real containerd: a busybox pod's env,
// volumes and limits as seen from inside, container logs, start latency.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readContainerLogs } from '../src/logs.js';
import { bb, cid, cs, exec, makePod, running, startHarness, waitStatus, type Harness } from './engine_helper.js';
import { waitFor } from './lab_helper.js';

let h: Harness;

test.before(async (t) => {
  t.timeout(120_000);
  h = await startHarness('mkeng1', 108);
});

test.after.always(async () => {
  await h?.close();
});

test('env, configMap/secret volumes, emptyDir shared by two containers, memory limit', async (t) => {
  t.timeout(60_000);
  h.api.putConfigMap({ metadata: { name: 'cfg', namespace: 'default', uid: 'cm1' }, data: { greeting: 'hello', 'app.conf': 'a=1\n' } });
  h.api.putSecret({
    metadata: { name: 'sec', namespace: 'default', uid: 's1' },
    data: { password: Buffer.from('s3cr3t').toString('base64'), token: Buffer.from('tok').toString('base64') },
  });
  const pod = makePod(
    h,
    'envpod',
    {
      volumes: [
        { name: 'cm', configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
        { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o400 } },
        { name: 'shared', emptyDir: {} },
      ],
      containers: [
        bb('writer', 'echo from-writer > /shared/hello; trap "exit 0" TERM; sleep 3600 & wait', {
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'APP_LABEL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
            { name: 'MEM_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'PLAIN', value: 'x-$(GREETING)-y' },
          ],
          resources: { limits: { memory: '64Mi', cpu: '500m' }, requests: { memory: '32Mi', cpu: '250m' } },
        }),
        bb('reader', 'trap "exit 0" TERM; sleep 3600 & wait', {
          volumeMounts: [
            { name: 'shared', mountPath: '/data', readOnly: true },
            { name: 'cm', mountPath: '/etc/app' },
            { name: 'sec', mountPath: '/etc/sec' },
          ],
        }),
      ],
    },
  );
  const t0 = performance.now();
  h.api.putPod(pod);
  const st = await waitStatus(h, pod.metadata.uid, 'Running and Ready', (s) => s.phase === 'Running' && s.conditions!.some((c) => c.type === 'Ready' && c.status === 'True'));
  t.log(`pod start latency (creation → Ready): ${Math.round(performance.now() - t0)} ms`);
  t.regex(st.podIP ?? '', /^10\.213\.109\.\d+$/);
  t.is(st.hostIP, h.node.nodeIP);
  t.is(st.qosClass, 'Burstable');
  t.truthy(st.startTime);
  const w = cs(st, 'writer')!;
  t.is(w.restartCount, 0);
  t.true(w.ready);
  t.true(w.started);
  t.regex(w.containerID!, /^containerd:\/\/[0-9a-f]{64}$/);
  t.is(w.image, 'docker.io/library/busybox:latest');
  t.regex(w.imageID, /^sha256:/);
  t.deepEqual(st.conditions!.map((c) => `${c.type}=${c.status}`).sort(), [
    'ContainersReady=True',
    'Initialized=True',
    'PodReadyToStartContainers=True',
    'PodScheduled=True',
    'Ready=True',
  ]);

  const writer = cid(st, 'writer');
  const reader = cid(st, 'reader');
  const env = Object.fromEntries(
    (await exec(h, writer, ['env'])).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.is(env.POD_NAME, 'envpod');
  t.is(env.POD_NS, 'default');
  t.is(env.POD_UID, pod.metadata.uid);
  t.is(env.APP_LABEL, 'envpod');
  t.is(env.NODE, h.node.name);
  t.is(env.POD_IP, st.podIP!);
  t.is(env.HOST_IP, h.node.nodeIP);
  t.is(env.GREETING, 'hello');
  t.is(env.PASSWORD, 's3cr3t');
  t.is(env.MEM_LIMIT, '64');
  t.is(env.PLAIN, 'x-hello-y');

  t.is(await exec(h, reader, ['cat', '/data/hello']), 'from-writer\n');
  t.is(await exec(h, reader, ['cat', '/etc/app/conf/app.conf']), 'a=1\n');
  t.is((await exec(h, reader, ['stat', '-c', '%a', '/etc/app/conf/app.conf'])).trim(), '600');
  t.is(await exec(h, reader, ['cat', '/etc/sec/password']), 's3cr3t');
  t.is((await exec(h, reader, ['stat', '-L', '-c', '%a', '/etc/sec/token'])).trim(), '400'); // -L: the key is a link into ..data (atomic writer)
  const ro = await h.cri.execSync(reader, ['sh', '-c', 'echo x > /data/nope'], 10);
  t.not(ro.exit_code, 0, 'readOnly mount');

  t.is((await exec(h, writer, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).trim(), String(64 * 1024 * 1024));
  t.is((await exec(h, writer, ['cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'])).trim(), '50000');
  t.is((await exec(h, writer, ['cat', '/sys/fs/cgroup/cpu/cpu.shares'])).trim(), '256');
  t.is((await exec(h, writer, ['hostname'])).trim(), 'envpod');

  // Deleting cleans up everything: sandbox, cgroup, volumes, logs, the API object.
  h.api.markDeleted(pod.metadata.uid, 5);
  await waitFor('pod deleted from the API', 20_000, () => (h.api.getPod(pod.metadata.uid) ? undefined : true));
  t.deepEqual(await h.cri.listPodSandbox({ label_selector: { 'io.kubernetes.pod.uid': pod.metadata.uid } }), []);
  t.false(existsSync(join(h.rootDir, 'pods', pod.metadata.uid)));
  t.false(existsSync(join(h.node.logDir, `default_envpod_${pod.metadata.uid}`)));
  for (const hier of readdirSync('/sys/fs/cgroup')) t.false(existsSync(`/sys/fs/cgroup/${hier}${h.node.cgroupParent}/pod${pod.metadata.uid}`), hier);
  t.is(h.api.deletions.filter((d) => d.uid === pod.metadata.uid).length, 1);
  const reasons = h.api.eventsFor(pod.metadata.uid).map((e) => e.reason);
  for (const r of ['Pulled', 'Created', 'Started', 'Killing']) t.true(reasons.includes(r), r);
});

test('init containers run in order; logs with tail, timestamps, previous and follow', async (t) => {
  t.timeout(60_000);
  const pod = makePod(h, 'logpod', {
    restartPolicy: 'OnFailure',
    initContainers: [bb('init1', 'echo init1 > /work/order'), bb('init2', 'echo init2 >> /work/order')].map((c) => ({
      ...c,
      volumeMounts: [{ name: 'work', mountPath: '/work' }],
    })),
    volumes: [{ name: 'work', emptyDir: {} }],
    containers: [
      bb('main', 'cat /work/order; for i in 1 2 3; do echo line$i; done; if [ ! -f /work/ran ]; then touch /work/ran; exit 1; fi; sleep 1; echo late; exit 0', {
        volumeMounts: [{ name: 'work', mountPath: '/work' }],
      }),
    ],
  });
  h.api.putPod(pod);
  const pending = await waitStatus(h, pod.metadata.uid, 'initializing', (s) => s.initContainerStatuses !== undefined);
  t.is(pending.phase, 'Pending');
  const done = await waitStatus(h, pod.metadata.uid, 'Succeeded', (s) => s.phase === 'Succeeded', 30_000);
  const main = cs(done, 'main')!;
  t.is(main.restartCount, 1);
  t.is(main.state?.terminated?.reason, 'Completed');
  t.is(main.lastState?.terminated?.exitCode, 1);
  t.is(main.lastState?.terminated?.reason, 'Error');
  t.deepEqual(done.initContainerStatuses!.map((c) => [c.name, c.state?.terminated?.reason, c.ready]), [
    ['init1', 'Completed', true],
    ['init2', 'Completed', true],
  ]);
  t.is(done.conditions!.find((c) => c.type === 'Ready')?.reason, 'PodCompleted');

  const collect = async (opts: Parameters<typeof h.engine.logs>[3]): Promise<string> => {
    let out = '';
    for await (const chunk of h.engine.logs('default', 'logpod', 'main', opts)) out += chunk;
    return out;
  };
  t.is(await collect({}), 'init1\ninit2\nline1\nline2\nline3\nlate\n');
  t.is(await collect({ tailLines: 2 }), 'line3\nlate\n');
  t.is(await collect({ previous: true }), 'init1\ninit2\nline1\nline2\nline3\n');
  const stamped = (await collect({ timestamps: true, tailLines: 1 })).trim();
  t.regex(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\S* late$/);
  t.is(await collect({ sinceSeconds: 0 }), '');
  // follow on a finished container ends once drained.
  t.is(await collect({ follow: true }), 'init1\ninit2\nline1\nline2\nline3\nlate\n');
  let initOut = '';
  for await (const c of h.engine.logs('default', 'logpod', 'init1', {})) initOut += c;
  t.is(initOut, '');
});

test('follow streams new lines of a running container', async (t) => {
  t.timeout(40_000);
  const pod = makePod(h, 'follow', { containers: [bb('ticker', 'i=0; trap "exit 0" TERM; while true; do echo tick$i; i=$((i+1)); sleep 0.3; done')] });
  h.api.putPod(pod);
  await waitStatus(h, pod.metadata.uid, 'running', running('ticker'));
  const ac = new AbortController();
  const seen: string[] = [];
  const iter = h.engine.logs('default', 'follow', 'ticker', { follow: true, signal: ac.signal, pollIntervalMs: 100 });
  for await (const chunk of iter) {
    seen.push(chunk.trim());
    if (seen.length >= 6) ac.abort();
  }
  t.deepEqual(seen.slice(0, 6), ['tick0', 'tick1', 'tick2', 'tick3', 'tick4', 'tick5']);
  h.api.markDeleted(pod.metadata.uid, 2);
  await waitFor('deleted', 20_000, () => (h.api.getPod(pod.metadata.uid) ? undefined : true));
});

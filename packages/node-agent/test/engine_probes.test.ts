// Probes (exec, httpGet, tcpSocket; liveness, readiness, startup), lifecycle
// hooks and graceful termination against a real containerd.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bb, cid, cs, exec, makePod, running, startHarness, waitStatus, type Harness } from './engine_helper.js';
import { waitFor } from './lab_helper.js';
import type { AgentPodStatus } from '../src/api_types.js';

let h: Harness;
const ready = (s: AgentPodStatus): boolean => s.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

test.before(async (t) => {
  t.timeout(120_000);
  h = await startHarness('mkeng3', 112);
});

test.after.always(async () => {
  await h?.close();
});

async function remove(uid: string): Promise<void> {
  h.api.markDeleted(uid, 1);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) ? undefined : true));
}

test('exec liveness failure restarts the container', async (t) => {
  t.timeout(40_000);
  const pod = makePod(h, 'live-exec', {
    containers: [
      bb('main', 'trap "exit 0" TERM; touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600 & wait', {
        livenessProbe: { exec: { command: ['test', '-f', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2 },
      }),
    ],
  });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const first = await waitStatus(h, uid, 'running', running('main'));
  const s = await waitStatus(h, uid, 'restarted', (x) => (cs(x, 'main')?.restartCount ?? 0) >= 1 && running('main')(x), 20_000);
  t.not(cid(s, 'main'), cid(first, 'main'));
  t.is(cs(s, 'main')!.lastState?.terminated?.exitCode, 0, 'stopped by SIGTERM, which it handles');
  const ev = h.api.eventsFor(uid);
  t.true(ev.some((e) => e.reason === 'Unhealthy' && e.message.startsWith('Liveness probe failed')));
  t.true(ev.some((e) => e.reason === 'Killing' && e.message === 'Container main failed liveness probe, will be restarted'));
  await remove(uid);
});

test('httpGet and tcpSocket probes pass on nginx; httpGet 404 keeps it unready; tcp liveness failure restarts', async (t) => {
  t.timeout(60_000);
  const good = makePod(h, 'web-ok', {
    containers: [
      {
        name: 'nginx',
        image: 'nginx',
        imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: 80 }],
        readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
        // nginx needs a moment to listen after its container starts (long under CI load): a liveness probe
        // with no initial delay and failureThreshold 1 would rightly restart it, as Kubernetes would.
        livenessProbe: { httpGet: { path: '/', port: 80 }, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 3 },
      },
    ],
  });
  const notFound = makePod(h, 'web-404', {
    containers: [{ name: 'nginx', image: 'nginx', imagePullPolicy: 'IfNotPresent', readinessProbe: { httpGet: { path: '/nope', port: 80 }, periodSeconds: 1 } }],
  });
  const badTcp = makePod(h, 'tcp-dead', {
    containers: [
      bb('main', 'trap "exit 0" TERM; sleep 3600 & wait', { livenessProbe: { tcpSocket: { port: 81 }, periodSeconds: 1, failureThreshold: 2 } }),
    ],
  });
  for (const p of [good, notFound, badTcp]) h.api.putPod(p);
  const ok = await waitStatus(h, good.metadata.uid, 'nginx ready', ready, 20_000);
  t.true(cs(ok, 'nginx')!.ready);
  await waitStatus(h, badTcp.metadata.uid, 'tcp liveness restart', (x) => (cs(x, 'main')?.restartCount ?? 0) >= 1, 20_000);
  const nf = h.api.statusHistory(notFound.metadata.uid).at(-1)!;
  t.truthy(cs(nf, 'nginx')!.state?.running);
  t.false(cs(nf, 'nginx')!.ready);
  t.false(ready(nf));
  t.is(nf.conditions!.find((c) => c.type === 'ContainersReady')?.message, 'containers with unready status: [nginx]');
  t.true(h.api.eventsFor(notFound.metadata.uid).some((e) => e.reason === 'Unhealthy' && /statuscode: 404/.test(e.message)));
  const okNow = h.api.statusHistory(good.metadata.uid).at(-1)!;
  t.is(cs(okNow, 'nginx')!.restartCount, 0, 'passing liveness never restarts');
  for (const p of [good, notFound, badTcp]) await remove(p.metadata.uid);
});

test('exec readiness flips Ready both ways; startup probe gates started', async (t) => {
  t.timeout(40_000);
  const pod = makePod(h, 'flip', {
    containers: [
      bb('main', 'trap "exit 0" TERM; sleep 3600 & wait', {
        readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
        startupProbe: { exec: { command: ['test', '-f', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 30 },
      }),
    ],
  });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  const r0 = await waitStatus(h, uid, 'running', running('main'));
  t.false(cs(r0, 'main')!.started);
  t.false(ready(r0));
  const id = cid(r0, 'main');
  await exec(h, id, ['touch', '/tmp/ready']);
  await new Promise((r) => setTimeout(r, 2_500));
  t.false(cs(h.api.statusHistory(uid).at(-1)!, 'main')!.started, 'readiness waits for the startup probe');
  t.false(ready(h.api.statusHistory(uid).at(-1)!));
  await exec(h, id, ['touch', '/tmp/started']);
  const r1 = await waitStatus(h, uid, 'ready', ready, 10_000);
  t.true(cs(r1, 'main')!.started);
  await exec(h, id, ['rm', '/tmp/ready']);
  const r2 = await waitStatus(h, uid, 'unready', (x) => !ready(x), 10_000);
  t.is(r2.conditions!.find((c) => c.type === 'Ready')?.reason, 'ContainersNotReady');
  await exec(h, id, ['touch', '/tmp/ready']);
  await waitStatus(h, uid, 'ready again', ready, 10_000);
  t.is(cs(h.api.statusHistory(uid).at(-1)!, 'main')!.restartCount, 0);
  await remove(uid);
});

test('graceful termination: postStart and preStop hooks, SIGTERM ignored → SIGKILL after the grace period', async (t) => {
  t.timeout(40_000);
  const hostDir = mkdtempSync(join(tmpdir(), 'mkeng3-hooks-'));
  t.teardown(() => rmSync(hostDir, { recursive: true, force: true }));
  const pod = makePod(h, 'stubborn', {
    terminationGracePeriodSeconds: 3,
    volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'Directory' } }],
    containers: [
      bb('main', 'trap "" TERM; while true; do sleep 1; done', {
        volumeMounts: [{ name: 'host', mountPath: '/host' }],
        lifecycle: {
          postStart: { exec: { command: ['sh', '-c', 'echo poststart > /host/poststart'] } },
          preStop: { exec: { command: ['sh', '-c', 'echo prestop > /host/prestop'] } },
        },
      }),
    ],
  });
  h.api.putPod(pod);
  const uid = pod.metadata.uid;
  await waitStatus(h, uid, 'running', running('main'));
  t.is(readFileSync(join(hostDir, 'poststart'), 'utf8'), 'poststart\n');
  const t0 = Date.now();
  h.api.markDeleted(uid, 3);
  await waitFor('deleted', 20_000, () => (h.api.getPod(uid) ? undefined : true));
  const took = Date.now() - t0;
  t.log(`termination took ${took} ms with a 3 s grace period`);
  t.true(took >= 2_900 && took < 8_000, `${took}`);
  t.is(readFileSync(join(hostDir, 'prestop'), 'utf8'), 'prestop\n');
  const final = h.api.statusHistory(uid).at(-1)!;
  t.is(cs(final, 'main')!.state?.terminated?.exitCode, 137, 'SIGKILL');
  t.is(final.phase, 'Failed');
  t.true(existsSync(hostDir), 'hostPath volumes are left alone');
  t.deepEqual(h.api.deletions.filter((d) => d.uid === uid).map((d) => d.name), ['stubborn']);
});

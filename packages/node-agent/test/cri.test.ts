// The typed CRI client against a real containerd: a host-node lab instance
// (deploy/lab/lab.sh up --host-node) with its own paths, cgroups and pod subnet.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { performance } from 'node:perf_hooks';
import { CriClient } from '../src/cri/cri_client.js';
import { CriError } from '../src/cri/cri_error.js';
import { parseCriLog } from '../src/cri/cri_log.js';
import type { LabNode } from './lab_helper.js';
import { busybox, cgroupDirs, labDown, labUp, prepareLogDir, readIfExists, removeCgroup, sandboxConfig, waitFor } from './lab_helper.js';

const LAB = 'mkcri';
const SUBNET = 150; // pods in 10.213.151.0/24

let node: LabNode;
let cri: CriClient;

test.before(async (t) => {
  t.timeout(120_000);
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  node = summary.workers[0]!;
  cri = await CriClient.connect(node.criAddress);
  await cri.waitReady(20_000);
});

test.after.always(async () => {
  cri?.close();
  await labDown(LAB);
});

function ms(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

test.serial('Version, Status and the imported images', async (t) => {
  const v = await cri.version();
  t.is(v.runtime_name, 'containerd');
  t.is(v.runtime_api_version, 'v1');
  const st = await cri.status();
  const conds = Object.fromEntries(st.status!.conditions.map((c) => [c.type, c.status]));
  t.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });

  const tags = (await cri.listImages()).flatMap((i) => i.repo_tags);
  for (const ref of ['docker.io/library/busybox:latest', 'registry.k8s.io/pause:3.9', 'docker.io/library/nginx:latest']) {
    t.true(tags.includes(ref), `${ref} in ${tags.join(',')}`);
  }
  const bb = await cri.imageStatus('busybox');
  t.truthy(bb.image);
  t.true(Number(bb.image!.size) > 500_000);
  t.is((await cri.imageStatus('docker.io/library/nothere:1')).image, null);
  const fs = await cri.imageFsInfo();
  t.true(fs.image_filesystems[0]!.fs_id!.mountpoint.startsWith(node.stateDir));
  // No registry here: pulling an absent image fails with a typed error.
  const err = await t.throwsAsync(cri.pullImage('registry.invalid/none:1', undefined, undefined, { timeoutMs: 20_000 }));
  t.true(err instanceof CriError);
});

test.serial('busybox pod: run, log, exec, stop, remove', async (t) => {
  t.timeout(90_000);
  const uid = randomUUID();
  const sbCfg = sandboxConfig({ node, name: 'bb', uid });
  const ctrCfg = busybox(
    'main',
    'trap "echo got-term; exit 0" TERM; echo hello-mkube; echo to-stderr >&2; sleep 3600 & wait',
  );
  const logPath = prepareLogDir(sbCfg, ctrCfg);

  let t0 = performance.now();
  const podId = await cri.runPodSandbox(sbCfg);
  const runMs = ms(t0);
  t.teardown(async () => {
    await cri.stopPodSandbox(podId).catch(() => undefined);
    await cri.removePodSandbox(podId).catch(() => undefined);
    removeCgroup(`${node.cgroupParent}/pod${uid}`);
  });

  const sb = await cri.podSandboxStatus(podId);
  t.is(sb.status!.state, 'SANDBOX_READY');
  t.is(sb.status!.metadata!.uid, uid);
  t.regex(sb.status!.network!.ip, /^10\.213\.151\.\d+$/);
  t.true(BigInt(sb.status!.created_at) > 1_600_000_000_000_000_000n, 'int64 nanoseconds as string');
  // The sandbox lives under the node's own cgroup parent.
  t.true(cgroupDirs(new RegExp(`^${LAB}-host$`)).some((d) => existsSync(`${d}/pod${uid}`)));

  t0 = performance.now();
  const ctrId = await cri.createContainer(podId, ctrCfg, sbCfg);
  const createMs = ms(t0);
  t0 = performance.now();
  await cri.startContainer(ctrId);
  const startMs = ms(t0);
  t.log(`RunPodSandbox ${runMs} ms, CreateContainer ${createMs} ms, StartContainer ${startMs} ms`);

  const st = await cri.containerStatus(ctrId);
  t.is(st.status!.state, 'CONTAINER_RUNNING');
  t.is(st.status!.log_path, logPath);

  const lines = await waitFor('log lines', 10_000, () => {
    const parsed = parseCriLog(readIfExists(logPath));
    return parsed.length >= 2 ? parsed : undefined;
  });
  t.deepEqual(
    lines.map((l) => [l.stream, l.content]).sort(),
    [
      ['stderr', 'to-stderr'],
      ['stdout', 'hello-mkube'],
    ],
  );
  t.regex(lines[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+/);

  const hi = await cri.execSync(ctrId, ['echo', 'hi'], 10);
  t.is(hi.exit_code, 0);
  t.is(hi.stdout.toString(), 'hi\n');
  t.is(hi.stderr.length, 0);
  const failing = await cri.execSync(ctrId, ['sh', '-c', 'echo oops >&2; exit 3'], 10);
  t.is(failing.exit_code, 3);
  t.is(failing.stderr.toString(), 'oops\n');
  const hostname = await cri.execSync(ctrId, ['hostname'], 10);
  t.is(hostname.stdout.toString().trim(), 'bb');

  t.is((await cri.listContainers({ pod_sandbox_id: podId })).length, 1);
  t.is((await cri.listPodSandbox({ id: podId })).length, 1);

  t0 = performance.now();
  await cri.stopContainer(ctrId, 10);
  const stopMs = ms(t0);
  const stopped = await cri.containerStatus(ctrId);
  t.is(stopped.status!.state, 'CONTAINER_EXITED');
  t.is(stopped.status!.exit_code, 0, 'the container got SIGTERM and exited by itself');
  t.true(parseCriLog(readIfExists(logPath)).some((l) => l.content === 'got-term'));
  t.true(stopMs < 5_000, `stop took ${stopMs} ms`);

  await cri.removeContainer(ctrId);
  const gone = await t.throwsAsync(cri.containerStatus(ctrId));
  t.true(gone instanceof CriError && gone.isNotFound, String(gone));

  t0 = performance.now();
  await cri.stopPodSandbox(podId);
  const stopSbMs = ms(t0);
  t.log(`StopContainer ${stopMs} ms, StopPodSandbox ${stopSbMs} ms`);
  t.is((await cri.podSandboxStatus(podId)).status!.state, 'SANDBOX_NOTREADY');
  t.true(stopSbMs < 5_000, 'pause exits on SIGTERM');
  await cri.removePodSandbox(podId);
  t.deepEqual(await cri.listPodSandbox({ id: podId }), []);
  t.deepEqual(await cri.listContainers({ pod_sandbox_id: podId }), []);
});

test.serial('nginx pod serves its page to the node by pod IP', async (t) => {
  t.timeout(90_000);
  const uid = randomUUID();
  const sbCfg = sandboxConfig({ node, name: 'web', uid });
  const ctrCfg = { metadata: { name: 'nginx' }, image: { image: 'nginx' }, log_path: 'nginx/0.log' };
  prepareLogDir(sbCfg, ctrCfg);
  const podId = await cri.runPodSandbox(sbCfg);
  t.teardown(async () => {
    await cri.stopPodSandbox(podId).catch(() => undefined);
    await cri.removePodSandbox(podId).catch(() => undefined);
    removeCgroup(`${node.cgroupParent}/pod${uid}`);
  });
  const ctrId = await cri.createContainer(podId, ctrCfg, sbCfg);
  await cri.startContainer(ctrId);
  const ip = (await cri.podSandboxStatus(podId)).status!.network!.ip;
  const body = await waitFor('nginx to answer', 15_000, () => httpGet(`http://${ip}/`).catch(() => undefined));
  t.regex(body, /Welcome to nginx!/);
});

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

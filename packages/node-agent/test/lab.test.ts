// Two lab workers (network namespaces, each with its own containerd) run a
// busybox pod each through CRI; the pods reach each other by pod IP over the
// host-gw routes; `lab.sh down` then leaves nothing behind.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CriClient } from '../src/cri/cri_client.js';
import type { LabNode, LabSummary } from './lab_helper.js';
import {
  LAB_ROOT,
  busybox,
  cgroupDirs,
  labDown,
  labUp,
  pidsMentioning,
  prepareLogDir,
  run,
  sandboxConfig,
  waitFor,
} from './lab_helper.js';

const LAB = 'mklab';
const SUBNET = 100; // nodes 10.213.100.0/24, pods 10.213.101.0/24 and 10.213.102.0/24

interface RunningPod {
  podId: string;
  ctrId: string;
  ip: string;
}

async function runBusyboxPod(cri: CriClient, node: LabNode, name: string, script: string): Promise<RunningPod> {
  const sb = sandboxConfig({ node, name, uid: randomUUID() });
  const ctr = busybox('main', script);
  prepareLogDir(sb, ctr);
  const podId = await cri.runPodSandbox(sb);
  const ctrId = await cri.createContainer(podId, ctr, sb);
  await cri.startContainer(ctrId);
  const ip = (await cri.podSandboxStatus(podId)).status!.network!.ip;
  return { podId, ctrId, ip };
}

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  const re = new RegExp(`^${LAB}-`);
  const netns = (await run('ip', ['netns', 'list'], 10_000)).stdout.split('\n').map((l) => l.split(' ')[0]!);
  found.push(...netns.filter((n) => re.test(n)).map((n) => `netns ${n}`));
  const links = (await run('ip', ['-o', 'link', 'show'], 10_000)).stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  found.push(...links.filter((n) => re.test(n)).map((n) => `link ${n}`));
  const routes = (await run('ip', ['route', 'show', 'table', 'all'], 10_000)).stdout.split('\n');
  found.push(...routes.filter((r) => /10\.213\.10[0-2]\.|mklab-/.test(r)).map((r) => `route ${r}`));
  found.push(...pidsMentioning(`${LAB_ROOT}/${LAB}/`).map((p) => `process ${p}`));
  found.push(...cgroupDirs(new RegExp(`^${LAB}-`)).map((d) => `cgroup ${d}`));
  if (existsSync(`${LAB_ROOT}/${LAB}`)) found.push(`dir ${LAB_ROOT}/${LAB}`);
  const mounts = (await run('cat', ['/proc/self/mountinfo'], 10_000)).stdout;
  if (mounts.includes(`${LAB_ROOT}/${LAB}/`)) found.push('mounts under the lab dir');
  if (!existsSync(LAB_ROOT) && /^blackhole 10\.213\.0\.0\/16/m.test(routes.join('\n'))) found.push('blackhole route');
  return found;
}

test('two workers: pod-to-pod across nodes by pod IP, then a clean down', async (t) => {
  t.timeout(110_000);
  const clients: CriClient[] = [];
  let downDone = false;
  t.teardown(async () => {
    for (const c of clients) c.close();
    if (!downDone) await labDown(LAB);
  });

  const t0 = Date.now();
  const lab: LabSummary = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)]);
  t.log(`lab up in ${Date.now() - t0} ms`);
  t.is(lab.workers.length, 2);
  t.deepEqual(
    lab.workers.map((w) => [w.name, w.netns, w.nodeIP, w.podCIDR]),
    [
      ['mklab-w1', 'mklab-w1', '10.213.100.11', '10.213.101.0/24'],
      ['mklab-w2', 'mklab-w2', '10.213.100.12', '10.213.102.0/24'],
    ],
  );
  const [w1, w2] = lab.workers as [LabNode, LabNode];

  for (const w of lab.workers) {
    const c = await CriClient.connect(w.criAddress);
    clients.push(c);
    await c.waitReady(20_000);
  }
  const [cri1, cri2] = clients as [CriClient, CriClient];

  const server = await runBusyboxPod(
    cri2,
    w2,
    'server',
    'mkdir -p /www && echo "pong from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www',
  );
  const client = await runBusyboxPod(cri1, w1, 'client', 'exec sleep 3600');
  t.regex(server.ip, /^10\.213\.102\.\d+$/);
  t.regex(client.ip, /^10\.213\.101\.\d+$/);
  // Each worker's containerd sees only its own pods.
  t.deepEqual((await cri1.listPodSandbox()).map((p) => p.metadata!.name), ['client']);
  t.deepEqual((await cri2.listPodSandbox()).map((p) => p.metadata!.name), ['server']);

  const body = await waitFor('the server pod to answer', 20_000, async () => {
    const r = await cri1.execSync(client.ctrId, ['timeout', '5', 'wget', '-qO-', `http://${server.ip}:8080/`], 10);
    return r.exit_code === 0 ? r.stdout.toString() : undefined;
  });
  t.is(body, 'pong from server\n');

  // And back: the server pod reaches the client pod on the other node.
  const ping = await cri2.execSync(server.ctrId, ['ping', '-c', '1', '-W', '2', client.ip], 10);
  t.is(ping.exit_code, 0, ping.stdout.toString() + ping.stderr.toString());
  const route = await cri1.execSync(client.ctrId, ['ip', 'route'], 10);
  t.regex(route.stdout.toString(), /default via 10\.213\.101\.1/);

  // The leftover check sees a running lab (so its empty result below means something).
  const before = await leftovers();
  for (const kind of ['netns', 'link', 'route', 'process', 'cgroup', 'dir', 'mounts']) {
    t.true(before.some((l) => l.startsWith(kind)), `${kind} visible while up`);
  }

  // Down with pods still running: it must find and remove everything itself.
  const t1 = Date.now();
  await labDown(LAB);
  downDone = true;
  t.log(`lab down in ${Date.now() - t1} ms`);
  t.deepEqual(await leftovers(), []);
  // And once more: down is idempotent.
  await labDown(LAB);
  t.deepEqual(await leftovers(), []);
});

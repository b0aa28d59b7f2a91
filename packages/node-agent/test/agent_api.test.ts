// mkube-node-agent against a real API server (over real etcd) and a real
// containerd (host-node lab): registration, Lease, pods reaching Running/Ready,
// kubectl logs / logs -f / exec through the API server's proxy, agent SIGKILL
// and restart, an API server outage, and pod deletion. Serial: one lab.
import test from 'ava';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ApiError, Resources, type KubeObject } from '@mkube/client';
import { CriClient } from '../src/cri/cri_client.js';
import { POD_UID } from '../src/runtime/labels.js';
import { kubectl, sleep, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode } from './lab_helper.js';

const LAB = 'mkagt';
const SUBNET = 160;

interface Ctx {
  cp: ControlPlane;
  node: LabNode;
  cri: CriClient;
  rootDir: string;
  agent?: AgentProcess;
}
let ctx: Ctx;

const AGENT_FLAGS = ['--node-labels', 'mkube.io/test=agent,tier=edge', '--node-role', 'worker', '--register-with-taints', 'dedicated=test:NoSchedule',
  '--system-reserved', 'cpu=500m,memory=256Mi', '--node-lease-renew-interval', '1', '--node-status-update-frequency', '5'];

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  const cri = await CriClient.connect(node.criAddress);
  const rootDir = tmpRoot(LAB);
  ctx = { cp, node, cri, rootDir };
  ctx.agent = await startAgent(cp, node, rootDir, [...AGENT_FLAGS, '--pod-cidr', node.podCIDR]);
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  ctx.cri.close();
  await ctx.cp.stop();
  await labDown(LAB);
  rmSync(ctx.rootDir, { recursive: true, force: true });
});

function pod(name: string, script: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: ctx.node.name,
      terminationGracePeriodSeconds: 2,
      tolerations: [{ key: 'dedicated', operator: 'Exists' }],
      containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }],
      ...extra,
    },
  };
}

const pods = () => ctx.cp.client.resource(Resources.pods);

async function waitReady(name: string, timeoutMs = 30_000): Promise<KubeObject> {
  return waitFor(`pod ${name} Running and Ready`, timeoutMs, async () => {
    const p = await pods().get('default', name);
    const ready = (p.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
    return p.status?.phase === 'Running' && ready?.status === 'True' ? p : undefined;
  });
}

async function containerIds(uid: string): Promise<string[]> {
  const cs = await ctx.cri.listContainers({ label_selector: { [POD_UID]: uid } });
  return cs.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => c.id).sort();
}

test.serial('registers its Node with capacity, labels, taints, addresses, nodeInfo, and renews its Lease', async (t) => {
  const node = await waitFor('Node with Ready condition', 20_000, async () => {
    const n = await ctx.cp.client.resource(Resources.nodes).get(undefined, ctx.node.name);
    return (n.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
  });
  const labels = node.metadata.labels!;
  t.is(labels['kubernetes.io/hostname'], ctx.node.name);
  t.is(labels['kubernetes.io/os'], 'linux');
  t.is(labels['kubernetes.io/arch'], 'amd64');
  t.is(labels['node-role.kubernetes.io/worker'], '');
  t.is(labels['mkube.io/test'], 'agent');
  t.deepEqual(node.spec.taints, [{ key: 'dedicated', value: 'test', effect: 'NoSchedule' }]);
  t.is(node.spec.podCIDR, ctx.node.podCIDR);
  const st = node.status;
  t.is(st.capacity.pods, '110');
  t.regex(st.capacity.memory, /^\d+Ki$/);
  t.regex(st.capacity['ephemeral-storage'], /^\d+Ki$/);
  const cpu = Number(st.capacity.cpu);
  t.true(cpu >= 1);
  t.is(st.allocatable.cpu, `${cpu * 1000 - 500}m`);
  t.is(parseInt(st.capacity.memory, 10) - parseInt(st.allocatable.memory, 10), 256 * 1024);
  t.deepEqual(st.addresses, [{ type: 'InternalIP', address: ctx.node.nodeIP }, { type: 'Hostname', address: ctx.node.name }]);
  t.is(st.daemonEndpoints.kubeletEndpoint.Port, ctx.agent!.port);
  t.regex(st.nodeInfo.containerRuntimeVersion, /^containerd:\/\/\d/);
  t.is(st.nodeInfo.kubeletVersion, 'v1.31.0-mkube');
  t.is(st.nodeInfo.operatingSystem, 'linux');
  t.truthy(st.nodeInfo.osImage);
  t.truthy(st.nodeInfo.kernelVersion);
  t.deepEqual((st.conditions as { type: string }[]).map((c) => c.type).sort(), ['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);

  const leases = ctx.cp.client.resource(Resources.leases);
  const l1 = await waitFor('lease', 10_000, () => leases.get('kube-node-lease', ctx.node.name).catch(() => undefined));
  t.is(l1.spec.holderIdentity, ctx.node.name);
  const l2 = await waitFor('lease renewal', 10_000, async () => {
    const l = await leases.get('kube-node-lease', ctx.node.name);
    return l.spec.renewTime !== l1.spec.renewTime ? l : undefined;
  });
  t.true(Date.parse(l2.spec.renewTime) > Date.parse(l1.spec.renewTime));
});

test.serial('a pod bound to the node runs and reaches Running/Ready in the API; kubectl logs, logs -f and exec work', async (t) => {
  await pods().create('default', pod('web', 'i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.5; done'));
  const p = await waitReady('web');
  t.is(p.status.hostIP, ctx.node.nodeIP);
  t.truthy(p.status.podIP);
  t.is(p.status.containerStatuses[0].ready, true);

  await waitFor('some log lines', 10_000, async () => ((await kubectl(ctx.cp, ['logs', 'web'])).stdout.includes('line-2') ? true : undefined));
  const tail = await kubectl(ctx.cp, ['logs', 'web', '--tail=1']);
  t.regex(tail.stdout.trim(), /^line-\d+$/);

  // logs -f: keeps streaming new lines; bounded by a timeout that kills kubectl.
  const follow = await new Promise<string>((resolve) => {
    const proc = spawn('kubectl', ['--kubeconfig', ctx.cp.kubeconfigPath, 'logs', '-f', 'web', '--tail=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    setTimeout(() => proc.kill('SIGKILL'), 3_000);
    proc.on('close', () => resolve(out));
  });
  const lines = follow.trim().split('\n');
  t.true(lines.length >= 4, `follow streamed ${JSON.stringify(lines)}`);

  const ex = await kubectl(ctx.cp, ['exec', 'web', '--', 'echo', 'hi']);
  t.is(ex.stdout, 'hi\n');
  const ex2 = await kubectl(ctx.cp, ['exec', 'web', '-c', 'main', '--', 'sh', '-c', 'echo out; echo err >&2']);
  t.is(ex2.stdout, 'out\n');
  t.is(ex2.stderr, 'err\n');
  const failed = await kubectl(ctx.cp, ['exec', 'web', '--', 'sh', '-c', 'exit 3']).then(() => undefined, (e: Error) => e);
  t.truthy(failed);
  t.regex(String(failed?.message), /exit code 3/);
});

test.serial('the agent killed with SIGKILL and restarted keeps the same containers', async (t) => {
  const p = await pods().get('default', 'web');
  const before = await containerIds(p.metadata.uid!);
  t.is(before.length, 1);
  await ctx.agent!.kill('SIGKILL');
  await sleep(1_000);
  ctx.agent = await startAgent(ctx.cp, ctx.node, ctx.rootDir, [...AGENT_FLAGS, '--pod-cidr', ctx.node.podCIDR]);
  await sleep(3_000);
  t.deepEqual(await containerIds(p.metadata.uid!), before);
  const after = await waitReady('web');
  t.is(after.status.containerStatuses[0].containerID, `containerd://${before[0]}`);
  t.is(after.status.containerStatuses[0].restartCount, 0);
  t.is((await kubectl(ctx.cp, ['exec', 'web', '--', 'echo', 'again'])).stdout, 'again\n');
});

test.serial('with the API server stopped for 30 s pods keep running, and status converges after it returns', async (t) => {
  const web = await pods().get('default', 'web');
  const webIds = await containerIds(web.metadata.uid!);
  await pods().create('default', { ...pod('short', 'sleep 8; echo done', { restartPolicy: 'Never' }) });
  const short = await waitReady('short');
  await ctx.cp.stopApi();
  const downAt = Date.now();
  // meanwhile: "short" finishes, "web" keeps running
  await sleep(12_000);
  t.deepEqual(await containerIds(web.metadata.uid!), webIds);
  const shortIds = await ctx.cri.listContainers({ label_selector: { [POD_UID]: short.metadata.uid! } });
  t.true(shortIds.some((c) => c.state === 'CONTAINER_EXITED'));
  await sleep(Math.max(0, 30_000 - (Date.now() - downAt)));
  t.deepEqual(await containerIds(web.metadata.uid!), webIds);
  await ctx.cp.restartApi();
  const done = await waitFor('short Succeeded in the API', 30_000, async () => {
    const p = await pods().get('default', 'short');
    return p.status?.phase === 'Succeeded' ? p : undefined;
  });
  t.is(done.status.containerStatuses[0].state?.terminated.exitCode, 0);
  await waitReady('web', 15_000);
  // the lease is renewed again
  const leases = ctx.cp.client.resource(Resources.leases);
  await waitFor('lease renewed after the outage', 15_000, async () => {
    const l = await leases.get('kube-node-lease', ctx.node.name);
    return Date.parse(l.spec.renewTime) > downAt + 30_000 ? true : undefined;
  });
  t.pass();
});

test.serial('deleting the pod in the API stops and removes its containers and sandbox', async (t) => {
  const p = await pods().get('default', 'web');
  const uid = p.metadata.uid!;
  await pods().delete('default', 'web');
  await waitFor('pod object gone', 30_000, async () => {
    try {
      await pods().get('default', 'web');
      return undefined;
    } catch (err) {
      return ApiError.isNotFound(err) ? true : undefined;
    }
  });
  await waitFor('sandbox removed', 20_000, async () => {
    const sbs = await ctx.cri.listPodSandbox({ label_selector: { [POD_UID]: uid } });
    const cs = await ctx.cri.listContainers({ label_selector: { [POD_UID]: uid } });
    return sbs.length === 0 && cs.length === 0 ? true : undefined;
  });
  const logs = await kubectl(ctx.cp, ['logs', 'web']).then(() => '', (e: Error) => e.message);
  t.regex(logs, /not found/);
});

// Native sidecars end to end, with real containerd: an init container with restartPolicy Always is
// stored by the API server (core/v1 Container field 24; it was pruned before), and a lab worker's
// mkube-node-agent runs it as kubelet does — started before the main container and kept running
// beside it, restarted when it exits while the pod keeps running, and, in a restartPolicy Never pod,
// stopped once the main container has finished, so the pod Succeeds.
import { rmSync } from 'node:fs';
import test from 'ava';
import { Resources, type KubeObject } from '@mkube/client';
import { startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabSummary } from './lab_helper.js';

const LAB = 'mkside';
const SUBNET = 106; // node 10.213.106.0/24, pods 10.213.107.0/24

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let agent: AgentProcess | undefined;
let root: string | undefined;

test.after.always(async () => {
  await agent?.kill('SIGKILL');
  await cp?.stop();
  await labDown(LAB);
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Status { name: string; restartCount: number; started?: boolean; state?: { running?: unknown; terminated?: { exitCode: number; reason?: string } } }
const byName = (list: unknown, name: string): Status | undefined => (list as Status[] | undefined)?.find((s) => s.name === name);

test('a native sidecar runs beside the main container, is restarted when it exits, and is stopped when a Never pod completes', async (t) => {
  t.timeout(240_000);
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)]);
  const w = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  root = tmpRoot(LAB);
  agent = await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR], { netns: true });
  const pods = cp.client.resource(Resources.pods);
  const get = (name: string) => pods.get('default', name);

  // 1. restartPolicy Always: the sidecar exits (code 3) once after 4 s, then keeps running.
  await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      nodeName: w.name,
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'state', emptyDir: {} }],
      initContainers: [{
        name: 'side', image: 'busybox', imagePullPolicy: 'IfNotPresent', restartPolicy: 'Always',
        command: ['sh', '-c', 'trap "exit 0" TERM; if [ ! -f /state/once ]; then touch /state/once; sleep 4; exit 3; fi; while true; do sleep 1; done'],
        volumeMounts: [{ name: 'state', mountPath: '/state' }],
      }],
      containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }],
    },
  } as KubeObject);
  const stored = await get('web');
  t.is((stored.spec.initContainers as Array<{ restartPolicy?: string }>)[0]!.restartPolicy, 'Always', 'the API server keeps the field');

  const running = await waitFor('web Running with the sidecar and the main container running', 90_000, async () => {
    const p = await get('web');
    const side = byName(p.status?.initContainerStatuses, 'side');
    const main = byName(p.status?.containerStatuses, 'main');
    return p.status?.phase === 'Running' && side?.state?.running && side.started && main?.state?.running ? p : undefined;
  });
  t.true(byName(running.status?.initContainerStatuses, 'side')!.state!.running !== undefined);
  t.truthy(running.status?.hostIPs, 'status.hostIPs is stored');
  t.deepEqual(running.status?.hostIPs, [{ ip: w.nodeIP }]);

  const restarted = await waitFor('the sidecar restarted after its exit, the main container untouched', 60_000, async () => {
    const p = await get('web');
    const side = byName(p.status?.initContainerStatuses, 'side');
    const main = byName(p.status?.containerStatuses, 'main');
    return side && side.restartCount >= 1 && side.state?.running && main?.state?.running ? p : undefined;
  });
  t.is(restarted.status?.phase, 'Running');
  t.is(byName(restarted.status?.containerStatuses, 'main')!.restartCount, 0);
  t.is((byName(restarted.status?.initContainerStatuses, 'side') as Status & { lastState?: { terminated?: { exitCode: number } } }).lastState?.terminated?.exitCode, 3);

  // 2. restartPolicy Never: the main container finishes, the sidecar is stopped, the pod Succeeds.
  await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'job', namespace: 'default' },
    spec: {
      nodeName: w.name,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      initContainers: [{ name: 'side', image: 'busybox', imagePullPolicy: 'IfNotPresent', restartPolicy: 'Always', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }],
      containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'sleep 3; exit 0'] }],
    },
  } as KubeObject);
  await waitFor('job: the sidecar running beside main', 60_000, async () => {
    const p = await get('job');
    return byName(p.status?.initContainerStatuses, 'side')?.state?.running && byName(p.status?.containerStatuses, 'main')?.state?.running ? p : undefined;
  });
  const done = await waitFor('job Succeeded', 60_000, async () => {
    const p = await get('job');
    return p.status?.phase === 'Succeeded' ? p : undefined;
  });
  t.is(byName(done.status?.containerStatuses, 'main')!.state?.terminated?.exitCode, 0);
  t.truthy(byName(done.status?.initContainerStatuses, 'side')!.state?.terminated, 'the sidecar was stopped');
  t.is(byName(done.status?.initContainerStatuses, 'side')!.restartCount, 0);
});

// Persistent storage end to end with real containerd: a lab worker (network namespace) runs
// mkube-node-agent as its node identity (system:node:NAME), with the local-path provisioner; the
// real mkube-scheduler (VolumeBinding) and the controller manager's persistentvolume-binder,
// pvc-protection and pv-protection controllers run against the API server.
//  - A claim of the default class local-path (WaitForFirstConsumer) waits for its first consumer;
//    the pod's scheduling selects the node, the agent provisions a directory there and a `local`
//    PV with the node's hostname affinity, the claim binds, the pod writes a file.
//  - The pod is deleted; a new pod on the same claim reads the file (and sees a tmpfs emptyDir
//    with medium Memory and its sizeLimit in /proc/mounts).
//  - A pod with a CSI volume of an unregistered driver gets FailedMount with kubelet's message.
//  - Deleting the claim (Delete reclaim) removes the directory and the PV (both 404 / gone).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { issueCertificate, kubeconfig } from '@mkube/apiserver';
import { ApiError, Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { resourceFor } from '@mkube/api';
import { pino } from 'pino';
import { kubectl, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, REPO_ROOT, sleep, type LabSummary } from './lab_helper.js';
import { removeTree } from '@mkube/testing';

const LAB = 'mkpv';
const SUBNET = 186; // nodes 10.213.186.0/24, pods 10.213.187.0/24

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let agent: AgentProcess | undefined;
let scheduler: ChildProcess | undefined;
let root: string | undefined;

test.after.always(async () => {
  if (scheduler && scheduler.exitCode === null) {
    const exited = new Promise((r) => scheduler!.once('exit', r));
    scheduler.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
  await agent?.kill('SIGKILL');
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  if (root) removeTree(root);
});

const PVCS = resourceFor('persistentvolumeclaims');
const PVS = resourceFor('persistentvolumes');
const SCS = resourceFor('storageclasses', 'storage.k8s.io');

async function gone(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return false;
  } catch (err) {
    if (ApiError.isNotFound(err)) return true;
    throw err;
  }
}

test('local-path: provisioned on the pod\'s node, data kept across pods, tmpfs emptyDir, FailedMount, Delete reclaim', async (t) => {
  t.timeout(300_000);
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)]);
  const w = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['persistentvolume-binder', 'pvc-protection', 'pv-protection'], metricsPort: -1, logger: pino({ level: 'silent' }) });
  await cm.start();
  let schedLog = '';
  scheduler = spawn(process.execPath, ['--import', 'tsx', 'packages/scheduler/src/bin/mkube-scheduler.ts', '--kubeconfig', cp.kubeconfigPath, '--leader-elect=false', '--metrics-port', '-1'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [scheduler.stdout!, scheduler.stderr!]) {
    s.on('data', (d: Buffer) => {
      schedLog = (schedLog + d.toString()).slice(-20_000);
    });
  }

  // The agent authenticates as its node: RBAC (system:node) lets it run the provisioner.
  const pkiDir = join(cp.dir, 'api', 'pki');
  issueCertificate(pkiDir, `node-${w.name}`, `/O=system:nodes/CN=system:node:${w.name}`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const nodeKubeconfig = join(cp.dir, `${w.name}.kubeconfig`);
  writeFileSync(nodeKubeconfig, kubeconfig(cp.api.url, cp.api.pki.caCert, `system:node:${w.name}`, { cert: readFileSync(join(pkiDir, `node-${w.name}.crt`), 'utf8'), key: readFileSync(join(pkiDir, `node-${w.name}.key`), 'utf8') }), { mode: 0o600 });
  root = tmpRoot(LAB);
  agent = await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR], { netns: true, kubeconfig: nodeKubeconfig });

  const client = cp.client;
  const pods = client.resource(Resources.pods);
  const claims = client.resource(PVCS);
  const volumes = client.resource(PVS);
  await waitFor('the node Ready', 60_000, async () => {
    const n = await client.resource(Resources.nodes).get(undefined, w.name).catch(() => undefined);
    return (n?.status?.conditions as Array<{ type: string; status: string }> | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
  });

  // The default class (what `mkube up` creates) and a claim that gets it by admission.
  await client.resource(SCS).create(undefined, {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'local-path', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: 'mkube.io/local-path',
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  } as KubeObject);
  const claim = await claims.create('default', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } } as KubeObject);
  t.is(claim.spec.storageClassName, 'local-path');
  const eventsOf = async (kind: string, name: string) =>
    (await client.resource(Resources.events).list('default', { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` })).items as unknown as Array<{ reason: string; message: string; type: string }>;
  await waitFor('WaitForFirstConsumer event', 30_000, async () => ((await eventsOf('PersistentVolumeClaim', 'data')).some((e) => e.reason === 'WaitForFirstConsumer') ? true : undefined));
  t.is((await claims.get('default', 'data')).status?.phase, 'Pending');

  const podWith = (name: string, command: string, extra: { volumes?: object[]; mounts?: object[] } = {}) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: {
        terminationGracePeriodSeconds: 1,
        restartPolicy: 'Never',
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }, ...(extra.volumes ?? [])],
        containers: [{ name: 'c', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', command], volumeMounts: [{ name: 'data', mountPath: '/data' }, ...(extra.mounts ?? [])] }],
      },
    }) as KubeObject;
  const token = `written-by-writer-${Date.now()}`;
  await pods.create('default', podWith('writer', `echo ${token} > /data/f && sleep 3600`));
  const running = await waitFor('the writer Running', 90_000, async () => {
    const p = await pods.get('default', 'writer');
    return p.status?.phase === 'Running' ? p : undefined;
  }).catch(async (err: Error) => {
    const state = JSON.stringify({ claim: await claims.get('default', 'data'), volumes: (await volumes.list()).items, pod: await pods.get('default', 'writer') }, null, 1);
    throw new Error(`${err.message}\nscheduler:\n${schedLog.slice(-3000)}\nagent:\n${agent!.logs().slice(-3000)}\n${state}`);
  });
  t.is(running.spec.nodeName, w.name);

  // Provisioned on that node: a local PV pre-bound to the claim, with the node's hostname affinity.
  const bound = await waitFor('the claim Bound', 30_000, async () => {
    const c = await claims.get('default', 'data');
    return c.status?.phase === 'Bound' ? c : undefined;
  });
  t.is(bound.metadata.annotations?.['volume.kubernetes.io/selected-node'], w.name);
  t.is(bound.metadata.annotations?.['volume.kubernetes.io/storage-provisioner'], 'mkube.io/local-path');
  t.is(bound.metadata.annotations?.['pv.kubernetes.io/bind-completed'], 'yes');
  const pvName = bound.spec.volumeName as string;
  t.is(pvName, `pvc-${claim.metadata.uid}`);
  const pv = await volumes.get(undefined, pvName);
  t.deepEqual(pv.spec.nodeAffinity, { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [w.name] }] }] } });
  t.is(pv.spec.persistentVolumeReclaimPolicy, 'Delete');
  t.is(pv.status?.phase, 'Bound');
  t.is(pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'], 'mkube.io/local-path');
  const dir = pv.spec.local.path as string;
  t.true(dir.startsWith(join(root, 'local-path') + '/'), dir);
  t.is(statSync(join(root, 'local-path')).mode & 0o777, 0o700);
  await waitFor('the file on the node', 20_000, async () => (existsSync(join(dir, 'f')) ? true : undefined));
  t.is(readFileSync(join(dir, 'f'), 'utf8').trim(), token);
  const table = await kubectl(cp, ['get', 'pvc', 'data', '--no-headers']);
  t.regex(table.stdout, new RegExp(`^data\\s+Bound\\s+${pvName}\\s+64Mi\\s+RWO\\s+local-path\\s+`));

  // The writer goes; a new pod on the same claim reads the file, beside a memory-backed emptyDir.
  await pods.delete('default', 'writer');
  await waitFor('the writer gone', 60_000, async () => ((await gone(() => pods.get('default', 'writer'))) ? true : undefined));
  await pods.create('default', podWith('reader', 'cat /data/f; grep " /cache " /proc/mounts', { volumes: [{ name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } }], mounts: [{ name: 'cache', mountPath: '/cache' }] }));
  const done = await waitFor('the reader Succeeded', 90_000, async () => {
    const p = await pods.get('default', 'reader');
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
  });
  t.is(done.status?.phase, 'Succeeded');
  t.is(done.spec.nodeName, w.name, 'scheduled back to its data');
  const logs = (await kubectl(cp, ['logs', 'reader'])).stdout.split('\n');
  t.is(logs[0], token);
  t.regex(logs[1] ?? '', /^tmpfs \/cache tmpfs rw.*size=32768k/);

  // A volume type this node cannot mount: FailedMount with kubelet's message, never an empty dir.
  await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'csi-user', namespace: 'default' },
    spec: {
      nodeName: w.name,
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'ext', csi: { driver: 'nope.example.com' } }],
      containers: [{ name: 'c', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], volumeMounts: [{ name: 'ext', mountPath: '/ext' }] }],
    },
  } as KubeObject);
  const failed = await waitFor('FailedMount', 30_000, async () => (await eventsOf('Pod', 'csi-user')).find((e) => e.reason === 'FailedMount'));
  t.is(failed.type, 'Warning');
  t.is(failed.message, 'MountVolume.SetUp failed for volume "ext" : kubernetes.io/csi: mounter.SetUpAt failed to get CSI client: driver name nope.example.com not found in the list of registered CSI drivers');
  t.is((await pods.get('default', 'csi-user')).status?.phase, 'Pending');

  // Delete reclaim: the claim goes (its pods are finished or gone), the volume is Released, the provisioner removes the directory and the PV.
  await pods.delete('default', 'reader');
  await claims.delete('default', 'data');
  await waitFor('the claim gone', 30_000, async () => ((await gone(() => claims.get('default', 'data'))) ? true : undefined));
  await waitFor('the PV gone', 30_000, async () => ((await gone(() => volumes.get(undefined, pvName))) ? true : undefined));
  t.false(existsSync(dir), 'the directory was removed');
  const provisioned = (await eventsOf('PersistentVolumeClaim', 'data')).map((e) => e.reason);
  t.true(provisioned.includes('ExternalProvisioning') && provisioned.includes('ProvisioningSucceeded'), provisioned.join(','));
  await pods.delete('default', 'csi-user');
});

// The node agent's claim volumes and unsupported volume types through the VolumeManager on a temp
// dir (no containerd): a bound claim resolves to its volume's hostPath (created for
// DirectoryOrCreate) or local path; kubelet's errors for a missing, terminating or unbound claim,
// a missing volume, a volume bound elsewhere and a missing local path; csi and nfs volumes are
// FailedMount, never an empty dir; a downwardAPI volume is written like its projected form.
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PersistentVolume, PersistentVolumeClaim } from '@mkube/api';
import type { AgentConfigMap, AgentPod, AgentSecret } from '../src/api_types.js';
import { VolumeSetupError } from '../src/runtime/errors.js';
import type { StorageSource } from '../src/runtime/pvc_volume.js';
import { VolumeManager } from '../src/runtime/volumes.js';

class FakeSource implements StorageSource {
  claims = new Map<string, PersistentVolumeClaim>();
  volumes = new Map<string, PersistentVolume>();
  async getConfigMap(): Promise<AgentConfigMap | undefined> {
    return undefined;
  }
  async getSecret(): Promise<AgentSecret | undefined> {
    return undefined;
  }
  async getPersistentVolumeClaim(ns: string, name: string) {
    return this.claims.get(`${ns}/${name}`);
  }
  async getPersistentVolume(name: string) {
    return this.volumes.get(name);
  }
}

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-pvcvol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const src = new FakeSource();
  return { dir, src, vm: new VolumeManager(join(dir, 'agent'), src) };
}

const pod = (volumes: AgentPod['spec']['volumes']): AgentPod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'uid-p', labels: { app: 'x' } },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], volumes },
});
const claimVolume = [{ name: 'data', persistentVolumeClaim: { claimName: 'c' } }];

function bind(src: FakeSource, pv: PersistentVolume['spec'], claimUid = 'uid-c'): void {
  src.claims.set('ns/c', { metadata: { name: 'c', namespace: 'ns', uid: 'uid-c' }, spec: { volumeName: 'pv1' }, status: { phase: 'Bound' } });
  src.volumes.set('pv1', { metadata: { name: 'pv1' }, spec: { ...pv, claimRef: { namespace: 'ns', name: 'c', uid: claimUid } } });
}

test('a bound claim is its volume\'s hostPath (created for DirectoryOrCreate) or existing local path', async (t) => {
  const { dir, src, vm } = await setup(t);
  bind(src, { hostPath: { path: join(dir, 'hp'), type: 'DirectoryOrCreate' } });
  const out = await vm.setUp(pod(claimVolume));
  t.deepEqual(out.get('data'), { hostPath: join(dir, 'hp'), readOnly: false });
  t.true(statSync(join(dir, 'hp')).isDirectory());

  await mkdir(join(dir, 'local'));
  bind(src, { local: { path: join(dir, 'local') } });
  const ro = await vm.setUp(pod([{ name: 'data', persistentVolumeClaim: { claimName: 'c', readOnly: true } }]));
  t.deepEqual(ro.get('data'), { hostPath: join(dir, 'local'), readOnly: true });
  bind(src, { local: { path: join(dir, 'nowhere') } });
  await t.throwsAsync(vm.setUp(pod(claimVolume)), { instanceOf: VolumeSetupError, message: `path "${join(dir, 'nowhere')}" does not exist` });
});

test('kubelet\'s errors for claims that cannot be used yet', async (t) => {
  const { src, vm } = await setup(t);
  const fails = (message: string) => t.throwsAsync(vm.setUp(pod(claimVolume)), { instanceOf: VolumeSetupError, message });
  await fails('error processing PVC ns/c: failed to fetch PVC from API server: persistentvolumeclaims "c" not found');
  src.claims.set('ns/c', { metadata: { name: 'c', namespace: 'ns', uid: 'uid-c' }, spec: {}, status: { phase: 'Pending' } });
  await fails('error processing PVC ns/c: PVC is not bound');
  src.claims.set('ns/c', { metadata: { name: 'c', namespace: 'ns', uid: 'uid-c', deletionTimestamp: '2026-01-01T00:00:00Z' }, spec: { volumeName: 'pv1' }, status: { phase: 'Bound' } });
  await fails("error processing PVC ns/c: can't start pod because PVC ns/c is being deleted");
  src.claims.set('ns/c', { metadata: { name: 'c', namespace: 'ns', uid: 'uid-c' }, spec: { volumeName: 'pv1' }, status: { phase: 'Bound' } });
  await fails('error processing PVC ns/c: failed to fetch PV "pv1" from API server: persistentvolumes "pv1" not found');
  bind(src, { hostPath: { path: '/tmp' } }, 'someone-else');
  await fails('error processing PVC ns/c: found PV object "pv1" but it has a ClaimRef that is bound to a different PVC');
});

test('csi and nfs volumes are FailedMount, never an empty directory; downwardAPI volumes are written', async (t) => {
  const { vm } = await setup(t);
  await t.throwsAsync(vm.setUp(pod([{ name: 'ext', csi: { driver: 'nope.example.com' } }])), {
    instanceOf: VolumeSetupError,
    message: 'kubernetes.io/csi: mounter.SetUpAt failed to get CSI client: driver name nope.example.com not found in the list of registered CSI drivers',
  });
  await t.throwsAsync(vm.setUp(pod([{ name: 'share', nfs: { server: 'nfs.example.com', path: '/export' } }])), {
    instanceOf: VolumeSetupError,
    message: 'failed to get Plugin from volumeSpec for volume "share" err=no volume plugin matched',
  });
  t.false(existsSync(join(vm.podDir('uid-p'), 'volumes', 'kubernetes.io~empty-dir')), 'no empty dir stood in');

  const out = await vm.setUp(pod([{ name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } }]));
  const dir = out.get('info')!.hostPath;
  t.is(dir, join(vm.podDir('uid-p'), 'volumes', 'kubernetes.io~downward-api', 'info'));
  t.is(readFileSync(join(dir, 'name'), 'utf8'), 'p');
  t.is(readFileSync(join(dir, 'labels'), 'utf8'), 'app="x"');
});

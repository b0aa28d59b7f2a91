// VolumeBinding in the scheduling core over in-memory claims and volumes: bound volumes' node
// affinity, unbound Immediate claims, WaitForFirstConsumer claims bound to a static volume on the
// chosen node or marked with the selected node for provisioning, PreBind waiting for the binder
// (a fake PV controller binds as the real one would), and upstream's unschedulable messages.
import test from 'ava';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '@mkube/api';
import type { VolumeBindingDeps } from '../src/plugins/volume_binding.js';
import { harness, lastFailure, node, pod, scheduleAll } from './helpers.js';

type PV = PersistentVolume & { metadata: { name: string } };
type PVC = PersistentVolumeClaim & { metadata: { name: string } };

const hostAffinity = (host: string) => ({ required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [host] }] }] } });

class FakeCluster {
  claims = new Map<string, PVC>();
  volumes = new Map<string, PV>();
  classes = new Map<string, StorageClass>([
    ['local-path', { metadata: { name: 'local-path' }, provisioner: 'mkube.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' }],
    ['local-static', { metadata: { name: 'local-static' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' }],
    ['fast', { metadata: { name: 'fast' }, provisioner: 'example.com/fast', volumeBindingMode: 'Immediate' }],
  ]);
  writes: string[] = [];

  claim(name: string, cls: string, extra: Partial<PVC['spec']> = {}): PVC {
    const c: PVC = { metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '1' }, spec: { storageClassName: cls, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra } };
    this.claims.set(`default/${name}`, c);
    return c;
  }
  volume(name: string, cls: string, host: string, size = '1Gi'): PV {
    const v: PV = { metadata: { name }, spec: { storageClassName: cls, capacity: { storage: size }, accessModes: ['ReadWriteOnce'], local: { path: `/mnt/${name}` }, nodeAffinity: hostAffinity(host) }, status: { phase: 'Available' } };
    this.volumes.set(name, v);
    return v;
  }
  /** What the PV controller does once a volume names a claim: the claim binds to it. */
  private bind(pv: PV, c: PVC): void {
    c.spec = { ...c.spec, volumeName: pv.metadata.name };
    c.metadata.annotations = { ...(c.metadata.annotations ?? {}), 'pv.kubernetes.io/bind-completed': 'yes' };
  }
  deps(): VolumeBindingDeps {
    return {
      claim: (ns, name) => this.claims.get(`${ns}/${name}`),
      volumes: () => [...this.volumes.values()],
      storageClass: (name) => this.classes.get(name),
      updateVolume: async (pv) => {
        this.writes.push(`pv ${pv.metadata.name} -> ${pv.spec?.claimRef?.name}`);
        this.volumes.set(pv.metadata.name, pv);
        const c = this.claims.get(`${pv.spec!.claimRef!.namespace}/${pv.spec!.claimRef!.name}`)!;
        setTimeout(() => this.bind(pv, c), 20);
      },
      updateClaim: async (pvc) => {
        const node = pvc.metadata.annotations?.['volume.kubernetes.io/selected-node'];
        this.writes.push(`pvc ${pvc.metadata.name} selected-node ${node}`);
        this.claims.set(`default/${pvc.metadata.name}`, pvc);
        // The provisioner creates a volume on that node, pre-bound; the binder binds the claim.
        setTimeout(() => {
          const pv = this.volume(`pvc-${pvc.metadata.uid}`, 'local-path', node!);
          pv.spec!.claimRef = { namespace: 'default', name: pvc.metadata.name, uid: pvc.metadata.uid };
          this.bind(pv, pvc);
        }, 20);
      },
      pollMs: 5,
      bindTimeoutMs: 5_000,
    };
  }
}

const withClaims = (name: string, ...claims: string[]) =>
  pod(name, { spec: { volumes: claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })) } });

test('a bound claim pins the pod to its volume\'s node; elsewhere "node(s) had volume node affinity conflict"', async (t) => {
  const fc = new FakeCluster();
  const pv = fc.volume('pv-1', 'local-static', 'n2');
  const c = fc.claim('data', 'local-static', { volumeName: 'pv-1' });
  pv.spec!.claimRef = { namespace: 'default', name: 'data', uid: c.metadata.uid };
  const h = harness([node('n1'), node('n2'), node('n3')], { core: { volumes: fc.deps() } });
  const placed = await scheduleAll(h, [withClaims('p', 'data')]);
  t.is(placed.get('p'), 'n2');

  const h2 = harness([node('n1'), node('n3')], { core: { volumes: fc.deps() } });
  await scheduleAll(h2, [withClaims('q', 'data')]);
  t.is(lastFailure(h2, 'q'), '0/2 nodes are available: 2 node(s) had volume node affinity conflict. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
});

test('unbound Immediate claims and missing claims make the pod unschedulable with upstream\'s messages', async (t) => {
  const fc = new FakeCluster();
  fc.claim('imm', 'fast');
  const h = harness([node('n1')], { core: { volumes: fc.deps() } });
  await scheduleAll(h, [withClaims('p', 'imm'), withClaims('q', 'missing')]);
  t.regex(lastFailure(h, 'p') ?? '', /^0\/1 nodes are available: pod has unbound immediate PersistentVolumeClaims\./);
  t.regex(lastFailure(h, 'q') ?? '', /^0\/1 nodes are available: persistentvolumeclaim "missing" not found\./);
});

test('WaitForFirstConsumer: a static local volume on a fitting node is bound in PreBind, the pod lands there', async (t) => {
  const fc = new FakeCluster();
  fc.volume('small-n1', 'local-static', 'n1', '500Mi');
  fc.volume('big-n3', 'local-static', 'n3', '5Gi');
  fc.claim('data', 'local-static');
  const h = harness([node('n1'), node('n2'), node('n3')], { core: { volumes: fc.deps() } });
  const placed = await scheduleAll(h, [withClaims('p', 'data')]);
  t.is(placed.get('p'), 'n3', 'only n3 has a volume that holds 1Gi');
  t.deepEqual(fc.writes, ['pv big-n3 -> data']);
  t.is(fc.claims.get('default/data')!.spec!.volumeName, 'big-n3', 'PreBind waited for the binder');

  // No volume fits anywhere and the class cannot provision.
  fc.claim('more', 'local-static', { resources: { requests: { storage: '100Gi' } } });
  await scheduleAll(h, [withClaims('q', 'more')]);
  t.regex(lastFailure(h, 'q') ?? '', /3 node\(s\) didn't find available persistent volumes to bind/);
});

test('WaitForFirstConsumer with a provisioner: the claim gets the selected node and binds to the provisioned volume', async (t) => {
  const fc = new FakeCluster();
  fc.claim('data', 'local-path');
  const h = harness([node('n1', { cpu: '1' }), node('n2', { cpu: '8' })], { core: { volumes: fc.deps() } });
  const p = withClaims('p', 'data');
  p.spec.containers[0]!.resources = { requests: { cpu: '2' } };
  const placed = await scheduleAll(h, [p]);
  t.is(placed.get('p'), 'n2');
  t.deepEqual(fc.writes, ['pvc data selected-node n2']);
  const bound = fc.claims.get('default/data')!;
  t.is(bound.spec!.volumeName, 'pvc-uid-data');
  t.deepEqual(fc.volumes.get('pvc-uid-data')!.spec!.nodeAffinity, hostAffinity('n2'));

  // The next pod using the claim goes back to its data.
  const again = await scheduleAll(h, [withClaims('p2', 'data')]);
  t.is(again.get('p2'), 'n2');
});

test('PreBind: a claim the informer has not yet seen with our selected-node write is waited for, not taken as a provisioner reset', async (t) => {
  const fc = new FakeCluster();
  fc.claim('late', 'local-path');
  const deps = fc.deps();
  // The informer lags the write: for a while it still shows the claim without the annotation at an
  // older resourceVersion, then the written claim appears and the provisioner binds it.
  const stale = structuredClone(fc.claims.get('default/late')!);
  let lagging = true;
  const lagged: VolumeBindingDeps = {
    ...deps,
    claim: (ns, name) => (lagging && name === 'late' ? stale : deps.claim(ns, name)),
    updateClaim: async (pvc) => {
      await deps.updateClaim(pvc);
      const stored = fc.claims.get('default/late')!;
      stored.metadata.resourceVersion = '2';
      setTimeout(() => (lagging = false), 30);
      return stored;
    },
  };
  const h = harness([node('n1')], { core: { volumes: lagged } });
  const placed = await scheduleAll(h, [withClaims('p', 'late')]);
  t.is(placed.get('p'), 'n1');
  t.false(h.rec.events.some((e) => /selectedNode annotation reset/.test(e.message)), JSON.stringify(h.rec.events));
});

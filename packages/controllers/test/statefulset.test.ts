// StatefulSet reconcile, step by step over an in-memory cluster: ordered
// creation, identity and claims, reverse-order scale down, rolling update with
// a partition and maxUnavailable, rollback through the revision history,
// retention policy owner references, failed pods, collisions.
import test from 'ava';
import { reconcileStatefulSet, type StatefulSetPlan } from '../src/statefulset/reconcile.js';
import { hashRevisionData, templatePatch, newRevision, truncateHistory, sortRevisions } from '../src/history/revision.js';
import { claimsResource } from '../src/statefulset/identity.js';
import type { Action, Named } from '../src/types.js';
import { World, objectOf, podTemplate, readyCondition, type Obj } from './helpers/world.js';

const NOW = Date.UTC(2024, 0, 1, 12);
const PVC = claimsResource()!;

function sts(replicas: number, spec: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default', uid: 'sts-uid', generation: 1 },
    spec: {
      replicas,
      serviceName: 'nginx',
      selector: { matchLabels: { app: 'web' } },
      template: podTemplate('nginx:1'),
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      revisionHistoryLimit: 10,
      ...spec,
    },
  };
}

/** The cluster plus a kubelet that makes pods Running and Ready (or leaves them Pending). */
class Sim {
  w = new World(NOW);
  events: string[] = [];
  constructor(set: Obj) {
    this.w.add('statefulsets', set);
  }
  get set(): Obj {
    return this.w.get('statefulsets', 'default', 'web')!;
  }
  pods(): Obj[] {
    return this.w.list('pods').sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }
  names(): string[] {
    return this.pods().map((p) => p.metadata.name);
  }
  plan(claims = true): StatefulSetPlan {
    return reconcileStatefulSet({
      set: this.set as Named,
      pods: this.w.list('pods') as never,
      revisions: this.w.list('controllerrevisions') as never,
      claims: claims ? (this.w.list('persistentvolumeclaims') as never) : undefined,
      claimsRef: claims ? PVC : undefined,
      now: this.w.now,
    });
  }
  /** One sync: every write applied; returns the steps' descriptions. */
  sync(): string[] {
    const p = this.plan();
    const done: string[] = [];
    const apply = (a: Action) => {
      this.w.apply(a);
      done.push(a.verb === 'delete' ? `delete ${a.ref.resource} ${a.name}` : `${a.verb} ${a.ref.resource} ${a.object.metadata?.name ?? ''}`);
    };
    [...p.claims, ...p.revisions].forEach(apply);
    for (const s of p.steps) {
      apply(s.action);
      if (s.success) this.events.push(`${s.success.reason} ${s.success.message}`);
    }
    for (const e of p.events) this.events.push(`${e.reason} ${e.message}`);
    if (p.status) apply(p.status);
    p.history.forEach(apply);
    return done;
  }
  /** The kubelet: Pending pods start and become Ready. */
  run(names?: string[]): void {
    for (const p of this.pods()) {
      if (names && !names.includes(p.metadata.name)) continue;
      if (p.status?.phase === 'Running') continue;
      p.status = { phase: 'Running', conditions: [readyCondition('True', this.w.now)] };
    }
  }
  pending(): void {
    for (const p of this.pods()) p.status ??= { phase: 'Pending' };
  }
  /** Graceful deletion: the pods the controller deleted are gone (World deletes at once). */
  template(image: string): void {
    const s = structuredClone(this.set);
    s.spec.template = podTemplate(image);
    s.metadata.generation = (s.metadata.generation ?? 1) + 1;
    this.w.objects.set('statefulsets/default/web', s);
  }
  image(name: string): string {
    return this.w.get('pods', 'default', name)!.spec.containers[0].image;
  }
  /** Runs syncs with the kubelet until nothing changes. */
  settle(max = 50): void {
    for (let i = 0; i < max; i++) {
      this.pending();
      this.run();
      if (this.sync().length === 0) return;
    }
    throw new Error('did not settle');
  }
}

test('OrderedReady: web-0 first, web-1 only once web-0 is Running and Ready', (t) => {
  const s = new Sim(sts(3));
  s.sync();
  t.deepEqual(s.names(), ['web-0']);
  s.pending();
  s.sync();
  t.deepEqual(s.names(), ['web-0'], 'a Pending web-0 blocks web-1');
  s.run(['web-0']);
  s.sync();
  t.deepEqual(s.names(), ['web-0', 'web-1']);
  s.settle();
  t.deepEqual(s.names(), ['web-0', 'web-1', 'web-2']);
  t.like(s.set.status, { replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
  t.is(s.set.status.currentRevision, s.set.status.updateRevision);
  t.true(s.events.includes('SuccessfulCreate create Pod web-1 in StatefulSet web successful'));
});

test('Parallel creates every pod at once', (t) => {
  const s = new Sim(sts(3, { podManagementPolicy: 'Parallel' }));
  s.sync();
  t.deepEqual(s.names(), ['web-0', 'web-1', 'web-2']);
});

test('identity: hostname, subdomain, stable labels, ordinals.start, claims mounted', (t) => {
  const s = new Sim(
    sts(1, {
      ordinals: { start: 5 },
      volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    }),
  );
  const done = s.sync();
  t.deepEqual(done.filter((d) => d.startsWith('create p')), ['create persistentvolumeclaims www-web-5', 'create pods web-5']);
  const pod = s.pods()[0]!;
  t.is(pod.spec.hostname, 'web-5');
  t.is(pod.spec.subdomain, 'nginx');
  t.like(pod.metadata.labels, { app: 'web', 'statefulset.kubernetes.io/pod-name': 'web-5', 'apps.kubernetes.io/pod-index': '5' });
  t.is(pod.metadata.labels?.['controller-revision-hash'], s.set.status.updateRevision);
  t.deepEqual(pod.spec.volumes, [{ name: 'www', persistentVolumeClaim: { claimName: 'www-web-5' } }]);
  const claim = s.w.get('persistentvolumeclaims', 'default', 'www-web-5')!;
  t.deepEqual(claim.metadata.labels, { app: 'web' });
  t.is(claim.metadata.ownerReferences, undefined, 'Retain keeps the claim unowned');
  t.true(s.events.includes('SuccessfulCreate create Claim www-web-5 Pod web-5 in StatefulSet web success'));
});

test('a deleted pod comes back under its name and keeps its claim', (t) => {
  const s = new Sim(sts(3, { volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: {} }] }));
  s.settle();
  const claimUid = s.w.get('persistentvolumeclaims', 'default', 'www-web-1')!.metadata.uid;
  s.w.objects.delete('pods/default/web-1');
  s.sync();
  t.deepEqual(s.names(), ['web-0', 'web-1', 'web-2']);
  t.is(s.w.get('persistentvolumeclaims', 'default', 'www-web-1')!.metadata.uid, claimUid);
});

test('scale down deletes the highest ordinal first, one at a time, and keeps the claims', (t) => {
  const s = new Sim(sts(3, { volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: {} }] }));
  s.settle();
  s.set.spec.replicas = 1;
  // A terminating web-2 blocks web-1's deletion.
  const plan = s.plan();
  t.deepEqual(
    plan.steps.map((x) => (x.action.verb === 'delete' ? x.action.name : '')),
    ['web-2'],
  );
  s.w.get('pods', 'default', 'web-2')!.metadata.deletionTimestamp = new Date(NOW).toISOString();
  t.deepEqual(s.plan().steps, [], 'waits for web-2 to terminate');
  s.w.objects.delete('pods/default/web-2');
  t.deepEqual(s.sync().filter((d) => d.startsWith('delete')), ['delete pods web-1']);
  s.settle();
  t.deepEqual(s.names(), ['web-0']);
  t.is(s.w.list('persistentvolumeclaims').length, 3);
  t.true(s.events.includes('SuccessfulDelete delete Pod web-1 in StatefulSet web successful'));
});

test('persistentVolumeClaimRetentionPolicy: whenDeleted owns claims by the set, whenScaled by the condemned pod', (t) => {
  const s = new Sim(sts(2, { volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: {} }], persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' } }));
  s.settle();
  t.deepEqual(
    s.w.get('persistentvolumeclaims', 'default', 'www-web-1')!.metadata.ownerReferences!.map((r) => r.kind),
    ['StatefulSet'],
  );
  s.set.spec.replicas = 1;
  const steps = s.plan().steps.map((x) => `${x.action.verb} ${x.action.ref.resource}`);
  t.deepEqual(steps, ['update persistentvolumeclaims', 'delete pods'], 'the pod owns its claim before it is deleted');
  s.sync();
  const refs = s.w.get('persistentvolumeclaims', 'default', 'www-web-1')!.metadata.ownerReferences!;
  t.deepEqual(refs.map((r) => `${r.kind}/${r.name}`), ['StatefulSet/web', 'Pod/web-1']);
});

test('rolling update with a partition updates only ordinals >= partition, highest first; rollback renumbers the old revision', (t) => {
  const s = new Sim(sts(3, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }));
  s.settle();
  const rev1 = s.set.status.updateRevision as string;
  s.template('nginx:2');
  const first = s.sync();
  t.true(first.includes('delete pods web-2'), first.join());
  t.false(first.includes('delete pods web-1'), 'one at a time (maxUnavailable 1)');
  s.settle();
  t.deepEqual(['web-0', 'web-1', 'web-2'].map((n) => s.image(n)), ['nginx:1', 'nginx:2', 'nginx:2']);
  const rev2 = s.set.status.updateRevision as string;
  t.not(rev2, rev1);
  t.like(s.set.status, { currentRevision: rev1, updateRevision: rev2, updatedReplicas: 2, currentReplicas: 1, replicas: 3 });
  // Partition 0 finishes the rollout.
  s.set.spec.updateStrategy.rollingUpdate.partition = 0;
  s.settle();
  t.deepEqual(['web-0', 'web-1', 'web-2'].map((n) => s.image(n)), ['nginx:2', 'nginx:2', 'nginx:2']);
  t.like(s.set.status, { currentRevision: rev2, updateRevision: rev2, currentReplicas: 3 });
  // kubectl rollout undo: the old template again; its revision becomes number 3.
  s.template('nginx:1');
  s.settle();
  t.deepEqual(['web-0', 'web-1', 'web-2'].map((n) => s.image(n)), ['nginx:1', 'nginx:1', 'nginx:1']);
  t.is(s.set.status.updateRevision, rev1);
  const revs = sortRevisions(s.w.list('controllerrevisions') as never[]) as Obj[];
  t.deepEqual(revs.map((r) => [r.metadata.name, r.revision]), [[rev2, 2], [rev1, 3]]);
});

test('maxUnavailable 2 replaces two pods at a time', (t) => {
  const s = new Sim(sts(4, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: 2 } } }));
  s.settle();
  s.template('nginx:2');
  t.deepEqual(s.sync().filter((d) => d.startsWith('delete pods')), ['delete pods web-3', 'delete pods web-2']);
});

test('OnDelete: pods change only when deleted by hand', (t) => {
  const s = new Sim(sts(2, { updateStrategy: { type: 'OnDelete' } }));
  s.settle();
  s.template('nginx:2');
  s.settle();
  t.deepEqual(['web-0', 'web-1'].map((n) => s.image(n)), ['nginx:1', 'nginx:1']);
  s.w.objects.delete('pods/default/web-0');
  s.settle();
  t.deepEqual(['web-0', 'web-1'].map((n) => s.image(n)), ['nginx:2', 'nginx:1']);
});

test('a failed pod is deleted and recreated (RecreatingFailedPod)', (t) => {
  const s = new Sim(sts(1));
  s.settle();
  s.w.get('pods', 'default', 'web-0')!.status = { phase: 'Failed' };
  t.deepEqual(s.sync().filter((d) => d.startsWith('delete')), ['delete pods web-0']);
  t.true(s.events.includes('RecreatingFailedPod StatefulSet default/web is recreating failed Pod web-0'));
  s.sync();
  t.deepEqual(s.names(), ['web-0']);
});

test('minReadySeconds: the next pod waits until the previous has been ready that long', (t) => {
  const s = new Sim(sts(2, { minReadySeconds: 10 }));
  s.sync();
  s.run();
  const plan = s.plan();
  t.deepEqual(plan.steps, []);
  t.true(plan.requeueAfterMs! > 0 && plan.requeueAfterMs! <= 11_000);
  s.w.now += 11_000;
  s.sync();
  t.deepEqual(s.names(), ['web-0', 'web-1']);
});

test('adopts orphans that match and are named for the set; leaves others', (t) => {
  const s = new Sim(sts(1));
  s.w.add('pods', { metadata: { name: 'web-0', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [] }, status: { phase: 'Running' } });
  s.w.add('pods', { metadata: { name: 'other', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [] } });
  const plan = s.plan();
  t.deepEqual(plan.claims.map((a) => (a.verb === 'update' ? a.object.metadata.name : '')), ['web-0']);
});

test('a revision name taken by other data raises collisionCount', (t) => {
  const s = new Sim(sts(1));
  const set = s.set;
  const rev = newRevision(set as never, { apiVersion: 'apps/v1', kind: 'StatefulSet' }, 1, 0);
  s.w.add('controllerrevisions', { ...rev, data: { other: true }, metadata: { ...rev.metadata, ownerReferences: [] } } as Obj);
  const plan = s.plan();
  t.is(objectOf(plan.status).status.collisionCount, 1);
  t.deepEqual(plan.steps, []);
});

test('history helpers: hash depends on data and collision count; truncation keeps live revisions', (t) => {
  const set = sts(1) as never;
  const data = templatePatch(set);
  t.deepEqual(Object.keys((data as { spec: { template: object } }).spec.template).sort(), ['$patch', 'metadata', 'spec']);
  t.not(hashRevisionData(data, 0), hashRevisionData(data, 1));
  t.regex(hashRevisionData(data), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  const revs = [1, 2, 3, 4].map((n) => ({ metadata: { name: `r${n}`, namespace: 'default', uid: `u${n}` }, revision: n }));
  const dels = truncateHistory(revs, new Set(['r1', 'r4']), 1);
  t.deepEqual(dels.map((d) => (d.verb === 'delete' ? d.name : '')), ['r2']);
});

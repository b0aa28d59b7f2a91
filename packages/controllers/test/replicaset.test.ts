import test from 'ava';
import { reconcileReplicaSet, claimPods } from '../src/replicaset/reconcile.js';
import { podsToDelete } from '../src/replicaset/ranking.js';
import { Expectations } from '../src/expectations.js';
import { FakeClock } from '../src/util/time.js';
import { objectOf, type Obj } from './helpers/world.js';
import { World, podTemplate, readyCondition } from './helpers/world.js';

const NOW = Date.UTC(2024, 0, 1, 12);

function rs(replicas: number, extra: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'default', uid: 'rs-uid', generation: 2, resourceVersion: '10' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: podTemplate('nginx:1'), ...extra },
  };
}

function pod(name: string, opts: { node?: string; phase?: string; ready?: number | false; created?: number; owner?: string; labels?: Record<string, string>; restarts?: number } = {}): Obj {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: '1',
      labels: opts.labels ?? { app: 'web' },
      creationTimestamp: new Date(opts.created ?? NOW - 60_000).toISOString(),
      ...(opts.owner !== undefined ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: opts.owner, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: { ...(opts.node ? { nodeName: opts.node } : {}), containers: [{ name: 'main', image: 'nginx:1' }] },
    status: {
      phase: opts.phase ?? 'Running',
      conditions: opts.ready !== undefined && opts.ready !== false ? [readyCondition('True', opts.ready)] : [readyCondition('False', NOW - 100_000)],
      containerStatuses: [{ name: 'main', restartCount: opts.restarts ?? 0 }],
    },
  };
}

test('creates the missing pods from the template with generateName and a controller reference', (t) => {
  const plan = reconcileReplicaSet({ rs: rs(3), pods: [pod('a', { owner: 'rs-uid' })], now: NOW, expectationsSatisfied: true });
  t.is(plan.creates.length, 2);
  const p = objectOf(plan.creates[0]);
  t.is(p.metadata.generateName, 'web-');
  t.is(p.metadata.name as string | undefined, undefined);
  t.deepEqual(p.metadata.labels, { app: 'web' });
  t.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }]);
  t.is(p.spec.containers[0].image, 'nginx:1');
  t.is(plan.deletes.length, 0);
});

test('does nothing but status while expectations are pending', (t) => {
  const plan = reconcileReplicaSet({ rs: rs(3), pods: [], now: NOW, expectationsSatisfied: false });
  t.is(plan.creates.length, 0);
  t.is(plan.deletes.length, 0);
});

test('expectations: satisfied once the creates and deletes are observed, or after the TTL', (t) => {
  const clock = new FakeClock(NOW);
  const e = new Expectations(clock);
  t.true(e.satisfied('default/web'));
  e.expect('default/web', 2, ['default/p1']);
  t.false(e.satisfied('default/web'));
  e.creationObserved('default/web');
  e.creationObserved('default/web');
  t.false(e.satisfied('default/web'));
  e.deletionObserved('default/web', 'default/p1');
  t.true(e.satisfied('default/web'));
  e.expect('default/web', 1, []);
  clock.advance(5 * 60_000 + 1);
  t.true(e.satisfied('default/web'));
});

test('never over-creates while its own creates travel through the watch', (t) => {
  const w = new World(NOW);
  const clock = new FakeClock(NOW);
  const exp = new Expectations(clock);
  const set = w.add('replicasets', rs(4));
  // Round 1: the cache has no pods; creates are issued but not yet visible.
  const p1 = reconcileReplicaSet({ rs: set, pods: [], now: NOW, expectationsSatisfied: exp.satisfied('k') });
  exp.expect('k', p1.creates.length, []);
  t.is(p1.creates.length, 4);
  // Round 2 (e.g. a resync) with a stale cache: nothing more is created.
  const p2 = reconcileReplicaSet({ rs: set, pods: [], now: NOW, expectationsSatisfied: exp.satisfied('k') });
  t.is(p2.creates.length, 0);
  for (const a of p1.creates) {
    w.apply(a);
    exp.creationObserved('k');
  }
  const p3 = reconcileReplicaSet({ rs: set, pods: w.list('pods'), now: NOW, expectationsSatisfied: exp.satisfied('k') });
  t.is(p3.creates.length, 0);
  t.is(w.list('pods').length, 4);
});

test('adopts matching orphans and releases owned pods that no longer match', (t) => {
  const { owned, actions } = claimPods(rs(2), [
    pod('orphan'),
    pod('mine', { owner: 'rs-uid' }),
    pod('relabelled', { owner: 'rs-uid', labels: { app: 'other' } }),
    pod('foreign', { owner: 'other-uid' }),
    pod('nomatch', { labels: { app: 'x' } }),
  ]);
  t.deepEqual(owned.map((p) => p.metadata.name).sort(), ['mine', 'orphan']);
  t.is(actions.length, 2);
  const adopted = { object: objectOf(actions.find((a) => a.verb === 'update' && a.object.metadata.name === 'orphan')) };
  t.is(adopted.object.metadata.ownerReferences![0]!.uid, 'rs-uid');
  t.is(adopted.object.metadata.resourceVersion, '1', 'adoption is conditional on the version read');
  const released = { object: objectOf(actions.find((a) => a.verb === 'update' && a.object.metadata.name === 'relabelled')) };
  t.deepEqual(released.object.metadata.ownerReferences, []);
});

test('deletion ranking: unscheduled, pending, unknown, not ready, crowded node, ready shortest, restarts, newest', (t) => {
  const pods = [
    pod('old-ready', { node: 'n1', ready: NOW - 50_000, created: NOW - 90_000 }),
    pod('new-ready', { node: 'n2', ready: NOW - 50_000, created: NOW - 10_000 }),
    pod('recently-ready', { node: 'n3', ready: NOW - 1_000, created: NOW - 90_000 }),
    pod('restarting', { node: 'n4', ready: NOW - 50_000, created: NOW - 90_000, restarts: 5 }),
    pod('unready', { node: 'n5', created: NOW - 90_000 }),
    pod('unknown', { node: 'n6', phase: 'Unknown', created: NOW - 90_000 }),
    pod('pending', { node: 'n7', phase: 'Pending', created: NOW - 90_000 }),
    pod('unscheduled', { phase: 'Pending', created: NOW - 90_000 }),
  ];
  t.deepEqual(podsToDelete(pods, pods.length).map((p) => p.metadata.name), ['unscheduled', 'pending', 'unknown', 'unready', 'recently-ready', 'restarting', 'new-ready', 'old-ready']);
  // Two ready pods on one node go before a ready pod alone on its node.
  const crowd = [pod('alone', { node: 'a', ready: NOW - 50_000 }), pod('c1', { node: 'b', ready: NOW - 50_000, created: NOW - 90_000 }), pod('c2', { node: 'b', ready: NOW - 50_000, created: NOW - 90_000 })];
  t.deepEqual(podsToDelete(crowd, 1).map((p) => p.metadata.name), ['c1']);
});

test('scale down deletes the lowest-ranked pods with uid preconditions', (t) => {
  const pods = [pod('r1', { node: 'n1', ready: NOW - 50_000, owner: 'rs-uid' }), pod('u1', { node: 'n1', owner: 'rs-uid' }), pod('r2', { node: 'n2', ready: NOW - 50_000, owner: 'rs-uid' })];
  const plan = reconcileReplicaSet({ rs: rs(2), pods, now: NOW, expectationsSatisfied: true });
  t.deepEqual(plan.deletes.map((d) => [d.name, d.uid]), [['u1', 'uid-u1']]);
});

test('status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas with minReadySeconds, observedGeneration', (t) => {
  const pods = [
    pod('a', { owner: 'rs-uid', ready: NOW - 60_000 }),
    pod('b', { owner: 'rs-uid', ready: NOW - 5_000 }),
    pod('c', { owner: 'rs-uid' }),
    { ...pod('gone', { owner: 'rs-uid', ready: NOW - 60_000 }), metadata: { ...pod('gone', { owner: 'rs-uid' }).metadata, deletionTimestamp: new Date(NOW).toISOString() } },
    pod('partial', { owner: 'rs-uid', ready: NOW - 60_000, labels: { app: 'web' } }),
  ];
  const set = rs(4, { minReadySeconds: 30, template: podTemplate('nginx:1', { app: 'web', tier: 'fe' }) });
  pods.forEach((p) => {
    if (p.metadata.name !== 'partial') p.metadata.labels = { app: 'web', tier: 'fe' };
  });
  const plan = reconcileReplicaSet({ rs: set, pods, now: NOW, expectationsSatisfied: true });
  const st = objectOf(plan.status).status;
  t.is(st.replicas, 4);
  t.is(st.fullyLabeledReplicas, 3);
  t.is(st.readyReplicas, 3);
  t.is(st.availableReplicas, 2);
  t.is(st.observedGeneration, 2);
  t.truthy(plan.requeueAfterMs && plan.requeueAfterMs > 25_000 && plan.requeueAfterMs <= 26_000, `requeue ${plan.requeueAfterMs}`);
  // Same status again: no write.
  const again = reconcileReplicaSet({ rs: { ...set, status: st }, pods, now: NOW, expectationsSatisfied: true });
  t.is(again.status, undefined);
});

test('a set being deleted neither creates nor adopts', (t) => {
  const set = rs(3);
  set.metadata.deletionTimestamp = new Date(NOW).toISOString();
  const plan = reconcileReplicaSet({ rs: set, pods: [pod('orphan')], now: NOW, expectationsSatisfied: true });
  t.is(plan.creates.length, 0);
  t.is(plan.claims.length, 0);
});

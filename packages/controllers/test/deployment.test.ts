import test from 'ava';
import { reconcileDeployment, AVAILABLE, PROGRESSING } from '../src/deployment/reconcile.js';
import { reconcileReplicaSet } from '../src/replicaset/reconcile.js';
import { resolveFenceposts, templateHash, REVISION, POD_TEMPLATE_HASH, DESIRED_REPLICAS, MAX_REPLICAS, REVISION_HISTORY } from '../src/deployment/util.js';
import { OwnWrites } from '../src/rebase.js';
import { isPodReady } from '../src/util/pod.js';
import type { DeploymentCondition as Condition } from '@mkube/api';
import { R, type Action } from '../src/types.js';
import { World, deployment, readyCondition, rng, objectOf, type Obj } from './helpers/world.js';

const cond = (d: Obj, type: string): Condition | undefined => (d.status?.conditions ?? []).find((c: Condition) => c.type === type);

/** Runs the deployment and ReplicaSet controllers, checking `check` after every single write. */
function runControllers(w: World, name: string, opts: { rand?: () => number; check?: (w: World) => void; rounds?: number; markReady?: number } = {}) {
  const rand = opts.rand ?? (() => 0.5);
  for (let round = 0; round < (opts.rounds ?? 1); round++) {
    const steps: Array<() => Action[]> = [];
    steps.push(() => {
      const d = w.get('deployments', 'default', name)!;
      return reconcileDeployment({ d, replicaSets: w.list('replicasets', 'default'), pods: w.list('pods', 'default'), now: w.now }).actions;
    });
    for (const rs of w.list('replicasets', 'default')) {
      steps.push(() => {
        const cur = w.get('replicasets', 'default', rs.metadata.name!);
        if (!cur) return [];
        const plan = reconcileReplicaSet({ rs: cur, pods: w.list('pods', 'default'), now: w.now, expectationsSatisfied: true });
        return [...plan.claims, ...plan.creates, ...plan.deletes, ...(plan.status ? [plan.status] : [])];
      });
    }
    // Controllers run in a random order each round.
    steps.sort(() => rand() - 0.5);
    for (const step of steps) {
      const own = new OwnWrites();
      for (const action of step()) {
        const a = own.rebase(action);
        const r = w.applyGet(a);
        if (r === false) break; // a conflict ends this sync; it is retried next round
        if (typeof r === 'object') own.record(a, r.metadata.resourceVersion);
        opts.check?.(w);
      }
    }
    // Some pods become ready (Running with an IP) each round.
    const notReady = w.list('pods', 'default').filter((p) => !isPodReady(p));
    for (const p of notReady.slice(0, opts.markReady ?? notReady.length)) {
      if (rand() < 0.3 && opts.markReady !== undefined) continue;
      p.status = { phase: 'Running', podIP: `10.0.0.${Math.floor(rand() * 250)}`, conditions: [readyCondition('True', w.now)] };
      p.metadata.resourceVersion = String(Number(p.metadata.resourceVersion) + 1000);
      opts.check?.(w);
    }
    w.now += 1000;
  }
}

const podsOf = (w: World) => w.list('pods', 'default').filter((p) => !p.metadata.deletionTimestamp);
const available = (w: World) => podsOf(w).filter(isPodReady).length;

test('fenceposts: surge rounds up, unavailable rounds down, never both zero', (t) => {
  const d = (replicas: number, maxSurge: unknown, maxUnavailable: unknown) => deployment('x', replicas, 'a', { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } });
  t.deepEqual(resolveFenceposts(d(10, '25%', '25%')), { surge: 3, unavailable: 2 });
  t.deepEqual(resolveFenceposts(d(3, '25%', '25%')), { surge: 1, unavailable: 0 });
  t.deepEqual(resolveFenceposts(d(3, 0, 0)), { surge: 0, unavailable: 1 });
  t.deepEqual(resolveFenceposts(d(5, 2, '50%')), { surge: 2, unavailable: 2 });
  t.deepEqual(resolveFenceposts(d(1, '0%', '0%')), { surge: 0, unavailable: 1 });
  t.deepEqual(resolveFenceposts(deployment('x', 4, 'a', { type: 'Recreate' })), { surge: 0, unavailable: 0 });
});

test('a new deployment gets one ReplicaSet named after the template hash, with revision and replica annotations', (t) => {
  const w = new World();
  const d = w.add('deployments', deployment('web', 3, 'nginx:1'));
  const plan = reconcileDeployment({ d, replicaSets: [], pods: [], now: w.now });
  const create = { object: objectOf(plan.actions.find((a) => a.verb === 'create')) };
  const hash = templateHash(d);
  t.regex(hash, /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  t.is(create.object.metadata.name, `web-${hash}`);
  t.is(create.object.metadata.labels![POD_TEMPLATE_HASH], hash);
  t.is(create.object.spec.template.metadata.labels[POD_TEMPLATE_HASH], hash);
  t.deepEqual(create.object.spec.selector.matchLabels, { app: 'web', [POD_TEMPLATE_HASH]: hash });
  t.is(create.object.spec.replicas, 3);
  t.is(create.object.metadata.annotations![REVISION], '1');
  t.is(create.object.metadata.annotations![DESIRED_REPLICAS], '3');
  t.is(create.object.metadata.annotations![MAX_REPLICAS], '4');
  t.is(create.object.metadata.ownerReferences![0]!.kind, 'Deployment');
  t.true(create.object.metadata.ownerReferences![0]!.blockOwnerDeletion);
  const status = { object: objectOf(plan.actions.find((a) => a.verb === 'updateStatus')) };
  t.is(cond(status.object, PROGRESSING)?.reason, 'NewReplicaSetCreated');
  t.is(cond(status.object, PROGRESSING)?.message, `Created new replica set "web-${hash}"`);
  const meta = { object: objectOf(plan.actions.find((a) => a.verb === 'update' && a.ref.resource === 'deployments')) };
  t.is(meta.object.metadata.annotations![REVISION], '1');
  // Same template, same hash: hashing is stable.
  t.is(templateHash(structuredClone(d)), hash);
  t.not(templateHash(deployment('web', 3, 'nginx:2')), hash);
});

test('rollout to completion: status, conditions and the hash label stay consistent', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 3, 'nginx:1'));
  runControllers(w, 'web', { rounds: 6 });
  const d = w.get('deployments', 'default', 'web')!;
  t.is(w.list('replicasets').length, 1);
  t.is(podsOf(w).length, 3);
  t.like(d.status, { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0, observedGeneration: 1 });
  t.is(cond(d, PROGRESSING)?.reason, 'NewReplicaSetAvailable');
  t.is(cond(d, AVAILABLE)?.reason, 'MinimumReplicasAvailable');
  t.is(cond(d, AVAILABLE)?.status, 'True');
});

for (const [label, replicas, maxSurge, maxUnavailable] of [
  ['25%/25% of 4', 4, '25%', '25%'],
  ['surge 1, unavailable 0 of 3', 3, 1, 0],
  ['surge 0, unavailable 1 of 3', 3, 0, 1],
  ['surge 3, unavailable 2 of 10', 10, 3, 2],
  ['50%/50% of 5', 5, '50%', '50%'],
] as const) {
  for (const seed of [1, 2, 3, 4]) {
    test(`rolling update invariants (${label}, seed ${seed}): never more than replicas+maxSurge pods, never fewer than replicas-maxUnavailable available`, (t) => {
      const w = new World();
      const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } };
      w.add('deployments', deployment('web', replicas, 'nginx:1', strategy));
      runControllers(w, 'web', { rounds: 30 });
      t.is(available(w), replicas, 'first rollout completes');
      const fp = resolveFenceposts(deployment('web', replicas, 'x', strategy));
      const d = w.get('deployments', 'default', 'web')!;
      w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, template: { ...d.spec.template, spec: { containers: [{ name: 'main', image: 'nginx:2' }] } } } } as Obj });
      let maxPods = 0;
      let minAvail = Infinity;
      runControllers(w, 'web', {
        rand: rng(seed),
        rounds: 200,
        markReady: 1,
        check: (world) => {
          maxPods = Math.max(maxPods, podsOf(world).length);
          minAvail = Math.min(minAvail, available(world));
        },
      });
      t.true(maxPods <= replicas + fp.surge, `max pods ${maxPods} > ${replicas}+${fp.surge}`);
      t.true(minAvail >= replicas - fp.unavailable, `min available ${minAvail} < ${replicas}-${fp.unavailable}`);
      const after = w.get('deployments', 'default', 'web')!;
      const pods = podsOf(w);
      t.is(pods.length, replicas);
      t.true(pods.every((p) => p.spec.containers[0].image === 'nginx:2'), 'all pods run the new template');
      t.like(after.status, { replicas, updatedReplicas: replicas, availableReplicas: replicas });
      t.is(cond(after, PROGRESSING)?.reason, 'NewReplicaSetAvailable');
      const rss = w.list('replicasets');
      t.is(rss.length, 2);
      const newRS = rss.find((r) => r.spec.replicas === replicas)!;
      const oldRS = rss.find((r) => r.spec.replicas === 0)!;
      t.is(newRS.metadata.annotations![REVISION], '2');
      t.is(oldRS.metadata.annotations![REVISION], '1');
      t.is(after.metadata.annotations![REVISION], '2');
    });
  }
}

test('rollback by template (what kubectl rollout undo patches in) reuses the old ReplicaSet and bumps its revision', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 2, 'nginx:1', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }));
  runControllers(w, 'web', { rounds: 10 });
  const rs1 = w.list('replicasets')[0]!;
  const setTemplate = (tpl: unknown) => {
    const d = w.get('deployments', 'default', 'web')!;
    t.true(w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, template: tpl } } as Obj }));
  };
  setTemplate({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'nginx:2' }] } });
  runControllers(w, 'web', { rounds: 20 });
  t.is(w.list('replicasets').length, 2);
  // kubectl: the old set's template without the pod-template-hash label.
  const tpl = structuredClone(w.get('replicasets', 'default', rs1.metadata.name!)!.spec.template);
  delete tpl.metadata.labels[POD_TEMPLATE_HASH];
  setTemplate(tpl);
  runControllers(w, 'web', { rounds: 20 });
  const rss = w.list('replicasets');
  t.is(rss.length, 2, 'no third ReplicaSet');
  const back = w.get('replicasets', 'default', rs1.metadata.name!)!;
  t.is(back.spec.replicas, 2);
  t.is(back.metadata.annotations![REVISION], '3');
  t.is(back.metadata.annotations![REVISION_HISTORY], '1');
  t.true(podsOf(w).every((p) => p.spec.containers[0].image === 'nginx:1'));
  const d = w.get('deployments', 'default', 'web')!;
  t.is(d.metadata.annotations![REVISION], '3');
  t.like(d.status, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
});

test('Recreate: old pods are gone before the new set scales up', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 3, 'nginx:1', { type: 'Recreate' }));
  runControllers(w, 'web', { rounds: 10 });
  const d = w.get('deployments', 'default', 'web')!;
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'nginx:2' }] } } } } as Obj });
  let mixed = false;
  runControllers(w, 'web', {
    rounds: 20,
    check: (world) => {
      const images = new Set(podsOf(world).map((p) => p.spec.containers[0].image));
      if (images.size > 1) mixed = true;
    },
  });
  t.false(mixed, 'never old and new pods at once');
  t.is(podsOf(w).length, 3);
  t.true(podsOf(w).every((p) => p.spec.containers[0].image === 'nginx:2'));
});

test('scaling: a replicas change resizes the active set and updates the desired-replicas annotation', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 3, 'nginx:1'));
  runControllers(w, 'web', { rounds: 6 });
  const d = w.get('deployments', 'default', 'web')!;
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, replicas: 5 } } as Obj });
  runControllers(w, 'web', { rounds: 6 });
  const rs = w.list('replicasets')[0]!;
  t.is(rs.spec.replicas, 5);
  t.is(rs.metadata.annotations![DESIRED_REPLICAS], '5');
  t.is(podsOf(w).length, 5);
  t.is(w.get('deployments', 'default', 'web')!.status.availableReplicas, 5);
});

test('proportional scaling during a rollout spreads new replicas over the active sets', (t) => {
  const w = new World();
  const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } };
  w.add('deployments', deployment('web', 10, 'nginx:1', strategy));
  runControllers(w, 'web', { rounds: 6 });
  let d = w.get('deployments', 'default', 'web')!;
  // New template with pods that never become ready: the rollout stalls half-way.
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'bad' }] } } } } as Obj });
  runControllers(w, 'web', { rounds: 5, markReady: 0 });
  const before = w.list('replicasets').map((r) => r.spec.replicas as number).sort((a, b) => a - b);
  t.deepEqual(before, [5, 8]);
  d = w.get('deployments', 'default', 'web')!;
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, replicas: 20 } } as Obj });
  runControllers(w, 'web', { rounds: 1, markReady: 0 });
  const after = w.list('replicasets').map((r) => r.spec.replicas as number).sort((a, b) => a - b);
  t.is(after[0]! + after[1]!, 23, 'total = replicas + maxSurge');
  t.deepEqual(after, [9, 14]);
});

test('pause stops the rollout (scaling still works); resume continues; conditions say so', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 2, 'nginx:1'));
  runControllers(w, 'web', { rounds: 6 });
  let d = w.get('deployments', 'default', 'web')!;
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, paused: true, replicas: 3, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'nginx:2' }] } } } } as Obj });
  runControllers(w, 'web', { rounds: 6 });
  d = w.get('deployments', 'default', 'web')!;
  t.is(w.list('replicasets').length, 1, 'no new set while paused');
  t.is(podsOf(w).length, 3, 'scaling works while paused');
  t.is(cond(d, PROGRESSING)?.reason, 'DeploymentPaused');
  t.is(cond(d, PROGRESSING)?.status, 'Unknown');
  w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, paused: false } } as Obj });
  runControllers(w, 'web', { rounds: 1 });
  t.is(cond(w.get('deployments', 'default', 'web')!, PROGRESSING)?.reason, 'NewReplicaSetCreated');
  runControllers(w, 'web', { rounds: 20 });
  t.true(podsOf(w).every((p) => p.spec.containers[0].image === 'nginx:2'));
  t.is(cond(w.get('deployments', 'default', 'web')!, PROGRESSING)?.reason, 'NewReplicaSetAvailable');
});

test('progress deadline: a stalled rollout gets ProgressDeadlineExceeded and MinimumReplicasUnavailable', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 2, 'nginx:1', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, { progressDeadlineSeconds: 30 }));
  runControllers(w, 'web', { rounds: 2, markReady: 0 });
  let d = w.get('deployments', 'default', 'web')!;
  t.is(cond(d, AVAILABLE)?.reason, 'MinimumReplicasUnavailable');
  t.is(cond(d, AVAILABLE)?.status, 'False');
  const plan = reconcileDeployment({ d, replicaSets: w.list('replicasets'), pods: w.list('pods'), now: w.now });
  t.truthy(plan.requeueAfterMs, 'requeued for the deadline');
  w.now += 31_000;
  runControllers(w, 'web', { rounds: 1, markReady: 0 });
  d = w.get('deployments', 'default', 'web')!;
  t.is(cond(d, PROGRESSING)?.reason, 'ProgressDeadlineExceeded');
  t.is(cond(d, PROGRESSING)?.status, 'False');
  t.regex(cond(d, PROGRESSING)!.message!, /has timed out progressing/);
});

test('revisionHistoryLimit deletes the oldest scaled-down sets', (t) => {
  const w = new World();
  w.add('deployments', deployment('web', 1, 'v0', undefined, { revisionHistoryLimit: 2 }));
  runControllers(w, 'web', { rounds: 5 });
  for (let i = 1; i <= 4; i++) {
    const d = w.get('deployments', 'default', 'web')!;
    w.apply({ verb: 'update', ref: R.deployments, object: { ...d, spec: { ...d.spec, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: `v${i}` }] } } } } as Obj });
    runControllers(w, 'web', { rounds: 10 });
  }
  const revs = w.list('replicasets').map((r) => Number(r.metadata.annotations![REVISION])).sort();
  t.deepEqual(revs, [3, 4, 5]);
});

test('adopts an orphan ReplicaSet whose template matches instead of creating another', (t) => {
  const w = new World();
  const d = w.add('deployments', deployment('web', 1, 'nginx:1'));
  const plan = reconcileDeployment({ d, replicaSets: [], pods: [], now: w.now });
  const create = { object: objectOf(plan.actions.find((a) => a.verb === 'create')) };
  const orphan = structuredClone(create.object);
  delete orphan.metadata.ownerReferences;
  w.add('replicasets', orphan);
  const plan2 = reconcileDeployment({ d, replicaSets: w.list('replicasets'), pods: [], now: w.now });
  t.false(plan2.actions.some((a) => a.verb === 'create'));
  const adopt = { object: objectOf(plan2.actions.find((a) => a.verb === 'update' && a.ref.resource === 'replicasets')) };
  t.is(adopt.object.metadata.ownerReferences![0]!.uid, d.metadata.uid!);
});

test('a foreign object under the new set name is a hash collision: collisionCount goes up and the hash changes', (t) => {
  const w = new World();
  const d = w.add('deployments', deployment('web', 1, 'nginx:1'));
  w.add('replicasets', { metadata: { name: `web-${templateHash(d)}`, namespace: 'default', labels: { other: 'x' } }, spec: { replicas: 0, selector: { matchLabels: { other: 'x' } }, template: { metadata: { labels: { other: 'x' } }, spec: {} } } });
  const plan = reconcileDeployment({ d, replicaSets: w.list('replicasets'), pods: [], now: w.now });
  const st = { object: objectOf(plan.actions.find((a) => a.verb === 'updateStatus')) };
  t.is(st.object.status.collisionCount, 1);
  t.not(templateHash(st.object), templateHash(d));
});

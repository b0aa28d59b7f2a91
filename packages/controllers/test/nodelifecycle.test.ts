import test from 'ava';
import { reconcileNode, tolerationSecondsFor, TAINT_UNREACHABLE, type NodeHealth } from '../src/nodelifecycle/reconcile.js';
import { FakeClock } from '../src/util/time.js';
import type { Action, Taint } from '../src/types.js';
import { objectOf, type Obj } from './helpers/world.js';

const config = { gracePeriodMs: 40_000, defaultTolerationSeconds: 300 };
const node = (): Obj => ({ metadata: { name: 'n1', resourceVersion: '1' }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2024-01-01T00:00:00Z' }] } });
const lease = (renew: string): Obj => ({ metadata: { name: 'n1', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'n1', renewTime: renew } });
const pod = (name: string, tolerations?: unknown[]): Obj => ({ metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '1' }, spec: { nodeName: 'n1', ...(tolerations ? { tolerations } : {}) }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });

/** Applies node/pod updates of a plan to the local objects, like the API would. */
function apply(actions: Action[], n: Obj, pods: Obj[]): { node: Obj; pods: Obj[] } {
  let cur = n;
  let ps = pods;
  for (const a of actions) {
    if (a.verb === 'update' && a.ref.resource === 'nodes') cur = { ...cur, spec: objectOf(a).spec };
    if (a.verb === 'updateStatus' && a.ref.resource === 'nodes') cur = { ...cur, status: objectOf(a).status };
    if (a.verb === 'updateStatus' && a.ref.resource === 'pods') ps = ps.map((p) => (p.metadata.name === a.object.metadata.name ? { ...p, status: objectOf(a).status } : p));
    if (a.verb === 'delete' && a.ref.resource === 'pods') ps = ps.filter((p) => p.metadata.name !== a.name);
  }
  return { node: cur, pods: ps };
}

test('tolerations: matching NoExecute toleration seconds, forever without seconds, default without a match', (t) => {
  const taint: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute' };
  t.is(tolerationSecondsFor(pod('a'), taint, 300), 300);
  t.is(tolerationSecondsFor(pod('a', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }]), taint, 300), 10);
  t.is(tolerationSecondsFor(pod('a', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }]), taint, 300), undefined);
  t.is(tolerationSecondsFor(pod('a', [{ operator: 'Exists' }]), taint, 300), undefined);
  t.is(tolerationSecondsFor(pod('a', [{ key: 'other', operator: 'Exists' }]), taint, 300), 300);
  t.is(tolerationSecondsFor(pod('a', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 1 }]), taint, 300), 300);
});

test('lease not renewed for the grace period: Ready=Unknown, unreachable taints, pods Ready=False, evictions after toleration; renewal lifts the taints', (t) => {
  const clock = new FakeClock(Date.UTC(2024, 0, 1));
  let n = node();
  let pods = [pod('plain'), pod('short', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }]), pod('forever', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }])];
  let health: NodeHealth | undefined;
  let l = lease('2024-01-01T00:00:00.000000Z');
  const step = () => {
    const plan = reconcileNode({ node: n, lease: l, pods, health, now: clock.now(), config });
    health = plan.health;
    ({ node: n, pods } = apply(plan.actions, n, pods));
    return plan;
  };
  // Healthy at first sight; requeued to check again when the grace period would run out.
  let plan = step();
  t.deepEqual(plan.actions, []);
  t.true(plan.requeueAfterMs! > 40_000 && plan.requeueAfterMs! <= 41_000);
  clock.advance(39_000);
  t.deepEqual(step().actions, [], 'within the grace period');
  clock.advance(2_000);
  plan = step();
  t.true(plan.unreachable);
  const ready = n.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  t.like(ready, { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
  t.deepEqual(n.spec.taints.map((x: Taint) => `${x.key}:${x.effect}`), [`${TAINT_UNREACHABLE}:NoSchedule`, `${TAINT_UNREACHABLE}:NoExecute`]);
  t.true(pods.every((p) => p.status.conditions[0].status === 'False'));
  t.is(pods.length, 3);
  // Idempotent: nothing new to write.
  t.deepEqual(step().actions, []);
  clock.advance(60_000);
  step();
  t.deepEqual(pods.map((p) => p.metadata.name), ['plain', 'forever'], 'the 60 s toleration ran out');
  clock.advance(240_000);
  plan = step();
  t.deepEqual(pods.map((p) => p.metadata.name), ['forever'], 'the default 300 s ran out');
  t.true(plan.actions.every((a) => a.verb !== 'delete' || a.uid === 'uid-plain'));
  // The kubelet comes back: the lease is renewed, the taints go.
  l = lease('2024-01-01T00:06:00.000000Z');
  plan = step();
  t.false(plan.unreachable);
  t.deepEqual(n.spec.taints, []);
});

test('a shorter default toleration (as --default-unreachable-toleration-seconds in tests) evicts sooner', (t) => {
  const clock = new FakeClock(Date.UTC(2024, 0, 1));
  const n = node();
  const l = lease('x');
  const cfg = { gracePeriodMs: 5_000, defaultTolerationSeconds: 2 };
  let plan = reconcileNode({ node: n, lease: l, pods: [pod('p')], health: undefined, now: clock.now(), config: cfg });
  clock.advance(6_000);
  plan = reconcileNode({ node: n, lease: l, pods: [pod('p')], health: plan.health, now: clock.now(), config: cfg });
  t.false(plan.actions.some((a) => a.verb === 'delete'));
  const tainted = { object: objectOf(plan.actions.find((a) => a.verb === 'update')) };
  clock.advance(2_000);
  plan = reconcileNode({ node: { ...n, spec: tainted.object.spec }, lease: l, pods: [pod('p')], health: plan.health, now: clock.now(), config: cfg });
  t.true(plan.actions.some((a) => a.verb === 'delete' && a.name === 'p'));
});

// DaemonSet reconcile over an in-memory cluster: one pod per eligible node
// (node selector, affinity, taints and the automatic tolerations), pods bound
// by the metadata.name field term, failed and misscheduled pods, rolling
// updates with maxUnavailable and maxSurge, OnDelete, status and history.
import test from 'ava';
import { reconcileDaemonSet, type DaemonSetPlan } from '../src/daemonset/reconcile.js';
import { nodeShouldRunDaemonPod, targetNodeName, withDaemonTolerations } from '../src/daemonset/placement.js';
import type { Action, Named } from '../src/types.js';
import { World, objectOf, podTemplate, readyCondition, type Obj } from './helpers/world.js';

const NOW = Date.UTC(2024, 0, 1, 12);

function ds(spec: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', generation: 1 },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: podTemplate('agent:1'),
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
      ...spec,
    },
  };
}

const node = (name: string, extra: { labels?: Record<string, string>; taints?: unknown[] } = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(extra.labels ?? {}) } },
  spec: extra.taints ? { taints: extra.taints } : {},
});

class Sim {
  w = new World(NOW);
  events: string[] = [];
  constructor(set: Obj, nodes: Obj[]) {
    this.w.add('daemonsets', set);
    for (const n of nodes) this.w.add('nodes', n);
  }
  get ds(): Obj {
    return this.w.get('daemonsets', 'default', 'agent')!;
  }
  plan(): DaemonSetPlan {
    return reconcileDaemonSet({
      ds: this.ds as Named,
      nodes: this.w.list('nodes') as never,
      pods: this.w.list('pods') as never,
      revisions: this.w.list('controllerrevisions') as never,
      now: this.w.now,
      expectationsSatisfied: true,
    });
  }
  sync(): string[] {
    const p = this.plan();
    const done: string[] = [];
    const apply = (a: Action) => {
      this.w.apply(a);
      done.push(a.verb === 'delete' ? `delete ${a.name}` : `${a.verb} ${a.ref.resource}`);
    };
    [...p.claims, ...p.revisions].forEach(apply);
    for (const c of p.creates) {
      apply(c.action);
      done[done.length - 1] = `create pod for ${c.node}`;
    }
    p.deletes.forEach(apply);
    for (const e of p.events) this.events.push(`${e.reason} ${e.message}`);
    if (p.status) apply(p.status);
    p.history.forEach(apply);
    return done;
  }
  /** The scheduler and kubelet: pods are bound to their target node and become Running and Ready. */
  run(): void {
    for (const p of this.w.list('pods')) {
      if (p.metadata.deletionTimestamp || p.status?.phase) continue;
      p.spec.nodeName = targetNodeName(p as never);
      p.status = { phase: 'Running', conditions: [readyCondition('True', this.w.now)] };
    }
  }
  settle(max = 50): void {
    for (let i = 0; i < max; i++) {
      this.run();
      if (this.sync().length === 0) return;
    }
    throw new Error('did not settle');
  }
  podsByNode(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const p of this.w.list('pods')) (out[targetNodeName(p as never) ?? '?'] ??= []).push(p.spec.containers[0].image);
    return out;
  }
  template(image: string): void {
    const d = structuredClone(this.ds);
    d.spec.template = podTemplate(image);
    d.metadata.generation = (d.metadata.generation ?? 1) + 1;
    this.w.objects.set('daemonsets/default/agent', d);
  }
}

test('one pod per node, bound by the metadata.name field term, with the daemon tolerations', (t) => {
  const s = new Sim(ds(), [node('n1'), node('n2')]);
  const done = s.sync();
  t.deepEqual(done.filter((d) => d.startsWith('create pod')).sort(), ['create pod for n1', 'create pod for n2']);
  const pod = s.w.list('pods').find((p) => targetNodeName(p as never) === 'n1')!;
  t.is(pod.metadata.generateName, 'agent-');
  t.is(pod.spec.nodeName, undefined, 'the scheduler binds it');
  t.deepEqual(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution, { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] });
  t.deepEqual(
    pod.spec.tolerations.map((x: { key: string; effect: string }) => `${x.key}:${x.effect}`),
    [
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
    ],
  );
  t.is(pod.metadata.labels?.['controller-revision-hash'], s.plan().hash);
  s.settle();
  t.like(s.ds.status, { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, numberAvailable: 2, updatedNumberScheduled: 2, numberMisscheduled: 0, numberUnavailable: 0, observedGeneration: 1 });
  // A node joining later gets its pod.
  s.w.add('nodes', node('n3'));
  t.deepEqual(s.sync().filter((d) => d.startsWith('create pod')), ['create pod for n3']);
});

test('hostNetwork pods also tolerate network-unavailable', (t) => {
  const spec = withDaemonTolerations({ containers: [], hostNetwork: true });
  t.true(spec.tolerations!.some((x) => x.key === 'node.kubernetes.io/network-unavailable' && x.effect === 'NoSchedule'));
});

test('taints: NoSchedule keeps pods off unless tolerated; a pod already there stays; NoExecute removes it', (t) => {
  const tainted = node('n2', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] });
  t.deepEqual(nodeShouldRunDaemonPod(tainted as never, ds() as never), { shouldRun: false, shouldContinueRunning: true });
  const s = new Sim(ds(), [node('n1'), tainted]);
  s.settle();
  t.deepEqual(Object.keys(s.podsByNode()), ['n1']);
  t.like(s.ds.status, { desiredNumberScheduled: 1, currentNumberScheduled: 1 });
  // Tolerating the taint brings a pod to n2.
  const tolerating = ds({ template: { ...podTemplate('agent:1'), spec: { ...podTemplate('agent:1').spec, tolerations: [{ key: 'dedicated', operator: 'Exists' }] } } });
  t.true(nodeShouldRunDaemonPod(tainted as never, tolerating as never).shouldRun);
  // A NoExecute taint evicts the pod already on n1.
  const n1 = s.w.get('nodes', undefined, 'n1')!;
  n1.spec.taints = [{ key: 'maintenance', effect: 'NoExecute' }];
  t.deepEqual(nodeShouldRunDaemonPod(n1 as never, ds() as never), { shouldRun: false, shouldContinueRunning: false });
  const pod = s.w.list('pods')[0]!;
  t.deepEqual(s.sync(), [`delete ${pod.metadata.name}`, 'updateStatus daemonsets']);
  // Not-ready and unreachable taints are tolerated automatically.
  n1.spec.taints = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }];
  t.true(nodeShouldRunDaemonPod(n1 as never, ds() as never).shouldRun);
});

test('nodeSelector and required node affinity choose the nodes; a pod on a node no longer selected is deleted (misscheduled)', (t) => {
  const s = new Sim(ds({ template: { ...podTemplate('agent:1'), spec: { ...podTemplate('agent:1').spec, nodeSelector: { role: 'edge' } } } }), [node('n1', { labels: { role: 'edge' } }), node('n2')]);
  s.settle();
  t.deepEqual(Object.keys(s.podsByNode()), ['n1']);
  delete s.w.get('nodes', undefined, 'n1')!.metadata.labels!.role;
  const p = s.plan();
  t.is(p.deletes.length, 1);
  t.like(objectOf(p.status).status, { desiredNumberScheduled: 0, numberMisscheduled: 1 });
});

test('failed daemon pods are deleted with FailedDaemonPod and replaced', (t) => {
  const s = new Sim(ds(), [node('n1')]);
  s.settle();
  const pod = s.w.list('pods')[0]!;
  pod.status.phase = 'Failed';
  t.deepEqual(s.sync().filter((d) => d.startsWith('delete')), [`delete ${pod.metadata.name}`]);
  t.true(s.events.includes(`FailedDaemonPod Found failed daemon pod default/${pod.metadata.name} on node n1, will try to kill it`));
  s.settle();
  t.is(s.w.list('pods').length, 1);
});

test('RollingUpdate maxUnavailable 1: one node at a time, the new pod after the old is gone', (t) => {
  const s = new Sim(ds(), [node('n1'), node('n2'), node('n3')]);
  s.settle();
  s.template('agent:2');
  const first = s.sync();
  t.is(first.filter((d) => d.startsWith('delete')).length, 1, first.join());
  t.is(first.filter((d) => d.startsWith('create pod')).length, 0);
  // Never more than one node without an available pod while rolling.
  for (let i = 0; i < 20; i++) {
    s.run();
    const images = s.podsByNode();
    t.true(Object.keys(images).length >= 2);
    if (s.sync().length === 0) break;
  }
  t.deepEqual(s.podsByNode(), { n1: ['agent:2'], n2: ['agent:2'], n3: ['agent:2'] });
  t.like(s.ds.status, { updatedNumberScheduled: 3, numberAvailable: 3 });
});

test('RollingUpdate maxSurge 1: the new pod starts beside the old one, which goes once the new is available', (t) => {
  const s = new Sim(ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }), [node('n1'), node('n2')]);
  s.settle();
  s.template('agent:2');
  const first = s.sync();
  t.is(first.filter((d) => d.startsWith('create pod')).length, 1);
  t.is(first.filter((d) => d.startsWith('delete')).length, 0);
  s.run();
  const second = s.sync();
  t.is(second.filter((d) => d.startsWith('delete')).length, 1, 'the old pod goes once the new one is available');
  s.settle();
  t.deepEqual(s.podsByNode(), { n1: ['agent:2'], n2: ['agent:2'] });
});

test('OnDelete: only a deleted pod comes back new', (t) => {
  const s = new Sim(ds({ updateStrategy: { type: 'OnDelete' } }), [node('n1'), node('n2')]);
  s.settle();
  s.template('agent:2');
  s.settle();
  t.deepEqual(s.podsByNode(), { n1: ['agent:1'], n2: ['agent:1'] });
  const p = s.w.list('pods').find((x) => x.spec.nodeName === 'n1')!;
  s.w.objects.delete(`pods/default/${p.metadata.name}`);
  s.settle();
  t.deepEqual(s.podsByNode(), { n1: ['agent:2'], n2: ['agent:1'] });
  t.like(s.ds.status, { updatedNumberScheduled: 1 });
});

test('revisions: rollback reuses the old revision with the next number; history trimmed to revisionHistoryLimit', (t) => {
  const s = new Sim(ds({ revisionHistoryLimit: 1 }), [node('n1')]);
  s.settle();
  s.template('agent:2');
  s.settle();
  s.template('agent:3');
  s.settle();
  const revs = s.w.list('controllerrevisions').sort((a, b) => Number(a.revision) - Number(b.revision));
  t.deepEqual(revs.map((r) => r.revision), [2, 3], 'revision 1 trimmed');
  s.template('agent:2');
  s.settle();
  const after = s.w.list('controllerrevisions').sort((a, b) => Number(a.revision) - Number(b.revision));
  t.deepEqual(after.map((r) => [r.metadata.name, r.revision]), [[revs[1]!.metadata.name, 3], [revs[0]!.metadata.name, 4]]);
  t.is(after[1]!.metadata.labels!['controller-revision-hash'], s.w.list('pods')[0]!.metadata.labels!['controller-revision-hash']);
});

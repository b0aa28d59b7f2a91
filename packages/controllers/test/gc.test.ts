import test from 'ava';
import { reconcileGc, FINALIZER_FOREGROUND, FINALIZER_ORPHAN, type OwnerState } from '../src/gc/reconcile.js';
import { R, type OwnerReference } from '../src/types.js';
import { objectOf, type Obj } from './helpers/world.js';

const ref = (uid: string, block = true): OwnerReference => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${uid}`, uid, controller: true, blockOwnerDeletion: block });
const obj = (name: string, owners: OwnerReference[] = [], extra: Partial<Obj['metadata']> = {}): Obj => ({ metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '1', ownerReferences: owners, ...extra } });
const states = (m: Record<string, OwnerState>) => (o: OwnerReference) => m[o.uid] ?? 'present';

test('background: an object whose owners are all gone is deleted; one with a live owner left only loses the dangling reference', (t) => {
  const p = reconcileGc({ obj: obj('p', [ref('a')]), ref: R.pods, dependents: [], ownerState: states({ a: 'absent' }) });
  t.like(p.actions[0], { verb: 'delete', name: 'p', uid: 'uid-p', propagationPolicy: 'Background' });
  t.deepEqual(p.needsConfirmation.map((o) => o.uid), ['a']);
  const q = reconcileGc({ obj: obj('q', [ref('a'), ref('b')]), ref: R.pods, dependents: [], ownerState: states({ a: 'absent', b: 'present' }) });
  t.is(q.actions.length, 1);
  t.is(q.actions[0]!.verb, 'update');
  t.deepEqual(objectOf(q.actions[0]).metadata.ownerReferences!.map((o) => o.uid), ['b']);
  t.deepEqual(reconcileGc({ obj: obj('r', [ref('b')]), ref: R.pods, dependents: [], ownerState: states({ b: 'present' }) }).actions, []);
  t.deepEqual(reconcileGc({ obj: obj('s', [ref('c')]), ref: R.pods, dependents: [], ownerState: states({ c: 'unknown' }) }).actions, [], 'never delete on a guess');
});

test('foreground: dependents are deleted, the finalizer stays while blocking dependents exist, then goes', (t) => {
  const owner = obj('rs', [], { deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: [FINALIZER_FOREGROUND] });
  const deps = [{ obj: obj('p1', [ref('uid-rs')]), ref: R.pods }, { obj: obj('p2', [ref('uid-rs', false)]), ref: R.pods }];
  const plan = reconcileGc({ obj: owner, ref: R.replicasets, dependents: deps, ownerState: () => 'present' });
  t.deepEqual(plan.actions.map((a) => a.verb), ['delete', 'delete']);
  t.is(plan.waitingFor, 1);
  // Only the non-blocking dependent left: the finalizer is removed.
  const plan2 = reconcileGc({ obj: owner, ref: R.replicasets, dependents: [{ ...deps[1]!, obj: { ...deps[1]!.obj, metadata: { ...deps[1]!.obj.metadata, deletionTimestamp: 'x' } } }], ownerState: () => 'present' });
  t.is(plan2.actions.length, 1);
  t.like(plan2.actions[0], { verb: 'update' });
  t.deepEqual(objectOf(plan2.actions[0]).metadata.finalizers, []);
  // A dependent whose only owner waits for it is deleted in the foreground too.
  const dep = reconcileGc({ obj: obj('p3', [ref('uid-rs')]), ref: R.pods, dependents: [], ownerState: () => 'deletingForeground' });
  t.like(dep.actions[0], { verb: 'delete', propagationPolicy: 'Foreground' });
});

test('orphan: ownerReferences of dependents are removed, then the orphan finalizer', (t) => {
  const owner = obj('rs', [], { deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: [FINALIZER_ORPHAN, 'custom'] });
  const deps = [{ obj: obj('p1', [ref('uid-rs'), ref('other')]), ref: R.pods }];
  const plan = reconcileGc({ obj: owner, ref: R.replicasets, dependents: deps, ownerState: () => 'present' });
  t.is(plan.actions.length, 1);
  t.deepEqual(objectOf(plan.actions[0]).metadata.ownerReferences!.map((o) => o.uid), ['other']);
  const plan2 = reconcileGc({ obj: owner, ref: R.replicasets, dependents: [], ownerState: () => 'present' });
  t.deepEqual(objectOf(plan2.actions[0]).metadata.finalizers, ['custom']);
});

/**
 * The shared object helpers against upstream's documented behaviour: object
 * keys (cache.MetaNamespaceKeyFunc/SplitMetaNamespaceKey), field selectors
 * (fields.ParseSelector), tolerations (core/v1 ToleratesTaint cases), owner
 * references (metav1.GetControllerOf/NewControllerRef), conditions
 * (meta.SetStatusCondition) and Time/MicroTime text.
 */
import test from 'ava';
import {
  controllerOf,
  fieldSelectorMatches,
  fieldSelectorString,
  FieldSelectorError,
  findUntoleratedTaint,
  formatMicroTime,
  formatTime,
  getCondition,
  isControlledBy,
  newControllerRef,
  objectKey,
  objectMetaFields,
  OwnerRefError,
  parseFieldSelector,
  parseTime,
  setCondition,
  splitObjectKey,
  toleratesTaint,
  tolerationsTolerateTaint,
  type PodCondition,
  type Taint,
  type Toleration,
} from '../src/index.js';

test('object keys: ns/name, name for cluster-scoped objects, split back', (t) => {
  t.is(objectKey({ metadata: { namespace: 'default', name: 'web' } }), 'default/web');
  t.is(objectKey({ metadata: { name: 'node-1' } }), 'node-1');
  t.deepEqual(splitObjectKey('default/web'), { namespace: 'default', name: 'web' });
  t.deepEqual(splitObjectKey('node-1'), { name: 'node-1' });
  t.deepEqual(splitObjectKey('/x'), { name: 'x' });
  t.throws(() => splitObjectKey('a/b/c'), { message: 'unexpected key format: "a/b/c"' });
});

test('field selectors: =, ==, !=, escapes, and the error for a term without an operator', (t) => {
  const sel = parseFieldSelector('metadata.name=web,status.phase!=Running,spec.nodeName==n1');
  t.deepEqual(sel, [
    { field: 'metadata.name', operator: '=', value: 'web' },
    { field: 'status.phase', operator: '!=', value: 'Running' },
    { field: 'spec.nodeName', operator: '=', value: 'n1' },
  ]);
  t.true(fieldSelectorMatches(sel, { 'metadata.name': 'web', 'status.phase': 'Pending', 'spec.nodeName': 'n1' }));
  t.false(fieldSelectorMatches(sel, { 'metadata.name': 'web', 'status.phase': 'Running', 'spec.nodeName': 'n1' }));
  t.deepEqual(parseFieldSelector('a=b\\,c\\=d'), [{ field: 'a', operator: '=', value: 'b,c=d' }]);
  t.is(fieldSelectorString(parseFieldSelector('a=b\\,c')), 'a=b\\,c');
  t.deepEqual(parseFieldSelector(''), []);
  t.throws(() => parseFieldSelector('a'), { instanceOf: FieldSelectorError, message: "invalid selector: 'a'; can't understand 'a'" });
  t.throws(() => parseFieldSelector('a=b\\x'), { message: /invalid escape sequence/ });
  t.true(fieldSelectorMatches(parseFieldSelector('spec.nodeName='), {}), 'a missing field is ""');
  t.deepEqual(objectMetaFields({ name: 'p', namespace: 'ns' }, true), { 'metadata.name': 'p', 'metadata.namespace': 'ns' });
});

test('tolerations: upstream ToleratesTaint cases', (t) => {
  const taint: Taint = { key: 'foo', value: 'bar', effect: 'NoExecute' };
  const cases: [string, Toleration, Taint, boolean][] = [
    ['empty key with Exists tolerates every key', { operator: 'Exists' }, taint, true],
    ['empty key and effect with Exists tolerates NoSchedule too', { operator: 'Exists' }, { key: 'x', effect: 'NoSchedule' }, true],
    ['effect mismatch', { key: 'foo', operator: 'Exists', effect: 'NoSchedule' }, taint, false],
    ['empty effect matches every effect', { key: 'foo', operator: 'Equal', value: 'bar' }, taint, true],
    ['key mismatch', { key: 'foo2', operator: 'Exists' }, taint, false],
    ['Equal with the same value', { key: 'foo', operator: 'Equal', value: 'bar', effect: 'NoExecute' }, taint, true],
    ['Equal with another value', { key: 'foo', operator: 'Equal', value: 'baz' }, taint, false],
    ['an empty operator means Equal', { key: 'foo', value: 'bar' }, taint, true],
    ['an empty operator with another value', { key: 'foo', value: 'baz' }, taint, false],
    ['Exists ignores the value', { key: 'foo', operator: 'Exists' }, taint, true],
    ['an unknown operator matches nothing', { key: 'foo', operator: 'Gt', value: 'bar' }, taint, false],
    ['an empty value equals a missing one', { key: 'foo', operator: 'Equal' }, { key: 'foo', effect: 'NoSchedule' }, true],
  ];
  for (const [name, tol, tnt, want] of cases) t.is(toleratesTaint(tol, tnt), want, name);
  t.true(tolerationsTolerateTaint([{ key: 'a', operator: 'Exists' }, { operator: 'Exists', effect: 'NoExecute' }], taint));
  t.false(tolerationsTolerateTaint(undefined, taint));
  const taints: Taint[] = [
    { key: 'a', effect: 'PreferNoSchedule' },
    { key: 'b', effect: 'NoSchedule' },
  ];
  t.deepEqual(findUntoleratedTaint(taints, [], (x) => x.effect !== 'PreferNoSchedule'), taints[1]);
  t.is(findUntoleratedTaint(taints, [{ operator: 'Exists' }]), undefined);
});

test('owner references: the controller ref, isControlledBy, newControllerRef', (t) => {
  const owner = { metadata: { name: 'rs', uid: 'u1' } };
  const ref = newControllerRef(owner, { apiVersion: 'apps/v1', kind: 'ReplicaSet' });
  t.deepEqual(ref, { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true, blockOwnerDeletion: true });
  const pod = { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'u0' }, ref] } };
  t.is(controllerOf(pod), ref);
  t.true(isControlledBy(pod, owner));
  t.false(isControlledBy(pod, { metadata: { uid: 'u0' } }));
  t.is(controllerOf({ metadata: {} }), undefined);
  t.throws(() => newControllerRef({ metadata: { name: 'x' } }, { apiVersion: 'v1', kind: 'Pod' }), { instanceOf: OwnerRefError });
});

test('conditions: lastTransitionTime moves only when the status changes', (t) => {
  const t0 = Date.UTC(2024, 0, 2, 3, 4, 5);
  let conds = setCondition<PodCondition>([], { type: 'Ready', status: 'False', reason: 'Starting' }, t0);
  t.deepEqual(conds, [{ type: 'Ready', status: 'False', reason: 'Starting', lastTransitionTime: '2024-01-02T03:04:05Z' }]);
  conds = setCondition(conds, { type: 'Ready', status: 'False', reason: 'StillStarting' }, t0 + 60_000);
  t.is(getCondition(conds, 'Ready')!.lastTransitionTime, '2024-01-02T03:04:05Z');
  t.is(getCondition(conds, 'Ready')!.reason, 'StillStarting');
  conds = setCondition(conds, { type: 'Ready', status: 'True' }, t0 + 120_000);
  t.is(getCondition(conds, 'Ready')!.lastTransitionTime, '2024-01-02T03:06:05Z');
  conds = setCondition(conds, { type: 'Available', status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z' }, t0);
  t.deepEqual(conds.map((c) => [c.type, c.lastTransitionTime]), [
    ['Ready', '2024-01-02T03:06:05Z'],
    ['Available', '2020-01-01T00:00:00Z'],
  ]);
});

test('Time is RFC 3339 in whole seconds, MicroTime with six digits; parse back', (t) => {
  t.is(formatTime(0), '1970-01-01T00:00:00Z');
  t.is(formatTime(Date.UTC(2024, 1, 29, 23, 59, 59, 999)), '2024-02-29T23:59:59Z');
  t.is(formatMicroTime(Date.UTC(2024, 0, 2, 3, 4, 5, 123)), '2024-01-02T03:04:05.123000Z');
  t.is(formatMicroTime(Date.UTC(2024, 0, 2, 3, 4, 5, 123), 456), '2024-01-02T03:04:05.123456Z');
  t.is(parseTime('2024-01-02T03:04:05Z'), Date.UTC(2024, 0, 2, 3, 4, 5));
  t.is(parseTime('2024-01-02T04:04:05+01:00'), Date.UTC(2024, 0, 2, 3, 4, 5));
  t.is(parseTime('2024-01-02T03:04:05.123456Z'), Date.UTC(2024, 0, 2, 3, 4, 5, 123));
  t.is(parseTime('yesterday'), undefined);
  t.is(parseTime(undefined), undefined);
});

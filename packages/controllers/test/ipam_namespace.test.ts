import test from 'ava';
import { CidrSet, DEFAULT_CLUSTER_CIDR, DEFAULT_RESERVED_CIDRS, CidrError } from '../src/ipam/cidr_set.js';
import { reconcileNodeCidr, recoverAllocations } from '../src/ipam/reconcile.js';
import { reconcileNamespace } from '../src/namespace/reconcile.js';
import { R } from '../src/types.js';
import { objectOf, type Obj } from './helpers/world.js';

const node = (name: string, cidr?: string): Obj => ({ metadata: { name, resourceVersion: '1' }, spec: cidr ? { podCIDR: cidr, podCIDRs: [cidr] } : {} });

test('allocates /24s from 10.213.0.0/16 skipping 10.213.0.0/24 and 10.213.200.0/24 and above; never twice', (t) => {
  const set = new CidrSet(DEFAULT_CLUSTER_CIDR, 24, DEFAULT_RESERVED_CIDRS);
  t.is(set.allocateNext('a'), '10.213.1.0/24');
  t.is(set.allocateNext('b'), '10.213.2.0/24');
  t.is(set.allocateNext('a'), '10.213.1.0/24', 'same owner, same CIDR');
  const seen = new Set<string>(['10.213.1.0/24', '10.213.2.0/24']);
  for (let i = 3; i < 200; i++) {
    const c = set.allocateNext(`n${i}`);
    t.false(seen.has(c));
    seen.add(c);
  }
  t.true(seen.has('10.213.199.0/24'));
  t.throws(() => set.allocateNext('overflow'), { instanceOf: CidrError, message: /no free pod CIDR/ });
  set.release('10.213.57.0/24', 'n57');
  t.is(set.allocateNext('again'), '10.213.57.0/24');
});

test('recovers allocations from existing nodes at start and reports duplicates and strays', (t) => {
  const set = new CidrSet(DEFAULT_CLUSTER_CIDR, 24, DEFAULT_RESERVED_CIDRS);
  const problems = recoverAllocations(set, [node('a', '10.213.1.0/24'), node('b', '10.213.3.0/24'), node('dup', '10.213.3.0/24'), node('stray', '10.99.0.0/24')]);
  t.deepEqual(problems.map((p) => [p.node, p.reason]), [['dup', 'taken'], ['stray', 'out-of-range']]);
  const [upd] = reconcileNodeCidr(set, node('c'));
  t.deepEqual(objectOf(upd).spec, { podCIDR: '10.213.2.0/24', podCIDRs: ['10.213.2.0/24'] });
  t.is(objectOf(upd).metadata.resourceVersion, '1');
  t.deepEqual(reconcileNodeCidr(set, node('a', '10.213.1.0/24')), []);
  const [upd2] = reconcileNodeCidr(set, node('d'));
  t.is(objectOf(upd2).spec.podCIDR, '10.213.4.0/24');
});

test('other mask sizes and bad input', (t) => {
  const set = new CidrSet('10.0.0.0/22', 24);
  t.deepEqual(['a', 'b', 'c', 'd'].map((n) => set.allocateNext(n)), ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24']);
  t.throws(() => new CidrSet('10.0.0.0/24', 16), { message: /does not fit/ });
  t.throws(() => new CidrSet('10.0.0.300/16', 24), { message: /invalid IPv4/ });
  const s26 = new CidrSet('10.1.0.0/24', 26, ['10.1.0.0/26']);
  t.is(s26.allocateNext('x'), '10.1.0.64/26');
});

test('namespace: deletes what is left, then removes the kubernetes finalizer', (t) => {
  const ns: Obj = { metadata: { name: 'team', deletionTimestamp: '2024-01-01T00:00:00Z', resourceVersion: '3' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Terminating' } };
  const content = [{ ref: R.pods, items: [{ metadata: { name: 'p', namespace: 'team', uid: 'u1' } }, { metadata: { name: 'q', namespace: 'team', uid: 'u2', deletionTimestamp: 'x' } }] }];
  const a = reconcileNamespace({ ns, contents: content });
  t.deepEqual(a.actions.map((x) => x.verb), ['delete']);
  t.is(a.remaining, 2);
  const b = reconcileNamespace({ ns, contents: [] });
  t.is(b.actions.length, 1);
  t.is(b.actions[0]!.verb, 'finalize');
  t.deepEqual(objectOf(b.actions[0]).spec.finalizers, []);
  t.deepEqual(reconcileNamespace({ ns: { ...ns, metadata: { name: 'team' } }, contents: content }).actions, [], 'not terminating');
});

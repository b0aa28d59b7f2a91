import test from 'ava';
import type { EtcdError } from '../../src/api/etcd_error.js';
import { FOREVER_TTL, Lessor } from '../../src/mvcc/index.js';
import { b, keys, setup } from './helpers.js';

test('grant: min TTL, duplicate, too large; revoke unknown', async (t) => {
  const s = await setup(t, { minLeaseTtl: 5 });
  const g = await s.store.leaseGrant(s.index(), 1, 2);
  t.is(g.ttl, 5, 'raised to the minimum TTL');
  t.is((await s.store.leaseGrant(s.index(), 2, 60)).ttl, 60);
  let err = await t.throwsAsync(s.store.leaseGrant(s.index(), 1, 10));
  t.is((err as EtcdError).etcdName, 'LeaseExist');
  err = await t.throwsAsync(s.store.leaseGrant(s.index(), 3, 9_000_000_001));
  t.is((err as EtcdError).etcdName, 'LeaseTTLTooLarge');
  err = await t.throwsAsync(s.store.leaseRevoke(s.index(), 42));
  t.is((err as EtcdError).etcdName, 'LeaseNotFound');
  t.deepEqual(s.store.leases(), [1, 2]);
  t.is(s.store.revision, 0, 'lease operations without keys do not change the revision');
});

test('keys attach by put with a lease, detach when overwritten or deleted; revoke deletes attached keys in one revision', async (t) => {
  const s = await setup(t);
  await s.store.leaseGrant(s.index(), 10, 60);
  await s.store.leaseGrant(s.index(), 11, 60);
  const err = await t.throwsAsync(s.put('x', '1', 12));
  t.is((err as EtcdError).etcdName, 'LeaseNotFound');
  t.is(err!.message, 'etcdserver: requested lease not found');
  await s.put('c', '1', 10); // 1
  await s.put('a', '1', 10); // 2
  await s.put('b', '1', 10); // 3
  await s.put('d', '1', 11); // 4
  await s.put('b', '2'); // 5: detached from 10
  await s.put('d', '2', 10); // 6: moved from 11 to 10
  await s.del('c'); // 7: detached
  t.deepEqual(keys(s.store.timeToLive(10, 0).keys.map((key) => ({ key }))), ['a', 'd']);
  t.deepEqual(s.store.timeToLive(11, 0).keys, []);
  const r = await s.store.leaseRevoke(s.index(), 10);
  t.is(r.header.revision, 8);
  t.deepEqual(keys((await s.store.range({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) })).kvs), ['b']);
  t.deepEqual(s.store.leases(), [11]);
  // both deletes are in revision 8
  const hist = await s.store.range({ key: b('a'), rangeEnd: b('z'), revision: 7 });
  t.deepEqual(keys(hist.kvs), ['a', 'b', 'd']);
  // revoking an empty lease does not bump the revision
  const r2 = await s.store.leaseRevoke(s.index(), 11);
  t.is(r2.header.revision, 8);
  // attachments survive reopen
  await s.store.leaseGrant(s.index(), 12, 60);
  await s.put('e', '1', 12);
  await s.reopen();
  t.deepEqual(s.store.timeToLive(12, 0).keys, [b('e')]);
  await s.store.leaseRevoke(s.index(), 12);
  t.deepEqual((await s.store.range({ key: b('e') })).kvs, []);
});

test('lessor deadlines with an injected clock: promote, renew, expired, timeToLive, demote', (t) => {
  let now = 1_000_000;
  const l = new Lessor({ minTtl: 2, clock: () => now, revokeRetryMs: 3000 });
  l.add(1, l.checkGrant(1, 10));
  l.add(2, l.checkGrant(2, 1));
  t.is(l.ttlOf(2), 2);
  t.deepEqual(l.expired(now + 1e9), [], 'followers never expire leases');
  t.is(l.timeToLive(1, now).ttl, FOREVER_TTL);
  t.throws(() => l.renew(1, now), { message: 'etcdserver: not leader' });
  l.promote(now);
  t.is(l.timeToLive(1, now + 2500).ttl, 7);
  t.is(l.timeToLive(1, now).grantedTTL, 10);
  l.add(3, l.checkGrant(3, 6)); // granted while primary: deadline from the clock
  now += 1999;
  t.deepEqual(l.expired(now), []);
  now += 1;
  t.deepEqual(l.expired(now), [2]);
  t.deepEqual(l.expired(now + 10), [], 'reported once per retry interval');
  t.deepEqual(l.expired(now + 3000), [2]);
  t.throws(() => l.renew(2, now), { message: 'etcdserver: requested lease not found' });
  t.is(l.renew(1, now), 10);
  now += 5000;
  t.deepEqual(l.expired(now), [3], "lease 2 was reported 2 s ago");
  t.deepEqual(l.expired(now + 1000), [2]);
  t.is(l.timeToLive(1, now).ttl, 5);
  l.remove(2);
  l.remove(3);
  l.demote();
  t.deepEqual(l.expired(now + 1e9), []);
  l.promote(now, 1000);
  t.deepEqual(l.expired(now + 10_999), []);
  t.deepEqual(l.expired(now + 11_000), [1]);
  t.throws(() => l.timeToLive(99, now), { message: 'etcdserver: requested lease not found' });
});

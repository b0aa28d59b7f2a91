// The address pool: lowest free address, network/broadcast never given, requested addresses
// honoured or refused with a coded error, release and recovery.
import test from 'ava';
import { AddressPool } from '../src/address_pool.js';

test('hands out the lowest free address, never the network or broadcast one; release makes it free again', (t) => {
  const p = new AddressPool('10.213.250.0/30');
  t.is(p.size, 2);
  t.is(p.allocate('a/x'), '10.213.250.1');
  t.is(p.allocate('a/x'), '10.213.250.1', 'idempotent');
  t.is(p.allocate('a/y'), '10.213.250.2');
  t.throws(() => p.allocate('a/z'), { code: 'AddressPoolExhausted', message: /no free address left in the address pool 10.213.250.0\/30/ });
  p.release('a/x');
  t.is(p.allocate('a/z'), '10.213.250.1');
});

test('a requested address must be in the pool and free (or already the owner\'s); a changed request moves the owner', (t) => {
  const p = new AddressPool('10.213.250.0/24');
  t.is(p.allocate('a/x', '10.213.250.77'), '10.213.250.77');
  t.throws(() => p.allocate('a/y', '10.213.250.77'), { code: 'LoadBalancerIPUnavailable', message: 'requested loadBalancerIP 10.213.250.77 is already in use by service a/x' });
  t.throws(() => p.allocate('a/y', '10.9.9.9'), { code: 'LoadBalancerIPUnavailable', message: 'requested loadBalancerIP 10.9.9.9 is not in the address pool 10.213.250.0/24' });
  t.throws(() => p.allocate('a/y', '10.213.250.255'), { code: 'LoadBalancerIPUnavailable' }, 'broadcast is not in the usable range');
  t.is(p.allocate('a/x', '10.213.250.78'), '10.213.250.78');
  t.is(p.ownerOf('10.213.250.77'), undefined, 'the old address is free');
});

test('recover marks addresses found in status; conflicts and outsiders are refused', (t) => {
  const p = new AddressPool('10.213.250.0/24');
  t.true(p.recover('a/x', '10.213.250.1'));
  t.false(p.recover('a/y', '10.213.250.1'));
  t.false(p.recover('a/y', '192.0.2.1'));
  t.is(p.allocate('a/y'), '10.213.250.2');
  t.is(p.used, 2);
});

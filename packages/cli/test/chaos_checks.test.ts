// The chaos suite's pure checks: lostWrites (an acknowledged write is lost only when no write that
// may have taken effect after it explains the final value), writesBetween (a fault's window),
// parseFaults (--faults) and isolationRules (the iptables-restore input partitioning a host).
import test from 'ava';
import { lostWrites, writesBetween, type WriteAttempt } from '../src/chaos/api_workload.js';
import { parseFaults, FAULT_KINDS } from '../src/chaos/faults.js';
import { CHAOS_CHAIN, isolationRules } from '../src/chaos/lab_cluster.js';

const acked = (value: string, call: number, ret: number): WriteAttempt => ({ value, call, ret, acked: true });
const unknown = (value: string, call: number): WriteAttempt => ({ value, call, acked: false });
const failed = (value: string, call: number): WriteAttempt => ({ value, call, acked: false, failed: true });

test('the last acknowledged value as final: nothing lost', (t) => {
  const attempted = new Map([['a', [acked('v1', 0, 5), acked('v2', 10, 15)]]]);
  t.deepEqual(lostWrites(attempted, new Map([['a', 'v2']])), []);
});

test('a final value from an unknown-outcome write called later, or an acknowledged one returning after the last was called: nothing lost', (t) => {
  t.deepEqual(lostWrites(new Map([['a', [acked('v1', 0, 5), unknown('v2', 10)]]]), new Map([['a', 'v2']])), []);
  // v0 called before v1 but overlapping it (returned after v1 was called): it may have taken effect last.
  t.deepEqual(lostWrites(new Map([['a', [acked('v0', 0, 20), acked('v1', 10, 15)]]]), new Map([['a', 'v0']])), []);
  // An unknown-outcome write called before the acknowledged one may still take effect after it.
  t.deepEqual(lostWrites(new Map([['a', [unknown('v0', 0), acked('v1', 10, 15)]]]), new Map([['a', 'v0']])), []);
});

test('an older acknowledged value, a refused write\'s value or an absent object as final: the last acknowledged write is lost', (t) => {
  t.deepEqual(lostWrites(new Map([['a', [acked('v1', 0, 5), acked('v2', 10, 15)]]]), new Map([['a', 'v1']])), [{ name: 'a', value: 'v2', call: 10, final: 'v1' }]);
  t.deepEqual(lostWrites(new Map([['a', [acked('v1', 0, 5), failed('v2', 10)]]]), new Map([['a', 'v2']])), [{ name: 'a', value: 'v1', call: 0, final: 'v2' }]);
  t.deepEqual(lostWrites(new Map([['a', [acked('v1', 0, 5)]]]), new Map()), [{ name: 'a', value: 'v1', call: 0, final: undefined }]);
});

test('names without an acknowledged write are not checked', (t) => {
  t.deepEqual(lostWrites(new Map([['a', [unknown('v1', 0), failed('v2', 3)]]]), new Map([['a', undefined]])), []);
});

test('writesBetween counts writes called in [from, to) by outcome, and the lost ones of the window', (t) => {
  const attempted = new Map([['a', [acked('v1', 0, 5), unknown('v2', 10), failed('v3', 12)]], ['b', [acked('w1', 11, 14), acked('w2', 20, 21)]]]);
  t.deepEqual(writesBetween(attempted, [{ name: 'b', value: 'w1', call: 11, final: undefined }], 10, 20), { acked: 1, unknown: 1, lost: 1 });
  t.deepEqual(writesBetween(attempted, [], 0, 100), { acked: 3, unknown: 1, lost: 0 });
});

test('parseFaults: known kinds in order, repeats kept, blanks ignored; unknown or none refused', (t) => {
  t.deepEqual(parseFaults('store-leader, pause,,store-leader'), ['store-leader', 'pause', 'store-leader']);
  t.deepEqual(parseFaults(FAULT_KINDS.join(',')), [...FAULT_KINDS]);
  t.throws(() => parseFaults('store-leader,reboot'), { message: /unknown fault "reboot" \(known: store-leader, apiserver, controller-leader, scheduler-leader, partition, pause, worker\)/ });
  t.throws(() => parseFaults(' , '), { message: /no fault given/ });
});

test('isolationRules: a chain of its own that returns loopback and drops the rest, jumped to first from INPUT, OUTPUT and FORWARD', (t) => {
  t.is(CHAOS_CHAIN, 'MKUBE-CHAOS');
  t.deepEqual(isolationRules().split('\n'), [
    '*filter',
    ':MKUBE-CHAOS - [0:0]',
    '-A MKUBE-CHAOS -i lo -j RETURN',
    '-A MKUBE-CHAOS -o lo -j RETURN',
    '-A MKUBE-CHAOS -j DROP',
    '-I INPUT 1 -j MKUBE-CHAOS',
    '-I OUTPUT 1 -j MKUBE-CHAOS',
    '-I FORWARD 1 -j MKUBE-CHAOS',
    'COMMIT',
    '',
  ]);
});

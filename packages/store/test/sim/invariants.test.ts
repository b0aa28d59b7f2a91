// The simulator's safety checks must fire on the violations they name.
import test from 'ava';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { InvariantViolation, Invariants, type LogView } from './invariants.js';

const enc = new TextEncoder();
const e = (index: number, term: number, data = `${index}@${term}`): Entry => ({ index, term, type: EntryType.Normal, data: enc.encode(data) });

/** A log view over entries 1..n (no compaction). */
function view(entries: Entry[], snapshotIndex = 0): LogView {
  const byIndex = new Map(entries.map((x) => [x.index, x]));
  return {
    snapshotIndex,
    lastIndex: entries.length === 0 ? snapshotIndex : entries[entries.length - 1]!.index,
    term: (i) => (i === snapshotIndex ? 0 : byIndex.get(i)!.term),
    entry: (i) => byIndex.get(i)!,
  };
}

const violation = (t: import('ava').ExecutionContext, fn: () => void, invariant: string) => {
  const err = t.throws(fn, { instanceOf: InvariantViolation });
  t.is((err as InvariantViolation).invariant, invariant);
};

test('election safety: two leaders in one term', (t) => {
  const inv = new Invariants();
  inv.observeLeader(1, 3, view([]));
  inv.observeLeader(1, 3, view([])); // the same leader again is fine
  inv.observeLeader(2, 4, view([]));
  violation(t, () => inv.observeLeader(3, 3, view([])), 'election safety');
  t.is(inv.elections, 2);
});

test('log matching: same index and term, different entry', (t) => {
  const inv = new Invariants();
  inv.observePersisted(1, [e(1, 1), e(2, 1)], (i) => (i === 0 ? 0 : 1));
  inv.observePersisted(2, [e(1, 1), e(2, 1)], (i) => (i === 0 ? 0 : 1));
  violation(t, () => inv.observePersisted(3, [e(2, 1, 'other')], () => 1), 'log matching');
});

test('log matching: same index and term after different predecessors', (t) => {
  const inv = new Invariants();
  inv.observePersisted(1, [e(3, 2)], () => 1);
  violation(t, () => inv.observePersisted(2, [e(3, 2)], () => 2), 'log matching');
});

test('log matching over whole logs', (t) => {
  const inv = new Invariants();
  const a = view([e(1, 1), e(2, 1), e(3, 2)]);
  const b = view([e(1, 1), e(2, 1), e(3, 3)]);
  inv.checkLogsMatch(new Map([[1, a], [2, b]])); // diverging tails are fine
  const c = view([e(1, 1), e(2, 1, 'forged'), e(3, 2)]);
  violation(t, () => inv.checkLogsMatch(new Map([[1, a], [3, c]])), 'log matching');
});

test('state machine safety: different entries applied at one index', (t) => {
  const inv = new Invariants();
  inv.observeApplied(1, e(1, 1), 1);
  inv.observeApplied(2, e(1, 1), 1);
  violation(t, () => inv.observeApplied(3, e(1, 2), 2), 'state machine safety');
  violation(t, () => inv.observeSnapshotInstalled(3, 1, 5), 'state machine safety');
});

test('leader completeness: a later leader lacks a committed entry', (t) => {
  const inv = new Invariants();
  inv.observeApplied(1, e(1, 1), 1);
  inv.observeApplied(1, e(2, 1), 1);
  inv.observeLeader(2, 2, view([e(1, 1), e(2, 1)])); // has both
  violation(t, () => inv.observeLeader(3, 3, view([e(1, 1)])), 'leader completeness');
  violation(t, () => inv.observeLeader(3, 4, view([e(1, 1), e(2, 3)])), 'leader completeness');
  // Compacted away behind a snapshot counts as present.
  inv.observeLeader(4, 5, view([], 2));
});

test('leader completeness: not required of leaders of terms that did not follow the commit', (t) => {
  const inv = new Invariants();
  inv.observeApplied(1, e(5, 4), 6); // some member was already at term 6
  inv.observeLeader(2, 5, view([e(1, 1)])); // a stale-term leader elected late may lack it
  violation(t, () => inv.observeLeader(3, 7, view([e(1, 1)])), 'leader completeness');
});

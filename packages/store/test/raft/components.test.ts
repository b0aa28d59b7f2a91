import test from 'ava';
import { Inflights } from '../../src/raft/inflights.js';
import { RaftLog } from '../../src/raft/log.js';
import { Progress, ProgressState } from '../../src/raft/progress.js';
import { majorityCommitted, VoteResult, voteResult } from '../../src/raft/quorum.js';
import { ReadOnly } from '../../src/raft/read_only.js';
import { Unstable } from '../../src/raft/unstable.js';
import { MemoryStorage, type Message, MessageType } from '../../src/raft/index.js';
import { enc, entry } from './harness.js';

const terms = (es: { term: number }[]) => es.map((e) => e.term);

test('MemoryStorage: append truncates conflicts, entries/term/first/last, compaction errors', (t) => {
  const s = new MemoryStorage();
  t.is(s.firstIndex(), 1);
  t.is(s.lastIndex(), 0);
  s.append([entry(1, 1), entry(2, 1), entry(3, 2)]);
  s.append([entry(3, 3), entry(4, 3)]);
  t.deepEqual(terms(s.entries(1, 5, Infinity)), [1, 1, 3, 3]);
  t.is(s.term(0), 0);
  s.createSnapshot(2, { voters: [1], learners: [] }, enc('st'));
  s.compact(2);
  t.is(s.firstIndex(), 3);
  t.is(s.term(2), 1, 'term of the compaction point is kept');
  t.throws(() => s.entries(2, 4, Infinity), { code: 'RAFT_COMPACTED' } as never);
  t.throws(() => s.term(1), { code: 'RAFT_COMPACTED' } as never);
  t.throws(() => s.entries(3, 6, Infinity), { code: 'RAFT_UNAVAILABLE' } as never);
  t.throws(() => s.append([entry(9, 3)]), { code: 'RAFT_APPEND_GAP' } as never);
  s.append([entry(1, 1), entry(2, 1), entry(3, 3), entry(4, 3), entry(5, 4)]);
  t.deepEqual(terms(s.entries(3, 6, Infinity)), [3, 3, 4]);
  // Size limit: at least one entry.
  t.is(s.entries(3, 6, 0).length, 1);
  t.is(s.entries(3, 6, 2 * 16).length, 2);
  t.throws(() => s.createSnapshot(1, { voters: [], learners: [] }, enc('')), { code: 'RAFT_SNAP_OUT_OF_DATE' } as never);
  s.applySnapshot({ metadata: { index: 10, term: 5, confState: { voters: [1, 2], learners: [] } }, data: enc('x') });
  t.is(s.firstIndex(), 11);
  t.is(s.lastIndex(), 10);
  t.deepEqual(s.initialState().confState.voters, [1, 2]);
  t.throws(() => s.applySnapshot({ metadata: { index: 9, term: 5, confState: { voters: [1], learners: [] } }, data: enc('') }), {
    code: 'RAFT_SNAP_OUT_OF_DATE',
  } as never);
});

test('Unstable: truncateAndAppend, stableTo with term check, restore', (t) => {
  const u = new Unstable(5);
  u.truncateAndAppend([entry(5, 1), entry(6, 1)]);
  u.truncateAndAppend([entry(7, 1)]);
  t.is(u.maybeLastIndex(), 7);
  u.truncateAndAppend([entry(6, 2)]);
  t.deepEqual(terms(u.entries), [1, 2]);
  u.stableTo(6, 1); // wrong term: ignored
  t.is(u.offset, 5);
  u.stableTo(5, 1);
  t.is(u.offset, 6);
  t.deepEqual(terms(u.entries), [2]);
  u.truncateAndAppend([entry(4, 3)]);
  t.is(u.offset, 4);
  u.restore({ metadata: { index: 20, term: 4, confState: { voters: [], learners: [] } }, data: enc('') });
  t.is(u.maybeFirstIndex(), 21);
  t.is(u.maybeTerm(20), 4);
  t.is(u.maybeLastIndex(), 20);
});

test('RaftLog: findConflict, maybeAppend, commit rules, slice across storage and unstable', (t) => {
  const s = new MemoryStorage();
  s.append([entry(1, 1), entry(2, 2), entry(3, 3)]);
  const log = new RaftLog(s);
  t.is(log.lastIndex(), 3);
  t.is(log.findConflict([entry(1, 1), entry(2, 2)]), 0);
  t.is(log.findConflict([entry(2, 2), entry(3, 4)]), 3);
  t.is(log.findConflict([entry(3, 3), entry(4, 4)]), 4);
  t.is(log.maybeAppend(3, 2, 3, [entry(4, 4)]), undefined, 'prev term mismatch');
  t.is(log.maybeAppend(3, 3, 10, [entry(4, 4), entry(5, 4)]), 5);
  t.is(log.committed, 5, 'commit = min(leader commit, last new)');
  t.throws(() => log.maybeAppend(1, 1, 5, [entry(2, 9)]), { code: 'RAFT_COMMITTED_CONFLICT' } as never);
  t.deepEqual(terms(log.slice(2, 6, Infinity)), [2, 3, 4, 4]);
  t.deepEqual(terms(log.slice(2, 6, 16 * 3)), [2, 3, 4]);
  t.false(log.maybeCommit(5, 3), 'only the current term commits');
  t.true(log.isUpToDate(5, 4));
  t.false(log.isUpToDate(4, 4));
  t.true(log.isUpToDate(1, 5));
  const hint = log.findConflictByTerm(5, 3);
  t.deepEqual(hint, { index: 3, term: 3 });
  t.deepEqual(log.findConflictByTerm(5, 0), { index: 0, term: 0 });
  t.is(log.stableIndex(), 3);
  s.append(log.unstable.entries); // the application persists, then advance marks them stable
  log.stableTo(5, 4);
  t.is(log.stableIndex(), 5);
  t.is(log.lastIndex(), 5);
});

test('RaftLog: slice does not copy the whole log (reads only the requested range)', (t) => {
  const s = new MemoryStorage();
  const n = 200_000;
  const ents = [];
  for (let i = 1; i <= n; i++) ents.push(entry(i, 1, 'x'));
  s.append(ents);
  const log = new RaftLog(s);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) log.slice(n - 5, n + 1, Infinity);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.true(ms < 500, `${ms}ms`);
});

test('Inflights: a ring window, freeLE and freeFirstOne', (t) => {
  const f = new Inflights(3);
  f.add(1);
  f.add(3);
  f.add(5);
  t.true(f.full());
  t.throws(() => f.add(6));
  f.freeLE(3);
  t.is(f.length, 1);
  f.add(7);
  f.add(9);
  t.true(f.full());
  f.freeFirstOne();
  t.is(f.length, 2);
  f.freeLE(100);
  t.is(f.length, 0);
  f.freeLE(1);
  t.is(f.length, 0);
});

test('Progress: state transitions, maybeDecrTo, pausing', (t) => {
  const pr = new Progress(11, 2, false);
  t.is(pr.state, ProgressState.Probe);
  pr.sentEntries(1, 11);
  t.true(pr.isPaused(), 'probe sends one at a time');
  t.false(pr.maybeDecrTo(5, 3), 'stale rejection');
  t.true(pr.maybeDecrTo(10, 6));
  t.is(pr.next, 7);
  t.false(pr.isPaused());
  t.true(pr.maybeUpdate(8));
  pr.becomeReplicate();
  t.is(pr.next, 9);
  pr.sentEntries(2, 10);
  pr.sentEntries(2, 12);
  t.is(pr.next, 13);
  t.true(pr.isPaused(), 'window full');
  pr.inflights.freeLE(10);
  t.false(pr.isPaused());
  t.true(pr.maybeDecrTo(11, 9));
  t.is(pr.next, 9, 'replicate rejection: back to match+1');
  pr.becomeSnapshot(50);
  t.true(pr.isPaused());
  pr.becomeProbe();
  t.is(pr.next, 51, 'probe after snapshot starts after it');
});

test('quorum: majority commit index and vote tallies', (t) => {
  const m = new Map([
    [1, 5],
    [2, 3],
    [3, 9],
    [4, 1],
    [5, 3],
  ]);
  t.is(majorityCommitted([1, 2, 3, 4, 5], (id) => m.get(id)!), 3);
  t.is(majorityCommitted([1, 3], (id) => m.get(id)!), 5);
  t.is(majorityCommitted([], () => 0), Infinity);
  t.is(voteResult([1, 2, 3], new Map([[1, true]])), VoteResult.Pending);
  t.is(voteResult([1, 2, 3], new Map([[1, true], [2, true]])), VoteResult.Won);
  t.is(voteResult([1, 2, 3], new Map([[1, true], [2, false], [3, false]])), VoteResult.Lost);
  t.is(voteResult([1, 2, 3, 4], new Map([[1, true], [2, true], [3, false]])), VoteResult.Pending);
});

test('ReadOnly: advance releases all requests up to the acknowledged context', (t) => {
  const ro = new ReadOnly();
  const req = (c: string): Message => ({
    type: MessageType.ReadIndex, from: 1, to: 1, term: 0, logTerm: 0, index: 0, entries: [], commit: 0,
    reject: false, rejectHint: 0, context: enc(c),
  });
  ro.addRequest(5, req('a'));
  ro.addRequest(6, req('b'));
  ro.addRequest(7, req('c'));
  t.is(ro.recvAck(2, enc('b'))!.size, 1);
  t.is(ro.recvAck(2, enc('zz')), undefined);
  t.deepEqual(ro.advance(enc('b')).map((r) => r.index), [5, 6]);
  t.is(ro.size, 1);
  t.deepEqual([...ro.lastPendingRequestCtx()!], [...enc('c')]);
});

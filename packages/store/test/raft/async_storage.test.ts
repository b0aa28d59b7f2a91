// The asynchronous storage-write contract of RawNode (RaftConfig.asyncStorageWrites,
// after etcd-io/raft's AsyncStorageWrites): "persisted up to" (advanceAppend) and
// "applied up to" (advanceApply) are reported separately; committed entries are
// handed out only once persisted locally; the core's applied index is the state
// machine's, so an unapplied configuration change blocks campaigning and further
// configuration changes (etcd's "we might incorrectly count votes" case).
import test from 'ava';
import { newMessage } from '../../src/raft/message.js';
import {
  ConfChangeType,
  encodeConfChange,
  EntryType,
  MemoryStorage,
  MessageType,
  RawNode,
  StateRole,
  type Entry,
  type Ready,
} from '../../src/raft/index.js';
import { seededRandom } from './harness.js';

function node(id: number, storage: MemoryStorage, asyncStorageWrites = true): RawNode {
  return new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied: 0,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 0,
    checkQuorum: false,
    preVote: false,
    random: seededRandom(id),
    asyncStorageWrites,
  });
}

const addLearner4: Entry = { term: 1, index: 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array(0) }) };
const normal = (index: number): Entry => ({ term: 1, index, type: EntryType.Normal, data: new TextEncoder().encode(`v${index}`) });

/** Persists a Ready into the storage the core reads from (what the loop does before advanceAppend). */
function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
}

/** A follower of leader 1 at term 1 that received entries with a commit index covering them, in one message. */
function followerWithCommitted(entries: Entry[], asyncWrites = true): { n: RawNode; s: MemoryStorage } {
  const s = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
  const n = node(2, s, asyncWrites);
  n.step(newMessage({ type: MessageType.App, from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries, commit: entries[entries.length - 1]!.index }));
  return { n, s };
}

test('committed entries are handed out only once persisted (asynchronous writes), in the same Ready otherwise', (t) => {
  const sync = followerWithCommitted([normal(1), normal(2)], false).n.ready();
  t.deepEqual(sync.committedEntries.map((e) => e.index), [1, 2], 'synchronous contract: applied after this Ready is persisted');

  const { n, s } = followerWithCommitted([normal(1), normal(2)]);
  const rd = n.ready();
  t.deepEqual(rd.entries.map((e) => e.index), [1, 2]);
  t.deepEqual(rd.committedEntries, [], 'not durable here yet: nothing to apply');
  t.false(n.hasReady() && n.ready().committedEntries.length > 0);
  persist(s, rd);
  n.advanceAppend(rd);
  t.true(n.hasReady());
  const rd2 = n.ready();
  t.deepEqual(rd2.committedEntries.map((e) => e.index), [1, 2]);
  t.is(n.status().applied, 0, 'handed out is not applied');
  n.advanceApply(rd2.committedEntries);
  t.is(n.status().applied, 2);
});

test('applied up to is reported by the loop: a follower does not campaign before a committed conf change is applied', (t) => {
  const { n, s } = followerWithCommitted([addLearner4, normal(2)]);
  const rd = n.ready();
  persist(s, rd);
  n.advanceAppend(rd);
  const rd2 = n.ready();
  t.deepEqual(rd2.committedEntries.map((e) => e.index), [1, 2]);
  // The apply is still queued behind the loop (as member.ts's apply chain): the core must not
  // count itself caught up. Hup is refused, so no votes are asked for or counted under the old config.
  n.campaign();
  t.is(n.status().role, StateRole.Follower);
  t.false(n.hasReady() && n.ready().messages.some((m) => m.type === MessageType.Vote || m.type === MessageType.PreVote));
  // Once the conf change is applied (entry 2 still queued), nothing unapplied holds a conf change.
  n.applyConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array(0) });
  n.advanceApply(rd2.committedEntries.slice(0, 1));
  t.is(n.status().applied, 1);
  n.campaign();
  t.is(n.status().role, StateRole.Candidate);
  const votes = n.ready().messages.filter((m) => m.type === MessageType.Vote);
  t.deepEqual(votes.map((m) => m.to).sort(), [1, 3], 'the learner added by the applied change gets no vote request');
});

test('a leader accepts a second conf change only once the first is applied, not merely committed', (t) => {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  const n = node(1, s);
  n.campaign();
  const drain = (): Entry[] => {
    const applied: Entry[] = [];
    while (n.hasReady()) {
      const rd = n.ready();
      persist(s, rd);
      n.advanceAppend(rd);
      applied.push(...rd.committedEntries);
    }
    return applied;
  };
  const empty = drain();
  n.advanceApply(empty);
  t.is(n.status().role, StateRole.Leader);
  n.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 2, context: new Uint8Array(0) });
  const committed = drain();
  t.true(committed.some((e) => e.type === EntryType.ConfChange));
  t.is(n.status().commit, committed[committed.length - 1]!.index, 'committed (single voter)');
  t.throws(() => n.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 3, context: new Uint8Array(0) }), { code: 'RAFT_PROPOSAL_DROPPED' } as never);
  n.applyConfChange({ type: ConfChangeType.AddLearner, nodeId: 2, context: new Uint8Array(0) });
  n.advanceApply(committed);
  t.notThrows(() => n.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 3, context: new Uint8Array(0) }));
});

test('the leader releases uncommitted size only on apply; reporting entries already applied is a no-op', (t) => {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  const n = new RawNode({
    id: 1, electionTick: 10, heartbeatTick: 1, storage: s, applied: 0, maxSizePerMsg: 1 << 20, maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 64, checkQuorum: false, preVote: false, random: seededRandom(1), asyncStorageWrites: true,
  });
  n.campaign();
  const step = (): Entry[] => {
    const out: Entry[] = [];
    while (n.hasReady()) {
      const rd = n.ready();
      persist(s, rd);
      n.advanceAppend(rd);
      out.push(...rd.committedEntries);
    }
    return out;
  };
  n.advanceApply(step());
  const big = new Uint8Array(40);
  n.propose(big);
  const committed = step();
  t.is(committed.length, 1);
  // Committed and persisted but not applied: the 40 bytes still count against the 64-byte bound.
  t.throws(() => n.propose(big), { code: 'RAFT_PROPOSAL_DROPPED' } as never);
  n.advanceApply(committed);
  t.notThrows(() => n.propose(big));
  n.advanceApply(committed); // again: nothing changes, no throw
  t.is(n.status().applied, committed[0]!.index);
});

import test from 'ava';
import {
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
  EntryType,
  MessageType,
  StateRole,
} from '../../src/raft/index.js';
import { Network, cc, enc } from './harness.js';

test('conf change encoding round-trips and rejects garbage', (t) => {
  const c = { type: ConfChangeType.PromoteLearner, nodeId: 2 ** 52 + 7, context: enc('{"peerURLs":["http://x"]}') };
  const d = decodeConfChange(encodeConfChange(c));
  t.deepEqual({ ...d, context: [...d.context] }, { ...c, context: [...c.context] });
  t.throws(() => decodeConfChange(new Uint8Array([1, 2])), { code: 'RAFT_CONFCHANGE_DECODE' } as never);
  t.throws(() => decodeConfChange(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0, 1])), { code: 'RAFT_CONFCHANGE_DECODE' } as never);
  t.throws(() => decodeConfChange(new Uint8Array([1, 42, 0, 0, 0, 0, 0, 0, 0, 1])), { code: 'RAFT_CONFCHANGE_DECODE' } as never);
});

test('learner: receives the log, does not count in the quorum, never campaigns; promotion makes it a voter', (t) => {
  // Bootstrapped: the initial membership is in the log, so a joining node learns it by replay.
  const net = new Network([1, 2, 3], { bootstrap: true });
  net.campaign(1);
  net.propose(1, 'a');
  net.addNode(4); // empty, joins by being added
  net.raw(1).proposeConfChange(cc.addLearner(4));
  net.stabilize();
  t.deepEqual(net.node(1).confState, { voters: [1, 2, 3], learners: [4] });
  net.tick(2);
  t.deepEqual(net.appliedData(4), ['a']);
  t.deepEqual(net.node(4).confState, { voters: [1, 2, 3], learners: [4] });
  t.true(net.status(1).progress!.get(4)!.isLearner);

  // With 2 and 3 gone, the learner's ack does not commit anything.
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'b');
  t.is(net.status(4).commit, net.status(1).commit);
  t.deepEqual(net.appliedData(1), ['a']);
  // A learner never campaigns, and its votes do not elect anyone.
  net.tick(50, [4]);
  t.is(net.role(4), StateRole.Follower);
  net.heal();
  net.tick(2);
  t.deepEqual(net.appliedData(4), ['a', 'b']);

  net.raw(1).proposeConfChange(cc.promote(4));
  net.stabilize();
  t.deepEqual(net.node(4).confState, { voters: [1, 2, 3, 4], learners: [] });
  // Now 4 counts: with 2 and 3 down, 1+4 are only 2 of 4: no commit; with 3 back, commit.
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'c');
  t.deepEqual(net.appliedData(1), ['a', 'b']);
  net.heal();
  net.isolate(2);
  net.tick(2, [1, 3, 4]);
  t.deepEqual(net.appliedData(1), ['a', 'b', 'c']);
  t.deepEqual(net.appliedData(4), ['a', 'b', 'c']);
  // A promoted learner can become leader.
  net.heal();
  net.raw(1).transferLeader(4);
  net.stabilize();
  t.is(net.role(4), StateRole.Leader);
});

test('AddNode: a new voter catches up (by snapshot when the log is compacted) and takes part in quorums', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  net.addNode(4);
  net.raw(1).proposeConfChange(cc.addNode(4));
  net.stabilize();
  net.tick(3);
  t.deepEqual(net.appliedData(4), ['v0', 'v1', 'v2', 'v3', 'v4']);
  t.true(net.delivered.some((m) => m.type === MessageType.Snap && m.to === 4));
  t.deepEqual(net.node(4).confState.voters, [1, 2, 3, 4]);
  t.is(net.status(1).progress!.get(4)!.state, 'Replicate');
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'x');
  t.is(net.appliedData(1).length, 5, '2 of 4 is not a quorum');
});

test('only one conf change may be pending: a second local one is refused', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(2);
  net.isolate(3);
  net.raw(1).proposeConfChange(cc.addLearner(4));
  t.throws(() => net.raw(1).proposeConfChange(cc.addLearner(5)), { code: 'RAFT_PROPOSAL_DROPPED', message: /pending/ } as never);
  net.heal();
  net.stabilize();
  net.tick(1);
  net.raw(1).proposeConfChange(cc.addLearner(5));
  net.stabilize();
  t.deepEqual(net.node(1).confState.learners, [4, 5]);
});

test('a forwarded conf change while one is pending becomes an empty normal entry', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const holdResp = net.addFilter((m) => m.type === MessageType.AppResp);
  net.raw(1).proposeConfChange(cc.addLearner(4));
  net.stabilize();
  net.raw(2).proposeConfChange(cc.addLearner(5));
  net.stabilize();
  holdResp();
  net.tick(2);
  const ents = net.storedEntries(1);
  t.deepEqual(
    ents.map((e) => [e.type, e.data.byteLength > 0]),
    [
      [EntryType.Normal, false],
      [EntryType.ConfChange, true],
      [EntryType.Normal, false],
    ],
  );
  t.deepEqual(net.node(1).confState.learners, [4]);
});

test('a new leader refuses a conf change while its log may hold an unapplied one', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  // Leader's pendingConfIndex starts at its last index on election: until its no-op is applied, refuse.
  net.raw(1).transferLeader(2);
  net.stabilize();
  const r2 = net.raw(2);
  t.is(net.role(2), StateRole.Leader);
  r2.proposeConfChange(cc.addLearner(9)); // the no-op of term 2 is applied by now
  net.stabilize();
  t.deepEqual(net.node(3).confState.learners, [9]);
});

test('removing a follower: it no longer receives entries and the quorum shrinks', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.raw(1).proposeConfChange(cc.remove(3));
  net.stabilize();
  t.deepEqual(net.node(1).confState.voters, [1, 2]);
  t.false(net.status(1).progress!.has(3));
  const before = net.delivered.length;
  net.propose(1, 'x');
  net.tick(3, [1, 2]);
  t.false(net.delivered.slice(before).some((m) => m.from === 1 && m.to === 3), 'the leader no longer talks to 3');
  t.deepEqual(net.appliedData(2), ['x']);
  t.deepEqual(net.appliedData(3), []);
});

test('removal recomputes the quorum: commit advances when the removal is applied', (t) => {
  const net = new Network([1, 2, 3, 4], { maxSizePerMsg: 0 });
  net.campaign(1);
  net.isolate(4);
  const r1 = net.raw(1);
  r1.proposeConfChange(cc.remove(4));
  r1.propose(enc('x'));
  // 3 never receives x: under {1,2,3,4} x is on 1 and 2 only (not a quorum).
  net.addFilter((m) => m.type === MessageType.App && m.to === 3 && m.entries.some((e) => e.data.byteLength === 1));
  net.stabilize();
  // Once the removal is applied, {1,2} is a quorum of {1,2,3}: x commits without further messages.
  t.deepEqual(net.node(1).confState.voters, [1, 2, 3]);
  t.deepEqual(net.appliedData(1), ['x']);
});

test('a leader that removes itself steps down once the change is applied; the rest elect a new leader', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.raw(1).proposeConfChange(cc.remove(1));
  net.stabilize();
  t.is(net.role(1), StateRole.Follower);
  t.deepEqual(net.node(2).confState.voters, [2, 3]);
  net.isolate(1);
  let rounds = 0;
  while (net.leader() === 0 && rounds++ < 100) net.tick(1);
  const l = net.leader();
  t.true(l === 2 || l === 3);
  net.propose(l, 'b');
  t.deepEqual(net.appliedData(2), ['a', 'b']);
  t.deepEqual(net.appliedData(3), ['a', 'b']);
  // The removed node never campaigns.
  net.tick(50, [1]);
  t.is(net.role(1), StateRole.Follower);
  t.throws(() => net.raw(1).propose(enc('z')));
});

test('a conf change removing the last voter is ignored at apply time', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  const cs = net.raw(1).applyConfChange(cc.remove(1));
  t.deepEqual(cs, { voters: [1], learners: [] });
  t.is(net.role(1), StateRole.Leader);
});

test('a node does not campaign while a committed conf change is unapplied', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.raw(1).proposeConfChange(cc.addLearner(4));
  net.processReady(1);
  net.deliverQueued(); // App to 2, 3
  // Deliver the AppResps and the commit, but do not let 2 apply (its Ready is not processed).
  for (const id of [2, 3]) net.processReady(id);
  net.deliverQueued();
  net.processReady(1);
  net.deliverQueued(); // commit reaches 2 in the next App/heartbeat
  t.true(net.raw(2).status().commit > net.raw(2).status().applied);
  net.raw(2).campaign();
  t.is(net.raw(2).status().role, StateRole.Follower);
});

test('bootstrap: membership as committed log entries; survives restart; joining nodes replay it', (t) => {
  const net = new Network([1, 2, 3], { bootstrap: true });
  t.deepEqual(net.node(1).confState, { voters: [1, 2, 3], learners: [] });
  t.is(net.status(1).commit, 3);
  t.is(net.status(1).term, 1);
  net.campaign(2);
  t.is(net.role(2), StateRole.Leader);
  net.propose(2, 'a');
  net.restart(1);
  t.deepEqual(net.status(1).confState.voters, [], 'raft config is rebuilt by replaying committed conf changes');
  net.stabilize();
  t.deepEqual(net.node(1).confState.voters, [1, 2, 3]);
  t.deepEqual(net.appliedData(1), ['a']);
  net.addNode(4);
  net.raw(2).proposeConfChange(cc.addNode(4));
  net.stabilize();
  net.tick(2);
  t.deepEqual(net.node(4).confState.voters, [1, 2, 3, 4]);
  t.deepEqual(net.appliedData(4), ['a']);
  t.throws(() => net.raw(4).bootstrap({ voters: [4], learners: [] }), { code: 'RAFT_CONFIG_INVALID' } as never);
});

import test from 'ava';
import { MessageType, StateRole } from '../../src/raft/index.js';
import { Network, msg } from './harness.js';

test('PreVote: a partitioned node rejoining does not bump terms or disrupt the leader', (t) => {
  const net = new Network([1, 2, 3], { preVote: true });
  net.campaign(1);
  t.is(net.status(1).term, 1);
  net.isolate(3);
  // 3 times out many times while partitioned but never wins a pre-vote.
  net.tick(100, [3]);
  t.is(net.role(3), StateRole.PreCandidate);
  t.is(net.status(3).term, 1, 'pre-candidate does not increase its term');
  net.heal();
  net.tick(1, [1]); // leader heartbeat reaches 3
  t.is(net.role(1), StateRole.Leader);
  t.is(net.status(1).term, 1);
  t.is(net.role(3), StateRole.Follower);
  t.is(net.status(3).lead, 1);
});

test('without PreVote a rejoining partitioned node forces a new election with a higher term', (t) => {
  const net = new Network([1, 2, 3], { preVote: false });
  net.campaign(1);
  net.isolate(3);
  net.tick(30, [3]);
  const t3 = net.status(3).term;
  t.true(t3 > 1);
  net.heal();
  // 3 times out again and campaigns at an even higher term: the leader is deposed.
  net.tick(20, [3]);
  t.true(net.status(1).term > t3);
  t.not(net.role(1), StateRole.Leader);
});

test('PreVote: a pre-candidate wins a pre-election then a real election', (t) => {
  const net = new Network([1, 2, 3], { preVote: true });
  net.raw(1).campaign();
  net.processReady(1);
  t.is(net.role(1), StateRole.PreCandidate);
  t.deepEqual(
    net.queue.map((m) => [m.type, m.term]),
    [
      [MessageType.PreVote, 1],
      [MessageType.PreVote, 1],
    ],
  );
  t.is(net.status(1).term, 0);
  net.stabilize();
  t.is(net.role(1), StateRole.Leader);
  t.is(net.status(1).term, 1);
  t.is(net.status(2).term, 1);
});

test('PreVote: granting a pre-vote does not change the voter term or vote', (t) => {
  const net = new Network([1, 2, 3], { preVote: true });
  const r = net.raw(2);
  r.step(msg({ type: MessageType.PreVote, from: 1, to: 2, term: 1 }));
  const rd = r.ready();
  t.deepEqual(rd.messages.map((m) => [m.type, m.reject, m.term]), [[MessageType.PreVoteResp, false, 1]]);
  t.is(net.status(2).term, 0);
  t.is(net.status(2).vote, 0);
  t.is(rd.hardState, undefined);
});

test('CheckQuorum: a leader that loses contact with a quorum steps down after an election timeout', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  net.tick(9, [1]);
  t.is(net.role(1), StateRole.Leader);
  net.tick(12, [1]);
  t.is(net.role(1), StateRole.Follower);
  t.is(net.status(1).lead, 0);
});

test('CheckQuorum: a leader with an active quorum keeps leading', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.isolate(3);
  net.tick(50, [1, 2]);
  t.is(net.role(1), StateRole.Leader);
});

test('CheckQuorum: followers in leader lease ignore a higher-term Vote', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  const r2 = net.raw(2);
  r2.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 5, logTerm: 1, index: 100 }));
  t.is(net.status(2).term, 1, 'in lease: term not bumped');
  t.false(r2.hasReady());
  // After the lease expires (no heartbeats for an election timeout) the vote is granted.
  for (let i = 0; i < 10; i++) r2.tick();
  net.processReady(2);
  r2.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 5, logTerm: 1, index: 100 }));
  const rd = r2.ready();
  t.is(net.status(2).term, 5);
  t.deepEqual(rd.messages.filter((m) => m.type === MessageType.VoteResp).map((m) => m.reject), [false]);
});

test('CheckQuorum: a transfer-triggered election bypasses the leader lease', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.raw(1).transferLeader(2);
  net.stabilize();
  t.is(net.role(2), StateRole.Leader);
  t.is(net.status(2).term, 2);
  t.is(net.status(1).lead, 2);
});

test('CheckQuorum + PreVote: a partitioned follower rejoins without disruption', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.isolate(2);
  net.tick(40);
  net.heal();
  net.tick(5);
  t.is(net.leader(), 1);
  t.is(net.status(1).term, 1);
  t.is(net.status(2).lead, 1);
});

test('a stale leader is told the newer term by App/Heartbeat responses and steps down (checkQuorum)', (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  // Elect 2 (after lease expiry on 2 and 3).
  net.tick(25, [2, 3]);
  const l = net.leader() === 1 ? [2, 3].find((id) => net.role(id) === StateRole.Leader) : net.leader();
  t.truthy(l);
  t.true(net.status(l!).term > 1);
  // Reconnect only the old leader's outgoing heartbeats path; the reply carries the new term.
  net.heal();
  const r1 = net.raw(1);
  if (net.role(1) === StateRole.Leader) {
    net.tick(1, [1]);
  }
  t.not(r1.status().role, StateRole.Leader);
  t.is(net.status(1).term, net.status(l!).term);
});

test('a stale-term message is answered with the current term only for App/Heartbeat when checkQuorum or preVote', (t) => {
  for (const [cq, pv, expect] of [
    [false, false, 0],
    [true, false, 1],
    [false, true, 1],
  ] as const) {
    const net = new Network([1, 2, 3], { checkQuorum: cq, preVote: pv });
    net.campaign(1);
    net.raw(1).transferLeader(2); // term 2
    net.stabilize();
    const r3 = net.raw(3);
    r3.step(msg({ type: MessageType.Heartbeat, from: 1, to: 3, term: 1 }));
    const out = r3.hasReady() ? r3.ready().messages : [];
    t.is(out.filter((m) => m.type === MessageType.AppResp && m.term === 2).length, expect, `cq=${cq} pv=${pv}`);
  }
});

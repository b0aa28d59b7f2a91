import test from 'ava';
import { MessageType, StateRole } from '../../src/raft/index.js';
import { Network, dec, enc, msg } from './harness.js';

test('ReadIndex on a single-node leader answers immediately with the commit index', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  net.propose(1, 'a');
  net.raw(1).readIndex(enc('r1'));
  const rd = net.raw(1).ready();
  t.deepEqual(rd.readStates.map((r) => [r.index, dec(r.requestCtx)]), [[2, 'r1']]);
});

test('ReadIndex on a leader needs a heartbeat quorum round carrying the request context', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  const r1 = net.raw(1);
  r1.readIndex(enc('req-1'));
  net.processReady(1);
  const hbs = net.queue.filter((m) => m.type === MessageType.Heartbeat);
  t.is(hbs.length, 2);
  t.true(hbs.every((m) => dec(m.context) === 'req-1'));
  t.deepEqual(net.node(1).readStates, []);
  // One follower's ack makes a quorum with the leader.
  net.queue = [];
  net.raw(2).step(hbs.find((m) => m.to === 2)!);
  net.processReady(2);
  const ack = net.queue.find((m) => m.type === MessageType.HeartbeatResp)!;
  t.is(dec(ack.context), 'req-1');
  r1.step(ack);
  net.processReady(1);
  t.deepEqual(net.node(1).readStates.map((r) => [r.index, dec(r.requestCtx)]), [[2, 'req-1']]);
});

test('ReadIndex without a quorum of acks is not answered', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(2);
  net.isolate(3);
  net.raw(1).readIndex(enc('x'));
  net.stabilize();
  net.tick(3, [1]);
  t.deepEqual(net.node(1).readStates, []);
});

test('ReadIndex on a follower is forwarded to the leader and answered to the follower', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.raw(3).readIndex(enc('f-read'));
  net.stabilize();
  t.deepEqual(net.node(3).readStates.map((r) => [r.index, dec(r.requestCtx)]), [[2, 'f-read']]);
  t.deepEqual(net.node(1).readStates, []);
  t.true(net.delivered.some((m) => m.type === MessageType.ReadIndexResp && m.to === 3 && m.index === 2));
});

test('ReadIndex is dropped without a leader; before the leader commits in its term it is kept and answered after', (t) => {
  const net = new Network([1, 2, 3]);
  net.raw(2).readIndex(enc('nolead'));
  t.false(net.raw(2).hasReady());
  // A fresh leader whose empty entry is not committed yet keeps reads (etcd-io/raft's pendingReadIndexMessages).
  const silence = net.addFilter((m) => m.type === MessageType.AppResp);
  net.campaign(1);
  t.is(net.role(1), StateRole.Leader);
  t.is(net.status(1).commit, 0);
  net.raw(1).readIndex(enc('early'));
  net.stabilize();
  t.deepEqual(net.node(1).readStates, []);
  silence();
  net.tick(2);
  net.raw(1).readIndex(enc('later'));
  net.stabilize();
  t.deepEqual(net.node(1).readStates.map((r) => dec(r.requestCtx)), ['early', 'later']);
});

test('several pending reads are all served by the ack of the latest context', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const drop = net.addFilter((m) => m.type === MessageType.HeartbeatResp);
  net.raw(1).readIndex(enc('a'));
  net.raw(1).readIndex(enc('b'));
  net.propose(1, 'w');
  net.raw(1).readIndex(enc('c'));
  net.stabilize();
  drop();
  net.tick(1, [1]);
  const got = net.node(1).readStates.map((r) => [dec(r.requestCtx), r.index]);
  t.deepEqual(got, [
    ['a', 1],
    ['b', 1],
    ['c', 2],
  ]);
});

test('leadership transfer: up-to-date transferee gets TimeoutNow and wins', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.raw(1).transferLeader(3);
  net.stabilize();
  t.is(net.role(3), StateRole.Leader);
  t.is(net.status(3).term, 2);
  t.is(net.role(1), StateRole.Follower);
  t.is(net.status(1).lead, 3);
  t.true(net.delivered.some((m) => m.type === MessageType.TimeoutNow && m.to === 3));
  net.propose(3, 'b');
  t.deepEqual(net.appliedData(1), ['a', 'b']);
});

test('leadership transfer: a lagging transferee is caught up first; proposals are refused meanwhile', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.raw(1).transferLeader(3);
  net.stabilize();
  t.is(net.status(1).leadTransferee, 3);
  t.throws(() => net.raw(1).propose(enc('x')), { code: 'RAFT_PROPOSAL_DROPPED', message: /transfer/ } as never);
  t.false(net.delivered.some((m) => m.type === MessageType.TimeoutNow));
  net.heal();
  net.tick(1, [1]);
  t.is(net.role(3), StateRole.Leader);
  t.deepEqual(net.appliedData(3), ['v0', 'v1', 'v2', 'v3', 'v4']);
});

test('leadership transfer is aborted after an election timeout', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'a');
  net.raw(1).transferLeader(3);
  net.stabilize();
  t.is(net.status(1).leadTransferee, 3);
  net.tick(10, [1, 2]);
  t.is(net.status(1).leadTransferee, 0);
  t.is(net.role(1), StateRole.Leader);
  net.propose(1, 'b');
  t.deepEqual(net.appliedData(2), ['a', 'b']);
});

test('leadership transfer requested on a follower is forwarded; transfer to self or a learner is ignored', (t) => {
  const net = new Network([1, 2, 3], {}, [4]);
  net.campaign(1);
  net.raw(2).transferLeader(2);
  net.stabilize();
  t.is(net.role(2), StateRole.Leader);
  net.raw(2).transferLeader(2);
  net.stabilize();
  t.is(net.status(2).leadTransferee, 0);
  net.raw(2).transferLeader(4);
  net.stabilize();
  t.is(net.status(2).leadTransferee, 0);
  t.is(net.role(2), StateRole.Leader);
});

test('TimeoutNow on a follower that is not a voter is ignored', (t) => {
  const net = new Network([1, 2, 3], {}, [4]);
  net.campaign(1);
  net.raw(4).step(msg({ type: MessageType.TimeoutNow, from: 1, to: 4, term: 1 }));
  net.stabilize();
  t.is(net.role(4), StateRole.Follower);
  t.is(net.leader(), 1);
});

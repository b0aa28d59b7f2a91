import test from 'ava';
import { seededRandom } from '../../src/raft/seeded_random.js';
import { MessageType, StateRole } from '../../src/raft/index.js';
import { Network, enc } from './harness.js';

test('a single node elects itself and commits its empty entry', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  const s = net.status(1);
  t.is(s.role, StateRole.Leader);
  t.is(s.term, 1);
  t.is(s.commit, 1);
  t.is(s.applied, 1);
});

test('a follower campaigns after a randomized election timeout in [electionTick, 2*electionTick)', (t) => {
  for (let seed = 0; seed < 20; seed++) {
    const net = new Network([1, 2, 3], { electionTick: 10, random: seededRandom(seed) });
    let ticks = 0;
    while (net.role(1) === StateRole.Follower && ticks < 100) {
      net.raw(1).tick();
      ticks++;
    }
    t.true(ticks >= 10 && ticks < 20, `seed ${seed}: campaigned after ${ticks} ticks`);
  }
});

test('three nodes elect a leader by majority and followers learn it', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  t.is(net.role(1), StateRole.Leader);
  t.is(net.status(2).lead, 1);
  t.is(net.status(3).lead, 1);
  t.is(net.status(2).vote, 1);
  t.is(net.status(1).commit, 1);
  t.is(net.status(2).commit, 1);
});

test('a candidate without a majority stays candidate and retries with a higher term', (t) => {
  const net = new Network([1, 2, 3]);
  net.isolate(1);
  net.campaign(1);
  t.is(net.role(1), StateRole.Candidate);
  t.is(net.status(1).term, 1);
  net.tick(20, [1]);
  t.is(net.role(1), StateRole.Candidate);
  t.true(net.status(1).term >= 2);
});

test('a candidate that is rejected by a majority becomes follower', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'x');
  // Node 3 misses the entry; it cannot win against up-to-date 1 and 2.
  net.isolate(3);
  net.propose(1, 'y');
  net.heal();
  net.addFilter((m) => m.to === 3 && m.type === MessageType.App);
  net.campaign(3);
  t.is(net.role(3), StateRole.Follower);
  t.is(net.status(2).vote, 0, '2 did not vote for the stale candidate');
});

test('split vote: no leader in that term, a later election succeeds', (t) => {
  const net = new Network([1, 2, 3, 4]);
  // 1 and 3 campaign simultaneously; 2 votes for 1 and 4 votes for 3.
  net.raw(1).campaign();
  net.raw(3).campaign();
  for (const id of [1, 3]) net.processReady(id);
  const votes = net.queue;
  net.queue = [];
  for (const m of votes) {
    const keep = (m.from === 1 && m.to === 2) || (m.from === 3 && m.to === 4);
    if (keep) net.raw(m.to).step(m);
  }
  net.stabilize();
  t.is(net.role(1), StateRole.Candidate);
  t.is(net.role(3), StateRole.Candidate);
  t.is(net.status(1).term, 1);
  // Timeouts eventually resolve it.
  let rounds = 0;
  while (net.leader() === 0 && rounds++ < 200) net.tick(1);
  t.not(net.leader(), 0);
  t.true(net.status(net.leader()).term >= 2);
});

test('a node votes at most once per term', (t) => {
  const net = new Network([1, 2, 3]);
  const r = net.raw(2);
  r.step({ type: MessageType.Vote, from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  r.step({ type: MessageType.Vote, from: 3, to: 2, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  const rd = r.ready();
  const resps = rd.messages.filter((m) => m.type === MessageType.VoteResp);
  t.deepEqual(resps.map((m) => [m.to, m.reject]), [[1, false], [3, true]]);
  t.is(rd.hardState?.vote, 1);
  t.true(rd.mustSync);
});

test('a vote is refused to a candidate with a less up-to-date log', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  const r = net.raw(2);
  // Candidate 3 claims last log (term 1, index 1) while 2 has index 2.
  r.step({ type: MessageType.Vote, from: 3, to: 2, term: 5, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  const rd = r.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp)!;
  t.true(resp.reject);
  t.is(net.status(2).term, 5, 'term still adopted');
  t.is(net.status(2).vote, 0);
});

test('a stale leader steps down on seeing a higher term', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.campaign(2);
  t.is(net.role(2), StateRole.Leader);
  t.is(net.role(1), StateRole.Leader, 'isolated old leader does not know yet');
  net.heal();
  net.tick(1);
  t.is(net.role(1), StateRole.Follower);
  t.is(net.status(1).lead, 2);
  t.is(net.status(1).term, 2);
});

test('ticking drives election and heartbeats without manual campaign', (t) => {
  const net = new Network([1, 2, 3, 4, 5]);
  let rounds = 0;
  while (net.leader() === 0 && rounds++ < 100) net.tick(1);
  const l = net.leader();
  t.not(l, 0);
  const term = net.status(l).term;
  net.tick(100);
  t.is(net.leader(), l, 'leader keeps leading while heartbeats flow');
  t.is(net.status(l).term, term);
  for (const id of [1, 2, 3, 4, 5]) t.is(net.status(id).lead, l);
});

test('election is deterministic for a given random source', (t) => {
  const run = () => {
    const net = new Network([1, 2, 3, 4, 5], { random: undefined });
    const trace: string[] = [];
    for (let i = 0; i < 60; i++) {
      net.tick(1);
      trace.push(`${net.leader()}:${net.status(1).term}`);
    }
    net.propose(net.leader(), 'x');
    trace.push(JSON.stringify(net.delivered.length));
    return trace.join(',');
  };
  t.is(run(), run());
});

test('local message types are ignored when stepped from the network', (t) => {
  const net = new Network([1, 2, 3]);
  const r = net.raw(1);
  r.step({ type: MessageType.Hup, from: 2, to: 1, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0) });
  t.is(net.role(1), StateRole.Follower);
  t.false(r.hasReady());
  t.throws(() => r.propose(enc('x')), { code: 'RAFT_PROPOSAL_DROPPED' } as never);
});


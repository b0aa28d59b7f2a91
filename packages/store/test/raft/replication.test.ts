import test from 'ava';
import { type Message, MessageType, StateRole } from '../../src/raft/index.js';
import { Network, enc, logTerms, preload } from './harness.js';

test('proposals replicate, commit and apply in order on every node', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 20; i++) net.raw(1).propose(enc(`v${i}`));
  net.stabilize();
  const want = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const id of [1, 2, 3]) {
    t.deepEqual(net.appliedData(id), want);
    t.is(net.status(id).commit, 21);
    t.is(net.status(id).applied, 21);
  }
});

test('Ready: a leader counts its own entries only after advance (persisted)', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  const r = net.raw(1);
  r.propose(enc('x'));
  const rd = r.ready();
  t.is(rd.entries.length, 1);
  t.is(rd.committedEntries.length, 0, 'not committed before it is persisted');
  t.true(rd.mustSync);
  t.is(r.status().commit, 1);
  net.persist(net.node(1), rd);
  r.advance(rd);
  t.is(r.status().commit, 2);
  const rd2 = r.ready();
  t.deepEqual(rd2.committedEntries.map((e) => e.index), [2]);
  t.is(rd2.hardState?.commit, 2);
  t.false(rd2.mustSync, 'a commit-only change needs no sync');
});

test('Ready: follower responses travel in the same Ready as the entries they acknowledge', (t) => {
  const net = new Network([1, 2]);
  net.campaign(1);
  net.raw(1).propose(enc('x'));
  net.processReady(1);
  const app = net.queue.find((m) => m.type === MessageType.App && m.to === 2)!;
  net.queue = [];
  net.raw(2).step(app);
  const rd = net.raw(2).ready();
  const resp = rd.messages.find((m) => m.type === MessageType.AppResp)!;
  t.is(resp.index, 2);
  t.deepEqual(rd.entries.map((e) => e.index), [2]);
});

test('committed entries are not returned twice between ready and advance', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  net.propose(1, 'a');
  const r = net.raw(1);
  r.propose(enc('b'));
  const rd1 = r.ready();
  net.persist(net.node(1), rd1);
  r.advance(rd1);
  const rd2 = r.ready();
  t.is(rd2.committedEntries.length, 1);
  t.false(r.hasReady());
  r.advance(rd2);
  t.false(r.hasReady());
});

// Raft paper figure 7: a leader of term 8 and followers with missing, extra and conflicting entries.
const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const followerLogs: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

for (const [name, flog] of Object.entries(followerLogs)) {
  test(`log matching: follower (${name}) from figure 7 converges to the leader's log`, (t) => {
    const net = new Network([1, 2, 3]);
    preload(net, 1, leaderLog, 7);
    preload(net, 2, leaderLog, 7);
    preload(net, 3, flog, 7);
    net.campaign(1);
    t.is(net.role(1), StateRole.Leader);
    t.is(net.status(1).term, 8);
    const want = [...leaderLog, 8];
    t.deepEqual(logTerms(net, 3), want);
    t.deepEqual(logTerms(net, 2), want);
    t.is(net.status(3).commit, 11);
    // Fast backtracking: far fewer rejections than mismatching entries.
    const rejects = net.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 3 && m.reject).length;
    t.true(rejects <= 3, `${rejects} rejections`);
  });
}

test('fast backtracking skips whole conflicting terms in one round trip', (t) => {
  const net = new Network([1, 2, 3]);
  const lead = [1, ...Array(50).fill(2)];
  const foll = [1, ...Array(80).fill(3)];
  preload(net, 1, lead, 4);
  preload(net, 2, lead, 4);
  preload(net, 3, foll, 4);
  net.campaign(1);
  t.deepEqual(logTerms(net, 3), [...lead, 5]);
  const rejects = net.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 3 && m.reject).length;
  t.true(rejects <= 2, `${rejects} rejections`);
});

test('figure 8: a leader never commits an entry of an older term by counting replicas', (t) => {
  // One entry per App so that the old-term entry and the new no-op travel separately.
  const net = new Network([1, 2, 3, 4, 5], { maxSizePerMsg: 0 });
  net.campaign(1); // term 1, index 1 committed
  // Index 2 (term 1) reaches only 2.
  const onlyTo2 = net.addFilter((m) => m.type === MessageType.App && m.from === 1 && m.to !== 2);
  net.propose(1, 'a');
  onlyTo2();
  t.is(net.status(1).commit, 1);
  // 5 becomes leader of term 2 (votes 3, 4) but its no-op reaches nobody.
  net.isolate(1);
  net.restart(1); // 1 crashes
  const silence5 = net.addFilter((m) => m.from === 5 && m.type === MessageType.App);
  net.campaign(5);
  t.is(net.role(5), StateRole.Leader);
  t.is(net.status(5).term, 2);
  silence5();
  net.heal();
  net.isolate(5);
  // 1 is elected in term 3 and replicates index 2 (term 1) to 3: now on 1, 2, 3 (a majority)...
  // Term-3 entries must not reach anyone; 3 and 4 may see (and reject) the first probe.
  const probed = new Set<number>();
  const dropTerm3 = net.addFilter((m) => {
    if (m.type !== MessageType.App || !m.entries.some((e) => e.term === 3)) return false;
    if (m.to === 2 || probed.has(m.to)) return true;
    probed.add(m.to);
    return false;
  });
  while (net.role(1) !== StateRole.Leader) net.campaign(1);
  t.is(net.status(1).term, 3);
  net.tick(3, [1, 2, 3, 4]);
  t.is(logTerms(net, 3)[1], 1, 'index 2 of term 1 is on node 3');
  // ...but it is not committed: it is not of the leader's term.
  t.is(net.status(1).commit, 1);
  t.deepEqual(net.appliedData(1), []);
  // Once an entry of term 3 is replicated on a majority, everything before it commits.
  dropTerm3();
  net.tick(3, [1, 2, 3, 4]);
  t.is(net.status(1).commit, 3);
  t.deepEqual(net.appliedData(1), ['a']);
  t.deepEqual(net.appliedData(3), ['a']);
  // 5 comes back; its uncommitted term-2 entry is overwritten.
  net.heal();
  net.tick(3);
  t.deepEqual(logTerms(net, 5), [1, 1, 3]);
  t.deepEqual(net.appliedData(5), ['a']);
});

test('a follower truncates a conflicting uncommitted suffix', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  // 1 appends entries no one else gets, then loses leadership.
  net.isolate(1);
  net.raw(1).propose(enc('lost1'));
  net.raw(1).propose(enc('lost2'));
  net.stabilize();
  net.campaign(2);
  net.propose(2, 'kept');
  net.heal();
  net.tick(2);
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['kept']);
  t.deepEqual(logTerms(net, 1), [1, 2, 2]);
});

test('pipelining: at most maxInflightMsgs Apps in flight in replicate state', (t) => {
  const net = new Network([1, 2], { maxInflightMsgs: 3, maxSizePerMsg: 0 });
  net.campaign(1);
  const held: Message[] = [];
  const stopResp = net.addFilter((m) => {
    if (m.type === MessageType.AppResp && m.from === 2) {
      held.push(m);
      return true;
    }
    return false;
  });
  const apps = () => net.delivered.filter((m) => m.type === MessageType.App && m.to === 2 && m.entries.length > 0);
  const before = apps().length;
  for (let i = 0; i < 10; i++) net.raw(1).propose(enc(`p${i}`));
  net.stabilize();
  t.is(apps().length - before, 3, 'window of 3 messages');
  t.is(net.status(1).progress!.get(2)!.state, 'Replicate');
  // Acknowledge one: exactly one more App goes out.
  stopResp();
  const ack = held.shift()!;
  net.raw(1).step(ack);
  net.processReady(1);
  t.is(net.queue.filter((m) => m.type === MessageType.App && m.entries.length > 0).length, 1);
  // Deliver everything: all entries eventually replicate.
  for (const m of held) net.raw(1).step(m);
  net.stabilize();
  t.is(net.appliedData(2).length, 10);
});

test('a heartbeat response frees a slot of a full inflights window (lost Apps do not stall forever)', (t) => {
  const net = new Network([1, 2], { maxInflightMsgs: 2, maxSizePerMsg: 0 });
  net.campaign(1);
  const drop = net.addFilter((m) => m.type === MessageType.App && m.to === 2 && m.entries.length > 0);
  for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`p${i}`));
  net.stabilize();
  drop();
  net.tick(5);
  t.is(net.appliedData(2).length, 5);
  t.is(net.appliedData(1).length, 5);
});

test('probe state: at most one App per heartbeat interval until the follower answers', (t) => {
  const net = new Network([1, 2, 3], { maxSizePerMsg: 0 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
  t.is(net.status(1).progress!.get(3)!.state, 'Replicate');
  net.raw(1).reportUnreachable(3);
  t.is(net.status(1).progress!.get(3)!.state, 'Probe');
  const before = net.delivered.length;
  const sent: Message[] = [];
  net.addFilter((m) => {
    if (m.to === 3 && m.type === MessageType.App) sent.push(m);
    return false;
  });
  net.propose(1, 'x');
  net.propose(1, 'y');
  t.is(sent.length, 1, 'one probe while paused');
  net.tick(1, [1]);
  t.true(net.delivered.length > before);
  t.true(sent.length <= 2);
  net.heal();
  net.tick(3);
  t.is(net.appliedData(3).length, 7);
  t.is(net.status(1).progress!.get(3)!.state, 'Replicate');
});

test('batching: a lagging follower receives Apps of at most maxSizePerMsg bytes', (t) => {
  const net = new Network([1, 2, 3], { maxSizePerMsg: 300 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 30; i++) net.propose(1, 'x'.repeat(84)); // 100 bytes per entry with header
  net.heal();
  const sizes: number[] = [];
  net.addFilter((m) => {
    if (m.to === 3 && m.type === MessageType.App && m.entries.length > 0) sizes.push(m.entries.length);
    return false;
  });
  net.tick(3);
  t.is(net.appliedData(3).length, 30);
  t.true(sizes.every((n) => n <= 3), JSON.stringify(sizes));
  t.true(sizes.some((n) => n === 3));
});

test('proposal forwarding: a follower forwards proposals to the leader', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.raw(2).propose(enc('from2'));
  net.processReady(2);
  const fwd = net.queue.find((m) => m.type === MessageType.Prop)!;
  t.is(fwd.to, 1);
  t.is(fwd.from, 2);
  net.stabilize();
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['from2']);
});

test('proposals without a leader are dropped with ProposalDroppedError', (t) => {
  const net = new Network([1, 2, 3]);
  t.throws(() => net.raw(1).propose(enc('x')), { code: 'RAFT_PROPOSAL_DROPPED' } as never);
  net.isolate(1);
  net.raw(1).campaign();
  t.throws(() => net.raw(1).propose(enc('x')), { code: 'RAFT_PROPOSAL_DROPPED' } as never, 'candidate drops');
});

test('uncommitted log growth is bounded; the empty entry is always allowed', (t) => {
  const net = new Network([1, 2, 3], { maxUncommittedEntriesSize: 100 });
  net.campaign(1);
  net.isolate(2);
  net.isolate(3);
  const r = net.raw(1);
  r.propose(new Uint8Array(60));
  r.propose(new Uint8Array(40));
  t.throws(() => r.propose(new Uint8Array(1)), { code: 'RAFT_PROPOSAL_DROPPED', message: /uncommitted/ } as never);
  // A single oversized proposal is accepted when nothing is uncommitted.
  net.heal();
  net.stabilize();
  net.tick(2);
  t.is(net.appliedData(1).length, 2);
  r.propose(new Uint8Array(500));
  net.stabilize();
  t.is(net.appliedData(1).length, 3);
  // A leader whose uncommitted budget is exhausted can still lose leadership,
  // and a new leader can always append its empty entry.
  net.isolate(2);
  net.isolate(3);
  r.propose(new Uint8Array(100));
  t.throws(() => r.propose(new Uint8Array(1)), { code: 'RAFT_PROPOSAL_DROPPED' } as never);
  net.stabilize();
  net.heal();
  net.isolate(1);
  net.campaign(2);
  t.is(net.role(2), StateRole.Leader);
  t.is(net.status(2).commit, 5, 'the new leader committed its empty entry');
});

test('restart from storage: a node recovers term, vote, log and commit, and rejoins', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  const before = net.status(2);
  net.restart(2);
  const after = net.status(2);
  t.is(after.term, before.term);
  t.is(after.vote, before.vote);
  t.is(after.commit, before.commit);
  t.is(after.applied, 0, 'state machine restarts empty (no snapshot)');
  t.is(after.role, StateRole.Follower);
  net.stabilize();
  net.tick(1);
  t.deepEqual(net.appliedData(2), ['v0', 'v1', 'v2', 'v3', 'v4']);
  // The leader restarts too; the cluster elects again and keeps all data.
  net.restart(1);
  let rounds = 0;
  while (net.leader() === 0 && rounds++ < 100) net.tick(1);
  net.propose(net.leader(), 'after');
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id), ['v0', 'v1', 'v2', 'v3', 'v4', 'after']);
});

test('restart with an applied index does not return already-applied entries', (t) => {
  const net = new Network([1]);
  net.campaign(1);
  net.propose(1, 'a');
  net.propose(1, 'b');
  const n = net.node(1);
  const applied = n.appliedIndex;
  t.is(applied, 3);
  net.restart(1);
  n.appliedIndex = applied;
  n.applied = [
    { index: 2, data: 'a' },
    { index: 3, data: 'b' },
  ];
  // Rebuild with applied=3
  const raw2 = new (n.raw.constructor as any)({ ...cfgOf(net, 1), applied: 3 });
  n.raw = raw2;
  t.false(raw2.hasReady() && raw2.ready().committedEntries.length > 0);
  t.is(raw2.status().applied, 3);
});

test('losing unpersisted entries on a crash is safe: they were never acknowledged', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  // 2 receives an App but crashes before persisting it.
  net.raw(1).propose(enc('b'));
  net.processReady(1);
  const app = net.queue.find((m) => m.to === 2 && m.type === MessageType.App)!;
  net.queue = net.queue.filter((m) => m !== app);
  net.raw(2).step(app);
  net.restart(2); // ready never processed: nothing persisted, no response sent
  net.stabilize();
  net.tick(2);
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id).slice(-2), ['a', 'b']);
});

function cfgOf(net: Network, id: number) {
  const n = net.node(id);
  return {
    id,
    storage: n.storage,
    electionTick: 10,
    heartbeatTick: 1,
    applied: 0,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 0,
    checkQuorum: false,
    preVote: false,
    random: () => 0.5,
  };
}

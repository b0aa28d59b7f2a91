import test from 'ava';
import { MessageType, StateRole } from '../../src/raft/index.js';
import { Network, enc, logTerms } from './harness.js';

test('a follower behind the compaction point receives a snapshot and catches up', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  t.is(net.node(1).storage.firstIndex(), 12);
  net.heal();
  net.tick(3);
  const snaps = net.delivered.filter((m) => m.type === MessageType.Snap && m.to === 3);
  t.is(snaps.length, 1);
  t.is(snaps[0]!.snapshot!.metadata.index, 11);
  t.deepEqual(net.appliedData(3), Array.from({ length: 10 }, (_, i) => `v${i}`));
  t.is(net.status(3).commit, 11);
  t.is(net.node(3).storage.firstIndex(), 12, 'follower log reset to the snapshot');
  t.is(net.status(1).progress!.get(3)!.state, 'Replicate');
  net.propose(1, 'after');
  t.deepEqual(net.appliedData(3).slice(-1), ['after']);
});

test('Ready with a snapshot: no committed entries until it is applied; applied jumps to the snapshot index', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(2);
  for (let i = 0; i < 3; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  net.heal();
  net.raw(1).tick();
  net.stabilize(); // heartbeat -> probe -> reject -> snapshot
  const rd = net.node(2).readies.find((r) => r.snapshot);
  t.truthy(rd);
  t.is(rd!.snapshot!.metadata.index, 4);
  t.deepEqual(rd!.snapshot!.metadata.confState.voters, [1, 2, 3]);
  t.is(rd!.committedEntries.length, 0);
  t.is(net.status(2).applied, 4);
});

test('a failed snapshot send moves progress back to probe and it is retried', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  net.heal();
  let dropped = 0;
  const f = net.addFilter((m) => m.type === MessageType.Snap && dropped++ === 0);
  net.tick(1, [1]);
  t.is(dropped, 1);
  // reportSnapshot(3, false) was called by the harness: probing resumes after a heartbeat.
  t.is(net.status(1).progress!.get(3)!.state, 'Probe');
  f();
  net.tick(3, [1]);
  t.is(net.appliedData(3).length, 5);
  t.is(net.status(1).progress!.get(3)!.state, 'Replicate');
});

test('snapshot state blocks Apps until reportSnapshot', (t) => {
  const net = new Network([1, 2, 3]);
  net.autoReportSnapshot = false;
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  net.heal();
  const snapLoss = net.addFilter((m) => m.type === MessageType.Snap);
  net.tick(1, [1]);
  t.is(net.status(1).progress!.get(3)!.state, 'Snapshot');
  const apps = net.delivered.filter((m) => m.to === 3 && m.type === MessageType.App).length;
  net.propose(1, 'x');
  net.tick(3, [1]);
  t.is(net.delivered.filter((m) => m.to === 3 && m.type === MessageType.App).length, apps, 'paused');
  snapLoss();
  net.raw(1).reportSnapshot(3, false);
  net.tick(3, [1]);
  t.is(net.appliedData(3).length, 6);
});

test('a follower ignores a snapshot older than its commit index', (t) => {
  const net = new Network([1, 2]);
  net.campaign(1);
  for (let i = 0; i < 3; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  const snap = net.node(1).storage.snapshot();
  for (let i = 0; i < 3; i++) net.propose(1, `w${i}`);
  const before = net.status(2).commit;
  net.raw(2).step({
    type: MessageType.Snap, from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [], commit: 0,
    snapshot: snap, reject: false, rejectHint: 0, context: new Uint8Array(0),
  });
  const rd = net.raw(2).ready();
  t.is(rd.snapshot, undefined);
  t.is(net.status(2).commit, before);
  t.deepEqual(rd.messages.map((m) => [m.type, m.index]), [[MessageType.AppResp, before]]);
});

test('a node restarts from a compacted storage with a snapshot', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  for (const id of [1, 2, 3]) net.snapshotAndCompact(id);
  net.propose(1, 'tail');
  net.restart(2);
  t.is(net.status(2).applied, 6);
  t.is(net.status(2).commit, 7);
  net.stabilize();
  t.deepEqual(net.appliedData(2), ['v0', 'v1', 'v2', 'v3', 'v4', 'tail']);
  // Whole-cluster restart keeps working.
  for (const id of [1, 2, 3]) net.restart(id);
  let rounds = 0;
  while (net.leader() === 0 && rounds++ < 100) net.tick(1);
  net.propose(net.leader(), 'z');
  for (const id of [1, 2, 3]) t.deepEqual(net.appliedData(id).slice(-2), ['tail', 'z']);
  t.is(net.role(net.leader()), StateRole.Leader);
});

test('compaction keeps terms: a leader can still replicate right after compacting to its last index', (t) => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  for (let i = 0; i < 3; i++) net.propose(1, `v${i}`);
  net.snapshotAndCompact(1);
  net.propose(1, 'next');
  t.deepEqual(net.appliedData(2), ['v0', 'v1', 'v2', 'next']);
  t.deepEqual(logTerms(net, 1), [1]);
  t.false(net.delivered.some((m) => m.type === MessageType.Snap));
  net.raw(1).propose(enc('x'));
  net.stabilize();
  t.is(net.appliedData(3).length, 5);
});

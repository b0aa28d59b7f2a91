// Randomized safety check of the core through the harness: message loss,
// reordering, duplication, partitions, crashes/restarts, compaction.
// Invariants: at most one leader per term; every node applies the same entry
// at the same index; after healing, the cluster converges and makes progress.

import test from 'ava';
import { type Message, MessageType, StateRole } from '../../src/raft/index.js';
import { Network, enc, seededRandom } from './harness.js';

function run(seed: number, opts: { preVote: boolean; checkQuorum: boolean }, steps: number) {
  const rnd = seededRandom(seed);
  const ids = [1, 2, 3, 4, 5];
  const net = new Network(ids, { ...opts, maxSizePerMsg: 200, maxInflightMsgs: 4 });
  const leaders = new Map<number, number>();
  const appliedAt = new Map<number, string>();
  const violations: string[] = [];
  let proposed = 0;

  const check = () => {
    for (const id of ids) {
      const s = net.status(id);
      if (s.role === StateRole.Leader) {
        const prev = leaders.get(s.term);
        if (prev !== undefined && prev !== id) violations.push(`two leaders in term ${s.term}: ${prev} and ${id}`);
        leaders.set(s.term, id);
      }
      for (const a of net.node(id).applied) {
        const prev = appliedAt.get(a.index);
        if (prev === undefined) appliedAt.set(a.index, a.data);
        else if (prev !== a.data) violations.push(`index ${a.index}: ${prev} vs ${a.data} on ${id}`);
      }
    }
  };

  const shuffleDeliver = (lossy: boolean) => {
    for (const id of ids) while (net.processReady(id)) { /* drain */ }
    const batch: Message[] = net.queue;
    net.queue = [];
    // reorder
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    for (const m of batch) {
      if (lossy && rnd() < 0.1) {
        // The transport reports every snapshot it fails to deliver.
        if (m.type === MessageType.Snap) net.raw(m.from).reportSnapshot(m.to, false);
        continue;
      }
      net.queue = [m];
      if (lossy && rnd() < 0.03) net.queue.push(m); // duplicate
      net.deliverQueued();
      // Nodes' new messages go to the end of the global queue (processed next round).
      const pending = net.queue;
      net.queue = [];
      for (const id of ids) while (net.processReady(id)) { /* drain */ }
      net.queue = [...pending, ...net.queue];
      nextQueue.push(...net.queue);
      net.queue = [];
    }
    net.queue = nextQueue.splice(0);
  };
  const nextQueue: Message[] = [];

  for (let step = 0; step < steps; step++) {
    const r = rnd();
    if (r < 0.02) {
      net.heal();
      const a = ids[Math.floor(rnd() * 5)]!;
      net.isolate(a);
    } else if (r < 0.04) {
      net.heal();
    } else if (r < 0.05) {
      const id = ids[Math.floor(rnd() * 5)]!;
      net.restart(id);
    } else if (r < 0.06) {
      const id = ids[Math.floor(rnd() * 5)]!;
      const n = net.node(id);
      if (n.appliedIndex > n.storage.snapshot().metadata.index) net.snapshotAndCompact(id);
    } else if (r < 0.35) {
      const id = ids[Math.floor(rnd() * 5)]!;
      try {
        net.raw(id).propose(enc(`p${proposed++}`));
      } catch {
        /* dropped */
      }
    }
    for (const id of ids) net.raw(id).tick();
    shuffleDeliver(true);
    check();
  }
  // Heal and let it converge.
  net.heal();
  for (let i = 0; i < 200; i++) {
    for (const id of ids) net.raw(id).tick();
    shuffleDeliver(false);
  }
  net.stabilize();
  check();
  const l = net.leader();
  let final = '';
  if (l !== 0) {
    net.propose(l, 'final');
    net.tick(3);
    final = net.appliedData(1).slice(-1)[0] ?? '';
  }
  check();
  const lens = ids.map((id) => net.status(id).applied);
  if (process.env.FUZZ_DEBUG && new Set(lens).size > 1) console.log(l, net.status(l), ids.map((id) => [net.status(id), net.node(id).storage.firstIndex(), net.node(id).storage.lastIndex(), net.node(id).storage.snapshot().metadata]));
  return { violations, leader: l, final, lens, terms: leaders.size, applied: appliedAt.size };
}

for (const [name, opts] of [
  ['plain', { preVote: false, checkQuorum: false }],
  ['prevote+checkquorum', { preVote: true, checkQuorum: true }],
] as const) {
  test(`fuzz (${name}): safety under loss, reordering, duplication, partitions, crashes and compaction`, (t) => {
    const seeds = Number(process.env.FUZZ_SEEDS ?? 6);
    for (let seed = 1; seed <= seeds; seed++) {
      const res = run(seed * 101, opts, 400);
      t.deepEqual(res.violations, [], `seed ${seed}`);
      t.not(res.leader, 0, `seed ${seed}: a leader after healing`);
      t.is(res.final, 'final', `seed ${seed}: progress after healing`);
      t.true(new Set(res.lens).size === 1, `seed ${seed}: all applied the same ${res.lens}`);
      t.true(res.applied > 10, `seed ${seed}: applied ${res.applied}`);
    }
  });
}

test('fuzz runs are deterministic for a seed', (t) => {
  t.deepEqual(run(7, { preVote: true, checkQuorum: true }, 200), run(7, { preVote: true, checkQuorum: true }, 200));
});

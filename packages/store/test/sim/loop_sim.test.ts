// The production Ready loop (src/server/ready_loop.ts) under the seeded
// simulator of loop_cluster.ts: real MVCC key spaces, the real Raft log store
// (the WAL, small segments) for odd seeds and an in-memory log with the same interface for even
// ones, applies lagging behind persistence, crashes with applies queued,
// isolated members and lossy links. Each seed must converge (identical key
// spaces at the leader's commit) and its client history must be linearizable
// (decided over 30-operation key windows).
//
// LOOP_SIM_SEEDS selects the seeds ("1-12" by default), LOOP_SIM_STEPS the ticks of chaos;
// a failure names its seed and the command that replays it alone.
import test from 'ava';
import { LoopCluster } from './loop_cluster.js';
import { parseSeeds } from './seeds.js';

const seeds = parseSeeds(process.env.LOOP_SIM_SEEDS ?? '1-12');
const steps = Number(process.env.LOOP_SIM_STEPS ?? 400);

test.serial(`Ready loop simulation over real MVCC and log storage, seeds ${seeds[0]}..${seeds[seeds.length - 1]}`, async (t) => {
  t.timeout(300_000);
  const totals = { ops: 0, opsOk: 0, crashes: 0, elections: 0, maxApplyLag: 0, opsChecked: 0, wal: 0, memory: 0, maxSettleMs: 0, walSegmentsCut: 0 };
  const started = performance.now();
  for (const seed of seeds) {
    const log = seed % 2 === 1 ? 'wal' : 'memory';
    let stats;
    try {
      stats = await new LoopCluster({ seed, members: 3, steps, log }).run();
    } catch (err) {
      // Every failure names its seed and how to replay it alone.
      const message = (err as Error).message;
      t.fail(`${message.startsWith(`seed ${seed}:`) ? message : `seed ${seed}: ${(err as Error).stack ?? message}`}\nreplay: LOOP_SIM_SEEDS=${seed} LOOP_SIM_STEPS=${steps} npx ava packages/store/test/sim/loop_sim.test.ts`);
      return;
    }
    totals[log]++;
    totals.ops += stats.ops;
    totals.opsOk += stats.opsOk;
    totals.crashes += stats.crashes;
    totals.elections += stats.elections;
    totals.opsChecked += stats.opsChecked;
    totals.maxApplyLag = Math.max(totals.maxApplyLag, stats.maxApplyLag);
    totals.maxSettleMs = Math.max(totals.maxSettleMs, stats.maxSettleMs);
    totals.walSegmentsCut += stats.walSegmentsCut;
  }
  t.log(`${seeds.length} seeds (${totals.wal} over the WAL, which cut ${totals.walSegmentsCut} segments, ${totals.memory} in-memory) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.log(`${totals.ops} client ops (${totals.opsOk} answered), ${totals.crashes} crashes, ${totals.elections} elections, apply lag up to ${totals.maxApplyLag} entries; linearizability decided over ${totals.opsChecked} operations; longest wait of one tick for its I/O ${totals.maxSettleMs} ms`);
  t.true(totals.opsOk > 0);
  if (seeds.length >= 4) t.true(totals.crashes > 0, 'crashes were injected');
  if (seeds.length >= 4) t.true(totals.walSegmentsCut > 0, 'the WAL rolled over to new segments');
});

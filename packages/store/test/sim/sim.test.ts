// Deterministic simulation of the Raft core: for each seed, a cluster of 3 or 5
// members runs under message loss, duplication, delay/reordering, partitions,
// crashes (also in the middle of a Ready), snapshots with log compaction and
// (for half the seeds) membership changes, with clients writing through the
// leader and reading through ReadIndex. Safety invariants are checked after
// every step; at the end the network heals, a write must commit, every member
// must converge and the client history must be linearizable.
//
// SIM_SEEDS selects the seeds ("1-300" by default, e.g. SIM_SEEDS=17 or "1-50,99"),
// SIM_STEPS the ticks of chaos per seed (default in seeds.ts).
// A failure names the seed and the command that replays it with a full trace.

import test from 'ava';
import { Cluster, replayCommand, SimFailure, type SimStats } from './cluster.js';
import { optionsForSeed, parseSeeds } from './seeds.js';

const seeds = parseSeeds(process.env.SIM_SEEDS ?? '1-300');
/** SIM_STEPS overrides the ticks of chaos per seed (longer hunts; the replay command carries it). */
const steps = process.env.SIM_STEPS === undefined ? undefined : Number(process.env.SIM_STEPS);
const CHUNK = 25;

const totals = {
  seeds: 0,
  members3: 0,
  members5: 0,
  membership: 0,
  bootstrap: 0,
  ticks: 0,
  ops: 0,
  opsOk: 0,
  opsUnknown: 0,
  elections: 0,
  crashes: 0,
  partitions: 0,
  snapshotsSent: 0,
  snapshotsInstalled: 0,
  compactions: 0,
  confChanges: 0,
  messages: 0,
  opsChecked: 0,
};
const started = performance.now();

function add(stats: SimStats): void {
  totals.ticks += stats.ticks;
  totals.ops += stats.ops;
  totals.opsOk += stats.opsOk;
  totals.opsUnknown += stats.opsUnknown;
  totals.elections += stats.elections;
  totals.crashes += stats.crashes;
  totals.partitions += stats.partitions;
  totals.snapshotsSent += stats.snapshotsSent;
  totals.snapshotsInstalled += stats.snapshotsInstalled;
  totals.compactions += stats.compactions;
  totals.confChanges += stats.confChanges;
  totals.messages += stats.messages;
  totals.opsChecked += stats.opsChecked;
}

// Chunks so that each test reports (ava's timeout is per stretch of silence).
for (let i = 0; i < seeds.length; i += CHUNK) {
  const chunk = seeds.slice(i, i + CHUNK);
  test.serial(`raft simulation, seeds ${chunk[0]}..${chunk[chunk.length - 1]}`, (t) => {
    for (const seed of chunk) {
      const opts = optionsForSeed(seed, steps === undefined ? {} : { steps });
      let stats: SimStats;
      try {
        stats = new Cluster(opts).run();
      } catch (err) {
        const detail = err instanceof SimFailure ? `${err.message}\n--- last trace lines ---\n${err.trace.slice(-40).join('\n')}` : String((err as Error).stack ?? err);
        t.fail(`seed ${seed} failed (${opts.members} members${opts.membership ? ', membership changes' : ''}${opts.bootstrap ? ', bootstrap' : ''}).\nreplay: ${replayCommand(opts)}\n${detail}`);
        return;
      }
      totals.seeds++;
      if (opts.members === 3) totals.members3++;
      else totals.members5++;
      if (opts.membership) totals.membership++;
      if (opts.bootstrap) totals.bootstrap++;
      add(stats);
    }
    t.pass();
  });
}

test.serial('raft simulation summary', (t) => {
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  t.log(
    `${totals.seeds}/${seeds.length} seeds passed in ${secs}s (${totals.members3}×3 members, ${totals.members5}×5, ${totals.membership} with membership changes, ${totals.bootstrap} bootstrapped through the log)`,
  );
  t.log(
    `${totals.ticks} ticks, ${totals.messages} messages, ${totals.ops} client ops (${totals.opsOk} answered, ${totals.opsUnknown} unknown outcome), ` +
      `${totals.elections} elections, ${totals.crashes} crashes, ${totals.partitions} partitions, ` +
      `${totals.snapshotsSent} snapshots sent / ${totals.snapshotsInstalled} installed, ${totals.compactions} compactions, ${totals.confChanges} conf changes applied`,
  );
  t.log(`linearizability decided for every seed over ${totals.opsChecked} operations (key windows of at most 40 operations)`);
  t.is(totals.seeds, seeds.length, 'some seeds failed (see above)');
  if (seeds.length >= 50) {
    // The fault injection must actually reach the interesting paths.
    t.true(totals.snapshotsInstalled > 0, 'no snapshot was ever installed');
    t.true(totals.confChanges > 0, 'no membership change was applied');
    t.true(totals.crashes > 0, 'no crash was injected');
  }
});

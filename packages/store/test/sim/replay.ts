// Replays one simulator seed with its full trace:
//   npx tsx packages/store/test/sim/replay.ts --seed 17 --members 3 [--steps 700] [--membership|--no-membership]
//     [--bootstrap|--no-bootstrap] [--quiet]
// Options left out take the seed's defaults (as in sim.test.ts). The trace goes to stdout
// (with client operations and applies); --quiet prints only the last lines on failure.

import { parseArgs } from 'node:util';
import { Cluster, SimFailure } from './cluster.js';
import { optionsForSeed } from './seeds.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    members: { type: 'string' },
    steps: { type: 'string' },
    membership: { type: 'boolean' },
    'no-membership': { type: 'boolean' },
    bootstrap: { type: 'boolean' },
    'no-bootstrap': { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
});
if (values.seed === undefined) {
  console.error('usage: replay.ts --seed N [--members 3|5] [--steps N] [--membership|--no-membership] [--bootstrap|--no-bootstrap] [--quiet]');
  process.exit(2);
}
const seed = Number(values.seed);
const overrides: Parameters<typeof optionsForSeed>[1] = {};
if (values.members !== undefined) overrides.members = Number(values.members);
if (values.steps !== undefined) overrides.steps = Number(values.steps);
if (values.membership) overrides.membership = true;
if (values['no-membership']) overrides.membership = false;
if (values.bootstrap) overrides.bootstrap = true;
if (values['no-bootstrap']) overrides.bootstrap = false;
const opts = optionsForSeed(seed, { ...overrides, trace: values.quiet ? undefined : (line) => console.log(line) });
const start = performance.now();
try {
  const stats = new Cluster(opts).run();
  console.log(`seed ${seed}: ok in ${(performance.now() - start).toFixed(0)} ms`, stats);
} catch (err) {
  if (err instanceof SimFailure) {
    if (values.quiet) console.log(err.trace.slice(-80).join('\n'));
    console.error(`seed ${seed}: FAILED: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

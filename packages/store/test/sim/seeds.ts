// How a seed number maps to a simulation: shared by sim.test.ts and replay.ts
// so that a failing seed replays exactly.

import type { SimOptions } from './cluster.js';

export const DEFAULT_STEPS = 700;

/** Odd seeds run 3 members, even seeds 5; half of the seeds of each size (seed % 4 is 0 or 3) add a learner, promote it and remove a member; every third seed bootstraps the membership into the log. */
export function optionsForSeed(seed: number, overrides: Partial<SimOptions> = {}): SimOptions {
  return {
    seed,
    members: seed % 2 === 1 ? 3 : 5,
    steps: DEFAULT_STEPS,
    membership: seed % 4 === 0 || seed % 4 === 3,
    clients: 4,
    bootstrap: seed % 3 === 0,
    ...overrides,
  };
}

/** Parses "1-300", "7", "1-50,99" into a list of seeds. */
export function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`SIM_SEEDS: cannot parse ${JSON.stringify(part)} (expected e.g. "1-300" or "5,9,20-30")`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let s = lo; s <= hi; s++) out.push(s);
  }
  return out;
}

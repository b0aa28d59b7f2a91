// The simulator must be able to fail: with the harness deliberately broken, the
// end-to-end checks (linearizability of the client history, the safety
// invariants, the core's own consistency checks) catch it within a few seeds.
import test from 'ava';
import { Cluster, SimFailure, type SimOptions } from './cluster.js';
import { optionsForSeed } from './seeds.js';

function failures(sabotage: NonNullable<SimOptions['sabotage']>, seeds: number, steps: number): string[] {
  const out: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    try {
      new Cluster(optionsForSeed(seed, { sabotage, steps })).run();
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      out.push(`seed ${seed}: ${err.message.split('\n')[0]}`);
    }
  }
  return out;
}

test('reads served locally without ReadIndex are caught as non-linearizable', (t) => {
  const caught = failures('local-reads', 40, 400);
  t.log(`${caught.length}/40 seeds caught`);
  t.true(caught.length > 0);
  t.true(caught.every((f) => f.includes('not linearizable')), caught.join('\n'));
});

test('losing acknowledged log entries on crash is caught', (t) => {
  const caught = failures('lose-fsync', 20, 400);
  t.log(`${caught.length}/20 seeds caught, e.g. ${caught[0]}`);
  t.true(caught.length >= 5, caught.join('\n'));
});

// Seeded pseudo-random source for the simulator (mulberry32): one seed
// reproduces a whole run.

import { seededRandom } from '../../src/raft/seeded_random.js';

export class Rng {
  /** Uniform in [0, 1): component-base's mulberry32, from a scrambled seed. */
  readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom((seed ^ 0x9e3779b9) >>> 0);
    // Warm up so that small neighbouring seeds diverge at once.
    for (let i = 0; i < 4; i++) this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('rng: pick from an empty list');
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** An independent generator derived from this one (advances this one once). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}

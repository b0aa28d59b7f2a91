/** Injected time: controllers never read the wall clock directly. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A settable clock for tests. */
export class FakeClock implements Clock {
  constructor(public t = Date.UTC(2024, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

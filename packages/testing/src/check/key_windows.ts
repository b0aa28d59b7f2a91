// Bounded histories: the search of linearizability.ts is exponential in the
// number of overlapping operations of one partition (key), most of all in
// unknown-outcome writes, which stay open to the end. A generator that names
// its keys through KeyWindows gives each key a fresh name ("window") after a
// fixed number of operations, so every partition the checker sees holds at
// most `opsPerWindow` operations and the check decides within its budget.
// A new window is a new register (absent at first): operations still in flight
// on the old name stay in the old partition, which is checked on its own.

export class KeyWindows {
  private readonly counts = new Map<string, number>();

  constructor(readonly opsPerWindow: number) {
    if (!Number.isInteger(opsPerWindow) || opsPerWindow < 1) throw new RangeError(`opsPerWindow must be a positive integer, got ${opsPerWindow}`);
  }

  /** The name the next operation on `key` uses (e.g. "k1@3" for its fourth window). */
  next(key: string): string {
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    return `${key}@${Math.floor(n / this.opsPerWindow)}`;
  }

}

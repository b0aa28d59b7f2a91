// A sliding window of in-flight App messages to one follower, identified by
// the last entry index each carried. A ring buffer; indexes are added in
// increasing order and freed from the front when acknowledged.

export class Inflights {
  private start = 0;
  private count = 0;
  private buffer: number[] = [];

  constructor(readonly size: number) {}

  add(index: number): void {
    if (this.full()) throw new Error(`raft: cannot add into a full inflights window (size ${this.size})`);
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    if (next >= this.buffer.length) this.buffer.push(index);
    else this.buffer[next] = index;
    this.count++;
  }

  /** Frees all in-flight messages with last index <= to. */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]!) return;
    let idx = this.start;
    let i = 0;
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]!) break;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.count -= i;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.buffer[this.start]!);
  }

  full(): boolean {
    return this.count >= this.size;
  }

  get length(): number {
    return this.count;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}

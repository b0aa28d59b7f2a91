// A counting semaphore whose waiters are served by priority (0 first), FIFO
// within a priority. The engine bounds the heavy CRI calls of pod startup
// with it (RunPodSandbox, CreateContainer, StartContainer) so a burst of new
// pods does not overload the runtime, and serves the calls of pods that are
// further along first (a started sandbox gets its container before the next
// pod gets a sandbox), which keeps early pods' latency low under a backlog.

export class PrioritySemaphore {
  private active = 0;
  private readonly queues: (() => void)[][];

  /** limit ≤ 0 or Infinity: unbounded. */
  constructor(
    readonly limit: number,
    levels = 3,
  ) {
    this.queues = Array.from({ length: Math.max(1, levels) }, () => []);
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.active;
  }

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.queues.reduce((n, q) => n + q.length, 0);
  }

  async run<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    if (this.limit > 0 && this.active >= this.limit) {
      const level = Math.min(this.queues.length - 1, Math.max(0, Math.floor(priority)));
      await new Promise<void>((resolve) => this.queues[level]!.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    for (const q of this.queues) {
      const next = q.shift();
      if (next) {
        next(); // the slot passes to the waiter: active stays the same
        return;
      }
    }
    this.active--;
  }
}

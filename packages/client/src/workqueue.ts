/**
 * WorkQueue: client-go's rate-limited work queue. A key is never handed to
 * two workers at once; a key added while it is being processed is marked
 * dirty and re-queued by done(); duplicates collapse; addAfter keeps the
 * earliest due time per key; addRateLimited delays by the key's per-item
 * exponential backoff (base·2^failures, capped), reset by forget().
 */

export interface WorkQueueOptions {
  /** First rate-limited delay (default 5 ms). */
  baseDelayMs?: number;
  /** Cap of the rate-limited delay (default 1000 s). */
  maxDelayMs?: number;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiters: ((k: K | undefined) => void)[] = [];
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<K, number>();
  private shuttingDown = false;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 1_000_000;
  }

  add(k: K): void {
    if (this.shuttingDown || this.dirty.has(k)) return;
    this.dirty.add(k);
    if (this.processing.has(k)) return;
    this.push(k);
  }

  /** Adds k once `ms` have passed (an earlier pending addAfter of the same key wins). */
  addAfter(k: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(k);
    const at = Date.now() + ms;
    const prev = this.delayed.get(k);
    if (prev && prev.at <= at) return;
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(k);
      this.add(k);
    }, ms);
    this.delayed.set(k, { at, timer });
  }

  /** The delay the next addRateLimited(k) would use. */
  when(k: K): number {
    const n = this.failures.get(k) ?? 0;
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(n, 62));
  }

  addRateLimited(k: K): void {
    const delay = this.when(k);
    this.failures.set(k, (this.failures.get(k) ?? 0) + 1);
    this.addAfter(k, delay);
  }

  /** Clears k's backoff (call after a successful sync). */
  forget(k: K): void {
    this.failures.delete(k);
  }

  numRequeues(k: K): number {
    return this.failures.get(k) ?? 0;
  }

  /** The next key to process (mark it done() afterwards); undefined once shut down. */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const k = this.queue.shift();
    if (k !== undefined) return Promise.resolve(this.take(k));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(k: K): void {
    this.processing.delete(k);
    if (this.dirty.has(k) && !this.shuttingDown) this.push(k);
  }

  /** Stops the queue: waiting and future get() calls resolve undefined; pending and delayed keys are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Keys waiting to be processed (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length;
  }

  private take(k: K): K {
    this.processing.add(k);
    this.dirty.delete(k);
    return k;
  }

  private push(k: K): void {
    const w = this.waiters.shift();
    if (w) w(this.take(k));
    else this.queue.push(k);
  }
}

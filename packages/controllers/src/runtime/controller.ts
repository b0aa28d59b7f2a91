/**
 * The client-go controller loop: informer handlers enqueue keys; workers take
 * a key (never the same key twice at once), reconcile it from the caches and
 * either forget it, requeue it after a delay the reconcile asked for, or
 * requeue it with rate-limited backoff on failure.
 */
import { WorkQueue } from '@mkube/client';
import type { Logger } from 'pino';
import { isExpected } from './executor.js';
import type { ControllerMetrics } from './metrics.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface ControllerOptions {
  name: string;
  workers?: number;
  log: Logger;
  metrics: ControllerMetrics;
  reconcile(key: string): Promise<ReconcileResult | void>;
  /** Give up on a key after this many failed attempts in a row (it comes back with the next event or resync). */
  maxRetries?: number;
}

export class QueueController {
  readonly name: string;
  readonly queue = new WorkQueue<string>({ baseDelayMs: 5, maxDelayMs: 60_000 });
  private readonly workers: Promise<void>[] = [];
  private depthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ControllerOptions) {
    this.name = o.name;
  }

  enqueue(key: string): void {
    this.o.metrics.adds.inc({ name: this.name });
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  start(): void {
    // Every controller's series exist from the start, not only after its first key.
    this.o.metrics.depth.set({ name: this.name }, this.queue.length);
    this.o.metrics.adds.inc({ name: this.name }, 0);
    this.o.metrics.retries.inc({ name: this.name }, 0);
    for (let i = 0; i < (this.o.workers ?? 2); i++) this.workers.push(this.work());
    this.depthTimer = setInterval(() => this.o.metrics.depth.set({ name: this.name }, this.queue.length), 1000);
    this.depthTimer.unref();
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    if (this.depthTimer) clearInterval(this.depthTimer);
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const start = process.hrtime.bigint();
      let result = 'success';
      try {
        const r = await this.o.reconcile(key);
        this.queue.forget(key);
        if (r && r.requeueAfterMs !== undefined && r.requeueAfterMs >= 0) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        result = 'error';
        const n = this.queue.numRequeues(key);
        if (this.o.maxRetries !== undefined && n >= this.o.maxRetries) {
          this.o.log.warn({ err, key, controller: this.name }, 'dropping key after repeated failures');
          this.queue.forget(key);
        } else {
          if (isExpected(err)) this.o.log.debug({ err: (err as Error).message, key, controller: this.name }, 'requeue');
          else this.o.log.warn({ err, key, controller: this.name }, 'reconcile failed');
          this.o.metrics.retries.inc({ name: this.name });
          this.queue.addRateLimited(key);
        }
      } finally {
        this.queue.done(key);
        this.o.metrics.latency.observe({ controller: this.name, result }, Number(process.hrtime.bigint() - start) / 1e9);
        this.o.metrics.depth.set({ name: this.name }, this.queue.length);
      }
    }
  }
}

// Clients waiting for their proposals to be applied, keyed by the proposer's sequence number.
import { EtcdError } from './backend.js';

interface Pending {
  resolve(v: unknown): void;
  reject(err: Error): void;
  deadline: number;
}

export class ProposalWaiters {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a waiter and returns its sequence number and the promise of the apply result. */
  register<T>(): { seq: number; result: Promise<T> } {
    const seq = ++this.seq;
    const result = new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, deadline: Date.now() + this.timeoutMs });
    });
    return { seq, result };
  }

  resolve(seq: number, value: unknown): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    p.resolve(value);
  }

  reject(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    p.reject(err);
  }

  expire(now: number): void {
    for (const [seq, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(seq);
        p.reject(new EtcdError('Timeout', 'etcdserver: request timed out'));
      }
    }
  }

  /** Everything still pending fails (leader lost, member stopping). */
  failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

// Linearizable reads through Raft's ReadIndex, batched: every read that arrives
// while a ReadIndex request is in flight waits for the next one, so a burst of
// reads costs one heartbeat round, as in etcd's linearizable read loop.
import { randomBytes } from 'node:crypto';
import { EtcdError } from './backend.js';

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  deadline: number;
}

export interface ReadIndexIssuer {
  readIndex(ctx: Uint8Array): void;
  appliedIndex(): number;
}

export class ReadBarrier {
  private queued: Waiter[] = [];
  private inflight: { ctx: string; waiters: Waiter[]; issuedAt: number } | undefined;
  /** Reads whose ReadIndex came back and wait for the applied index to reach it. */
  private confirmed: Array<{ index: number; waiters: Waiter[] }> = [];

  constructor(
    private readonly node: ReadIndexIssuer,
    private readonly timeoutMs: number,
    private readonly retryMs: number,
  ) {}

  /** Resolves once a read at this moment would be linearizable on this member. */
  wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ resolve, reject, deadline: Date.now() + this.timeoutMs });
      this.issue();
    });
  }

  private issue(): void {
    if (this.inflight || this.queued.length === 0) return;
    const ctx = randomBytes(8);
    this.inflight = { ctx: ctx.toString('hex'), waiters: this.queued, issuedAt: Date.now() };
    this.queued = [];
    this.node.readIndex(ctx);
  }

  /** A ReadState came out of Raft. */
  onReadState(index: number, ctx: Uint8Array): void {
    const key = Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('hex');
    if (!this.inflight || this.inflight.ctx !== key) return;
    const waiters = this.inflight.waiters;
    this.inflight = undefined;
    if (index <= this.node.appliedIndex()) for (const w of waiters) w.resolve();
    else this.confirmed.push({ index, waiters });
    this.issue();
  }

  /** The applied index advanced. */
  onApplied(applied: number): void {
    if (this.confirmed.length === 0) return;
    const still: typeof this.confirmed = [];
    for (const c of this.confirmed) {
      if (c.index <= applied) for (const w of c.waiters) w.resolve();
      else still.push(c);
    }
    this.confirmed = still;
  }

  /**
   * A new leader is known: a ReadIndex in flight went to the old one (or was dropped while there was
   * none) and is most likely lost — ask the new leader now instead of at the retry interval. (It
   * answers once it has committed an entry of its term; an answer to the old request is ignored.)
   */
  onLeaderChange(): void {
    if (!this.inflight) return;
    this.queued = [...this.inflight.waiters, ...this.queued];
    this.inflight = undefined;
    this.issue();
  }

  /** Called on every tick: re-issues a lost ReadIndex and times out old waiters. */
  onTick(now: number): void {
    if (this.inflight && now - this.inflight.issuedAt > this.retryMs) {
      // The request was dropped (no leader, leader changed): ask again with a fresh context.
      this.queued = [...this.inflight.waiters, ...this.queued];
      this.inflight = undefined;
    }
    const expire = (ws: Waiter[]) =>
      ws.filter((w) => {
        if (w.deadline > now) return true;
        w.reject(new EtcdError('Timeout', 'etcdserver: request timed out'));
        return false;
      });
    this.queued = expire(this.queued);
    for (const c of this.confirmed) c.waiters = expire(c.waiters);
    this.confirmed = this.confirmed.filter((c) => c.waiters.length > 0);
    this.issue();
  }

  failAll(err: Error): void {
    for (const w of this.queued) w.reject(err);
    for (const w of this.inflight?.waiters ?? []) w.reject(err);
    for (const c of this.confirmed) for (const w of c.waiters) w.reject(err);
    this.queued = [];
    this.inflight = undefined;
    this.confirmed = [];
  }
}

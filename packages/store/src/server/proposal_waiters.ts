// Clients waiting for their proposals to be applied, keyed by the proposer's sequence number.
//
// Sequence numbers are unique across restarts of the member, as etcd's request ids (pkg/idutil:
// start time in ms shifted left by 8 bits, then a counter): a restarted member replays the
// committed entries of its log, and those it proposed in an earlier run carry its member id as
// origin. Were a new run to count from 1 again, a replayed old entry would resolve a new client's
// proposal with the old entry's result — an acknowledgement for a write that is not where its
// answer says, or nowhere.
import { EtcdError } from './backend.js';

interface Pending {
  resolve(v: unknown): void;
  reject(err: Error): void;
  startedAt: number;
  deadline: number;
}

/** The first sequence number of a run started at `nowMs` (etcd idutil's suffix: ms << 8). */
export function firstSequence(nowMs: number): number {
  return nowMs * 256;
}

export class ProposalWaiters {
  private seq: number;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly timeoutMs: number,
    firstSeq = firstSequence(Date.now()),
  ) {
    this.seq = firstSeq - 1;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Registers a waiter and returns its sequence number and the promise of the apply result. */
  register<T>(): { seq: number; result: Promise<T> } {
    const seq = ++this.seq;
    const result = new Promise<T>((resolve, reject) => {
      const now = Date.now();
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, startedAt: now, deadline: now + this.timeoutMs });
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

  /**
   * Proposals past their deadline fail with the error `timedOut` picks for the time they started
   * (etcd's parseProposeCtxErr). A leader change alone fails nothing: the entry may well be in the
   * new leader's log and commit there, and the waiter is answered when it applies.
   */
  expire(now: number, timedOut: (startedAt: number) => Error = () => new EtcdError('Timeout', 'etcdserver: request timed out')): void {
    for (const [seq, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(seq);
        p.reject(timedOut(p.startedAt));
      }
    }
  }

  /** Everything still pending fails (member stopping). */
  failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

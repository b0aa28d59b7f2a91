// Simulated network between Raft members: every message goes through one
// seeded random source that decides whether it is dropped, duplicated and how
// many ticks it is delayed (different delays reorder messages). Partitions
// block directed links (symmetric ones block both directions).

import { MessageType, type Message, type NodeId } from '../../src/raft/types.js';
import type { Rng } from './prng.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delivery delay in ticks, uniform in [0, maxDelay]. */
  maxDelay: number;
}

export const NO_FAULTS: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxDelay: 0 };

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
  snapshotsSent: number;
}

interface InFlight {
  deliverAt: number;
  seq: number;
  msg: Message;
}

export type DeliveryOutcome = 'delivered' | 'lost';

export interface NetworkHooks {
  /** Called when a message reaches its destination (the member is up and the link is open). */
  deliver(msg: Message): boolean;
  /** Called for messages that will never arrive (drop, partition, member down); Snap losses must be reported. */
  lost(msg: Message, reason: 'drop' | 'partition' | 'down'): void;
}

export class Network {
  faults: NetworkFaults;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0, snapshotsSent: 0 };
  private queue: InFlight[] = [];
  private seq = 0;
  /** Blocked directed links "from>to". */
  private readonly blockedLinks = new Set<string>();

  constructor(
    private readonly rng: Rng,
    faults: NetworkFaults,
  ) {
    this.faults = { ...faults };
  }

  get inFlight(): number {
    return this.queue.length;
  }

  get partitioned(): boolean {
    return this.blockedLinks.size > 0;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blockedLinks.has(`${from}>${to}`);
  }

  /** Splits `members` into two random non-empty sides that cannot talk to each other. */
  partitionSymmetric(members: NodeId[]): string {
    const shuffled = this.rng.shuffle(members.slice());
    const cut = this.rng.range(1, Math.max(1, shuffled.length - 1));
    const a = shuffled.slice(0, cut);
    const b = shuffled.slice(cut);
    for (const x of a) for (const y of b) this.block(x, y), this.block(y, x);
    return `partition {${a.join(',')}} | {${b.join(',')}}`;
  }

  /** Blocks random directed links (one member may hear others but not be heard, and so on). */
  partitionAsymmetric(members: NodeId[]): string {
    const cut: string[] = [];
    const victim = this.rng.pick(members);
    const inbound = this.rng.chance(0.5);
    for (const other of members) {
      if (other === victim || !this.rng.chance(0.7)) continue;
      if (inbound) this.block(other, victim), cut.push(`${other}>${victim}`);
      else this.block(victim, other), cut.push(`${victim}>${other}`);
    }
    return `one-way cut ${cut.join(' ') || '(none)'}`;
  }

  /** Isolates one member in both directions. */
  isolate(member: NodeId, members: NodeId[]): void {
    for (const other of members) if (other !== member) this.block(member, other), this.block(other, member);
  }

  heal(): void {
    this.blockedLinks.clear();
  }

  send(msg: Message, now: number, hooks: NetworkHooks): void {
    this.stats.sent++;
    if (msg.type === MessageType.Snap) this.stats.snapshotsSent++;
    if (this.isBlocked(msg.from, msg.to)) {
      this.stats.blocked++;
      hooks.lost(msg, 'partition');
      return;
    }
    if (this.rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      hooks.lost(msg, 'drop');
      return;
    }
    this.enqueue(msg, now);
    if (this.rng.chance(this.faults.duplicateRate)) {
      this.stats.duplicated++;
      this.enqueue(msg, now);
    }
  }

  /** Delivers every message due at `now`, in random order among those due together. */
  deliverDue(now: number, hooks: NetworkHooks): void {
    if (this.queue.length === 0) return;
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.deliverAt <= now ? due : rest).push(f);
    if (due.length === 0) return;
    this.queue = rest;
    due.sort((x, y) => x.seq - y.seq);
    this.rng.shuffle(due);
    for (const f of due) {
      const m = f.msg;
      if (this.isBlocked(m.from, m.to)) {
        this.stats.blocked++;
        hooks.lost(m, 'partition');
        continue;
      }
      if (hooks.deliver(m)) this.stats.delivered++;
      else hooks.lost(m, 'down');
    }
  }

  /** Drops everything in flight (used when the run is over). */
  clear(hooks: NetworkHooks): void {
    const q = this.queue;
    this.queue = [];
    for (const f of q) hooks.lost(f.msg, 'drop');
  }

  private enqueue(msg: Message, now: number): void {
    const delay = this.faults.maxDelay > 0 ? this.rng.int(this.faults.maxDelay + 1) : 0;
    // Each copy is its own object: the receiver must not see the sender's later mutations.
    const copy: Message = { ...msg, entries: msg.entries.slice(), context: msg.context };
    this.queue.push({ deliverAt: now + delay, seq: this.seq++, msg: copy });
  }

  private block(from: NodeId, to: NodeId): void {
    this.blockedLinks.add(`${from}>${to}`);
  }
}

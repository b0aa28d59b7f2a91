// Pending ReadIndex requests at the leader (ReadOnlySafe): each request is
// remembered with the commit index at arrival and served once a quorum has
// acknowledged a heartbeat carrying its context (or a later one).

import type { Message, NodeId } from './types.js';
import { ctxKey } from './util.js';

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  addRequest(index: number, req: Message): void {
    const k = ctxKey(req.context);
    if (this.pending.has(k)) return;
    this.pending.set(k, { req, index, acks: new Set() });
    this.queue.push(k);
  }

  /** Records an ack; returns the ack set for the context, or undefined if unknown. */
  recvAck(id: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(ctxKey(context));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns all requests up to and including the one with this context. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const k = ctxKey(context);
    const i = this.queue.indexOf(k);
    if (i < 0) return [];
    const ks = this.queue.splice(0, i + 1);
    const out: ReadIndexStatus[] = [];
    for (const key of ks) {
      const rs = this.pending.get(key);
      if (rs) out.push(rs);
      this.pending.delete(key);
    }
    return out;
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.context;
  }

  get size(): number {
    return this.queue.length;
  }
}

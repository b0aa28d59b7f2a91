// Lease state. The replicated part (leases and their granted TTLs, which keys
// are attached to which lease) changes only through the MVCC store's apply
// methods, deterministically. Expiry deadlines are leader-local and live only in
// memory: a member that becomes leader calls promote(now), which gives every
// lease a full TTL from now (as etcd's lessor.Promote); followers keep no
// deadlines. The member polls expired(now) and proposes revokes through Raft.

import { EtcdError } from '../api/etcd_error.js';

/** etcd's MaxLeaseTTL (seconds). */
export const MAX_LEASE_TTL = 9_000_000_000;
/** What etcd reports as the remaining TTL of a lease without a deadline (math.MaxInt64 ns in seconds). */
export const FOREVER_TTL = 9_223_372_036;

export interface LessorOptions {
  /** Grants with a smaller TTL are raised to it (seconds). */
  minTtl: number;
  /** Leader-local clock (ms) used for the deadline of leases granted while primary. Defaults to Date.now. */
  clock?: () => number;
  /** How long expired(now) waits before reporting a still-unrevoked lease again (ms). Default 3000 (etcd's expiredLeaseRetryInterval). */
  revokeRetryMs?: number;
}

export interface LeaseTimeToLive {
  id: number;
  /** Remaining seconds (truncated), as etcd's Lease.Remaining().Seconds(). */
  ttl: number;
  grantedTTL: number;
  keys: Buffer[];
}

interface Lease {
  id: number;
  ttl: number;
  /** Deadline in ms; Infinity when this member is not primary. */
  expiry: number;
  keys: Set<string>;
  reportedAt: number | undefined;
}

export class Lessor {
  private readonly map = new Map<number, Lease>();
  /** key (latin1) -> lease id */
  private readonly items = new Map<string, number>();
  private primary = false;
  readonly minTtl: number;
  private readonly clock: () => number;
  private readonly revokeRetryMs: number;

  constructor(opts: LessorOptions) {
    this.minTtl = Math.max(1, opts.minTtl);
    this.clock = opts.clock ?? Date.now;
    this.revokeRetryMs = opts.revokeRetryMs ?? 3000;
  }

  // ---- replicated state (called from the apply path) ----

  /** Validates a grant; returns the effective TTL. */
  checkGrant(id: number, ttl: number): number {
    if (id === 0) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
    if (ttl > MAX_LEASE_TTL) throw new EtcdError('LeaseTTLTooLarge', 'etcdserver: too large lease TTL');
    if (this.map.has(id)) throw new EtcdError('LeaseExist', 'etcdserver: lease already exists');
    return Math.max(ttl, this.minTtl);
  }

  /** Adds a lease (grant or rebuild); ttl is already effective. */
  add(id: number, ttl: number): void {
    this.map.set(id, { id, ttl, expiry: this.primary ? this.clock() + ttl * 1000 : Infinity, keys: new Set(), reportedAt: undefined });
  }

  /** Removes a lease and its attachments; returns its keys in byte order. */
  remove(id: number): Buffer[] {
    const l = this.map.get(id);
    if (!l) return [];
    this.map.delete(id);
    const keys = [...l.keys].map((k) => Buffer.from(k, 'latin1')).sort(Buffer.compare);
    for (const k of l.keys) if (this.items.get(k) === id) this.items.delete(k);
    return keys;
  }

  has(id: number): boolean {
    return this.map.has(id);
  }

  ttlOf(id: number): number | undefined {
    return this.map.get(id)?.ttl;
  }

  /** Keys attached to a lease, in byte order. */
  keysOf(id: number): Buffer[] {
    const l = this.map.get(id);
    return l ? [...l.keys].map((k) => Buffer.from(k, 'latin1')).sort(Buffer.compare) : [];
  }

  /** The lease a key is attached to (0 = none). */
  leaseOf(key: Buffer): number {
    return this.items.get(key.toString('latin1')) ?? 0;
  }

  attach(id: number, key: Buffer): void {
    const l = this.map.get(id);
    if (!l) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
    const k = key.toString('latin1');
    this.detachString(k);
    l.keys.add(k);
    this.items.set(k, id);
  }

  detach(key: Buffer): void {
    this.detachString(key.toString('latin1'));
  }

  private detachString(k: string): void {
    const prev = this.items.get(k);
    if (prev === undefined) return;
    this.items.delete(k);
    this.map.get(prev)?.keys.delete(k);
  }

  /** All leases with their granted TTL, by id (for snapshots). */
  records(): Array<{ id: number; ttl: number }> {
    return [...this.map.values()].map((l) => ({ id: l.id, ttl: l.ttl })).sort((a, b) => a.id - b.id);
  }

  // ---- leader-local deadlines ----

  isPrimary(): boolean {
    return this.primary;
  }

  /** Becoming leader: every lease expires ttl (+ extendMs) from now. */
  promote(nowMs: number, extendMs = 0): void {
    this.primary = true;
    for (const l of this.map.values()) {
      l.expiry = nowMs + extendMs + l.ttl * 1000;
      l.reportedAt = undefined;
    }
  }

  /** Losing leadership: no deadlines. */
  demote(): void {
    this.primary = false;
    for (const l of this.map.values()) {
      l.expiry = Infinity;
      l.reportedAt = undefined;
    }
  }

  /** Keep-alive on the leader: returns the granted TTL. */
  renew(id: number, nowMs: number): number {
    if (!this.primary) throw new EtcdError('NotLeader', 'etcdserver: not leader');
    const l = this.map.get(id);
    // An expired lease is about to be revoked: etcd waits for the revoke and answers "not found".
    if (!l || l.expiry <= nowMs) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
    l.expiry = nowMs + l.ttl * 1000;
    l.reportedAt = undefined;
    return l.ttl;
  }

  /**
   * Ids of leases whose deadline passed, earliest first. A lease reported once
   * is reported again only after revokeRetryMs if it is still not revoked.
   */
  expired(nowMs: number): number[] {
    if (!this.primary) return [];
    const out: Lease[] = [];
    for (const l of this.map.values()) {
      if (l.expiry > nowMs) continue;
      if (l.reportedAt !== undefined && nowMs - l.reportedAt < this.revokeRetryMs) continue;
      out.push(l);
    }
    out.sort((a, b) => a.expiry - b.expiry || a.id - b.id);
    for (const l of out) l.reportedAt = nowMs;
    return out.map((l) => l.id);
  }

  timeToLive(id: number, nowMs: number): LeaseTimeToLive {
    const l = this.map.get(id);
    if (!l) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
    const remaining = l.expiry === Infinity ? FOREVER_TTL : Math.trunc((l.expiry - nowMs) / 1000) || 0;
    return { id, ttl: remaining, grantedTTL: l.ttl, keys: this.keysOf(id) };
  }

  /** Ids of all leases, ascending. */
  leases(): number[] {
    return [...this.map.keys()].sort((a, b) => a - b);
  }
}

// RaftLog: the stable part (Storage) plus the unstable tail, with the commit
// and applied indexes. Index i is "compacted" below firstIndex()-1; the entry
// at firstIndex()-1 is only known by its term (snapshot point).

import { Unstable } from './unstable.js';
import { CompactedError, type Entry, type Snapshot, type Storage, UnavailableError } from './types.js';
import { entrySize, limitSize } from './util.js';

export class RaftLogError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Highest index handed out in a Ready's committedEntries but not yet advanced. */
  applying: number;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index known to be persisted (entries below the unstable offset). */
  stableIndex(): number {
    return Math.min(this.lastIndex(), this.unstable.offset - 1);
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry i. Throws CompactedError below firstIndex-1 and UnavailableError above lastIndex. */
  term(i: number): number {
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new CompactedError(i);
    if (i > this.lastIndex()) throw new UnavailableError(i);
    return this.storage.term(i);
  }

  /** Term of entry i, or 0 if it is compacted or beyond the log. */
  zeroTermOnOutOfBounds(i: number): number {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return 0;
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return 0;
      throw e;
    }
  }

  matchTerm(i: number, t: number): boolean {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return false;
    return this.zeroTermOnOutOfBounds(i) === t;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The first index among ents that is not in the log with the same term
   * (a conflict or a new entry), or 0 if all of them are already there.
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= index whose term is <= term (or the compaction
   * point), with its term. Used for fast rejection backtracking.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    const floor = this.firstIndex() - 1;
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      if (i < floor) return { index: i, term: 0 };
      const t = this.zeroTermOnOutOfBounds(i);
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * The follower side of AppendEntries: if (index, logTerm) matches, append
   * ents (truncating a conflicting suffix) and advance commit. Returns the
   * last new index, or undefined on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftLogError('RAFT_COMMITTED_CONFLICT', `raft: entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ci === index + 1 ? ents : ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftLogError('RAFT_APPEND_BELOW_COMMIT', `raft: append after ${after} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(c: number): void {
    if (c > this.committed) {
      if (c > this.lastIndex()) {
        throw new RaftLogError('RAFT_COMMIT_OUT_OF_RANGE', `raft: commit ${c} is out of range [last ${this.lastIndex()}]`);
      }
      this.committed = c;
    }
  }

  /** Leader commit rule: only an entry of the current term is committed by counting. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTermOnOutOfBounds(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new RaftLogError('RAFT_APPLIED_OUT_OF_RANGE', `raft: applied ${i} out of range [prev ${this.applied}, committed ${this.committed}]`);
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  /**
   * Highest index that may be handed out to apply: the commit index, or with
   * `onlyPersisted` (asynchronous storage writes) the commit index capped at what
   * is persisted locally (etcd-io/raft's maxAppliableIndex).
   */
  private maxAppliable(onlyPersisted: boolean): number {
    return onlyPersisted ? Math.min(this.committed, this.stableIndex()) : this.committed;
  }

  hasNextCommittedEnts(onlyPersisted = false): boolean {
    if (this.unstable.snapshot) return false; // the snapshot must be applied first
    const lo = Math.max(this.applying, this.firstIndex() - 1) + 1;
    return this.maxAppliable(onlyPersisted) + 1 > lo;
  }

  nextCommittedEnts(maxBytes: number, onlyPersisted = false): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applying, this.firstIndex() - 1) + 1;
    const hi = this.maxAppliable(onlyPersisted) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes);
  }

  /** Entries from i to the end, at most maxBytes (at least one). */
  entries(i: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxBytes);
  }

  /** Entries in [lo, hi), at most maxBytes (at least one). Throws CompactedError if lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo >= hi) return [];
    const off = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < off) {
      out = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      // Storage returned fewer than asked (size limit): done.
      if (out.length < Math.min(hi, off) - lo) return out;
    }
    if (hi > off) {
      const from = Math.max(lo, off);
      if (out.length === 0) {
        return limitSize(this.unstable.entries, from - off, hi - off, maxBytes);
      }
      let size = 0;
      for (const e of out) size += entrySize(e);
      for (let i = from; i < hi; i++) {
        const e = this.unstable.entries[i - off]!;
        size += entrySize(e);
        if (size > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Installs a snapshot: the whole log is replaced by it. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** The pending snapshot if any, else the storage's snapshot. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}

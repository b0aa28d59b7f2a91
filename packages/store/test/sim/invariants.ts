// Raft's safety properties, checked over what the simulator records (the
// paper's Figure 3): election safety, log matching, leader completeness and
// state machine safety. Every check throws InvariantViolation with enough
// context to start debugging from the seed.

import { EntryType, type Entry, type NodeId } from '../../src/raft/types.js';

export class InvariantViolation extends Error {
  readonly code = 'SIM_INVARIANT_VIOLATED';
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant} violated: ${detail}`);
  }
}

/** What the checks need from a member's persisted log. */
export interface LogView {
  /** Index of the last compacted entry (the snapshot's index). */
  snapshotIndex: number;
  lastIndex: number;
  /** Term at `index` (snapshotIndex <= index <= lastIndex). */
  term(index: number): number;
  /** Entry at `index` (snapshotIndex < index <= lastIndex). */
  entry(index: number): Entry;
}

export function entryDigest(e: Entry): string {
  return `${e.term}/${e.type === EntryType.ConfChange ? 'cc' : 'n'}/${Buffer.from(e.data).toString('base64')}`;
}

interface Recorded {
  digest: string;
  /** Term of the entry before it in the log of whoever persisted it (undefined when compacted there). */
  prevTerm: number | undefined;
  by: NodeId;
}

interface Committed {
  term: number;
  digest: string;
  by: NodeId;
  /**
   * The highest term any member had when the entry was first seen applied. The entry
   * was committed in a term <= this, so every leader of a higher term must have it.
   */
  boundTerm: number;
}

export class Invariants {
  /** term → leader, over the whole run. */
  private readonly leaders = new Map<number, NodeId>();
  /** "index:term" → what was persisted there. */
  private readonly persisted = new Map<string, Recorded>();
  /** index → the entry applied there (first applier). */
  private readonly committed = new Map<number, Committed>();
  elections = 0;
  checks = 0;

  get committedCount(): number {
    return this.committed.size;
  }

  /** Election safety: at most one leader per term. Leader completeness is checked on a leader's first sighting. */
  observeLeader(id: NodeId, term: number, log: LogView): void {
    this.checks++;
    const prev = this.leaders.get(term);
    if (prev !== undefined) {
      if (prev !== id) throw new InvariantViolation('election safety', `members ${prev} and ${id} are both leader of term ${term}`);
      return;
    }
    this.leaders.set(term, id);
    this.elections++;
    for (const [index, c] of this.committed) {
      if (c.boundTerm >= term || index <= log.snapshotIndex) continue;
      if (index > log.lastIndex) {
        throw new InvariantViolation(
          'leader completeness',
          `leader ${id} of term ${term} has last index ${log.lastIndex} but entry ${index} (term ${c.term}) was applied by member ${c.by} when no member had a term above ${c.boundTerm}`,
        );
      }
      const mine = log.entry(index);
      if (entryDigest(mine) !== c.digest) {
        throw new InvariantViolation(
          'leader completeness',
          `leader ${id} of term ${term} has ${entryDigest(mine)} at index ${index}, but ${c.digest} was applied there by member ${c.by} (bound term ${c.boundTerm})`,
        );
      }
    }
  }

  /**
   * Log matching, incrementally: an (index, term) pair names one entry for the whole
   * run, and the entry before it has one term, so equal (index, term) implies equal
   * entries and, by induction, equal prefixes. Called right after `entries` were persisted.
   */
  observePersisted(id: NodeId, entries: Entry[], termBefore: (index: number) => number | undefined): void {
    this.checks++;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const digest = entryDigest(e);
      const prevTerm = termBefore(e.index - 1);
      const rec = this.persisted.get(key);
      if (rec === undefined) {
        this.persisted.set(key, { digest, prevTerm, by: id });
        continue;
      }
      if (rec.digest !== digest) {
        throw new InvariantViolation('log matching', `index ${e.index} term ${e.term}: member ${rec.by} persisted ${rec.digest}, member ${id} persisted ${digest}`);
      }
      if (rec.prevTerm !== undefined && prevTerm !== undefined && rec.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          'log matching',
          `index ${e.index} term ${e.term} follows term ${rec.prevTerm} at member ${rec.by} but term ${prevTerm} at member ${id}`,
        );
      }
      if (rec.prevTerm === undefined && prevTerm !== undefined) rec.prevTerm = prevTerm;
    }
  }

  /** Log matching, directly: two persisted logs that agree on the term of an index agree on everything up to it. */
  checkLogsMatch(logs: Map<NodeId, LogView>): void {
    this.checks++;
    const ids = [...logs.keys()];
    for (let x = 0; x < ids.length; x++) {
      for (let y = x + 1; y < ids.length; y++) {
        const a = logs.get(ids[x]!)!;
        const b = logs.get(ids[y]!)!;
        const lo = Math.max(a.snapshotIndex, b.snapshotIndex) + 1;
        const hi = Math.min(a.lastIndex, b.lastIndex);
        let top = -1;
        for (let i = hi; i >= lo; i--) {
          if (a.term(i) === b.term(i)) {
            top = i;
            break;
          }
        }
        for (let i = lo; i <= top; i++) {
          const da = entryDigest(a.entry(i));
          const db = entryDigest(b.entry(i));
          if (da !== db) {
            throw new InvariantViolation(
              'log matching',
              `members ${ids[x]} and ${ids[y]} agree on the term at index ${top} but differ at index ${i}: ${da} vs ${db}`,
            );
          }
        }
      }
    }
  }

  /** State machine safety: no two members apply different entries at the same index. */
  observeApplied(id: NodeId, e: Entry, maxTermNow: number): void {
    this.checks++;
    const digest = entryDigest(e);
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, { term: e.term, digest, by: id, boundTerm: maxTermNow });
      return;
    }
    if (c.digest !== digest) {
      throw new InvariantViolation('state machine safety', `index ${e.index}: member ${c.by} applied ${c.digest}, member ${id} applied ${digest}`);
    }
  }

  /** State machine safety for snapshots: everything up to a snapshot's index must be what was applied. */
  observeSnapshotInstalled(id: NodeId, index: number, term: number): void {
    this.checks++;
    const c = this.committed.get(index);
    if (c !== undefined && c.term !== term) {
      throw new InvariantViolation('state machine safety', `member ${id} installed a snapshot at index ${index} term ${term}, but term ${c.term} was applied there by member ${c.by}`);
    }
  }
}

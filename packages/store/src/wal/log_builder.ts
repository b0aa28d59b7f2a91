// Rebuilds the Raft log from the WAL's records in the order they were
// written, with the log's own rules (etcd's wal.ReadAll does the same):
//  - an entry record at index i replaces whatever the log held from i on (a
//    conflicting append truncates the uncommitted tail);
//  - a snapshot record whose index and term match an entry (or the base) the
//    log holds keeps the log (a snapshot this member took); one that does not
//    match replaces the whole log (a snapshot received from the leader), as
//    the Raft core's storage does when it installs one;
//  - the last state record is the hard state.
// At the end the log must continue the latest snapshot without a gap, and the
// hard state's commit index must lie within it.
import type { Entry, HardState, Snapshot } from '../raft/types.js';

export interface RebuiltLog {
  snapshot: Snapshot | undefined;
  hardState: HardState;
  /** The entries after the snapshot, contiguous. */
  entries: Entry[];
  /** Index of the last entry written (or the snapshot's, when the log holds none after it). */
  lastIndex: number;
}

/** A record that contradicts the log before it: the caller names the file and offset. */
export class LogRuleError extends Error {}

export class LogBuilder {
  private entries: Entry[] = [];
  private base: { index: number; term: number } | undefined;
  private snapshot: Snapshot | undefined;
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };

  entry(e: Entry): void {
    if (this.base && e.index <= this.base.index) return;
    const es = this.entries;
    if (es.length === 0) {
      es.push(e);
      return;
    }
    const first = es[0]!.index;
    const last = es[es.length - 1]!.index;
    if (e.index > last + 1) throw new LogRuleError(`entry ${e.index} follows entry ${last}: the log has a gap`);
    if (e.index <= last) {
      if (e.index < first) es.length = 0;
      else es.length = e.index - first;
    }
    es.push(e);
  }

  snapshotRecord(s: Snapshot): void {
    if (this.snapshot && s.metadata.index < this.snapshot.metadata.index) return;
    if (this.termAt(s.metadata.index) !== s.metadata.term) {
      this.entries = [];
      this.base = { index: s.metadata.index, term: s.metadata.term };
    }
    this.snapshot = s;
  }

  state(hs: HardState): void {
    this.hardState = hs;
  }

  /** Index of the last entry written so far (or of the base the log continues). */
  lastIndex(): number {
    const es = this.entries;
    return Math.max(es.length > 0 ? es[es.length - 1]!.index : 0, this.base?.index ?? 0, this.snapshot?.metadata.index ?? 0);
  }

  private termAt(index: number): number | undefined {
    if (this.base?.index === index) return this.base.term;
    const es = this.entries;
    if (es.length === 0) return undefined;
    const e = es[index - es[0]!.index];
    return e?.index === index ? e.term : undefined;
  }

  /** The log as Raft restarts from it; throws LogRuleError when it has a gap or commits what it lacks. */
  finish(): RebuiltLog {
    const snapIndex = this.snapshot?.metadata.index ?? 0;
    const lastIndex = this.lastIndex();
    const entries = this.entries.filter((e) => e.index > snapIndex);
    if (entries.length > 0 && entries[0]!.index !== snapIndex + 1) {
      throw new LogRuleError(
        snapIndex > 0 ? `the log resumes at entry ${entries[0]!.index} after the snapshot at ${snapIndex}: entries are missing` : `the log starts at entry ${entries[0]!.index}, not 1, and no snapshot covers what is missing`,
      );
    }
    if (this.hardState.commit > lastIndex) throw new LogRuleError(`the hard state commits entry ${this.hardState.commit}, beyond the last entry ${lastIndex}`);
    return { snapshot: this.snapshot, hardState: this.hardState, entries, lastIndex };
  }
}

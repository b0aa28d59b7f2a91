// In-memory Storage: used by tests, by the simulator and by the server as the
// in-memory log cache. ents[0] is a dummy entry carrying the index/term of
// the last compaction (snapshot) point.

import {
  CompactedError,
  UnavailableError,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
  type Storage,
} from './types.js';
import { limitSize } from './util.js';

export class SnapshotOutOfDateError extends Error {
  readonly code = 'RAFT_SNAP_OUT_OF_DATE';
  constructor(index: number, current: number) {
    super(`raft: snapshot at index ${index} is out of date (storage snapshot is at ${current})`);
  }
}

export class StorageError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const emptyConfState = (): ConfState => ({ voters: [], learners: [] });

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];

  /**
   * `confState` seeds a fresh cluster's membership (a snapshot at index 0),
   * like starting every initial member with the same peer list.
   */
  constructor(confState?: ConfState) {
    this.snap = {
      metadata: { index: 0, term: 0, confState: confState ? cloneConfState(confState) : emptyConfState() },
      data: new Uint8Array(0),
    };
    this.ents = [dummy(0, 0)];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo >= hi) return [];
    return limitSize(this.ents, lo - offset, hi - offset, maxBytes);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError(index);
    const k = index - offset;
    if (k >= this.ents.length) throw new UnavailableError(index);
    return this.ents[k]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole content with the snapshot (a follower installing a leader's snapshot). */
  applySnapshot(s: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (s.metadata.index <= cur && !(cur === 0 && s.metadata.index === 0)) {
      throw new SnapshotOutOfDateError(s.metadata.index, cur);
    }
    this.snap = { metadata: { ...s.metadata, confState: cloneConfState(s.metadata.confState) }, data: s.data };
    this.ents = [dummy(s.metadata.index, s.metadata.term)];
  }

  /** Records a snapshot of the application state at `index` (which must be <= lastIndex, and normally applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    const offset = this.ents[0]!.index;
    if (index > this.lastIndex()) {
      throw new StorageError('RAFT_SNAP_BEYOND_LOG', `raft: snapshot index ${index} is beyond last index ${this.lastIndex()}`);
    }
    this.snap = {
      metadata: { index, term: this.ents[index - offset]!.term, confState: cloneConfState(confState) },
      data,
    };
    return this.snap;
  }

  /** Discards entries up to and including `index` (which must not be beyond lastIndex). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) return; // already compacted
    if (index > this.lastIndex()) {
      throw new StorageError('RAFT_COMPACT_BEYOND_LOG', `raft: compact ${index} is beyond last index ${this.lastIndex()}`);
    }
    const k = index - offset;
    const rest = this.ents.slice(k);
    rest[0] = dummy(this.ents[k]!.index, this.ents[k]!.term);
    this.ents = rest;
  }

  /** Appends entries, truncating any conflicting suffix. Entries at or below the compaction point are ignored. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[0]!.index + entries.length - 1;
    if (lastNew < first) return;
    let es = entries;
    if (first > es[0]!.index) es = es.slice(first - es[0]!.index);
    const offset = es[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new StorageError(
        'RAFT_APPEND_GAP',
        `raft: missing log entry [last: ${this.lastIndex()}, append at: ${es[0]!.index}]`,
      );
    }
    if (offset < this.ents.length) this.ents.length = offset; // truncate conflicting suffix
    for (const e of es) this.ents.push(e);
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: cs.voters.slice(), learners: cs.learners.slice() };
}

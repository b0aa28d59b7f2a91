// RawNode: the public, synchronous API of the Raft core (etcd-io/raft's
// rawnode.go). The application drives it:
//
//   tick() / step(m) / propose(...) ...
//   if (node.hasReady()) {
//     const rd = node.ready();
//     persist rd.snapshot, rd.entries, rd.hardState;   // fsync if rd.mustSync
//     send rd.messages;
//     apply rd.snapshot / rd.committedEntries (applyConfChange for ConfChange entries);
//     node.advance(rd);
//   }
//
// With RaftConfig.asyncStorageWrites the two halves of advance are reported
// separately (see Ready in types.ts): advanceAppend(rd) when rd is durable,
// advanceApply(entries) when the state machine has applied them.

import { decodeConfChange, encodeConfChange } from './confchange.js';
import { isLocalMsg, isResponseMsg, newMessage } from './message.js';
import { Raft } from './raft.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type RaftConfig,
  type RaftStatus,
  type Ready,
  type SnapshotMetadata,
  type SoftState,
} from './types.js';

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readonly maxCommittedSizePerReady: number;
  private readonly asyncStorageWrites: boolean;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
    this.maxCommittedSizePerReady = cfg.maxCommittedSizePerReady ?? Number.POSITIVE_INFINITY;
    this.asyncStorageWrites = cfg.asyncStorageWrites ?? false;
  }

  /**
   * Initializes an empty storage with the cluster's initial membership, as
   * committed ConfChange entries 1..n of term 1 (etcd-io/raft's Bootstrap).
   * The first Ready carries them for persistence; they are also returned as
   * committed entries, and applying them again is a no-op.
   * Every initial member must bootstrap with the same ConfState (same order).
   */
  bootstrap(cs: ConfState): void {
    this.raft.bootstrap(cs, encodeConfChange);
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** The current term (a proposal made now is appended in it or in no term at all). */
  get term(): number {
    return this.raft.term;
  }

  tick(): void {
    this.raft.tick();
  }

  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  propose(data: Uint8Array): void {
    const err = this.raft.step(
      newMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    );
    if (err) throw err;
  }

  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    const err = this.raft.step(
      newMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }),
    );
    if (err) throw err;
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** A message from a peer. Local-only message types and responses from unknown peers are ignored. */
  step(m: Message): void {
    if (isLocalMsg(m.type)) return;
    if (isResponseMsg(m.type) && !this.raft.prs.has(m.from)) return;
    this.raft.step(m);
  }

  readIndex(requestCtx: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.ReadIndex, from: this.raft.id, context: requestCtx }));
  }

  transferLeader(to: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.TransferLeader, from: to }));
  }

  /** See Raft.forgetLeader. */
  forgetLeader(): void {
    this.raft.forgetLeader();
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) return true;
    if (r.raftLog.unstable.snapshot) return true;
    if (r.raftLog.unstable.entries.length > 0) return true;
    return r.raftLog.hasNextCommittedEnts(this.asyncStorageWrites);
  }

  ready(): Ready {
    const r = this.raft;
    const log = r.raftLog;
    const rd: Ready = {
      entries: log.unstable.entries.slice(),
      committedEntries: log.nextCommittedEnts(this.maxCommittedSizePerReady, this.asyncStorageWrites),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.role !== this.prevSoftState.role) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState)) {
      rd.hardState = hs;
      rd.mustSync = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
      this.prevHardState = hs;
    }
    if (log.unstable.snapshot) rd.snapshot = log.unstable.snapshot;
    if (rd.entries.length > 0) rd.mustSync = true;
    // Accept: messages and read states are handed out exactly once, and
    // committed entries are not returned again before advance.
    r.msgs = [];
    r.readStates = [];
    if (rd.committedEntries.length > 0) log.applying = rd.committedEntries[rd.committedEntries.length - 1]!.index;
    return rd;
  }

  /** The application has persisted and applied `rd` (the synchronous contract). */
  advance(rd: Ready): void {
    this.advanceAppend(rd);
    this.advanceApply(rd.committedEntries);
  }

  /**
   * "Persisted up to": rd's snapshot (already restored into the state machine), entries and
   * hard state are durable. Readies are reported in the order ready() handed them out.
   */
  advanceAppend(rd: Ready): void {
    const lastEntry = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1] : undefined;
    this.raft.onPersisted(lastEntry, rd.snapshot?.metadata.index);
  }

  /**
   * "Applied up to": the state machine applied these committed entries (a prefix-closed run of
   * what ready() handed out, in order). Until then the core counts them unapplied: it does not
   * campaign past an unapplied configuration change, nor accept another one as leader.
   */
  advanceApply(entries: Entry[]): void {
    this.raft.onApplied(entries);
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** Metadata of an incoming snapshot Raft accepted and has not yet had persisted (handed out by ready()). */
  pendingSnapshot(): SnapshotMetadata | undefined {
    return this.raft.raftLog.unstable.snapshot?.metadata;
  }
}

function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export { encodeConfChange, decodeConfChange };

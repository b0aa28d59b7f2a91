// The Raft state machine (after etcd-io/raft's raft.go): messages and ticks
// in, messages / log changes / read states out. Pure and deterministic for a
// given cfg.random; persistence happens outside through RawNode's Ready.

import { RaftLog } from './log.js';
import { cloneConfState } from './memory_storage.js';
import { CAMPAIGN_TRANSFER, isCampaignTransfer, newMessage, voteRespType } from './message.js';
import { Progress, ProgressState } from './progress.js';
import { majorityCommitted, quorumActive, VoteResult, voteResult } from './quorum.js';
import { ReadOnly } from './read_only.js';
import {
  CompactedError,
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  ProposalDroppedError,
  type RaftConfig,
  type RaftStatus,
  type ReadState,
  type SoftState,
  type Snapshot,
  StateRole,
  type ProgressStatus,
} from './types.js';
import { payloadSize } from './util.js';

export class RaftConfigError extends Error {
  readonly code = 'RAFT_CONFIG_INVALID';
}

type CampaignType = 'pre' | 'election' | 'transfer';

const EMPTY = new Uint8Array(0);

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = 0;
  readonly raftLog: RaftLog;
  role: StateRole = StateRole.Follower;
  lead: NodeId = 0;
  leadTransferee: NodeId = 0;
  /** Index of the last proposed conf change; a new one is refused until it is applied. */
  pendingConfIndex = 0;
  uncommittedSize = 0;

  /** Tracked peers (voters and learners), including this node if it is a member. */
  prs = new Map<NodeId, Progress>();
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  votes = new Map<NodeId, boolean>();
  readOnly = new ReadOnly();
  /** ReadIndex requests that reached a leader before it committed an entry of its term (etcd-io/raft's pendingReadIndexMessages). */
  private pendingReadIndexMessages: Message[] = [];

  msgs: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly maxMsgSize: number;
  readonly maxInflight: number;
  readonly maxUncommittedSize: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  private readonly random: () => number;
  private readonly logger: RaftConfig['logger'];

  constructor(cfg: RaftConfig) {
    validateConfig(cfg);
    this.id = cfg.id;
    this.electionTimeout = cfg.electionTick;
    this.heartbeatTimeout = cfg.heartbeatTick;
    this.maxMsgSize = cfg.maxSizePerMsg;
    this.maxInflight = cfg.maxInflightMsgs;
    this.maxUncommittedSize = cfg.maxUncommittedEntriesSize > 0 ? cfg.maxUncommittedEntriesSize : Number.POSITIVE_INFINITY;
    this.checkQuorum = cfg.checkQuorum;
    this.preVote = cfg.preVote;
    this.random = cfg.random;
    this.logger = cfg.logger;
    this.raftLog = new RaftLog(cfg.storage);

    const { hardState, confState } = cfg.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term !== 0 || hardState.vote !== 0 || hardState.commit !== 0) {
      if (hardState.commit < this.raftLog.committed || hardState.commit > this.raftLog.lastIndex()) {
        throw new RaftConfigError(
          `raft: hard state commit ${hardState.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
        );
      }
      this.raftLog.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (cfg.applied > 0) {
      const applied = Math.min(Math.max(cfg.applied, this.raftLog.firstIndex() - 1), this.raftLog.committed);
      this.raftLog.applied = applied;
      this.raftLog.applying = applied;
    }
    this.becomeFollower(this.term, 0);
  }

  // ---- state inspection ----

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  promotable(): boolean {
    return this.voters.has(this.id);
  }

  status(): RaftStatus {
    const s: RaftStatus = {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.raftLog.committed,
      applied: this.raftLog.applied,
      lead: this.lead,
      role: this.role,
      confState: this.confState(),
      leadTransferee: this.leadTransferee,
    };
    if (this.role === StateRole.Leader) {
      const progress = new Map<NodeId, ProgressStatus>();
      for (const [id, pr] of this.prs) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, isLearner: pr.isLearner });
      }
      s.progress = progress;
    }
    return s;
  }

  // ---- role transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = 0;
    this.votes.clear();
    const last = this.raftLog.lastIndex();
    for (const [id, old] of this.prs) {
      const pr = new Progress(last + 1, this.maxInflight, old.isLearner);
      if (id === this.id) {
        pr.match = this.raftLog.stableIndex();
        pr.recentActive = true;
      }
      this.prs.set(id, pr);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const r = Math.min(Math.max(this.random(), 0), 0.999999999);
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
    this.logger?.debug({ id: this.id, term, lead }, 'raft: became follower');
  }

  /**
   * A follower forgets its leader (etcd-io/raft's ForgetLeader): it stays a follower in its term and
   * does not campaign any sooner, but with no leader it has no leader lease (CheckQuorum) to keep, so
   * it grants another member's pre-vote at once instead of ignoring it until its own election timeout.
   * For a leader known to be gone (its peer connection broke); a message from it makes it the leader
   * again.
   */
  forgetLeader(): void {
    if (this.role !== StateRole.Follower || this.lead === 0) return;
    this.logger?.info({ id: this.id, lead: this.lead, term: this.term }, 'raft: forgetting the leader');
    this.lead = 0;
  }

  private becomePreCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('raft: invalid transition [leader -> pre-candidate]');
    // Term and vote are unchanged: a pre-election must not disturb anyone.
    this.votes.clear();
    this.lead = 0;
    this.role = StateRole.PreCandidate;
    this.logger?.debug({ id: this.id, term: this.term }, 'raft: became pre-candidate');
  }

  private becomeCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('raft: invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
    this.logger?.debug({ id: this.id, term: this.term }, 'raft: became candidate');
  }

  private becomeLeader(): void {
    if (this.role === StateRole.Follower) throw new Error('raft: invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    this.prs.get(this.id)?.becomeReplicate();
    // Conservatively assume the unapplied tail may hold a conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The no-op entry of the new term: committing it commits everything before it.
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY }])) {
      throw new Error('raft: empty entry was dropped');
    }
    this.logger?.info({ id: this.id, term: this.term }, 'raft: became leader');
  }

  // ---- ticks ----

  tick(): void {
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id }));
      if (this.role === StateRole.Follower && this.lead !== 0) {
        // It may not campaign yet (a conf change not applied, e.g. replaying its log after a restart),
        // but it has not heard from its leader for an election timeout: the leader's lease is over.
        // Kept, it would ignore every other member's pre-vote for a further timeout (electionElapsed
        // was just reset), and the election would wait for it. (etcd-io/raft keeps the leader.)
        this.lead = 0;
      }
    } else if (this.role === StateRole.PreCandidate && this.electionElapsed % this.heartbeatTimeout === 0) {
      this.resendPreVotes();
    }
  }

  /**
   * A pre-candidate asks the voters that have not answered again, once per heartbeat interval
   * (etcd-io/raft asks once per election). With CheckQuorum a voter that heard from the leader
   * within its election timeout ignores a pre-vote (the leader's lease), and that lease may end only
   * milliseconds after this member's randomized timeout did — its ticks run at another phase, or it
   * read the dead leader's last heartbeat later. Asked once, the election would then wait a whole
   * further timeout (this member's next, or the other follower's own: up to 0.8 s at 400 ms).
   * A pre-vote changes no one's term or vote, so asking again is safe.
   */
  private resendPreVotes(): void {
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.voters) {
      if (id === this.id || this.votes.has(id)) continue;
      this.send(newMessage({ type: MessageType.PreVote, to: id, term: this.term + 1, index: lastIndex, logTerm: lastTerm }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.checkQuorumActive();
      if (this.role === StateRole.Leader && this.leadTransferee !== 0) {
        this.logger?.info({ id: this.id, transferee: this.leadTransferee }, 'raft: leader transfer timed out');
        this.leadTransferee = 0;
      }
    }
    if (this.role !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  private checkQuorumActive(): void {
    const self = this.prs.get(this.id);
    if (self) self.recentActive = true;
    if (!quorumActive(this.voters, (id) => this.prs.get(id)?.recentActive ?? false)) {
      this.logger?.warn({ id: this.id, term: this.term }, 'raft: leader lost quorum, stepping down');
      this.becomeFollower(this.term, 0);
      return;
    }
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
  }

  // ---- sending ----

  private send(m: Message): void {
    if (m.from === 0) m.from = this.id;
    const t = m.type;
    if (t === MessageType.Vote || t === MessageType.VoteResp || t === MessageType.PreVote || t === MessageType.PreVoteResp) {
      if (m.term === 0) throw new Error(`raft: term should be set when sending ${t}`);
    } else if (t !== MessageType.Prop && t !== MessageType.ReadIndex) {
      // Proposals and read requests are forwarded as local messages, without a term.
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an App (or a Snap if the follower needs compacted entries). Returns whether a message was sent. */
  sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.raftLog.term(prevIndex);
      ents = this.raftLog.entries(pr.next, this.maxMsgSize);
    } catch (e) {
      if (e instanceof CompactedError) return this.sendSnapshot(to, pr);
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      newMessage({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed }),
    );
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger?.debug({ id: this.id, to }, 'raft: not sending snapshot to a peer that is not recently active');
      return false;
    }
    let snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      this.logger?.debug({ id: this.id, to, err: String(e) }, 'raft: snapshot temporarily unavailable');
      return false;
    }
    if (snapshot.metadata.index === 0) throw new Error('raft: need a non-empty snapshot');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.logger?.debug({ id: this.id, to, index: snapshot.metadata.index }, 'raft: sending snapshot');
    this.send(newMessage({ type: MessageType.Snap, to, snapshot }));
    return true;
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.prs.get(to)!;
    // Never tell a follower to commit beyond what it is known to have.
    const commit = Math.min(pr.match, this.raftLog.committed);
    this.send(newMessage({ type: MessageType.Heartbeat, to, commit, context: ctx }));
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx?: Uint8Array): void {
    const c = ctx ?? this.readOnly.lastPendingRequestCtx() ?? EMPTY;
    for (const id of this.prs.keys()) if (id !== this.id) this.sendHeartbeat(id, c);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.TimeoutNow, to }));
  }

  // ---- log ----

  private appendEntry(es: Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const ents: Entry[] = new Array(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      ents[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(ents)) return false;
    this.raftLog.append(ents);
    // The leader's own match advances only once the entries are persisted (advance).
    return true;
  }

  private increaseUncommittedSize(ents: Entry[]): boolean {
    const s = payloadSize(ents);
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  maybeCommit(): boolean {
    const mci = majorityCommitted(this.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (!Number.isFinite(mci)) return false;
    if (!this.raftLog.maybeCommit(mci, this.term)) return false;
    this.releasePendingReadIndexMessages();
    return true;
  }

  /** The leader committed an entry of its term: answer the ReadIndex requests it kept until then (as etcd-io/raft). */
  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.leaderReadIndex(m);
  }

  /** A ReadIndex on a leader that has committed an entry of its term. */
  private leaderReadIndex(m: Message): void {
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.respondReadIndex(m, this.raftLog.committed);
      return;
    }
    this.readOnly.addRequest(this.raftLog.committed, m);
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeat(m.context);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnOutOfBounds(this.raftLog.committed) === this.term;
  }

  /**
   * "Persisted up to" (RawNode.advanceAppend, etcd-io/raft's MsgStorageAppendResp): the
   * snapshot (restored into the state machine too) and the entries up to `lastEntry` are durable.
   */
  onPersisted(lastEntry: Entry | undefined, snapIndex: number | undefined): void {
    if (snapIndex !== undefined) {
      this.raftLog.stableSnapTo(snapIndex);
      if (snapIndex > this.raftLog.applied) {
        this.raftLog.applied = snapIndex;
        if (this.raftLog.applying < snapIndex) this.raftLog.applying = snapIndex;
      }
    }
    if (lastEntry) this.raftLog.stableTo(lastEntry.index, lastEntry.term);
    if (this.role === StateRole.Leader) {
      const pr = this.prs.get(this.id);
      if (pr && pr.maybeUpdate(this.raftLog.stableIndex()) && this.maybeCommit()) this.bcastAppend();
    }
  }

  /**
   * "Applied up to" (RawNode.advanceApply, etcd-io/raft's MsgStorageApplyResp): the state
   * machine has applied `appliedEntries`, in order, after everything handed out before them.
   */
  onApplied(appliedEntries: Entry[]): void {
    if (appliedEntries.length === 0) return;
    const last = appliedEntries[appliedEntries.length - 1]!.index;
    // Entries at or below a snapshot installed meanwhile are already counted.
    if (last <= this.raftLog.applied) return;
    this.raftLog.appliedTo(last);
    if (this.role === StateRole.Leader) this.reduceUncommittedSize(payloadSize(appliedEntries));
  }

  private hasUnappliedConfChanges(): boolean {
    const log = this.raftLog;
    if (log.applied >= log.committed) return false;
    const lo = Math.max(log.applied + 1, log.firstIndex());
    if (lo > log.committed) return false;
    for (const e of log.slice(lo, log.committed + 1, Number.POSITIVE_INFINITY)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  // ---- elections ----

  private hup(t: CampaignType): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) {
      this.logger?.debug({ id: this.id }, 'raft: not promotable, ignoring campaign');
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger?.warn({ id: this.id }, 'raft: cannot campaign with unapplied conf changes');
      return;
    }
    this.campaign(t);
  }

  private campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === 'pre') {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1; // the term we would use; our own term is not bumped yet
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // Single voter: won outright.
      if (t === 'pre') this.campaign('election');
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    const ctx = t === 'transfer' ? CAMPAIGN_TRANSFER : EMPTY;
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send(newMessage({ type: voteMsg, to: id, term, index: lastIndex, logTerm: lastTerm, context: ctx }));
    }
  }

  private poll(id: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.voters, this.votes);
  }

  // ---- step ----

  /** Processes one message; returns a ProposalDroppedError when a proposal could not be accepted. */
  step(m: Message): ProposalDroppedError | undefined {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isCampaignTransfer(m.context);
        const inLease = this.checkQuorum && this.lead !== 0 && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a leader within the election timeout: do not let a
          // (possibly partitioned) node depose it.
          this.logger?.debug({ id: this.id, from: m.from, type: m.type, term: m.term }, 'raft: ignoring vote in leader lease');
          return undefined;
        }
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term in response to a PreVote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term of a granted pre-vote is the one we will campaign with.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, 0);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. after a partition): tell it our term so it steps down.
        this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(newMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return undefined;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? 'pre' : 'election');
        return undefined;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === 0 && this.lead === 0) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          this.send(newMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          } else if (this.role === StateRole.PreCandidate && m.from > this.id) {
            // Two pre-candidates granting each other's pre-vote both become candidates and split the
            // vote: a further randomized timeout (0.4-0.8 s at 400 ms). The one with the lower id
            // steps back when it grants (a follower again, its timer restarted; a pre-vote answer to
            // it is then ignored), so only one of them goes on. Pre-votes bind no one: safe.
            this.becomeFollower(this.term, 0);
          }
        } else {
          this.send(newMessage({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
        }
        return undefined;
      }
      default:
        switch (this.role) {
          case StateRole.Leader:
            return this.stepLeader(m);
          case StateRole.Candidate:
          case StateRole.PreCandidate:
            return this.stepCandidate(m);
          case StateRole.Follower:
            return this.stepFollower(m);
        }
    }
  }

  private stepLeader(m: Message): ProposalDroppedError | undefined {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return undefined;
      case MessageType.Prop:
        return this.leaderPropose(m);
      case MessageType.ReadIndex: {
        if (!this.committedEntryInCurrentTerm()) {
          // Kept until the leader commits an entry of its term (etcd-io/raft 3.5's pendingReadIndexMessages): a
          // dropped one waits for its requester's retry period (~0.5 s of stalled reads after every election).
          this.pendingReadIndexMessages.push(m);
          return undefined;
        }
        this.leaderReadIndex(m);
        return undefined;
      }
    }

    const pr = this.prs.get(m.from);
    if (!pr) return undefined;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppResp(m, pr);
        break;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResp(m, pr);
        break;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) break;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the next heartbeat response before probing again.
        pr.msgAppFlowPaused = true;
        break;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        break;
      case MessageType.TransferLeader: {
        if (pr.isLearner) {
          this.logger?.debug({ id: this.id, to: m.from }, 'raft: ignoring leader transfer to a learner');
          break;
        }
        const transferee = m.from;
        if (this.leadTransferee !== 0) {
          if (this.leadTransferee === transferee) break;
          this.leadTransferee = 0;
        }
        if (transferee === this.id) break;
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        break;
      }
    }
    return undefined;
  }

  private leaderPropose(m: Message): ProposalDroppedError | undefined {
    if (m.entries.length === 0) throw new Error('raft: proposal without entries');
    if (!this.prs.has(this.id)) return new ProposalDroppedError('leader is not a member of the cluster');
    if (this.leadTransferee !== 0) return new ProposalDroppedError(`leadership transfer to ${this.leadTransferee} in progress`);
    let ents = m.entries;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.raftLog.applied) {
        if (m.from === this.id) return new ProposalDroppedError('a configuration change is already pending');
        // A forwarded change: keep the slot but make it a no-op (as etcd does).
        if (ents === m.entries) ents = ents.slice();
        ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(ents)) return new ProposalDroppedError('too many uncommitted entries');
    this.bcastAppend();
    return undefined;
  }

  private handleAppResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: the follower told us the term at its hint index;
      // skip every index of ours with a larger term.
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) return;
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) this.bcastAppend();
    else if (oldPaused) this.sendAppend(m.from);
    // Fill the pipeline while the window allows.
    while (this.sendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger?.info({ id: this.id, to: m.from }, 'raft: transferee caught up, sending TimeoutNow');
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
    if (m.context.byteLength === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    if (voteResult(this.voters, votes) !== VoteResult.Won) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondReadIndex(rs.req, rs.index);
  }

  private respondReadIndex(req: Message, index: number): void {
    if (req.from === 0 || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context });
    } else {
      this.send(newMessage({ type: MessageType.ReadIndexResp, to: req.from, index, context: req.context }));
    }
  }

  private stepCandidate(m: Message): ProposalDroppedError | undefined {
    const myVoteResp = this.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return new ProposalDroppedError('no leader (election in progress)');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return undefined;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case MessageType.TimeoutNow:
        return undefined;
      default:
        if (m.type !== myVoteResp) return undefined;
        switch (this.poll(m.from, !m.reject)) {
          case VoteResult.Won:
            if (this.role === StateRole.PreCandidate) this.campaign('election');
            else {
              this.becomeLeader();
              this.bcastAppend();
            }
            break;
          case VoteResult.Lost:
            this.becomeFollower(this.term, 0);
            break;
          case VoteResult.Pending:
            break;
        }
        return undefined;
    }
  }

  private stepFollower(m: Message): ProposalDroppedError | undefined {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === 0) return new ProposalDroppedError('no leader');
        // Forwarded with the term it was forwarded in (etcd-io/raft forwards without one): a member
        // that has since moved to a later term ignores it as stale, so the entry can only ever be
        // appended in that term, by that term's leader — once an entry of a later term is applied, a
        // proposal forwarded earlier and not applied by then never will be (the member proposes it again).
        this.send({ ...m, to: this.lead, from: m.from || this.id, term: m.term || this.term });
        return undefined;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return undefined;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case MessageType.TransferLeader:
        if (this.lead === 0) {
          this.logger?.debug({ id: this.id }, 'raft: no leader, dropping leader transfer');
          return undefined;
        }
        this.send({ ...m, to: this.lead, term: 0 });
        return undefined;
      case MessageType.TimeoutNow:
        this.logger?.info({ id: this.id, term: this.term, from: m.from }, 'raft: TimeoutNow received, campaigning');
        // Transfer elections skip PreVote and bypass the leader lease.
        this.hup('transfer');
        return undefined;
      case MessageType.ReadIndex:
        if (this.lead === 0) {
          this.logger?.debug({ id: this.id }, 'raft: no leader, dropping read index');
          return undefined;
        }
        this.send({ ...m, to: this.lead, from: m.from || this.id });
        return undefined;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return undefined;
    }
    return undefined;
  }

  private handleAppend(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Mismatch: hint the largest index that may match, with its term, so the
    // leader can skip a whole term of conflicting entries at once.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      newMessage({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s && this.restore(s)) {
      this.logger?.info({ id: this.id, index: s.metadata.index, term: s.metadata.term }, 'raft: restored snapshot');
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
    }
  }

  private restore(s: Snapshot): boolean {
    const md = s.metadata;
    if (md.index <= this.raftLog.committed) return false;
    if (this.role !== StateRole.Follower) {
      this.becomeFollower(this.term + 1, 0);
      return false;
    }
    if (this.raftLog.matchTerm(md.index, md.term)) {
      // We already have the snapshot's last entry: just fast-forward commit.
      this.raftLog.commitTo(md.index);
      return false;
    }
    this.raftLog.restore(s);
    this.applyConfState(md.confState);
    return true;
  }

  /**
   * Writes the initial membership as committed ConfChange entries of term 1
   * (indexes 1..n) into an empty log and applies it, like etcd's Bootstrap.
   * Nodes that join later replay these entries and so learn the initial
   * members even when the log was never compacted.
   */
  bootstrap(cs: ConfState, encode: (cc: ConfChange) => Uint8Array): void {
    if (this.raftLog.lastIndex() !== 0 || this.term !== 0) {
      throw new RaftConfigError('raft: can only bootstrap an empty storage');
    }
    if (cs.voters.length === 0) throw new RaftConfigError('raft: bootstrap needs at least one voter');
    const changes: ConfChange[] = [
      ...cs.voters.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId, context: EMPTY })),
      ...cs.learners.map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId, context: EMPTY })),
    ];
    this.becomeFollower(1, 0);
    const ents: Entry[] = changes.map((c, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encode(c) }));
    this.raftLog.append(ents);
    this.raftLog.committed = ents.length;
    for (const c of changes) this.applyConfChange(c);
  }

  // ---- membership ----

  /** Replaces the tracked configuration (start-up and snapshot restore). */
  private applyConfState(cs: ConfState): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners.filter((id) => !this.voters.has(id)));
    const last = this.raftLog.lastIndex();
    this.prs = new Map();
    for (const id of this.voters) this.prs.set(id, this.newProgress(id, last, false));
    for (const id of this.learners) this.prs.set(id, this.newProgress(id, last, true));
  }

  private newProgress(id: NodeId, last: number, isLearner: boolean): Progress {
    const pr = new Progress(last + 1, this.maxInflight, isLearner);
    // Treat a new peer as active so CheckQuorum does not count it against us
    // and a snapshot can be sent right away.
    pr.recentActive = true;
    if (id === this.id) pr.match = this.raftLog.stableIndex();
    return pr;
  }

  applyConfChange(cc: ConfChange): ConfState {
    const id = cc.nodeId;
    const voters = new Set(this.voters);
    const learners = new Set(this.learners);
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.PromoteLearner:
        if (cc.type === ConfChangeType.PromoteLearner && !learners.has(id)) break;
        learners.delete(id);
        voters.add(id);
        break;
      case ConfChangeType.AddLearner:
        voters.delete(id);
        learners.add(id);
        break;
      case ConfChangeType.RemoveNode:
        voters.delete(id);
        learners.delete(id);
        break;
      default:
        this.logger?.warn({ id: this.id, cc }, 'raft: unknown conf change type ignored');
        return this.confState();
    }
    if (voters.size === 0 && this.voters.size > 0) {
      this.logger?.warn({ id: this.id, cc }, 'raft: conf change would remove all voters; ignored');
      return this.confState();
    }
    const last = this.raftLog.lastIndex();
    for (const v of voters) {
      const pr = this.prs.get(v);
      if (!pr) this.prs.set(v, this.newProgress(v, last, false));
      else pr.isLearner = false;
    }
    for (const l of learners) {
      const pr = this.prs.get(l);
      if (!pr) this.prs.set(l, this.newProgress(l, last, true));
      else pr.isLearner = true;
    }
    for (const p of [...this.prs.keys()]) if (!voters.has(p) && !learners.has(p)) this.prs.delete(p);
    this.voters = voters;
    this.learners = learners;
    this.switchToConfig();
    return this.confState();
  }

  private switchToConfig(): void {
    if (this.role !== StateRole.Leader) return;
    if (!this.voters.has(this.id)) {
      // Removed or demoted leader steps down; the rest elect a new one.
      this.logger?.info({ id: this.id, term: this.term }, 'raft: leader removed from voters, stepping down');
      this.becomeFollower(this.term, 0);
      return;
    }
    if (this.leadTransferee !== 0 && !this.voters.has(this.leadTransferee)) this.leadTransferee = 0;
    // The quorum changed: commit may move (e.g. after removing a slow voter).
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, false);
  }
}

function validateConfig(cfg: RaftConfig): void {
  if (!Number.isSafeInteger(cfg.id) || cfg.id <= 0) throw new RaftConfigError(`raft: invalid node id ${cfg.id}`);
  if (!(cfg.heartbeatTick > 0)) throw new RaftConfigError('raft: heartbeatTick must be greater than 0');
  if (!(cfg.electionTick > cfg.heartbeatTick)) throw new RaftConfigError('raft: electionTick must be greater than heartbeatTick');
  if (!(cfg.maxInflightMsgs > 0)) throw new RaftConfigError('raft: maxInflightMsgs must be greater than 0');
  if (typeof cfg.random !== 'function') throw new RaftConfigError('raft: a seeded random source is required');
}

export { cloneConfState };

// Wire-independent types of the Raft core. The core is a pure state machine:
// ticks and messages in, Ready batches out. It never does I/O, never reads a
// clock and never uses unseeded randomness.

export type NodeId = number; // member ids are kept below 2^53 so they fit a JS number

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque payload. An empty Normal entry is the no-op a new leader appends. */
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId; // 0 = none
  commit: number;
}

export enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  AddLearner = 2,
  /** Promote an existing learner to voter. */
  PromoteLearner = 3,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque context carried with the change (e.g. the member's peer URLs, JSON). */
  context: Uint8Array;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** Opaque application state at metadata.index. */
  data: Uint8Array;
}

export enum MessageType {
  Hup = 'Hup', // local: start an election
  Beat = 'Beat', // local: leader heartbeat tick
  Prop = 'Prop', // proposal (local or forwarded from a follower)
  App = 'App', // append entries
  AppResp = 'AppResp',
  Vote = 'Vote',
  VoteResp = 'VoteResp',
  PreVote = 'PreVote',
  PreVoteResp = 'PreVoteResp',
  Snap = 'Snap', // install snapshot
  SnapStatus = 'SnapStatus', // local: report snapshot send result
  Heartbeat = 'Heartbeat',
  HeartbeatResp = 'HeartbeatResp',
  Unreachable = 'Unreachable', // local: transport reports a peer unreachable
  TransferLeader = 'TransferLeader',
  TimeoutNow = 'TimeoutNow',
  ReadIndex = 'ReadIndex',
  ReadIndexResp = 'ReadIndexResp',
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: term of the entry before `entries`; Vote: last log term of the candidate. */
  logTerm: number;
  /** App: index of the entry before `entries`; AppResp: last index matched/rejected; Vote: last log index. */
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  /** AppResp reject hint: the follower's last index (for fast backtracking). */
  rejectHint: number;
  /** ReadIndex / Heartbeat context (ReadIndex request id). */
  context: Uint8Array;
}

/** A linearizable read is safe once the applied index reaches `index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export enum StateRole {
  Follower = 'Follower',
  PreCandidate = 'PreCandidate',
  Candidate = 'Candidate',
  Leader = 'Leader',
}

export interface SoftState {
  lead: NodeId; // 0 = unknown
  role: StateRole;
}

/**
 * One batch of work for the server loop (etcd-io/raft's Ready contract).
 *
 * Synchronous contract (`advance`): persist `hardState`, `entries` and
 * `snapshot` (fsync); only then send `messages`; apply `committedEntries` (and
 * the snapshot); call `advance(rd)`.
 *
 * Asynchronous contract (RaftConfig.asyncStorageWrites, as etcd-io/raft's
 * AsyncStorageWrites): the loop reports the two progressions separately —
 * `advanceAppend(rd)` once the snapshot, entries and hard state are durable
 * ("persisted up to", MsgStorageAppendResp) and `advanceApply(entries)` once the
 * state machine has applied committed entries ("applied up to",
 * MsgStorageApplyResp), possibly several Readies later. Committed entries are
 * then only handed out once persisted locally, and the core's applied index is
 * the state machine's: it refuses to campaign (and a leader to accept another
 * configuration change) while a committed configuration change is unapplied.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState; // undefined when unchanged
  entries: Entry[]; // to append to stable storage
  snapshot?: Snapshot; // to persist and apply
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** True when entries or hardState require a synchronous write before messages are sent. */
  mustSync: boolean;
}

/** Read-only view of what is persisted, implemented by the server (LevelDB) and by tests (memory). */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most maxBytes total (at least one entry). Throws CompactedError / UnavailableError. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export class CompactedError extends Error {
  readonly code = 'RAFT_COMPACTED';
  constructor(index: number) {
    super(`raft: requested index ${index} is unavailable due to compaction`);
  }
}

export class UnavailableError extends Error {
  readonly code = 'RAFT_UNAVAILABLE';
  constructor(index: number) {
    super(`raft: requested entry at index ${index} is unavailable`);
  }
}

export class ProposalDroppedError extends Error {
  readonly code = 'RAFT_PROPOSAL_DROPPED';
  constructor(reason: string) {
    super(`raft: proposal dropped: ${reason}`);
  }
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without a leader message before a follower campaigns; the actual timeout is randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  heartbeatTick: number;
  storage: Storage;
  /** Last applied index when restarting (entries up to it are not returned again). */
  applied: number;
  /** Max bytes of entries in one App message. */
  maxSizePerMsg: number;
  /** Max App messages in flight per follower (pipelining window). */
  maxInflightMsgs: number;
  /** Bound on the total size of uncommitted entries at the leader; further proposals are dropped. 0 = unlimited. */
  maxUncommittedEntriesSize: number;
  checkQuorum: boolean;
  preVote: boolean;
  /** Seeded random source in [0,1) used for election timeout randomization. */
  random: () => number;
  /** Max bytes of committed entries in one Ready (at least one entry); default unlimited. */
  maxCommittedSizePerReady?: number;
  /**
   * The loop reports persistence (advanceAppend) and application (advanceApply)
   * separately; committed entries are handed out only up to the persisted index.
   */
  asyncStorageWrites?: boolean;
  /** Structured logger; optional. */
  logger?: { debug(obj: object, msg: string): void; info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** Replication state of one follower as seen by the leader (Status.progress). */
export interface ProgressStatus {
  match: number;
  next: number;
  state: 'Probe' | 'Replicate' | 'Snapshot';
  recentActive: boolean;
  isLearner: boolean;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: StateRole;
  confState: ConfState;
  /** 0 = no leadership transfer in progress. */
  leadTransferee: NodeId;
  /** Only on the leader. */
  progress?: Map<NodeId, ProgressStatus>;
}

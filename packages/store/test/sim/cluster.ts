// A deterministic in-process cluster of Raft members for the simulator.
//
// Each member is a RawNode over a MemoryStorage that stands for what the member
// has persisted. A Ready is handled in the order the contract requires:
// persist (snapshot, entries, hard state) → send messages → apply committed
// entries to the member's KvStateMachine → advance. A crash drops the RawNode,
// the state machine and everything in between (optionally in the middle of a
// Ready); a restart builds a new RawNode over the same storage with applied = 0
// and replays the log on top of the storage's snapshot.
//
// Everything random (network, faults, clients, Raft's election timeouts)
// comes from one seed.

import { checkKvHistory, HistoryRecorder, KeyWindows, type CheckResult, type KvInput, type KvOutput, type PendingOperation } from '@mkube/testing';
import {
  ConfChangeType,
  decodeConfChange,
  EntryType,
  MemoryStorage,
  MessageType,
  RawNode,
  StateRole,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
} from '../../src/raft/index.js';
import { decodeCommand, encodeCommand, KvStateMachine } from './kv.js';
import { InvariantViolation, Invariants, type LogView } from './invariants.js';
import { Network, type NetworkFaults, type NetworkHooks } from './network.js';
import { Rng } from './prng.js';

export interface SimOptions {
  seed: number;
  members: number;
  /** Ticks of chaos before the final healing phase. */
  steps: number;
  /** Add a learner, promote it, remove a member during the run. */
  membership: boolean;
  clients: number;
  /**
   * Initial members start from empty storage and RawNode.bootstrap (membership as
   * the first log entries; joining members start empty). Otherwise every storage
   * is seeded with the initial membership (a snapshot at index 0).
   */
  bootstrap: boolean;
  /**
   * Deliberately break the harness to prove the checks catch it (self-test only):
   * 'local-reads' answers reads from the contacted member's state without ReadIndex;
   * 'forget-vote' loses the persisted term/vote on every crash;
   * 'lose-fsync' loses the last persisted (and acknowledged) log entries on every crash.
   */
  sabotage?: 'local-reads' | 'forget-vote' | 'lose-fsync';
  /** Receives every trace line as it happens (replay --verbose). */
  trace?: (line: string) => void;
}

export interface SimStats {
  ticks: number;
  ops: number;
  opsOk: number;
  opsUnknown: number;
  elections: number;
  crashes: number;
  restarts: number;
  partitions: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  compactions: number;
  confChanges: number;
  messages: number;
  committed: number;
  linearizability: CheckResult['ok'];
  /** Operations the linearizability check decided over. */
  opsChecked: number;
}

export class SimFailure extends Error {
  readonly code = 'SIM_FAILED';
  constructor(
    message: string,
    readonly trace: string[],
  ) {
    super(message);
  }
}

type CrashStage = 'before-persist' | 'after-persist' | 'after-send' | 'before-advance';
const CRASH_STAGES: CrashStage[] = ['before-persist', 'after-persist', 'after-send', 'before-advance'];

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 1;
const KEYS = ['a', 'b', 'c'];
/** Operations per key before it is renamed (check/key_windows.ts): bounds what the linearizability check searches. */
const OPS_PER_KEY_WINDOW = 40;
const EMPTY = new Uint8Array(0);
const text = new TextEncoder();
const untext = new TextDecoder();

interface ReadWaiter {
  client: number;
  request: number;
  key: string;
}

class Member {
  node: RawNode | undefined;
  kv = new KvStateMachine();
  applied = 0;
  confState: ConfState;
  role: StateRole = StateRole.Follower;
  lead: NodeId = 0;
  term = 0;
  removed = false;
  /** One of the members the cluster was created with. */
  initial = false;
  /** Index of the snapshot the state machine was restored from at the last start. */
  restoredIndex = 0;
  crashStage: CrashStage | undefined;
  readonly writeWaiters = new Set<string>();
  readonly readWaiters = new Map<string, ReadWaiter>();
  readsReady: Array<ReadWaiter & { index: number }> = [];

  constructor(
    readonly id: NodeId,
    public storage: MemoryStorage,
  ) {
    this.confState = storage.initialState().confState;
    this.term = storage.initialState().hardState.term;
  }

  get up(): boolean {
    return this.node !== undefined;
  }

  logView(): LogView {
    const s = this.storage;
    const snapshotIndex = s.firstIndex() - 1;
    return {
      snapshotIndex,
      lastIndex: s.lastIndex(),
      term: (i) => s.term(i),
      entry: (i) => s.entries(i, i + 1, Number.POSITIVE_INFINITY)[0]!,
    };
  }
}

interface ClientOp {
  request: number;
  input: KvInput;
  pending: PendingOperation;
  giveUpAt: number;
  attemptDeadline: number;
  /** Some attempt reached propose() without an error: the write may take effect. */
  proposed: boolean;
  attempts: number;
  waitingRetry: boolean;
}

class Client {
  nextRequest = 1;
  target: NodeId;
  current: ClientOp | undefined;
  idleUntil = 0;
  readonly lastSeen = new Map<string, string | undefined>();

  constructor(
    readonly id: number,
    target: NodeId,
  ) {
    this.target = target;
  }
}

interface PendingConfChange {
  cc: ConfChange;
  proposedAt: number;
  applied: boolean;
}

export class Cluster {
  readonly rng: Rng;
  private readonly netRng: Rng;
  readonly network: Network;
  readonly invariants = new Invariants();
  readonly history = new HistoryRecorder<KvInput, KvOutput>();
  private readonly keyWindows = new KeyWindows(OPS_PER_KEY_WINDOW);
  readonly members = new Map<NodeId, Member>();
  private readonly clients: Client[] = [];
  private readonly initialConf: ConfState;
  private readonly traceLines: string[] = [];
  private readonly faults: NetworkFaults;
  private readonly preVote: boolean;
  /** Flow-control limits of the Raft core, drawn per seed. */
  private readonly limits: { maxSizePerMsg: number; maxInflightMsgs: number; maxUncommittedEntriesSize: number; maxCommittedSizePerReady: number };
  /** What a (re)started member passes as RaftConfig.applied. */
  private readonly restartApplied: 'zero' | 'snapshot';
  /** Multiplies the rates of partitions, crashes, restarts, compactions and transfers. */
  private readonly intensity: number;
  private readonly checkQuorum: boolean;
  private now = 0;
  /** Logical clock of the history: one step per recorded event, so the order of events is exact. */
  private eventClock = 0;
  private clientsActive = true;
  private membershipPlan: Array<'add' | 'promote' | 'remove'> = [];
  private confChange: PendingConfChange | undefined;
  private nextMemberId: NodeId;
  readonly stats = {
    crashes: 0,
    restarts: 0,
    partitions: 0,
    snapshotsInstalled: 0,
    compactions: 0,
    confChanges: 0,
    opsOk: 0,
    opsUnknown: 0,
  };

  constructor(readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.netRng = this.rng.fork();
    this.faults = {
      dropRate: this.rng.pick([0, 0.01, 0.05, 0.1]),
      duplicateRate: this.rng.pick([0, 0.01, 0.05]),
      // Delays beyond the election timeout deliver messages from terms long gone.
      maxDelay: this.rng.pick([0, 1, 2, 4, 4, 15]),
    };
    this.intensity = this.rng.pick([1, 1, 2, 4]);
    this.restartApplied = this.rng.pick(['zero', 'snapshot'] as const);
    this.limits = {
      maxSizePerMsg: this.rng.pick([0, 200, 512, 4096]),
      maxInflightMsgs: this.rng.pick([1, 2, 4, 256]),
      maxUncommittedEntriesSize: this.rng.pick([0, 1024, 1 << 16]),
      maxCommittedSizePerReady: this.rng.pick([200, 4096, Number.POSITIVE_INFINITY]),
    };
    this.preVote = this.rng.chance(0.7);
    this.checkQuorum = this.rng.chance(0.7);
    this.network = new Network(this.netRng, this.faults);
    const ids = Array.from({ length: opts.members }, (_, i) => i + 1);
    this.initialConf = { voters: ids, learners: [] };
    this.nextMemberId = opts.members + 1;
    for (const id of ids) {
      const m = new Member(id, opts.bootstrap ? new MemoryStorage() : new MemoryStorage(this.initialConf));
      m.initial = true;
      this.members.set(id, m);
      this.startNode(m);
    }
    for (let c = 1; c <= opts.clients; c++) this.clients.push(new Client(c, this.rng.pick(ids)));
    if (opts.membership) {
      this.membershipPlan = ['add', 'promote', 'remove'];
      if (this.rng.chance(0.5)) this.membershipPlan.push('add', 'remove', 'add', 'promote', 'remove');
    }
    this.trace(
      `seed ${opts.seed}: ${opts.members} members, faults ${JSON.stringify(this.faults)}, fault intensity ${this.intensity}, limits ${JSON.stringify(this.limits)}, applied on restart ${this.restartApplied}, preVote ${this.preVote}, checkQuorum ${this.checkQuorum}, membership ${opts.membership}, bootstrap ${opts.bootstrap}`,
    );
  }

  /** Runs the chaos phase, then heals everything and checks liveness and linearizability. */
  run(): SimStats {
    try {
      for (let i = 0; i < this.opts.steps; i++) {
        this.chaos();
        this.step();
      }
      this.finale();
    } catch (err) {
      if (err instanceof SimFailure) throw err;
      const msg = err instanceof InvariantViolation ? err.message : `unexpected error: ${(err as Error).stack ?? String(err)}`;
      throw new SimFailure(`tick ${this.now}: ${msg}`, this.traceLines);
    }
    const lin = checkKvHistory(this.history.history(), { timeBudgetMs: 10_000, maxPartitionOperations: OPS_PER_KEY_WINDOW });
    if (lin.ok === false) throw new SimFailure(`client history is not linearizable:\n${lin.description}`, this.traceLines);
    // The histories are bounded per key window so that the check always decides: undecided fails.
    if (lin.ok !== true) throw new SimFailure(`linearizability check undecided: ${lin.reason} (${lin.undecidedKeys.join(', ')})`, this.traceLines);
    return {
      ticks: this.now,
      ops: this.history.size,
      opsOk: this.stats.opsOk,
      opsUnknown: this.stats.opsUnknown,
      elections: this.invariants.elections,
      crashes: this.stats.crashes,
      restarts: this.stats.restarts,
      partitions: this.stats.partitions,
      snapshotsSent: this.network.stats.snapshotsSent,
      snapshotsInstalled: this.stats.snapshotsInstalled,
      compactions: this.stats.compactions,
      confChanges: this.stats.confChanges,
      messages: this.network.stats.sent,
      committed: this.invariants.committedCount,
      linearizability: lin.ok,
      opsChecked: lin.operations,
    };
  }

  get traceTail(): string[] {
    return this.traceLines.slice(-80);
  }

  // ---- one tick -------------------------------------------------------------

  private step(): void {
    this.now++;
    this.runClients();
    this.network.deliverDue(this.now, this.hooks);
    for (const m of this.liveMembers()) m.node!.tick();
    for (const m of this.liveMembers()) this.processReady(m);
    this.advanceMembership();
    if (this.now % 25 === 0) this.checkPersistedLogs();
  }

  private readonly hooks: NetworkHooks = {
    deliver: (msg: Message): boolean => {
      const m = this.members.get(msg.to);
      if (m === undefined || !m.up || m.removed) return false;
      m.node!.step(msg);
      if (msg.type === MessageType.Snap) {
        // The transport finished streaming the snapshot: tell the sender.
        const from = this.members.get(msg.from);
        if (from?.up) from.node!.reportSnapshot(msg.to, true);
      }
      this.processReady(m);
      return true;
    },
    lost: (msg: Message, reason): void => {
      const from = this.members.get(msg.from);
      if (from === undefined || !from.up) return;
      if (msg.type === MessageType.Snap) from.node!.reportSnapshot(msg.to, false);
      else if (reason !== 'drop' && this.rng.chance(0.2)) from.node!.reportUnreachable(msg.to);
    },
  };

  private liveMembers(): Member[] {
    return [...this.members.values()].filter((m) => m.up && !m.removed);
  }

  private activeIds(): NodeId[] {
    return [...this.members.values()].filter((m) => !m.removed).map((m) => m.id);
  }

  private startNode(m: Member): void {
    const init = m.storage.initialState();
    const snap = m.storage.snapshot();
    m.kv = KvStateMachine.restore(snap.data);
    m.applied = snap.metadata.index;
    m.restoredIndex = snap.metadata.index;
    m.confState = init.confState;
    m.term = init.hardState.term;
    m.role = StateRole.Follower;
    m.lead = 0;
    m.crashStage = undefined;
    const nodeRng = this.rng.fork();
    m.node = new RawNode({
      id: m.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      storage: m.storage,
      // Either replay the whole retained log (applied 0) or tell the core where the
      // state machine's snapshot already is.
      applied: this.restartApplied === 'snapshot' ? m.restoredIndex : 0,
      maxSizePerMsg: this.limits.maxSizePerMsg,
      maxInflightMsgs: this.limits.maxInflightMsgs,
      maxUncommittedEntriesSize: this.limits.maxUncommittedEntriesSize,
      maxCommittedSizePerReady: this.limits.maxCommittedSizePerReady,
      checkQuorum: this.checkQuorum,
      preVote: this.preVote,
      random: () => nodeRng.next(),
    });
    const empty = m.storage.lastIndex() === 0 && m.storage.snapshot().metadata.index === 0 && init.hardState.term === 0;
    if (this.opts.bootstrap && m.initial && empty) m.node.bootstrap(this.initialConf);
  }

  private crash(m: Member, why: string): void {
    this.trace(`crash ${m.id} (${why}); persisted last index ${m.storage.lastIndex()}, term ${m.storage.initialState().hardState.term}`);
    if (this.opts.sabotage === 'forget-vote') {
      const hs = m.storage.initialState().hardState;
      m.storage.setHardState({ term: 0, vote: 0, commit: hs.commit });
    }
    if (this.opts.sabotage === 'lose-fsync') m.storage = truncatedCopy(m.storage, 3);
    m.node = undefined;
    m.kv = new KvStateMachine();
    m.applied = 0;
    m.writeWaiters.clear();
    m.readWaiters.clear();
    m.readsReady = [];
    m.crashStage = undefined;
    this.stats.crashes++;
  }

  private restart(m: Member): void {
    this.startNode(m);
    this.stats.restarts++;
    this.trace(`restart ${m.id} from snapshot ${m.applied}, log up to ${m.storage.lastIndex()}`);
  }

  // ---- Ready handling ---------------------------------------------------------

  private processReady(m: Member): void {
    // Catching up may take many batches (maxCommittedSizePerReady); only batches
    // that apply nothing count towards the livelock bound.
    for (let idle = 0; m.node !== undefined && m.node.hasReady(); ) {
      const rd = m.node.ready();
      idle = rd.committedEntries.length > 0 ? 0 : idle + 1;
      if (idle > 100) throw new SimFailure(`member ${m.id} keeps producing Ready batches that apply nothing (livelock?)`, this.traceLines);
      this.handleReady(m, rd);
    }
  }

  private handleReady(m: Member, rd: Ready): void {
    const node = m.node!;
    if (m.crashStage === 'before-persist') return this.crash(m, 'before persisting a Ready');

    // 1. Persist.
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      m.storage.applySnapshot(rd.snapshot);
      this.invariants.observeSnapshotInstalled(m.id, rd.snapshot.metadata.index, rd.snapshot.metadata.term);
    }
    if (rd.entries.length > 0) {
      m.storage.append(rd.entries);
      this.invariants.observePersisted(m.id, rd.entries, (i) => termOrUndefined(m.storage, i));
    }
    if (rd.hardState !== undefined) {
      checkHardStateChange(m.id, m.storage.initialState().hardState, rd.hardState);
      m.storage.setHardState(rd.hardState);
      m.term = rd.hardState.term;
    }
    const persistedCommit = m.storage.initialState().hardState.commit;
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined && lastCommitted.index > Math.max(persistedCommit, m.storage.snapshot().metadata.index)) {
      throw new InvariantViolation('commit durability', `member ${m.id} was handed entry ${lastCommitted.index} to apply but its persisted commit index is ${persistedCommit}`);
    }
    if (m.crashStage === 'after-persist') return this.crash(m, 'after persisting, before sending');

    // 2. Send.
    for (const msg of rd.messages) {
      if (msg.to === m.id) throw new InvariantViolation('message addressing', `member ${m.id} sent ${msg.type} to itself`);
      this.network.send(msg, this.now, this.hooks);
    }
    if (m.crashStage === 'after-send') return this.crash(m, 'after sending, before applying');

    // 3. Apply.
    if (rd.softState !== undefined) {
      if (rd.softState.role !== m.role || rd.softState.lead !== m.lead) {
        this.trace(`${m.id}: ${rd.softState.role} term ${node.status().term} lead ${rd.softState.lead}`);
      }
      m.role = rd.softState.role;
      m.lead = rd.softState.lead;
    }
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      const s = rd.snapshot;
      if (s.metadata.index <= m.applied) {
        throw new InvariantViolation('apply order', `member ${m.id} was handed snapshot ${s.metadata.index} but has applied ${m.applied}`);
      }
      m.kv = KvStateMachine.restore(s.data);
      m.applied = s.metadata.index;
      m.confState = s.metadata.confState;
      this.stats.snapshotsInstalled++;
      this.trace(`${m.id}: installed snapshot ${s.metadata.index} (term ${s.metadata.term})`);
    }
    if (rd.committedEntries.length > 0) {
      const maxTerm = this.maxTerm();
      for (const e of rd.committedEntries) this.applyEntry(m, e, maxTerm);
    }
    for (const rs of rd.readStates) {
      this.detail(`${m.id}: read state ${ctxKey(rs.requestCtx)} index ${rs.index}`);
      const w = m.readWaiters.get(ctxKey(rs.requestCtx));
      if (w === undefined) continue;
      m.readWaiters.delete(ctxKey(rs.requestCtx));
      m.readsReady.push({ ...w, index: rs.index });
    }
    if (m.crashStage === 'before-advance') return this.crash(m, 'after applying, before advance');

    // 4. Advance.
    node.advance(rd);
    this.serveReads(m);
    if (m.role === StateRole.Leader) this.invariants.observeLeader(m.id, node.status().term, m.logView());
    if (m.removed) {
      this.trace(`${m.id}: applied its own removal, shutting down`);
      m.node = undefined;
    }
  }

  private applyEntry(m: Member, e: Entry, maxTerm: number): void {
    if (e.index <= m.restoredIndex && e.index <= m.applied) {
      // After a restart with applied = 0 the core replays the whole retained log,
      // which may start below the storage's snapshot; the state machine already
      // holds these (as etcd's server does, skip them), but they must still agree.
      this.invariants.observeApplied(m.id, e, maxTerm);
      return;
    }
    if (e.index !== m.applied + 1) {
      throw new InvariantViolation('apply order', `member ${m.id} applied index ${m.applied} and was handed index ${e.index}`);
    }
    this.invariants.observeApplied(m.id, e, maxTerm);
    m.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      if (e.data.byteLength === 0) return;
      const cc = decodeConfChange(e.data);
      m.confState = m.node!.applyConfChange(cc);
      if (this.confChange !== undefined && sameConfChange(this.confChange.cc, cc) && !this.confChange.applied) {
        this.confChange.applied = true;
        this.stats.confChanges++;
        this.trace(`${m.id}: applied ${ConfChangeType[cc.type]} ${cc.nodeId} at ${e.index} -> voters ${m.confState.voters} learners ${m.confState.learners}`);
      }
      if (cc.type === ConfChangeType.RemoveNode) {
        const gone = this.members.get(cc.nodeId);
        if (gone !== undefined && !gone.removed) {
          // An operator shuts the removed member down once its removal is committed.
          gone.removed = true;
          if (gone !== m && gone.up) {
            this.trace(`${gone.id}: removed from the cluster, shutting down`);
            gone.node = undefined;
          }
        }
      }
      return;
    }
    if (e.data.byteLength === 0) return; // a new leader's empty entry
    const cmd = decodeCommand(e.data);
    const out = m.kv.apply(cmd);
    this.detail(`${m.id}: apply ${e.index}/${e.term} client ${cmd.client} #${cmd.request} ${JSON.stringify(cmd.input)} -> ${JSON.stringify(out)}`);
    const key = `${cmd.client}:${cmd.request}`;
    if (out !== undefined && m.writeWaiters.delete(key)) this.reply(cmd.client, cmd.request, out);
  }

  private serveReads(m: Member): void {
    if (m.readsReady.length === 0) return;
    const waiting: typeof m.readsReady = [];
    for (const r of m.readsReady) {
      if (m.applied >= r.index) this.detail(`${m.id}: read ${r.key} at applied ${m.applied} (read index ${r.index})`);
      if (m.applied >= r.index) this.reply(r.client, r.request, { op: 'get', value: m.kv.get(r.key) });
      else waiting.push(r);
    }
    m.readsReady = waiting;
  }

  private maxTerm(): number {
    let t = 0;
    for (const m of this.members.values()) {
      const term = m.up ? m.node!.status().term : m.storage.initialState().hardState.term;
      if (term > t) t = term;
    }
    return t;
  }

  private checkPersistedLogs(): void {
    const logs = new Map<NodeId, LogView>();
    for (const m of this.members.values()) logs.set(m.id, m.logView());
    this.invariants.checkLogsMatch(logs);
  }

  // ---- faults -------------------------------------------------------------------

  private chaos(): void {
    const r = this.rng;
    const k = this.intensity;
    const ids = this.activeIds();
    if (!this.network.partitioned && r.chance(0.01 * k)) {
      const how = r.next();
      const desc = how < 0.5 ? this.network.partitionSymmetric(ids) : how < 0.8 ? this.network.partitionAsymmetric(ids) : this.isolateLeader(ids);
      this.stats.partitions++;
      this.trace(desc);
    } else if (this.network.partitioned && r.chance(0.02 * k)) {
      this.network.heal();
      this.trace('heal');
    }
    const down = [...this.members.values()].filter((m) => !m.removed && !m.up);
    const live = this.liveMembers();
    if (live.length > 0 && r.chance(0.006 * k) && down.length < Math.ceil(ids.length / 2)) {
      this.crash(r.pick(live), 'injected');
    }
    if (down.length > 0 && r.chance(0.03 * k)) this.restart(r.pick(down));
    const liveNow = this.liveMembers();
    if (liveNow.length > 0 && r.chance(0.005 * k)) {
      const m = r.pick(liveNow);
      m.crashStage = r.pick(CRASH_STAGES);
      this.trace(`arm crash of ${m.id} at ${m.crashStage}`);
    }
    if (liveNow.length > 0 && r.chance(0.02 * k)) this.compact(r.pick(liveNow));
    if (liveNow.length > 0 && r.chance(0.002 * k)) {
      const m = r.pick(liveNow);
      if (m.role !== StateRole.Leader) {
        this.trace(`${m.id}: forced campaign`);
        m.node!.campaign();
        this.processReady(m);
      }
    }
    if (r.chance(0.003 * k)) {
      const leader = this.leader();
      const target = r.pick(ids);
      if (leader !== undefined && target !== leader.id) {
        this.trace(`transfer leadership ${leader.id} -> ${target}`);
        leader.node!.transferLeader(target);
      }
    }
  }

  private isolateLeader(ids: NodeId[]): string {
    const leader = this.leader();
    const victim = leader?.id ?? this.rng.pick(ids);
    this.network.isolate(victim, ids);
    return `isolate ${victim}`;
  }

  /** Snapshots the member's state machine at its applied index and compacts the log behind it. */
  private compact(m: Member): void {
    if (!m.up) return; // only a running member can snapshot its state machine
    const snapIndex = m.storage.snapshot().metadata.index;
    if (m.applied <= snapIndex || m.applied > m.storage.lastIndex()) return;
    m.storage.createSnapshot(m.applied, m.confState, m.kv.serialize());
    const keep = this.rng.pick([0, 0, 2, 10]);
    const upTo = Math.max(m.storage.firstIndex() - 1, m.applied - keep);
    m.storage.compact(upTo);
    this.stats.compactions++;
    this.trace(`${m.id}: snapshot at ${m.applied}, compacted through ${upTo}`);
  }

  private leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.liveMembers()) {
      if (m.role !== StateRole.Leader) continue;
      if (best === undefined || m.term > best.term) best = m;
    }
    return best;
  }

  // ---- membership ---------------------------------------------------------------

  private advanceMembership(): void {
    if (this.membershipPlan.length === 0 || this.now < 50) return;
    const pending = this.confChange;
    if (pending !== undefined && !pending.applied) {
      if (this.now - pending.proposedAt > 150 && !this.confChangeVisible(pending.cc)) this.proposeConfChange(pending.cc);
      return;
    }
    if (!this.clientsActive || !this.rng.chance(0.02)) return;
    const leader = this.leader();
    if (leader === undefined) return;
    const next = this.membershipPlan[0]!;
    let cc: ConfChange | undefined;
    if (next === 'add') {
      const id = this.nextMemberId++;
      // A joining member starts empty (bootstrap mode: it learns the membership
      // from the log or a snapshot) or from the cluster's initial configuration
      // (like --initial-cluster), and catches up from the leader.
      const m = new Member(id, this.opts.bootstrap ? new MemoryStorage() : new MemoryStorage(this.initialConf));
      this.members.set(id, m);
      this.startNode(m);
      cc = { type: ConfChangeType.AddLearner, nodeId: id, context: text.encode(JSON.stringify({ peerURLs: [`sim://${id}`] })) };
    } else if (next === 'promote') {
      const learner = leader.confState.learners[0];
      if (learner === undefined) return;
      const lm = this.members.get(learner);
      if (lm === undefined || !lm.up || lm.applied + 5 < leader.applied) return; // wait until it has caught up
      cc = { type: ConfChangeType.PromoteLearner, nodeId: learner, context: EMPTY };
    } else {
      // Remove a voter while that leaves at least 3, else a learner.
      const { voters, learners } = leader.confState;
      const pool = voters.length > 3 ? voters : learners;
      if (pool.length === 0) return;
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.rng.pick(pool), context: EMPTY };
    }
    this.membershipPlan.shift();
    this.confChange = { cc, proposedAt: this.now, applied: false };
    this.proposeConfChange(cc);
  }

  private proposeConfChange(cc: ConfChange): void {
    const leader = this.leader();
    if (leader === undefined) return;
    this.confChange!.proposedAt = this.now;
    try {
      leader.node!.proposeConfChange(cc);
      this.trace(`propose ${ConfChangeType[cc.type]} ${cc.nodeId} via ${leader.id}`);
    } catch (err) {
      this.trace(`propose ${ConfChangeType[cc.type]} ${cc.nodeId} via ${leader.id} dropped: ${(err as Error).message}`);
    }
    this.processReady(leader);
  }

  private confChangeVisible(cc: ConfChange): boolean {
    for (const m of this.members.values()) {
      const cs = m.confState;
      const has = (ids: NodeId[]) => ids.includes(cc.nodeId);
      if (cc.type === ConfChangeType.AddLearner && (has(cs.learners) || has(cs.voters))) return true;
      if (cc.type === ConfChangeType.PromoteLearner && has(cs.voters)) return true;
      if (cc.type === ConfChangeType.RemoveNode && !has(cs.voters) && !has(cs.learners)) return true;
    }
    return false;
  }

  // ---- clients --------------------------------------------------------------------

  private runClients(): void {
    for (const c of this.clients) {
      const op = c.current;
      if (op === undefined) {
        if (this.clientsActive && this.now >= c.idleUntil) this.startOp(c);
        continue;
      }
      if (op.waitingRetry || this.now >= op.attemptDeadline) {
        if (this.now >= op.giveUpAt) {
          this.giveUp(c, op);
          continue;
        }
        if (!op.waitingRetry) c.target = this.rng.pick(this.activeIds());
        this.attempt(c, op);
      }
    }
  }

  private startOp(c: Client): void {
    const key = this.keyWindows.next(this.rng.pick(KEYS));
    const request = c.nextRequest++;
    const value = `${c.id}.${request}`;
    const r = this.rng.next();
    let input: KvInput;
    if (r < 0.35) input = { op: 'put', key, value };
    else if (r < 0.7) input = { op: 'get', key };
    else if (r < 0.8) input = { op: 'delete', key };
    else input = { op: 'cas', key, expected: this.rng.chance(0.8) ? c.lastSeen.get(key) : 'nope', value };
    const pending = this.history.call(c.id, input, this.eventClock++);
    const op: ClientOp = { request, input, pending, giveUpAt: this.now + 120, attemptDeadline: 0, proposed: false, attempts: 0, waitingRetry: false };
    c.current = op;
    this.attempt(c, op);
  }

  /** Sends the client's request to the member it believes leads; redirects cost a tick. */
  private attempt(c: Client, op: ClientOp): void {
    op.waitingRetry = false;
    op.attempts++;
    const m = this.members.get(c.target);
    if (m === undefined || !m.up || m.removed) {
      c.target = this.rng.pick(this.activeIds());
      op.waitingRetry = true;
      return;
    }
    if (this.opts.sabotage === 'local-reads' && op.input.op === 'get') {
      this.reply(c.id, op.request, { op: 'get', value: m.kv.get(op.input.key) });
      return;
    }
    // Mostly a follower redirects the client to the leader it knows; sometimes it
    // serves the request itself (forwarding the proposal or the ReadIndex to its leader).
    const viaFollower = m.role === StateRole.Follower && m.lead !== 0 && this.rng.chance(0.15);
    if (m.role !== StateRole.Leader && !viaFollower) {
      c.target = m.lead !== 0 && this.rng.chance(0.8) ? m.lead : this.rng.pick(this.activeIds());
      op.waitingRetry = true;
      return;
    }
    op.attemptDeadline = this.now + 30;
    if (op.input.op === 'get') {
      const ctx = text.encode(`${c.id}:${op.request}:${op.attempts}`);
      m.readWaiters.set(ctxKey(ctx), { client: c.id, request: op.request, key: op.input.key });
      this.detail(`client ${c.id} #${op.request} readIndex via ${m.id} (term ${m.term}, applied ${m.applied})`);
      m.node!.readIndex(ctx);
    } else {
      try {
        m.node!.propose(encodeCommand({ client: c.id, request: op.request, input: op.input }));
      } catch (err) {
        if ((err as { code?: string }).code !== 'RAFT_PROPOSAL_DROPPED') throw err;
        op.waitingRetry = true;
        return;
      }
      op.proposed = true;
      this.detail(`client ${c.id} #${op.request} proposed ${JSON.stringify(op.input)} via ${m.id} (term ${m.term})`);
      m.writeWaiters.add(`${c.id}:${op.request}`);
    }
    this.processReady(m);
  }

  private reply(clientId: number, request: number, output: KvOutput): void {
    const c = this.clients[clientId - 1];
    if (c === undefined) return;
    const op = c.current;
    if (op === undefined || op.request !== request) return;
    this.detail(`client ${clientId} #${request} ${JSON.stringify(op.input)} -> ${JSON.stringify(output)} (event ${this.eventClock})`);
    this.history.ok(op.pending, output, this.eventClock++);
    this.stats.opsOk++;
    if (output.op === 'get') c.lastSeen.set(op.input.key, output.value);
    else if (op.input.op === 'put') c.lastSeen.set(op.input.key, op.input.value);
    else if (op.input.op === 'delete') c.lastSeen.set(op.input.key, undefined);
    else if (op.input.op === 'cas' && output.op === 'cas' && output.ok) c.lastSeen.set(op.input.key, op.input.value);
    c.current = undefined;
    c.idleUntil = this.now + this.rng.int(4);
  }

  private giveUp(c: Client, op: ClientOp): void {
    if (op.proposed || op.input.op === 'get') {
      this.history.unknown(op.pending);
      this.stats.opsUnknown++;
    } else {
      this.history.fail(op.pending);
    }
    c.current = undefined;
    c.idleUntil = this.now + this.rng.int(4);
  }

  // ---- the end: heal, liveness, convergence -----------------------------------

  private finale(): void {
    this.trace('finale: heal the network, restart everyone, stop faults');
    this.network.heal();
    this.network.faults = { dropRate: 0, duplicateRate: 0, maxDelay: Math.min(1, this.faults.maxDelay) };
    for (const m of this.members.values()) {
      m.crashStage = undefined;
      if (!m.removed && !m.up) this.restart(m);
    }
    this.clientsActive = false;
    // Let the clients finish or give up.
    const drainBound = this.now + 200;
    while (this.clients.some((c) => c.current !== undefined)) {
      if (this.now > drainBound) throw new SimFailure('clients did not finish after healing', this.traceLines);
      this.step();
    }
    // Liveness: a leader emerges and a final write commits within a bound.
    const bound = this.now + 40 * ELECTION_TICK;
    const finalClient = this.clients[0]!;
    const value = `final-${this.opts.seed}`;
    const request = finalClient.nextRequest++;
    const input: KvInput = { op: 'put', key: 'final', value };
    const pending = this.history.call(finalClient.id, input, this.eventClock++);
    finalClient.current = { request, input, pending, giveUpAt: Number.POSITIVE_INFINITY, attemptDeadline: 0, proposed: false, attempts: 0, waitingRetry: true };
    while (finalClient.current !== undefined) {
      if (this.now > bound) {
        throw new SimFailure(`liveness: no write committed within ${40 * ELECTION_TICK} ticks after healing (leader: ${this.leader()?.id ?? 'none'})`, this.traceLines);
      }
      this.step();
    }
    // A member that rejoins with a higher term may still depose the leader once; a new one must follow.
    while (this.leader() === undefined) {
      if (this.now > bound) throw new SimFailure(`liveness: no leader within ${40 * ELECTION_TICK} ticks after healing`, this.traceLines);
      this.step();
    }
    const leader = this.leader()!;
    this.trace(`final write committed; leader ${leader.id} term ${leader.term}`);
    // Convergence: every member applies up to the leader's commit and holds the same state.
    const target = leader.node!.status().commit;
    const convergeBound = this.now + 60 * ELECTION_TICK;
    while (this.liveMembers().some((m) => m.applied < target)) {
      if (this.now > convergeBound) {
        const lag = this.liveMembers().map((m) => `${m.id}@${m.applied}`).join(' ');
        throw new SimFailure(`liveness: members did not catch up to commit ${target}: ${lag}`, this.traceLines);
      }
      this.step();
    }
    this.checkPersistedLogs();
    const digests = new Map<string, NodeId[]>();
    // Compare the state machines at the same index: step without new writes until all match the leader's applied.
    for (const m of this.liveMembers()) {
      if (m.applied !== leader.applied) continue;
      const d = m.kv.digest();
      digests.set(d, [...(digests.get(d) ?? []), m.id]);
    }
    if (digests.size > 1) {
      throw new SimFailure(`state machines diverged at index ${leader.applied}: ${[...digests.values()].map((ids) => `{${ids.join(',')}}`).join(' vs ')}`, this.traceLines);
    }
  }

  // ---- tracing -------------------------------------------------------------------

  /** Fine-grained events, only when someone listens (replay). */
  private detail(line: string): void {
    if (this.opts.trace !== undefined) this.opts.trace(`[${this.now}]   ${line}`);
  }

  private trace(line: string): void {
    const l = `[${this.now}] ${line}`;
    this.traceLines.push(l);
    if (this.traceLines.length > 2000) this.traceLines.splice(0, 1000);
    this.opts.trace?.(l);
  }
}

/** A member's persisted hard state only moves forward: term and commit never decrease, and one term has one vote. */
function checkHardStateChange(id: NodeId, prev: HardState, next: HardState): void {
  if (next.term < prev.term) {
    throw new InvariantViolation('persisted term', `member ${id} persisted term ${next.term} after term ${prev.term}`);
  }
  if (next.term === prev.term && prev.vote !== 0 && next.vote !== prev.vote) {
    throw new InvariantViolation('vote safety', `member ${id} changed its vote in term ${next.term} from ${prev.vote} to ${next.vote}`);
  }
  if (next.commit < prev.commit) {
    throw new InvariantViolation('commit monotonicity', `member ${id} persisted commit ${next.commit} after ${prev.commit}`);
  }
}

function termOrUndefined(s: MemoryStorage, i: number): number | undefined {
  if (i < 0) return undefined;
  try {
    return s.term(i);
  } catch {
    return undefined;
  }
}

/** The storage as it would be had the last `lose` appended entries never reached the disk. */
function truncatedCopy(s: MemoryStorage, lose: number): MemoryStorage {
  const snap = s.snapshot();
  const { hardState, confState } = s.initialState();
  const copy = new MemoryStorage(confState);
  if (snap.metadata.index > 0) copy.applySnapshot(snap);
  const first = s.firstIndex();
  const last = Math.max(first - 1, s.lastIndex() - lose);
  if (last >= first) copy.append(s.entries(first, last + 1, Number.POSITIVE_INFINITY));
  copy.setHardState({ ...hardState, commit: Math.min(hardState.commit, last) });
  return copy;
}

function ctxKey(b: Uint8Array): string {
  return untext.decode(b);
}

function sameConfChange(a: ConfChange, b: ConfChange): boolean {
  return a.type === b.type && a.nodeId === b.nodeId;
}

/** The command line that replays one seed. */
export function replayCommand(opts: Pick<SimOptions, 'seed' | 'members' | 'steps' | 'membership' | 'bootstrap'>): string {
  return (
    `npx tsx packages/store/test/sim/replay.ts --seed ${opts.seed} --members ${opts.members} --steps ${opts.steps}` +
    ` ${opts.membership ? '--membership' : '--no-membership'} ${opts.bootstrap ? '--bootstrap' : '--no-bootstrap'}`
  );
}

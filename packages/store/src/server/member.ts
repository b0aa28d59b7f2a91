// One mkube-store member: the Raft core driven by the Ready loop
// (ready_loop.ts), LevelDB persistence, the MVCC key space, the peer transport,
// and the EtcdBackend the gRPC services call. This file is the loop's host:
// what applying an entry, installing a snapshot and sending mean here.
// Everything that touches the Raft core runs on Node's single thread between
// awaits; only the loop calls ready()/advanceAppend()/advanceApply().
import { ClassicLevel } from 'classic-level';
import { randomBytes, randomInt } from 'node:crypto';
import { ensurePrivateDir, restrictTree } from './private_dir.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CompactionRequest__Output } from '../gen/etcdserverpb/CompactionRequest.js';
import type { CompactionResponse } from '../gen/etcdserverpb/CompactionResponse.js';
import type { DeleteRangeRequest__Output } from '../gen/etcdserverpb/DeleteRangeRequest.js';
import type { DeleteRangeResponse } from '../gen/etcdserverpb/DeleteRangeResponse.js';
import type { PutRequest__Output } from '../gen/etcdserverpb/PutRequest.js';
import type { PutResponse } from '../gen/etcdserverpb/PutResponse.js';
import type { RangeRequest__Output } from '../gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../gen/etcdserverpb/RangeResponse.js';
import type { TxnRequest__Output } from '../gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../gen/etcdserverpb/TxnResponse.js';
import { RawNode, MemoryStorage, decodeConfChange, newMessage } from '../raft/index.js';
import { ConfChangeType, EntryType, MessageType, ProposalDroppedError, StateRole, type ConfChange, type ConfState, type Entry, type Message, type Snapshot } from '../raft/types.js';
import { EtcdError, type EtcdBackend, type MemberInfo, type ResponseHeaderFields, type StatusInfo, type WatchCreateOptions, type WatchHandle, type WatchSink } from './backend.js';
import type { MemberConfig } from './config.js';
import { encodeInternalRequest, decodeInternalRequest, type InternalRequestBody } from './internal_request.js';
import type { KeySpace } from './key_space.js';
import { Membership, initialClusterId, initialMemberId, type ConfChangeContext } from './membership.js';
import type { StoreMetrics } from './metrics.js';
import type { PeerHandler } from './peer/peer_service.js';
import { PeerTransport, fetchClusterInfo } from './peer/transport.js';
import { checkVoterRemoval } from './reconfig_check.js';
import type { WireMember } from './peer/wire.js';
import { ProposalWaiters } from './proposal_waiters.js';
import { DataCorruptError, RaftLogStore, type MemberIdentity } from './raft_log_store.js';
import { ReadBarrier } from './read_barrier.js';
import { ReadyLoop } from './ready_loop.js';
import { seededRandom } from '../raft/seeded_random.js';
import { SnapshotFile, SnapshotRefusedError, clearReceivedSnapshots } from './snapshot_file.js';
import { spoolSnapshot, type SnapshotSource } from './snapshot_spool.js';
import { MemberMaintenance } from './maintenance.js';
import type { AlarmEntry } from './alarms.js';
import { isTxnReadonly, isTxnSerializable } from '../mvcc/read_txn.js';

export const STORE_VERSION = '3.4.0';

/** Committed entries that may wait for the apply chain before the Ready loop waits for it. */
const MAX_QUEUED_APPLY = 20_000;

/** Heartbeat intervals' worth of ticks delivered at once after the event loop was late (see onTimer). */
const MAX_CATCH_UP_HEARTBEATS = 4;

/**
 * Raft ticks per heartbeat interval (fewer when a tick would be shorter than MIN_TICK_MS). The
 * randomized election timeout, [electionTick, 2 × electionTick), is counted in whole ticks: with one
 * tick per heartbeat (etcd's) a 400 ms timeout at 50 ms heartbeats has only 8 values, so the two
 * followers of a dead leader draw the same one every eighth failover, time out together and may
 * split the vote (a second timeout: +0.4-0.8 s), and a follower whose ticks run a little behind the
 * candidate's still counts the leader's lease and ignores its pre-vote. 10 ms ticks give 40 values
 * and members at most 10 ms apart.
 */
const TICKS_PER_HEARTBEAT = 5;
const MIN_TICK_MS = 10;

export class StartupError extends Error {
  constructor(
    readonly code: 'DATA_DIR_IN_USE' | 'DATA_DIR_FOREIGN' | 'DATA_CORRUPT' | 'JOIN_FAILED' | 'CONFIG_INVALID',
    message: string,
  ) {
    super(message);
  }
}

export interface MemberDeps {
  logger: Logger;
  metrics: StoreMetrics;
  /** Opens the key space over the member's LevelDB (prefix reserved for it). */
  openKeySpace(dir: string, quotaBytes: number): Promise<KeySpace>;
  peerCredentials?: import('@grpc/grpc-js').ChannelCredentials;
  /** The peer client TLS files (for the node:http2 peer channel: server/grpc/client.ts). */
  peerTLS?: import('./grpc/client.js').ChannelTLS;
}

type Timer = ReturnType<typeof setInterval>;

export class Member implements EtcdBackend, PeerHandler {
  private node!: RawNode;
  private storage!: MemoryStorage;
  private transport!: PeerTransport;
  private ticker: Timer | undefined;
  private appliedIdx = 0;
  private snapshotIdx = 0;
  private lead = 0;
  /** When this member last learned of an elected leader (ms; etcd's leadElectedTime). */
  private leadElectedAt = 0;
  private role: StateRole = StateRole.Follower;
  private term = 0;
  private confState: ConfState = { voters: [], learners: [] };
  private readonly proposals: ProposalWaiters;
  private readonly confWaiters = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private reads!: ReadBarrier;
  private leaderWaiters: Array<() => boolean> = [];
  /**
   * Failover (see leaderUsable): when a message from the current leader last arrived, and when the
   * peer transport reported the connection to it broken with nothing heard from it since (0: not).
   */
  private leaderHeardAt = 0;
  private leaderUnreachableAt = 0;
  /** The term whose first committed entry was logged (the failover timeline's "first commit"). */
  private firstCommitLoggedTerm = 0;
  /** This member's proposals handed to Raft and not applied yet: the term they were handed over in, their entry (see reproposeLost). */
  private readonly inFlight = new Map<number, { term: number; data: Uint8Array }>();
  /** The term of the last entry applied. */
  private appliedTerm = 0;
  private loop!: ReadyLoop;
  private stopped = false;
  private fatal: Error | undefined;
  private ticks = 0;
  private lastTickAt = 0;
  /** Raft ticks per heartbeat interval and the length of one (see TICKS_PER_HEARTBEAT). */
  private readonly ticksPerHeartbeat: number;
  private readonly tickMs: number;
  private revoking = new Set<number>();
  private attributesPublished = false;
  /** Snapshots received in full and accepted by Raft, by "term/index", until a Ready installs them. */
  private readonly receivedSnapshots = new Map<string, { file: SnapshotFile; from: number; done(err?: Error): void }>();
  /** Alarms, hashes, MoveLeader, Defragment, auto compaction, the corruption check (maintenance.ts). */
  readonly maintenance: MemberMaintenance;

  private constructor(
    readonly cfg: MemberConfig,
    private readonly deps: MemberDeps,
    private readonly db: ClassicLevel<Buffer, Buffer>,
    private readonly raftLog: RaftLogStore,
    private readonly membership: Membership,
    private readonly kv: KeySpace,
    private identity: MemberIdentity,
  ) {
    this.proposals = new ProposalWaiters(this.requestTimeoutMs());
    this.maintenance = this.createMaintenance();
    this.ticksPerHeartbeat = Math.max(1, Math.min(TICKS_PER_HEARTBEAT, Math.floor(cfg.heartbeatIntervalMs / MIN_TICK_MS)));
    this.tickMs = cfg.heartbeatIntervalMs / this.ticksPerHeartbeat;
  }

  private createMaintenance(): MemberMaintenance {
    return new MemberMaintenance(
      {
        logger: this.deps.logger,
        kv: () => this.kv,
        memberId: () => this.id,
        leader: () => this.lead,
        isLeader: () => this.role === StateRole.Leader,
        voters: () => this.confState.voters,
        isLearner: (id) => this.membership.get(id)?.isLearner ?? false,
        isMember: (id) => this.membership.get(id) !== undefined,
        propose: (body) => this.propose(body),
        linearizable: () => this.linearizable(),
        transferLeader: (id) => {
          this.node.transferLeader(id);
          this.schedule();
        },
        peerHash: (id, revision) => this.transport.unary(id, 'HashKV', { clusterId: this.identity.clusterId, revision }, this.requestTimeoutMs()),
        onAutoCompaction: () => this.deps.metrics.autoCompactions.inc(),
      },
      {
        autoCompactionMode: this.cfg.autoCompactionMode,
        autoCompactionRetention: this.cfg.autoCompactionRetention,
        autoCompactionIntervalMs: this.cfg.autoCompactionRevisionIntervalMs,
        corruptCheckTimeMs: this.cfg.corruptCheckTimeMs,
        heartbeatIntervalMs: this.cfg.heartbeatIntervalMs,
        requestTimeoutMs: this.requestTimeoutMs(),
      },
    );
  }

  /** PeerHandler: this member's HashKV for the leader's corruption check. */
  async hashKVLocal(revision: number): Promise<{ memberId: number; revision: number; compactRevision: number; hash: number }> {
    this.checkServing();
    const r = await this.kv.hashKV(revision);
    return { memberId: this.id, revision: r.currentRevision, compactRevision: r.compactRevision, hash: r.hash };
  }

  get id(): number {
    return this.identity.memberId;
  }

  get clusterIdValue(): number {
    return this.identity.clusterId;
  }

  private requestTimeoutMs(): number {
    return 5000 + 2 * this.cfg.electionTimeoutMs;
  }

  /**
   * The error of a proposal that reached the request timeout, as etcd's parseProposeCtxErr: one
   * started within two election timeouts before the current leader was elected failed "possibly
   * due to previous leader failure"; any other simply timed out.
   */
  private proposalTimeoutError(startedAt: number): EtcdError {
    const elected = this.leadElectedAt;
    if (startedAt > elected - 2 * this.cfg.electionTimeoutMs && startedAt < elected) {
      return new EtcdError('TimeoutDueToLeaderFail', 'etcdserver: request timed out, possibly due to previous leader failure');
    }
    return new EtcdError('Timeout', 'etcdserver: request timed out');
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  // ---------------------------------------------------------------- start-up

  static async open(cfg: MemberConfig, deps: MemberDeps): Promise<Member> {
    // The data dir and its two LevelDB dirs (the Raft log's and the key space's) are 0700 before LevelDB makes them.
    for (const d of [cfg.dataDir, join(cfg.dataDir, 'db'), join(cfg.dataDir, 'kv')]) ensurePrivateDir(d, deps.logger);
    restrictTree(cfg.dataDir);
    const db = new ClassicLevel<Buffer, Buffer>(join(cfg.dataDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if ((err as { code?: string }).code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED') {
        throw new StartupError('DATA_DIR_IN_USE', `data directory ${cfg.dataDir} is in use by another mkube-store process`);
      }
      throw new StartupError('DATA_CORRUPT', `cannot open the database in ${cfg.dataDir}: ${(err as Error).message}${cause?.message ? ` (${cause.message})` : ''}`);
    }
    try {
      return await Member.openWithDb(cfg, deps, db);
    } catch (err) {
      await db.close().catch(() => undefined);
      if (err instanceof DataCorruptError) throw new StartupError('DATA_CORRUPT', `${cfg.dataDir}: ${err.message}`);
      throw err;
    }
  }

  private static async openWithDb(cfg: MemberConfig, deps: MemberDeps, db: ClassicLevel<Buffer, Buffer>): Promise<Member> {
    // The Raft log's WAL (src/wal) lives beside the LevelDB dirs; a LevelDB Raft log is migrated on load.
    const raftLog = new RaftLogStore(db, { walDir: join(cfg.dataDir, 'wal'), segmentBytes: cfg.walSegmentBytes, logger: deps.logger });
    const membership = new Membership(db);
    let identity = await raftLog.readIdentity();
    const initialIds = [...cfg.initialCluster.entries()].map(([, urls]) => initialMemberId(urls, cfg.initialClusterToken));
    if (identity) {
      if (identity.name !== cfg.name) {
        throw new StartupError('DATA_DIR_FOREIGN', `data directory ${cfg.dataDir} belongs to member "${identity.name}", not to "${cfg.name}"; refusing to start`);
      }
      if (cfg.initialClusterState === 'new') {
        const expected = initialClusterId(initialIds, cfg.initialClusterToken);
        const myExpected = initialMemberId(cfg.initialAdvertisePeerURLs, cfg.initialClusterToken);
        const joined = (await db.get(Buffer.from('meta/joined'))) !== undefined;
        if (!joined && (identity.clusterId !== expected || identity.memberId !== myExpected)) {
          throw new StartupError(
            'DATA_DIR_FOREIGN',
            `data directory ${cfg.dataDir} belongs to cluster ${identity.clusterId.toString(16)} (member ${identity.memberId.toString(16)}), but --initial-cluster/--initial-cluster-token describe cluster ${expected.toString(16)} (member ${myExpected.toString(16)}); refusing to start`,
          );
        }
      }
      await membership.load();
    } else if (cfg.initialClusterState === 'new') {
      const memberId = initialMemberId(cfg.initialAdvertisePeerURLs, cfg.initialClusterToken);
      const clusterId = initialClusterId(initialIds, cfg.initialClusterToken);
      for (const [name, urls] of cfg.initialCluster) {
        const id = initialMemberId(urls, cfg.initialClusterToken);
        membership.add(id, { name, peerURLs: urls, clientURLs: [] }, false);
      }
      // The voter set goes into the log itself (restoreRaft bootstraps Raft with ConfChange entries
      // 1..n), so a member that joins later learns it by replaying the log.
      await membership.persist();
      identity = { clusterId, memberId, name: cfg.name };
      await raftLog.writeIdentity(identity);
    } else {
      const joined = await Member.joinInfo(cfg, deps);
      membership.restore({ members: joined.members, removed: [] });
      await membership.persist();
      await db.put(Buffer.from('meta/joined'), Buffer.from('1'), { sync: true });
      identity = { clusterId: joined.clusterId, memberId: joined.memberId, name: cfg.name };
      await raftLog.writeIdentity(identity);
    }
    let kv: KeySpace;
    try {
      kv = await deps.openKeySpace(join(cfg.dataDir, 'kv'), cfg.quotaBackendBytes);
    } catch (err) {
      const e = err as { code?: string; cause?: { code?: string } };
      if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
        throw new StartupError('DATA_DIR_IN_USE', `data directory ${cfg.dataDir} is in use by another mkube-store process`);
      }
      if (e.code === 'DATA_CORRUPT') throw new StartupError('DATA_CORRUPT', `${cfg.dataDir}: key space: ${(err as Error).message}`);
      throw err;
    }
    clearReceivedSnapshots(cfg.dataDir);
    const member = new Member(cfg, deps, db, raftLog, membership, kv, identity);
    await member.restoreRaft();
    return member;
  }

  /** A member started with --initial-cluster-state existing learns its id and the cluster from a peer. */
  private static async joinInfo(cfg: MemberConfig, deps: MemberDeps): Promise<{ clusterId: number; memberId: number; members: MemberInfo[] }> {
    const errors: string[] = [];
    for (const [name, urls] of cfg.initialCluster) {
      if (name === cfg.name) continue;
      for (const url of urls) {
        try {
          const info = await fetchClusterInfo(url, 3000, deps.peerCredentials);
          const members: MemberInfo[] = info.members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner }));
          const me = members.find((m) => m.peerURLs.some((u) => cfg.initialAdvertisePeerURLs.includes(u)));
          if (!me) {
            throw new StartupError('JOIN_FAILED', `the cluster at ${url} has no member with peer URLs ${cfg.initialAdvertisePeerURLs.join(',')}; run "member add" first`);
          }
          return { clusterId: info.clusterId, memberId: me.id, members };
        } catch (err) {
          if (err instanceof StartupError) throw err;
          errors.push(`${url}: ${(err as Error).message}`);
        }
      }
    }
    throw new StartupError('JOIN_FAILED', `cannot reach any member of the cluster to join: ${errors.join('; ') || 'no other members in --initial-cluster'}`);
  }

  private async restoreRaft(): Promise<void> {
    const loaded = await this.raftLog.load();
    this.storage = loaded.storage;
    this.snapshotIdx = loaded.snapshot?.metadata.index ?? 0;
    if (loaded.snapshot && loaded.snapshot.data.length > 0) {
      // The membership as of the snapshot; later conf changes are re-applied from the log.
      const fromSnap = JSON.parse(Buffer.from(loaded.snapshot.data).toString('utf8')) as { members: MemberInfo[]; removed: number[]; alarms?: AlarmEntry[] };
      if (this.membership.list().length === 0) this.membership.restore(fromSnap);
      this.maintenance.restoreSnapshotData(fromSnap.alarms);
    }
    this.appliedIdx = this.snapshotIdx;
    const electionTick = Math.max(2 * this.ticksPerHeartbeat, Math.round(this.cfg.electionTimeoutMs / this.tickMs));
    const seed = randomBytes(4).readUInt32LE(0);
    this.node = new RawNode({
      id: this.id,
      electionTick,
      heartbeatTick: this.ticksPerHeartbeat,
      storage: this.storage,
      applied: this.appliedIdx,
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 1 << 30,
      // The loop reports "persisted up to" and "applied up to" separately (ready_loop.ts).
      asyncStorageWrites: true,
      checkQuorum: true,
      preVote: true,
      random: seededRandom(seed),
      logger: {
        debug: (o, m) => this.log.debug(o, m),
        info: (o, m) => this.log.info(o, m),
        warn: (o, m) => this.log.warn(o, m),
      },
    });
    const joined = (await this.db.get(Buffer.from('meta/joined'))) !== undefined;
    if (this.cfg.initialClusterState === 'new' && !joined && loaded.lastIndex === 0 && this.snapshotIdx === 0 && loaded.hardState.term === 0) {
      // A fresh member of a new cluster (or one that crashed before its first write): every initial
      // member writes the same ConfChange entries 1..n at term 1.
      const voters = this.membership.list().map((m) => m.id).sort((a, b) => a - b);
      this.node.bootstrap({ voters, learners: [] });
    }
    this.confState = this.node.status().confState;
    this.reads = new ReadBarrier(
      { readIndex: (ctx) => { this.node.readIndex(ctx); this.schedule(); }, appliedIndex: () => this.appliedIdx },
      this.requestTimeoutMs(),
      3 * this.cfg.heartbeatIntervalMs + this.cfg.electionTimeoutMs,
    );
    this.transport = new PeerTransport({
      clusterId: this.identity.clusterId,
      memberId: this.id,
      logger: this.log,
      tlsCredentials: this.deps.peerCredentials,
      tls: this.deps.peerTLS,
      onUnreachable: (id) => {
        this.node.reportUnreachable(id);
        this.noteUnreachable(id);
      },
      onSnapshotStatus: (id, ok) => {
        this.deps.metrics.snapshotsSent.inc({ result: ok ? 'ok' : 'failed' });
        this.node.reportSnapshot(id, ok);
        this.schedule();
      },
      snapshotData: () => this.kv.snapshotChunks(),
    });
    for (const m of this.membership.list()) this.transport.setPeer(m.id, m.peerURLs);
    this.loop = new ReadyLoop(this.node, this.storage, this.raftLog, {
      onSoftState: (lead, role) => this.onSoftState(lead, role),
      onHardState: (hs) => {
        this.term = hs.term;
      },
      restoreSnapshot: (snap) => this.restoreReceivedSnapshot(snap),
      installSnapshot: (snap) => this.installSnapshot(snap),
      applyEntries: (entries) => this.applyEntries(entries),
      afterApply: () => this.afterApply(),
      send: (msgs) => this.transport.send(msgs),
      onReadStates: (rss) => {
        for (const rs of rss) this.reads.onReadState(rs.index, rs.requestCtx);
      },
      onSyncedWrite: (s) => this.deps.metrics.fsyncDuration.observe(s),
      fail: (err) => this.die(err),
    }, { maxQueuedApply: MAX_QUEUED_APPLY, defer: setImmediate });
    this.log.info(
      { member: this.id.toString(16), cluster: this.identity.clusterId.toString(16), applied: this.appliedIdx, lastIndex: loaded.lastIndex, term: loaded.hardState.term },
      'member restored',
    );
  }

  /** Starts ticking. The gRPC servers are started by the caller once this returns. */
  start(): void {
    this.lastTickAt = Date.now();
    // Tick at a random phase within one tick. The randomized election timeout counts whole ticks
    // (electionTick..2×electionTick-1), so members started together would otherwise time out in the
    // same instant whenever they draw the same count and split the vote; with the phases apart, the
    // first to time out has its pre-vote and vote granted before the other campaigns.
    const phaseMs = randomInt(0, Math.max(1, Math.round(this.tickMs)));
    this.ticker = setTimeout(() => {
      if (this.stopped) return;
      this.lastTickAt = Date.now();
      this.ticker = setInterval(() => this.onTimer(), this.tickMs);
    }, phaseMs);
    this.campaignIfAlone();
    this.schedule();
  }

  /** A single-member cluster elects itself at once instead of waiting an election timeout. */
  private campaignIfAlone(): void {
    const st = this.node.status();
    if (this.lead !== 0 || st.confState.voters.length !== 1 || st.confState.voters[0] !== this.id) return;
    // Raft refuses to campaign before the bootstrap conf changes are applied; applyEntries calls again.
    if (st.applied < st.commit) return;
    this.node.campaign();
    this.schedule();
  }

  /**
   * Raft time follows the wall clock: when the event loop ran late (a loaded machine), the ticks
   * that were due are delivered now (at most MAX_CATCH_UP_HEARTBEATS' worth), so an election timeout stays
   * close to its configured length in real time instead of stretching with the load.
   */
  private onTimer(): void {
    const now = Date.now();
    const due = Math.floor((now - this.lastTickAt) / this.tickMs);
    if (due <= 0) return;
    const maxCatchUp = MAX_CATCH_UP_HEARTBEATS * this.ticksPerHeartbeat;
    this.lastTickAt += due * this.tickMs;
    if (due > maxCatchUp) this.lastTickAt = now;
    const ticks = Math.min(due, maxCatchUp);
    if (ticks === 1) {
      this.onTick();
      return;
    }
    // The loop was late: timers run before I/O in an event-loop turn, so the peer messages that
    // arrived meanwhile are read first (setImmediate runs after this turn's I/O) and the catch-up
    // ticks come after them. Otherwise a stalled leader could count its followers silent (CheckQuorum)
    // and a stalled follower campaign while their heartbeats wait unread in the socket.
    setImmediate(() => {
      // A follower that has just read a message from its leader (its election timer restarted) takes
      // only the ticks due since: those due before it would count, after the restart, time it spent
      // waiting to read that message, and it would campaign that much early.
      let n = ticks;
      if (this.role === StateRole.Follower && this.lead !== 0) n = Math.min(n, Math.floor((Date.now() - this.leaderHeardAt) / this.tickMs));
      for (let i = 0; i < n; i++) this.onTick();
    });
  }

  private onTick(): void {
    if (this.stopped) return;
    this.node.tick();
    this.ticks++;
    if (this.ticks % this.ticksPerHeartbeat === 0) this.onHeartbeatInterval(this.ticks / this.ticksPerHeartbeat);
    this.schedule();
  }

  /** Once per heartbeat interval (the `beats`-th): timeouts, leases, metrics. */
  private onHeartbeatInterval(beats: number): void {
    const now = Date.now();
    this.maybeForgetLeader(now);
    this.reads.onTick(now);
    this.proposals.expire(now, (startedAt) => this.proposalTimeoutError(startedAt));
    const perSecond = Math.max(1, Math.round(1000 / this.cfg.heartbeatIntervalMs));
    if (beats % Math.max(1, Math.round(perSecond / 2)) === 0 && this.role === StateRole.Leader) this.revokeExpiredLeases(now);
    if (beats % (perSecond * 5) === 0) {
      this.kv.tickProgress();
      // etcd's: the size on disk, and the live data's.
      this.deps.metrics.dbSize.set(this.kv.diskSize());
      this.deps.metrics.dbSizeInUse.set(this.kv.dbSize());
    }
    if (!this.attributesPublished && this.lead !== 0 && beats % Math.max(1, Math.round(perSecond / 5)) === 0) this.publishAttributes();
  }

  // ---------------------------------------------------------------- Ready loop

  private schedule(): void {
    if (this.stopped || this.fatal) return;
    this.loop.schedule();
  }

  private async applyEntries(entries: Entry[]): Promise<void> {
    if (this.fatal) return;
    if (this.role === StateRole.Leader && this.firstCommitLoggedTerm !== this.term) {
      const first = entries.find((e) => e.term === this.term);
      if (first) {
        this.firstCommitLoggedTerm = this.term;
        this.log.info({ term: this.term, index: first.index, sinceElectedMs: Date.now() - this.leadElectedAt }, 'leader: the first entry of its term is committed');
      }
    }
    this.deps.metrics.proposalsCommitted.set(entries[entries.length - 1]!.index);
    for (const e of entries) {
      await this.applyEntry(e);
      if (e.term > this.appliedTerm) {
        this.appliedTerm = e.term;
        if (this.inFlight.size > 0) this.reproposeLost(e.term);
      }
    }
    // One key-space write for the whole batch; the Raft log already made the entries durable.
    await this.kv.flush();
  }

  /** The core knows the entries are applied: a lone member may campaign now; reads and snapshots follow the index. */
  private async afterApply(): Promise<void> {
    if (this.lead === 0) this.campaignIfAlone();
    this.deps.metrics.proposalsApplied.set(this.appliedIdx);
    this.reads.onApplied(this.appliedIdx);
    await this.maybeSnapshot();
  }

  private onSoftState(lead: number, role: StateRole): void {
    const wasLeader = this.role === StateRole.Leader;
    if (this.role === StateRole.Follower && (role === StateRole.PreCandidate || role === StateRole.Candidate)) {
      // The failover timeline (the chaos test reads these): when the leader was last heard from.
      this.log.info({ term: this.node.status().term, lastLeader: this.lead.toString(16), lastHeardAt: this.leaderHeardAt, sinceHeardMs: Date.now() - this.leaderHeardAt }, 'campaigning: no word from the leader within the election timeout');
    }
    const leaderChanged = lead !== this.lead;
    if (leaderChanged) {
      // A new leader counts as just heard from; losing one keeps the time the last was heard (logged when campaigning).
      if (lead !== 0) this.leaderHeardAt = Date.now();
      this.leaderUnreachableAt = 0;
      const hadLeader = this.lead !== 0;
      if (lead !== 0) this.deps.metrics.leaderChanges.inc();
      this.log.info({ lead: lead.toString(16), role, term: this.node.status().term }, lead === 0 ? 'lost the leader' : 'leader changed');
      // Pending proposals keep waiting (as etcd's): an entry the old leader replicated commits under
      // the new one and answers its client; one that was lost fails at the request timeout with
      // "possibly due to previous leader failure" (see proposalTimeoutError).
      if (hadLeader) this.log.debug({ pending: this.proposals.size }, 'leader changed with proposals pending');
      if (lead !== 0) this.leadElectedAt = Date.now();
      this.lead = lead;
    }
    this.role = role;
    if (lead !== 0) {
      this.wakeLeaderWaiters();
      if (leaderChanged) this.reads.onLeaderChange();
    }
    if ((role === StateRole.Leader) !== wasLeader) this.maintenance.onLeadership(role === StateRole.Leader);
    this.deps.metrics.hasLeader.set(lead !== 0 ? 1 : 0);
    this.deps.metrics.isLeader.set(role === StateRole.Leader ? 1 : 0);
    if (role === StateRole.Leader && !wasLeader) {
      // Leases get a fresh TTL under a new leader, like etcd's lessor promotion (extended by an election timeout).
      this.kv.leasePromote(Date.now() + this.cfg.electionTimeoutMs);
    } else if (role !== StateRole.Leader && wasLeader) {
      this.kv.leaseDemote();
      this.revoking.clear();
    }
  }

  /** The loop has persisted the snapshot and put it into the core's storage. */
  private installSnapshot(snap: Snapshot): void {
    this.snapshotIdx = snap.metadata.index;
    this.confState = snap.metadata.confState;
    if (snap.data.length > 0) {
      const m = JSON.parse(Buffer.from(snap.data).toString('utf8')) as { members: MemberInfo[]; removed: number[]; alarms?: AlarmEntry[] };
      this.maintenance.restoreSnapshotData(m.alarms);
      this.membership.restore(m);
      void this.membership.persist();
      for (const mem of m.members) this.transport.setPeer(mem.id, mem.peerURLs);
    }
    if (snap.metadata.index > this.appliedIdx) this.appliedIdx = snap.metadata.index;
    // Proposals whose entries the snapshot may hold are not applied here one by one: never propose them again.
    this.inFlight.clear();
    this.appliedTerm = Math.max(this.appliedTerm, snap.metadata.term);
    this.log.info({ index: snap.metadata.index, term: snap.metadata.term }, 'installed snapshot');
    this.settleReceivedSnapshots(snap.metadata.index);
  }

  private async applyEntry(e: Entry): Promise<void> {
    if (e.index <= this.appliedIdx) return;
    const t0 = process.hrtime.bigint();
    if (e.type === EntryType.ConfChange) {
      await this.applyConfChange(e, decodeConfChange(e.data));
    } else if (e.data.length > 0) {
      const req = decodeInternalRequest(e.data);
      let result: unknown;
      let error: Error | undefined;
      try {
        result = await this.applyRequest(e.index, req);
      } catch (err) {
        // Request errors (EtcdError, MVCC validation) are deterministic results; anything else is an I/O failure.
        if (!(err instanceof Error) || (err as { etcdName?: string }).etcdName === undefined) throw err;
        error = err;
      }
      // A NOSPACE failure raises this member's alarm; its client hears of it once the alarm is committed.
      const raising = error ? this.maintenance.onApplyError(error) : undefined;
      if (req.origin === this.id) {
        this.inFlight.delete(req.seq);
        const e = error;
        if (e && raising) void raising.then(() => this.proposals.reject(req.seq, e));
        else if (e) this.proposals.reject(req.seq, e);
        else this.proposals.resolve(req.seq, result);
      }
    }
    this.appliedIdx = e.index;
    this.deps.metrics.applyDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  private async applyRequest(index: number, req: InternalRequestBody): Promise<unknown> {
    // Alarms are replicated state; while one is active, writes are refused alike on every member.
    if ('alarm' in req) return this.maintenance.applyAlarm(req.alarm);
    const refused = this.maintenance.refusal(req);
    if (refused) throw refused;
    if ('memberAttributes' in req) {
      const a = req.memberAttributes;
      this.membership.setAttributes(a.id, a.name, a.clientUrls);
      await this.membership.persist();
      return undefined;
    }
    if ('leaseRevoke' in req) this.revoking.delete(req.leaseRevoke.ID);
    const result = await this.kv.apply(index, req);
    if ('leaseGrant' in req && this.role === StateRole.Leader) this.kv.leaseRenew(req.leaseGrant.id, Date.now());
    return result;
  }

  private async applyConfChange(e: Entry, cc: ConfChange): Promise<void> {
    let ctx: ConfChangeContext = { name: '', peerURLs: [], clientURLs: [] };
    if (cc.context.length > 0) ctx = JSON.parse(Buffer.from(cc.context).toString('utf8')) as ConfChangeContext;
    const removedSelf = cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.id;
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearner:
        if (!this.membership.isRemoved(cc.nodeId)) {
          const existing = this.membership.get(cc.nodeId);
          // Bootstrap entries carry no context: what this member already knows stays.
          const merged: ConfChangeContext = existing
            ? {
                name: existing.name || ctx.name,
                peerURLs: ctx.peerURLs.length > 0 ? ctx.peerURLs : existing.peerURLs,
                clientURLs: existing.clientURLs.length > 0 ? existing.clientURLs : ctx.clientURLs,
              }
            : ctx;
          this.membership.add(cc.nodeId, merged, cc.type === ConfChangeType.AddLearner);
          this.transport.setPeer(cc.nodeId, merged.peerURLs);
        }
        break;
      case ConfChangeType.PromoteLearner:
        this.membership.promote(cc.nodeId);
        break;
      case ConfChangeType.RemoveNode:
        this.membership.remove(cc.nodeId);
        this.transport.removePeer(cc.nodeId);
        break;
    }
    await this.membership.persist();
    this.confState = this.node.applyConfChange(cc);
    const w = this.confWaiters.get(cc.nodeId);
    if (w) {
      this.confWaiters.delete(cc.nodeId);
      w.resolve();
    }
    this.log.info({ index: e.index, change: ConfChangeType[cc.type], member: cc.nodeId.toString(16), voters: this.confState.voters.length, learners: this.confState.learners.length }, 'applied membership change');
    if (removedSelf) {
      this.log.warn({}, 'this member was removed from the cluster; stopping');
      setImmediate(() => void this.stop(false));
    }
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.appliedIdx - this.snapshotIdx < this.cfg.snapshotCount) return;
    // Committed entries may be applied before the Ready that carries them is written (a follower can
    // learn an entry is committed in the same message that brings it): snapshot only what the log holds.
    if (this.appliedIdx > this.storage.lastIndex()) return;
    const data = Buffer.from(JSON.stringify({ ...this.membership.snapshot(), alarms: this.maintenance.snapshotData() }));
    const snap = this.storage.createSnapshot(this.appliedIdx, this.confState, data);
    const compactIndex = Math.max(0, this.appliedIdx - this.cfg.snapshotCatchUpEntries);
    // Entries leave the Raft log only once the key space holding their effects is on disk.
    await this.kv.sync();
    await this.raftLog.saveSnapshotAndCompact(snap, compactIndex);
    if (compactIndex > this.storage.firstIndex()) this.storage.compact(compactIndex);
    this.snapshotIdx = this.appliedIdx;
    this.log.info({ index: this.appliedIdx, compactIndex }, 'created snapshot and compacted the log');
  }

  private die(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.log.fatal({ err: err.message, stack: err.stack }, 'member failed; it stops serving');
    this.handOffLeadership();
    const stopped = new EtcdError('Stopped', 'etcdserver: server stopped');
    this.proposals.failAll(stopped);
    this.reads.failAll(stopped);
    void this.stop(false).finally(() => this.onFatal?.(err));
  }

  /**
   * A leader stopping on a fatal error (a full disk: it can persist nothing more) asks the follower
   * with the highest match to campaign at once (Raft's TimeoutNow, as a leadership transfer), instead
   * of leaving its followers to notice the silence after an election timeout (0.4-0.8 s). It cannot
   * wait for the follower to catch up as a transfer does — that is only for the transferee's chance to
   * win; whoever starts an election, the votes decide it safely.
   */
  private handOffLeadership(): void {
    if (this.role !== StateRole.Leader) return;
    const st = this.node.status();
    let to = 0;
    let best = -1;
    for (const id of st.confState.voters) {
      const match = id === this.id ? -1 : (st.progress?.get(id)?.match ?? -1);
      if (match > best) {
        best = match;
        to = id;
      }
    }
    if (to === 0) return;
    this.log.warn({ to: to.toString(16), match: best }, 'stopping as leader: the most up-to-date follower is asked to campaign now');
    this.transport.send([newMessage({ type: MessageType.TimeoutNow, to, from: this.id, term: this.node.term })]);
  }

  /** Called once when the member stops on an unrecoverable error (the process should exit non-zero). */
  onFatal: ((err: Error) => void) | undefined;

  // ---------------------------------------------------------------- proposing

  /**
   * Whether a proposal or ReadIndex handed to Raft now would reach a leader. A follower forwards
   * them to its leader; when the peer transport reported the connection to that leader broken (its
   * process died) or nothing came from it for three heartbeat intervals (stopped, cut off), what it
   * forwards is most likely lost, and its client would hear only at the request timeout. Such a
   * member holds new requests back until the leader is heard from again or another one is elected,
   * then hands them to Raft: held back, none of them can be committed twice or half, so this is safe
   * for writes. It does not campaign any sooner (neither does etcd): its clients just see the new
   * leader as soon as the member does.
   */
  private leaderUsable(): boolean {
    if (this.lead === 0) return false;
    if (this.role === StateRole.Leader) return true;
    return this.leaderUnreachableAt === 0 && Date.now() - this.leaderHeardAt < 3 * this.cfg.heartbeatIntervalMs;
  }

  /**
   * Waits until leaderUsable() (see there). After `timeoutMs`: true when a leader is known even so
   * (the request is handed to Raft as it is), false when there is none ("no leader").
   */
  private waitForLeader(timeoutMs: number): Promise<boolean> {
    if (this.leaderUsable()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((w) => w !== check);
        resolve(this.lead !== 0);
      }, timeoutMs);
      const check = (): boolean => {
        if (!this.leaderUsable()) return false;
        clearTimeout(t);
        resolve(true);
        return true;
      };
      this.leaderWaiters.push(check);
    });
  }

  /** Releases the requests held back by waitForLeader that may go now. */
  private wakeLeaderWaiters(): void {
    if (this.leaderWaiters.length > 0) this.leaderWaiters = this.leaderWaiters.filter((w) => !w());
  }

  /** The peer transport lost a message to `id` (its connection broke or cannot be made). */
  private noteUnreachable(id: number): void {
    if (id !== this.lead || this.role === StateRole.Leader || this.leaderUnreachableAt !== 0) return;
    this.leaderUnreachableAt = Date.now();
    this.log.info({ lead: id.toString(16), lastHeardAt: this.leaderHeardAt, sinceHeardMs: this.leaderUnreachableAt - this.leaderHeardAt }, 'the peer connection to the leader broke: requests wait for it or a new leader');
  }

  /**
   * The connection to the leader broke and nothing came from it for 3 heartbeat intervals since
   * (strong reason to think it dead — a broken outbound stream alone is not: the leader's heartbeats
   * come on its own): forget it (Raft.forgetLeader). Its lease over, this member grants the first
   * other member that times out its pre-vote at once (a follower that read the dead leader's last
   * heartbeat later than that one would otherwise ignore it for up to its own timeout). It still
   * campaigns only after its own election timeout.
   */
  private maybeForgetLeader(now: number): void {
    if (this.leaderUnreachableAt === 0 || this.lead === 0 || this.role !== StateRole.Follower) return;
    if (now - this.leaderHeardAt < 3 * this.cfg.heartbeatIntervalMs) return;
    this.node.forgetLeader();
  }

  private checkServing(): void {
    if (this.fatal || this.stopped) throw new EtcdError('Stopped', 'etcdserver: server stopped');
  }

  private async propose<T>(body: InternalRequestBody): Promise<T> {
    this.checkServing();
    if (!this.leaderUsable() && !(await this.waitForLeader(this.cfg.electionTimeoutMs * 3))) {
      throw new EtcdError('NoLeader', 'etcdserver: no leader');
    }
    const { seq, result } = this.proposals.register<T>();
    const data = encodeInternalRequest({ origin: this.id, seq, ...body } as never);
    try {
      this.node.propose(data);
      this.inFlight.set(seq, { term: this.node.term, data });
    } catch (err) {
      const e = err instanceof ProposalDroppedError ? new EtcdError(this.lead === 0 ? 'NoLeader' : 'TooManyRequests', this.lead === 0 ? 'etcdserver: no leader' : 'etcdserver: too many requests') : (err as Error);
      this.proposals.reject(seq, e);
      this.deps.metrics.proposalsFailed.inc();
    }
    this.deps.metrics.proposalsPending.set(this.proposals.size);
    this.schedule();
    try {
      return await result;
    } finally {
      this.inFlight.delete(seq);
      this.deps.metrics.proposalsPending.set(this.proposals.size);
    }
  }

  /**
   * Proposals of this member handed to Raft in a term before `term` and not applied before this
   * member applied an entry of `term`: none of them can be committed any more. A proposal is
   * appended only in the term it was handed over in (forwarded ones carry it: raft.ts), and every
   * entry of an earlier term that is ever committed precedes the first committed entry of a later
   * term. They were lost with the old leader (forwarded to it when it died, or in its log only), and
   * their clients would wait for the request timeout; proposed again, the new leader answers them.
   */
  private reproposeLost(term: number): void {
    let again = 0;
    for (const [seq, p] of this.inFlight) {
      if (p.term >= term) continue;
      try {
        this.node.propose(p.data);
        p.term = this.node.term;
        again++;
      } catch (err) {
        // Not in the log: the client may send it again.
        this.inFlight.delete(seq);
        this.proposals.reject(seq, err instanceof ProposalDroppedError ? new EtcdError(this.lead === 0 ? 'NoLeader' : 'TooManyRequests', this.lead === 0 ? 'etcdserver: no leader' : 'etcdserver: too many requests') : (err as Error));
      }
    }
    if (again > 0) {
      this.log.info({ term, proposals: again }, 'proposed again what was lost with the previous leader');
      this.schedule();
    }
  }

  private async proposeConfChange(cc: ConfChange): Promise<void> {
    this.checkServing();
    if (this.lead === 0 && !(await this.waitForLeader(this.cfg.electionTimeoutMs * 3))) throw new EtcdError('NoLeader', 'etcdserver: no leader');
    const done = new Promise<void>((resolve, reject) => {
      this.confWaiters.set(cc.nodeId, { resolve, reject });
      setTimeout(() => {
        if (this.confWaiters.get(cc.nodeId)?.resolve === resolve) {
          this.confWaiters.delete(cc.nodeId);
          reject(new EtcdError('Timeout', 'etcdserver: request timed out'));
        }
      }, this.requestTimeoutMs()).unref();
    });
    try {
      this.node.proposeConfChange(cc);
    } catch (err) {
      this.confWaiters.delete(cc.nodeId);
      throw err instanceof ProposalDroppedError ? new EtcdError('UnhealthyCluster', 'etcdserver: unhealthy cluster') : err;
    }
    this.schedule();
    await done;
  }

  private async linearizable(): Promise<void> {
    this.checkServing();
    if (!this.leaderUsable() && !(await this.waitForLeader(this.cfg.electionTimeoutMs * 3))) throw new EtcdError('NoLeader', 'etcdserver: no leader');
    await this.reads.wait();
  }

  private publishAttributes(): void {
    // Published on every start (as etcd does): the local table may hold values no other member has.
    this.attributesPublished = true;
    this.propose({ memberAttributes: { id: this.id, name: this.cfg.name, clientUrls: this.cfg.advertiseClientURLs } }).catch(() => {
      this.attributesPublished = false;
    });
  }

  private revokeExpiredLeases(now: number): void {
    for (const id of this.kv.leaseExpired(now)) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.log.debug({ lease: id.toString(16) }, 'lease expired; revoking');
      this.propose({ leaseRevoke: { ID: id } }).catch(() => this.revoking.delete(id));
    }
  }

  // ---------------------------------------------------------------- EtcdBackend

  header(): ResponseHeaderFields {
    return { clusterId: this.identity.clusterId, memberId: this.id, revision: this.kv.currentRevision(), raftTerm: this.term };
  }

  async range(req: RangeRequest__Output): Promise<RangeResponse> {
    if (!req.serializable) await this.linearizable();
    else this.checkServing();
    const res = await this.kv.range(req);
    return { ...res, header: this.header() };
  }

  /** The apply result carries the revision of the write; the rest of the header is this member's. */
  private withHeader<T extends object>(r: T): T {
    const rev = (r as { header?: { revision?: unknown } | null }).header?.revision;
    return { ...r, header: { ...this.header(), revision: typeof rev === 'number' ? rev : this.kv.currentRevision() } };
  }

  async put(req: PutRequest__Output): Promise<PutResponse> {
    return this.withHeader(await this.propose<PutResponse>({ put: req }));
  }

  async deleteRange(req: DeleteRangeRequest__Output): Promise<DeleteRangeResponse> {
    return this.withHeader(await this.propose<DeleteRangeResponse>({ deleteRange: req }));
  }

  async txn(req: TxnRequest__Output): Promise<TxnResponse> {
    // etcd's Txn: only Ranges in both branches: a local read (after a ReadIndex unless all are serializable), no Raft entry.
    if (this.kv.readTxn && isTxnReadonly(req as never)) {
      if (isTxnSerializable(req as never)) this.checkServing();
      else await this.linearizable();
      return this.withHeader((await this.kv.readTxn(req)) as TxnResponse);
    }
    return this.withHeader(await this.propose<TxnResponse>({ txn: req }));
  }

  async compact(req: CompactionRequest__Output): Promise<CompactionResponse> {
    return this.withHeader(await this.propose<CompactionResponse>({ compaction: req }));
  }

  watch(opts: WatchCreateOptions, sink: WatchSink): WatchHandle {
    this.checkServing();
    return this.kv.watch(opts, sink);
  }

  async leaseGrant(ttl: number, id: number): Promise<{ id: number; ttl: number }> {
    let leaseId = id;
    if (leaseId === 0) {
      do leaseId = randomInt(1, 2 ** 47) * 16 + randomInt(0, 16);
      while (this.kv.leaseExists(leaseId));
    }
    const minTtl = Math.ceil((3 * this.cfg.electionTimeoutMs) / 2 / 1000);
    const effective = Math.max(ttl, minTtl);
    await this.propose({ leaseGrant: { id: leaseId, ttl: effective } });
    return { id: leaseId, ttl: effective };
  }

  async leaseRevoke(id: number): Promise<void> {
    await this.propose({ leaseRevoke: { ID: id } });
  }

  private async onLeader<T>(local: () => T, remote: (leader: number) => Promise<T>): Promise<T> {
    this.checkServing();
    if (this.lead === 0 && !(await this.waitForLeader(this.cfg.electionTimeoutMs * 3))) throw new EtcdError('NoLeader', 'etcdserver: no leader');
    if (this.role === StateRole.Leader) {
      // The leader answers only once it has applied everything it committed, so it never renews a revoked lease.
      await this.reads.wait();
      return local();
    }
    try {
      return await remote(this.lead);
    } catch (err) {
      const details = (err as { details?: string }).details;
      if (details === 'LeaseNotFound') throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
      throw new EtcdError('LeaderChanged', 'etcdserver: leader changed');
    }
  }

  async leaseKeepAlive(id: number): Promise<number> {
    return this.onLeader(
      () => {
        if (!this.kv.leaseExists(id)) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
        return this.kv.leaseRenew(id, Date.now());
      },
      async (leader) => (await this.transport.unary<object, { ttl: number }>(leader, 'LeaseRenew', { clusterId: this.identity.clusterId, id }, this.requestTimeoutMs())).ttl,
    );
  }

  async leaseTimeToLive(id: number, keys: boolean): Promise<{ id: number; ttl: number; grantedTTL: number; keys: Buffer[] }> {
    await this.linearizable();
    const local = this.kv.leaseTimeToLive(id, Date.now());
    if (!local) throw new EtcdError('LeaseNotFound', 'etcdserver: requested lease not found');
    const remaining = await this.onLeader(
      () => local.ttl,
      async (leader) => (await this.transport.unary<object, { ttl: number }>(leader, 'LeaseTimeToLive', { clusterId: this.identity.clusterId, id }, this.requestTimeoutMs())).ttl,
    );
    return { id, ttl: remaining, grantedTTL: local.grantedTTL, keys: keys ? local.keys : [] };
  }

  async leaseLeases(): Promise<number[]> {
    await this.linearizable();
    return this.kv.leaseIds();
  }

  async memberList(linearizable: boolean): Promise<MemberInfo[]> {
    if (linearizable) await this.linearizable();
    return this.membership.list();
  }

  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    for (const url of peerURLs) if (this.membership.findByPeerURL(url)) throw new EtcdError('PeerURLExist', 'etcdserver: Peer URLs already exists');
    if (isLearner && this.membership.list().filter((m) => m.isLearner).length >= 1) throw new EtcdError('TooManyLearners', 'etcdserver: too many learner members in cluster');
    let id: number;
    do id = randomInt(1, 2 ** 47) * 16 + randomInt(0, 16);
    while (this.membership.get(id) || this.membership.isRemoved(id));
    const ctx: ConfChangeContext = { name: '', peerURLs, clientURLs: [] };
    await this.proposeConfChange({ type: isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddNode, nodeId: id, context: Buffer.from(JSON.stringify(ctx)) });
    return { member: this.membership.get(id)!, members: this.membership.list() };
  }

  async memberRemove(id: number, force = false): Promise<MemberInfo[]> {
    if (this.membership.isRemoved(id)) throw new EtcdError('MemberNotFound', 'etcdserver: member not found');
    if (!this.membership.get(id)) throw new EtcdError('MemberNotFound', 'etcdserver: member not found');
    // Strict reconfiguration check (reconfig_check.ts): the voters left must have a live quorum, unless forced.
    const probe = (peer: number) => this.transport.unary(peer, 'ClusterInfo', {}, 2 * this.cfg.electionTimeoutMs).then(() => true, () => false);
    if (force) this.log.warn({ member: id.toString(16), voters: this.confState.voters.length }, 'member remove forced: the quorum check is skipped');
    else await checkVoterRemoval({ id, self: this.id, voters: this.confState.voters, probe });
    await this.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) });
    return this.membership.list();
  }

  async memberUpdate(_id: number, _peerURLs: string[]): Promise<MemberInfo[]> {
    throw new EtcdError('NotCapable', 'etcdserver: member update is not supported by mkube-store');
  }

  async memberPromote(id: number): Promise<MemberInfo[]> {
    const m = this.membership.get(id);
    if (!m) throw new EtcdError('MemberNotFound', 'etcdserver: member not found');
    if (!m.isLearner) throw new EtcdError('MemberNotLearner', 'etcdserver: can only promote a learner member');
    if (this.role === StateRole.Leader) {
      const progress = this.node.status().progress?.get(id);
      const leaderMatch = this.node.status().commit;
      if (!progress || progress.match < leaderMatch * 0.9) {
        throw new EtcdError('LearnerNotReady', 'etcdserver: can only promote a learner member which is in sync with leader');
      }
    } else {
      // Only the leader knows the learner's progress (etcd forwards a promote to it): a follower refuses
      // rather than promote unchecked (a learner that never started would become a dead voter).
      throw new EtcdError('LearnerNotReady', 'etcdserver: can only promote a learner member which is in sync with leader');
    }
    await this.proposeConfChange({ type: ConfChangeType.PromoteLearner, nodeId: id, context: new Uint8Array(0) });
    return this.membership.list();
  }

  /** Maintenance.Snapshot: the key space as of now, spooled to a temp file in the data dir (snapshot_spool.ts). */
  async snapshot(): Promise<SnapshotSource> {
    this.checkServing();
    // Both are taken in this tick: the stream captures its LevelDB snapshot and unflushed applies at the call.
    const revision = this.kv.currentRevision();
    return spoolSnapshot(this.cfg.dataDir, revision, this.kv.snapshotChunks());
  }

  async status(): Promise<StatusInfo> {
    this.checkServing();
    const st = this.node.status();
    const me = this.membership.get(this.id);
    return {
      version: STORE_VERSION,
      // etcd's dbSize is the size on disk, dbSizeInUse the live data's.
      dbSize: this.kv.diskSize(),
      dbSizeInUse: this.kv.dbSize(),
      leader: this.lead,
      raftIndex: this.storage.lastIndex(),
      raftTerm: st.term,
      raftAppliedIndex: this.appliedIdx,
      errors: this.maintenance.statusErrors(),
      isLearner: me?.isLearner ?? false,
    };
  }

  // ---------------------------------------------------------------- PeerHandler

  clusterId(): number {
    return this.identity.clusterId;
  }

  receive(messages: Message[]): void {
    if (this.stopped || this.fatal) return;
    for (const m of messages) {
      if (m.to !== this.id) continue;
      if (m.from === this.lead && m.from !== this.id) {
        this.leaderHeardAt = Date.now();
        this.leaderUnreachableAt = 0;
      }
      try {
        this.node.step(m);
      } catch (err) {
        this.log.warn({ from: m.from.toString(16), type: m.type, err: (err as Error).message }, 'raft refused a peer message');
      }
    }
    this.wakeLeaderWaiters();
    this.schedule();
  }

  /** A Snap message (and the stream that carries its data) is taken only from the current leader at its term. */
  private checkSnapshotSender(m: Message): void {
    if (this.stopped || this.fatal) throw new EtcdError('Stopped', 'etcdserver: server stopped');
    const st = this.node.status();
    if (m.to !== this.id || m.from === this.id || st.role !== StateRole.Follower || st.lead === 0 || m.from !== st.lead || m.term !== st.term || !m.snapshot) {
      throw new SnapshotRefusedError(
        'SNAPSHOT_NOT_FROM_LEADER',
        `snapshot from member ${m.from.toString(16)} at term ${m.term} refused: this member's leader is ${st.lead ? st.lead.toString(16) : 'unknown'} at term ${st.term}`,
      );
    }
  }

  async beginSnapshot(m: Message): Promise<SnapshotFile> {
    this.checkSnapshotSender(m);
    const md = m.snapshot!.metadata;
    return SnapshotFile.create(this.cfg.dataDir, md.term, md.index, this.cfg.maxSnapshotBytes);
  }

  maxSnapshotBytes(): number {
    return this.cfg.maxSnapshotBytes;
  }

  async receiveSnapshot(m: Message, file: SnapshotFile): Promise<void> {
    try {
      // Leadership may have changed while the data arrived.
      this.checkSnapshotSender(m);
    } catch (err) {
      await file.discard();
      throw err;
    }
    const md = m.snapshot!.metadata;
    const key = `${md.term}/${md.index}`;
    if (md.index <= this.appliedIdx || this.receivedSnapshots.has(key)) {
      // Nothing to restore: Raft answers with what it has.
      await file.discard();
      this.receive([m]);
      return;
    }
    let entry!: { file: SnapshotFile; from: number; done(err?: Error): void };
    const restored = new Promise<void>((resolve, reject) => {
      entry = { file, from: m.from, done: (err) => (err ? reject(err) : resolve()) };
    });
    this.receivedSnapshots.set(key, entry);
    this.receive([m]);
    const accepted = this.node.pendingSnapshot();
    if (!accepted || accepted.index !== md.index || accepted.term !== md.term) {
      // Raft did not take it (it already has those entries, or is not a follower): discard the data.
      this.receivedSnapshots.delete(key);
      await file.discard();
      this.log.info({ from: m.from.toString(16), index: md.index, term: md.term }, 'raft did not accept the received snapshot; data discarded');
      return;
    }
    await restored;
  }

  /** The key-space data for the snapshot Raft hands out in a Ready; the loop runs this on the apply chain. */
  private async restoreReceivedSnapshot(snap: Snapshot): Promise<(() => void) | undefined> {
    const md = snap.metadata;
    const key = `${md.term}/${md.index}`;
    const r = this.receivedSnapshots.get(key);
    if (!r) throw new Error(`raft accepted snapshot at term ${md.term} index ${md.index} but no received snapshot data matches it`);
    this.receivedSnapshots.delete(key);
    try {
      if (md.index > this.appliedIdx) {
        await this.kv.restore(r.file.chunks());
        this.log.info({ from: r.from.toString(16), index: md.index, term: md.term, bytes: r.file.size }, 'restored key space from a snapshot');
      }
    } catch (err) {
      r.done(err as Error);
      throw err;
    } finally {
      await r.file.discard();
    }
    return () => r.done();
  }

  /** Received snapshots superseded by the one installed at `index` are discarded. */
  private settleReceivedSnapshots(index: number): void {
    for (const [key, r] of this.receivedSnapshots) {
      const idx = Number(key.split('/')[1]);
      if (idx > index) continue;
      this.receivedSnapshots.delete(key);
      void r.file.discard();
      r.done();
    }
  }

  async leaseRenew(id: number): Promise<number> {
    if (this.role !== StateRole.Leader) throw new EtcdError('NotLeader', 'NotLeader');
    await this.reads.wait();
    if (!this.kv.leaseExists(id)) throw new EtcdError('LeaseNotFound', 'LeaseNotFound');
    return this.kv.leaseRenew(id, Date.now());
  }

  async leaseTimeToLiveLocal(id: number): Promise<{ ttl: number; grantedTtl: number }> {
    const r = this.kv.leaseTimeToLive(id, Date.now());
    if (!r) throw new EtcdError('LeaseNotFound', 'LeaseNotFound');
    return { ttl: r.ttl, grantedTtl: r.grantedTTL };
  }

  clusterInfo(): { clusterId: number; members: WireMember[] } {
    return {
      clusterId: this.identity.clusterId,
      members: this.membership.list().map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner })),
    };
  }

  // ---------------------------------------------------------------- stop

  /** Whether this member currently sees a leader (for /health). */
  unhealthyReason(): string | undefined {
    if (this.fatal) return `member failed: ${this.fatal.message}`;
    if (this.stopped) return 'member stopped';
    if (this.lead === 0) return 'no leader';
    return undefined;
  }

  isLeader(): boolean {
    return this.role === StateRole.Leader;
  }

  leaderId(): number {
    return this.lead;
  }

  /** Stops the member; a graceful stop first hands leadership to the most up-to-date voter. */
  async stop(graceful = true): Promise<void> {
    if (graceful && !this.stopped && !this.fatal && this.role === StateRole.Leader && this.confState.voters.length > 1) {
      await this.transferLeadership();
    }
    if (this.stopped) return;
    this.stopped = true;
    this.loop.stop();
    this.maintenance.stop();
    // clearInterval clears a pending phase timeout as well (one timer id space in Node).
    if (this.ticker) clearInterval(this.ticker);
    const stopped = new EtcdError('Stopped', 'etcdserver: server stopped');
    this.proposals.failAll(stopped);
    this.reads.failAll(stopped);
    for (const w of this.confWaiters.values()) w.reject(stopped);
    this.confWaiters.clear();
    for (const r of this.receivedSnapshots.values()) {
      void r.file.discard();
      r.done(stopped);
    }
    this.receivedSnapshots.clear();
    // Let an in-flight Ready finish its LevelDB writes, and the apply chain its key-space writes, before closing.
    await Promise.race([this.loop.idle(), new Promise((r) => setTimeout(r, 1000))]);
    await Promise.race([this.loop.applied(), new Promise((r) => setTimeout(r, 2000))]);
    this.transport.close();
    await this.kv.close().catch(() => undefined);
    await this.raftLog.close().catch(() => undefined);
    await this.db.close().catch(() => undefined);
  }

  private async transferLeadership(): Promise<void> {
    const st = this.node.status();
    let best = 0;
    let bestMatch = -1;
    for (const v of this.confState.voters) {
      if (v === this.id) continue;
      const p = st.progress?.get(v);
      if (p && p.recentActive !== false && p.match > bestMatch) {
        best = v;
        bestMatch = p.match;
      }
    }
    if (best === 0) return;
    this.log.info({ to: best.toString(16) }, 'transferring leadership before stopping');
    this.node.transferLeader(best);
    this.schedule();
    const deadline = Date.now() + this.cfg.electionTimeoutMs * 2;
    while (Date.now() < deadline && this.role === StateRole.Leader) await new Promise((r) => setTimeout(r, this.cfg.heartbeatIntervalMs / 2));
  }
}


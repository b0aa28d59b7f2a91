// A seeded cluster simulator that runs the production Ready loop
// (src/server/ready_loop.ts) with the real MVCC key space (LevelDB in a temp
// dir) and, per seed, either the real Raft log store (RaftLogStore: the WAL,
// with small segments so that they are cut and released) or an in-memory log
// with the same save() interface. Unlike
// cluster.ts (the pure core under a strict synchronous order), members here
// apply on the loop's apply chain behind persistence, as a member does; the
// simulator holds applies back for a few ticks at random so that "persisted
// up to" and "applied up to" drift apart, and crashes members with applies
// still queued.
//
// The fault schedule (network drops, delays, isolation, crashes, apply lag)
// comes from the seed; with LevelDB the I/O completes in real time, so the
// interleaving inside one tick may differ between runs of the same seed
// (the simulator waits for all I/O to finish before the next tick).
import { ClassicLevel } from 'classic-level';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { checkKvHistory, HistoryRecorder, KeyWindows, type KvInput, type KvOutput, type PendingOperation } from '@mkube/testing';
import { MemoryStorage, RawNode, decodeConfChange, EntryType, StateRole, type Entry, type HardState, type Message, type Snapshot } from '../../src/raft/index.js';
import { decodeInternalRequest, encodeInternalRequest } from '../../src/server/internal_request.js';
import type { KeySpace } from '../../src/server/key_space.js';
import { openMvccKeySpace } from '../../src/server/mvcc_key_space.js';
import { RaftLogStore } from '../../src/server/raft_log_store.js';
import { ReadyLoop, type ReadyLog } from '../../src/server/ready_loop.js';
import { Network, type NetworkHooks } from './network.js';
import { Rng } from './prng.js';

export interface LoopSimOptions {
  seed: number;
  members: number;
  steps: number;
  /** 'wal': the member's RaftLogStore (the WAL); 'memory': an in-memory log with the same interface. */
  log: 'wal' | 'memory';
}

export interface LoopSimStats {
  ticks: number;
  ops: number;
  opsOk: number;
  crashes: number;
  elections: number;
  maxApplyLag: number;
  opsChecked: number;
  /** Longest wall time one tick waited for its I/O to finish. */
  maxSettleMs: number;
  /** WAL segments cut (a new segment begun) by the members, over all their restarts. */
  walSegmentsCut: number;
}

const ELECTION_TICK = 10;
/** WAL segments of the simulated members: small, so a run cuts several. */
const WAL_SEGMENT_BYTES = 2048;
const KEYS = ['a', 'b', 'c'];
const OPS_PER_KEY_WINDOW = 30;
/** Wall time one tick may wait for real I/O in flight (a loaded machine's fsyncs). */
const IO_WAIT_LIMIT_MS = 60_000;
/** Event-loop turns with nothing queued and no I/O after which a busy loop is stuck for good. */
const STALL_TURNS = 50;
/** Wall time the cleanup gives each member's close (after a failure its loop may be the stuck one). */
const CLEANUP_LIMIT_MS = 5000;
const silent = pino({ level: 'silent' });

/** The in-memory log: what save() wrote survives a crash; nothing else does. */
class MemoryLog implements ReadyLog {
  readonly durable = new MemoryStorage();
  async save(hs: HardState | undefined, entries: Entry[], snap: Snapshot | undefined): Promise<void> {
    await Promise.resolve();
    if (snap) this.durable.applySnapshot(snap);
    if (entries.length > 0) this.durable.append(entries);
    if (hs) this.durable.setHardState(hs);
  }
  load(): MemoryStorage {
    const s = new MemoryStorage();
    const last = this.durable.lastIndex();
    if (last >= 1) s.append(this.durable.entries(1, last + 1, Number.POSITIVE_INFINITY));
    s.setHardState(this.durable.initialState().hardState);
    return s;
  }
}

interface SimMember {
  id: number;
  dir: string;
  memLog: MemoryLog;
  db: ClassicLevel<Buffer, Buffer> | undefined;
  raftLog: RaftLogStore | undefined;
  kv: KeySpace | undefined;
  node: RawNode | undefined;
  loop: ReadyLoop | undefined;
  role: StateRole;
  lead: number;
  applied: number;
  /** Applies held back by the simulator: released at the tick given. */
  held: Array<{ until: number; release: () => void }>;
  io: number;
  writes: Map<number, (ok: boolean) => void>;
  reads: Map<string, number | undefined>;
  down: number;
  closing: Promise<void>;
}

export class LoopCluster {
  private readonly rng: Rng;
  private readonly network: Network;
  private readonly members: SimMember[] = [];
  private readonly queue: Array<() => void> = [];
  private readonly history = new HistoryRecorder<KvInput, KvOutput>();
  private readonly windows = new KeyWindows(OPS_PER_KEY_WINDOW);
  private readonly base = mkdtempSync(join(tmpdir(), 'mkube-loop-sim-'));
  private now = 0;
  private seq = 0;
  private failure: Error | undefined;
  /** Real I/O in flight (LevelDB reads and writes of every member), for settle() to wait on. */
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly stats = { crashes: 0, elections: 0, maxApplyLag: 0, opsOk: 0, maxSettleMs: 0, walSegmentsCut: 0 };
  private readonly clients: Array<{ id: number; op?: { pending: PendingOperation; input: KvInput; target: number; seq: number; giveUpAt: number; ctx?: string } }> = [];

  constructor(readonly opts: LoopSimOptions) {
    this.rng = new Rng(opts.seed);
    this.network = new Network(this.rng.fork(), { dropRate: this.rng.pick([0, 0.02, 0.05]), duplicateRate: 0, maxDelay: this.rng.pick([0, 1, 3]) });
    for (let c = 1; c <= 3; c++) this.clients.push({ id: c });
  }

  private readonly hooks: NetworkHooks = {
    deliver: (msg: Message): boolean => {
      const m = this.members[msg.to - 1];
      if (!m?.node) return false;
      m.node.step(msg);
      m.loop!.schedule();
      return true;
    },
    lost: () => undefined,
  };

  async run(): Promise<LoopSimStats> {
    try {
      for (let id = 1; id <= this.opts.members; id++) {
        const m: SimMember = {
          id, dir: join(this.base, `m${id}`), memLog: new MemoryLog(), db: undefined, raftLog: undefined, kv: undefined, node: undefined, loop: undefined,
          role: StateRole.Follower, lead: 0, applied: 0, held: [], io: 0, writes: new Map(), reads: new Map(), down: 0, closing: Promise.resolve(),
        };
        this.members.push(m);
        await this.start(m, true);
      }
      for (let i = 0; i < this.opts.steps; i++) {
        this.chaos();
        await this.step(true);
      }
      this.network.heal();
      for (const m of this.members) {
      if (m.node) continue;
      await this.closed(m);
      m.down = 0;
      await this.start(m, false);
    }
      for (let i = 0; i < 40 * ELECTION_TICK && this.clients.some((c) => c.op); i++) await this.step(false);
      for (const c of this.clients) if (c.op) this.history.unknown(c.op.pending);
      const lead = await this.converge();
      const lin = checkKvHistory(this.history.history(), { timeBudgetMs: 10_000, maxPartitionOperations: OPS_PER_KEY_WINDOW });
      if (lin.ok === false) throw new Error(`seed ${this.opts.seed}: history not linearizable:\n${lin.description}`);
      if (lin.ok !== true) throw new Error(`seed ${this.opts.seed}: linearizability undecided: ${lin.reason}`);
      void lead;
      return { ticks: this.now, ops: this.history.size, opsOk: this.stats.opsOk, crashes: this.stats.crashes, elections: this.stats.elections, maxApplyLag: this.stats.maxApplyLag, opsChecked: lin.operations, maxSettleMs: Math.round(this.stats.maxSettleMs), walSegmentsCut: this.stats.walSegmentsCut };
    } finally {
      // Cleanup after a failure must not hang on the loop that failed it: each close gets a bound.
      for (const m of this.members) {
        void this.crash(m, false);
        await this.closed(m, CLEANUP_LIMIT_MS).catch(() => undefined);
      }
      rmSync(this.base, { recursive: true, force: true });
    }
  }

  // ---- members ------------------------------------------------------------------

  private async start(m: SimMember, fresh: boolean): Promise<void> {
    m.kv = await openMvccKeySpace(join(m.dir, 'kv'), 1 << 30, silent);
    let storage: MemoryStorage;
    let log: ReadyLog;
    if (this.opts.log === 'wal') {
      m.db = new ClassicLevel<Buffer, Buffer>(join(m.dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await m.db.open();
      const store = new RaftLogStore(m.db, { walDir: join(m.dir, 'wal'), segmentBytes: WAL_SEGMENT_BYTES });
      m.raftLog = store;
      storage = (await store.load()).storage;
      log = { save: (hs, es, snap, sync) => this.io(m, store.save(hs, es, snap, sync)) };
    } else {
      storage = m.memLog.load();
      log = m.memLog;
    }
    const nodeRng = this.rng.fork();
    const node = new RawNode({
      id: m.id, electionTick: ELECTION_TICK, heartbeatTick: 1, storage, applied: 0, maxSizePerMsg: 4096, maxInflightMsgs: 16,
      maxUncommittedEntriesSize: 1 << 20, checkQuorum: true, preVote: true, random: () => nodeRng.next(), asyncStorageWrites: true,
    });
    if (fresh) node.bootstrap({ voters: Array.from({ length: this.opts.members }, (_, i) => i + 1), learners: [] });
    m.node = node;
    m.applied = 0;
    m.role = StateRole.Follower;
    m.lead = 0;
    const kv = m.kv;
    m.loop = new ReadyLoop(node, storage, log, {
      onSoftState: (lead, role) => {
        if (role === StateRole.Leader && m.role !== StateRole.Leader) this.stats.elections++;
        if (lead !== m.lead) for (const done of m.writes.values()) done(false);
        if (lead !== m.lead) m.writes.clear();
        m.lead = lead;
        m.role = role;
      },
      restoreSnapshot: () => Promise.reject(new Error('the loop simulator does not compact logs')),
      installSnapshot: () => undefined,
      applyEntries: async (entries) => {
        // The simulator holds some applies back: the apply chain lags behind persistence.
        if (this.rng.chance(0.3)) await new Promise<void>((release) => m.held.push({ until: this.now + 1 + this.rng.int(4), release }));
        if (m.node !== node) return;
        for (const e of entries) await this.applyEntry(m, node, kv, e);
        await this.io(m, kv.flush());
      },
      afterApply: async () => {
        const lag = node.status().commit - m.applied;
        if (lag > this.stats.maxApplyLag) this.stats.maxApplyLag = lag;
        await this.serveReads(m);
      },
      send: (msgs) => {
        for (const msg of msgs) this.network.send(msg, this.now, this.hooks);
      },
      onReadStates: (rss) => {
        for (const rs of rss) {
          const key = new TextDecoder().decode(rs.requestCtx);
          if (m.reads.has(key)) m.reads.set(key, rs.index);
        }
        void this.serveReads(m);
      },
      fail: (err) => {
        this.failure ??= err;
      },
    }, { maxQueuedApply: 1000, defer: (fn) => this.queue.push(fn) });
    m.loop.schedule();
  }

  private async applyEntry(m: SimMember, node: RawNode, kv: KeySpace, e: Entry): Promise<void> {
    if (e.index !== m.applied + 1) throw new Error(`seed ${this.opts.seed}: member ${m.id} applied ${m.applied} and was handed ${e.index}`);
    if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
    else if (e.data.length > 0) {
      const req = decodeInternalRequest(e.data);
      await this.io(m, kv.apply(e.index, req));
      if (req.origin === m.id) m.writes.get(req.seq)?.(true);
    }
    m.applied = e.index;
  }

  private io<T>(m: SimMember, p: Promise<T>): Promise<T> {
    m.io++;
    const done = p.finally(() => {
      m.io--;
      this.inflight.delete(done);
    });
    this.inflight.add(done);
    return done;
  }

  /** A crashed member's close (its loop going idle, its applies draining) finishes in bounded time, or the seed fails. */
  private async closed(m: SimMember, limitMs = IO_WAIT_LIMIT_MS): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`seed ${this.opts.seed}: member ${m.id} did not finish crashing within ${limitMs} ms at tick ${this.now} (its loop never went idle): ${this.describeMembers()}`)), limitMs);
    });
    try {
      await Promise.race([m.closing, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  private crash(m: SimMember, restartLater: boolean): Promise<void> {
    if (!m.node) return m.closing;
    m.closing = this.close(m, restartLater);
    return m.closing;
  }

  private async close(m: SimMember, restartLater: boolean): Promise<void> {
    m.loop!.stop();
    m.node = undefined;
    for (const h of m.held) h.release();
    m.held = [];
    await m.loop!.idle();
    await m.loop!.applied();
    for (const done of m.writes.values()) done(false);
    m.writes.clear();
    m.reads.clear();
    await m.kv?.close();
    this.stats.walSegmentsCut += m.raftLog?.stats?.segmentsCut ?? 0;
    await m.raftLog?.close();
    await m.db?.close();
    m.kv = undefined;
    m.raftLog = undefined;
    m.db = undefined;
    if (restartLater) {
      this.stats.crashes++;
      m.down = this.now + 5 + this.rng.int(20);
    }
  }

  // ---- time -----------------------------------------------------------------------

  private async step(clients: boolean): Promise<void> {
    this.now++;
    for (const m of this.members) {
      if (!m.node && m.down > 0 && this.now >= m.down) {
        m.down = 0;
        await this.closed(m);
        await this.start(m, false);
      }
    }
    if (clients) this.startOps();
    this.network.deliverDue(this.now, this.hooks);
    for (const m of this.members) {
      const due = m.held.filter((h) => h.until <= this.now);
      m.held = m.held.filter((h) => h.until > this.now);
      for (const h of due) h.release();
      if (m.node) {
        m.node.tick();
        m.loop!.schedule();
      }
    }
    await this.settle();
    if (this.failure) throw new Error(`seed ${this.opts.seed}: a member's loop failed: ${this.failure.stack ?? this.failure.message}`);
    this.expireOps();
  }

  /**
   * Runs deferred loop work and waits for all I/O until nothing moves (held applies stay held).
   * Two different ways not to settle, told apart: real I/O (LevelDB) still in flight is waited for
   * by wall time (IO_WAIT_LIMIT_MS: on a loaded machine one synced write can take hundreds of ms,
   * so a budget counted in event-loop turns is not one), while a loop that is busy with no I/O in
   * flight, nothing queued and no apply held back can never move again: that is a liveness bug of
   * the loop (a report it waits for was never delivered) and fails at once.
   */
  private async settle(): Promise<void> {
    const started = performance.now();
    let idleTurns = 0;
    for (;;) {
      const fn = this.queue.shift();
      if (fn) {
        idleTurns = 0;
        fn();
        continue;
      }
      await new Promise((r) => setImmediate(r));
      if (this.queue.length > 0) continue;
      const io = this.members.some((m) => m.io > 0);
      const stuck = this.members.filter((m) => m.loop?.busy && m.held.length === 0);
      if (!io && stuck.length === 0) break;
      if (io) {
        idleTurns = 0;
        const left = IO_WAIT_LIMIT_MS - (performance.now() - started);
        if (left <= 0) throw new Error(`seed ${this.opts.seed}: I/O did not complete within ${IO_WAIT_LIMIT_MS} ms at tick ${this.now}: ${this.describeMembers()}`);
        // Sleep until some I/O completes (no busy spinning while LevelDB works on a loaded machine).
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([Promise.race(this.inflight).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, Math.min(left, 50))))]);
        clearTimeout(timer);
        continue;
      }
      // Nothing queued, no I/O: only microtasks and immediates could still move a busy loop.
      if (++idleTurns >= STALL_TURNS) {
        throw new Error(`seed ${this.opts.seed}: a Ready loop is stuck at tick ${this.now} (busy, no I/O in flight, no apply held): ${this.describeMembers()}`);
      }
    }
    const waited = performance.now() - started;
    if (waited > this.stats.maxSettleMs) this.stats.maxSettleMs = waited;
  }

  private describeMembers(): string {
    return this.members.map((m) => `${m.id} ${m.node ? 'up' : 'down'} busy=${String(m.loop?.busy)} io=${m.io} held=${m.held.length} applied=${m.applied}`).join('; ');
  }

  private chaos(): void {
    const r = this.rng;
    const ids = this.members.map((m) => m.id);
    if (!this.network.partitioned && r.chance(0.01)) this.network.isolate(r.pick(ids), ids);
    else if (this.network.partitioned && r.chance(0.05)) this.network.heal();
    const up = this.members.filter((m) => m.node);
    if (up.length === this.members.length && r.chance(0.01)) {
      const victim = r.chance(0.6) ? (up.find((m) => m.role === StateRole.Leader) ?? r.pick(up)) : r.pick(up);
      this.queue.push(() => void this.crash(victim, true));
    }
  }

  // ---- clients --------------------------------------------------------------------

  private startOps(): void {
    for (const c of this.clients) {
      if (c.op || !this.rng.chance(0.5)) continue;
      const leader = this.members.find((m) => m.node && m.role === StateRole.Leader);
      const target = leader ?? this.rng.pick(this.members);
      if (!target.node) continue;
      const key = this.windows.next(this.rng.pick(KEYS));
      const seq = ++this.seq;
      if (this.rng.chance(0.6)) {
        const input: KvInput = { op: 'put', key, value: `${c.id}.${seq}` };
        const pending = this.history.call(c.id, input, this.now * 2);
        c.op = { pending, input, target: target.id, seq, giveUpAt: this.now + 60 };
        const data = encodeInternalRequest({ origin: target.id, seq, put: { key: Buffer.from(key), value: Buffer.from(input.value), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } as never);
        target.writes.set(seq, (ok) => {
          if (c.op?.seq !== seq) return;
          if (ok) {
            this.history.ok(c.op.pending, { op: 'put' }, this.now * 2 + 1);
            this.stats.opsOk++;
          } else this.history.unknown(c.op.pending);
          c.op = undefined;
        });
        try {
          target.node.propose(data);
          target.loop!.schedule();
        } catch {
          target.writes.delete(seq);
          this.history.fail(pending);
          c.op = undefined;
        }
      } else {
        const input: KvInput = { op: 'get', key };
        const pending = this.history.call(c.id, input, this.now * 2);
        const ctx = `${c.id}:${seq}`;
        c.op = { pending, input, target: target.id, seq, giveUpAt: this.now + 60, ctx };
        target.reads.set(ctx, undefined);
        target.node.readIndex(new TextEncoder().encode(ctx));
        target.loop!.schedule();
      }
    }
  }

  private async serveReads(m: SimMember): Promise<void> {
    for (const [ctx, index] of m.reads) {
      if (index === undefined || index > m.applied || !m.kv) continue;
      m.reads.delete(ctx);
      const c = this.clients.find((x) => x.op?.ctx === ctx);
      if (!c?.op || c.op.input.op !== 'get') continue;
      const op = c.op;
      const res = await this.io(m, m.kv.range({ key: Buffer.from(op.input.key), rangeEnd: Buffer.alloc(0), limit: 0, revision: 0 } as never));
      if (c.op !== op) continue;
      this.history.ok(op.pending, { op: 'get', value: res.kvs?.[0]?.value ? Buffer.from(res.kvs[0].value as Uint8Array).toString() : undefined }, this.now * 2 + 1);
      this.stats.opsOk++;
      c.op = undefined;
    }
  }

  private expireOps(): void {
    for (const c of this.clients) {
      if (!c.op || this.now < c.op.giveUpAt) continue;
      if (c.op.input.op === 'get') this.history.fail(c.op.pending);
      else this.history.unknown(c.op.pending);
      this.members[c.op.target - 1]!.writes.delete(c.op.seq);
      c.op = undefined;
    }
  }

  /** After healing: every member applies the leader's commit; their key spaces agree. */
  private async converge(): Promise<number> {
    for (let i = 0; i < 60 * ELECTION_TICK; i++) {
      await this.step(false);
      const leader = this.members.find((m) => m.node && m.role === StateRole.Leader);
      if (!leader) continue;
      const commit = leader.node!.status().commit;
      if (this.members.every((m) => m.node && m.applied === commit && m.held.length === 0)) {
        const dumps = await Promise.all(this.members.map(async (m) => JSON.stringify((await m.kv!.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), limit: 0, revision: 0 } as never)).kvs)));
        if (new Set(dumps).size !== 1) throw new Error(`seed ${this.opts.seed}: key spaces diverged at index ${commit}`);
        return leader.id;
      }
    }
    throw new Error(`seed ${this.opts.seed}: members did not converge (${this.members.map((m) => `${m.id}@${m.applied}`).join(' ')})`);
  }
}

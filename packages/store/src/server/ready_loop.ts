// The Ready loop around the Raft core: the one place that calls ready(),
// advanceAppend() and advanceApply() of a RawNode configured with
// asyncStorageWrites (see Ready in raft/types.ts). The member (member.ts) and
// the deterministic simulator (test/sim) both run this loop; what differs is
// behind the two interfaces: where the log is made durable (ReadyLog) and what
// applying, sending and snapshots mean (ReadyHost), and how work is deferred.
//
// Order of one Ready (as etcd's raftNode and apply goroutine):
//  1. soft state (leader/role) to the host;
//  2. an incoming snapshot is restored into the state machine, after every queued apply;
//  3. committed entries go on the apply chain: the core hands out only entries that are
//     already persisted locally, so applying them need not wait for this Ready's write;
//  4. a leader sends its messages now (appends while it writes its own copy, Raft §10.2.1:
//     its own copy counts toward commitment only after advanceAppend);
//  5. persist hard state, entries and snapshot (fsync when the Ready requires it);
//  6. "persisted up to": the in-memory storage the core reads takes them, advanceAppend;
//  7. a follower or candidate whose Ready carried a configuration change waits until the
//     apply chain has applied it (etcd: "we might incorrectly count votes");
//  8. everyone else sends its messages (votes, acknowledgements) only now, after the write;
//  9. read states to the host; if applying lags too far behind, wait for it.
// The apply chain applies entries in order and then reports "applied up to"
// (advanceApply), so the core's applied index is the state machine's.
import type { MemoryStorage, RawNode } from '../raft/index.js';
import { EntryType, StateRole, type Entry, type HardState, type Message, type ReadState, type Ready, type Snapshot } from '../raft/types.js';

/** Where the Raft log, hard state and snapshot metadata become durable. */
export interface ReadyLog {
  save(hardState: HardState | undefined, entries: Entry[], snapshot: Snapshot | undefined, sync: boolean): Promise<void>;
}

/** What the loop needs from the member it runs in. */
export interface ReadyHost {
  onSoftState(lead: number, role: StateRole): void;
  onHardState?(hs: HardState): void;
  /**
   * Restores the state machine from the snapshot Raft handed out, before the log records it (a
   * crash in between replays entries the state machine skips). Runs after every queued apply.
   * Returns what to call once the snapshot is durable.
   */
  restoreSnapshot(snap: Snapshot): Promise<(() => void) | undefined>;
  /** The snapshot is durable and in the core's storage: membership, indexes of the host. */
  installSnapshot(snap: Snapshot): void;
  /** Applies committed entries in order (configuration changes through node.applyConfChange). */
  applyEntries(entries: Entry[]): Promise<void>;
  /** After entries were applied and reported to the core (reads waiting on the index, snapshots). */
  afterApply?(entries: Entry[]): Promise<void>;
  send(messages: Message[]): void;
  onReadStates(readStates: ReadState[]): void;
  /** Seconds one synced write took. */
  onSyncedWrite?(seconds: number): void;
  /** An error the loop cannot continue after (I/O): the host stops. */
  fail(err: Error): void;
}

export interface ReadyLoopOptions {
  /** Committed entries that may wait for the apply chain before the loop waits for it. */
  maxQueuedApply: number;
  /** Runs `fn` later, outside the current call stack (setImmediate in a member; the simulator's queue). */
  defer(fn: () => void): void;
  /** Wall-clock in ns for the fsync metric (default process.hrtime). */
  hrtime?: () => bigint;
}

export class ReadyLoop {
  private processing = false;
  private again = false;
  private stopped = false;
  private applyChain: Promise<void> = Promise.resolve();
  private queuedApply = 0;
  private role: StateRole = StateRole.Follower;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly node: RawNode,
    private readonly storage: MemoryStorage,
    private readonly log: ReadyLog,
    private readonly host: ReadyHost,
    private readonly opts: ReadyLoopOptions,
  ) {}

  /** Committed entries on the apply chain, not yet applied. */
  get applyBacklog(): number {
    return this.queuedApply;
  }

  get busy(): boolean {
    return this.processing;
  }

  /** Something may have produced a Ready: process it soon (coalesced). */
  schedule(): void {
    if (this.stopped) return;
    if (this.processing) {
      this.again = true;
      return;
    }
    this.processing = true;
    this.opts.defer(() => {
      this.processReadies()
        .catch((err: Error) => this.fail(err))
        .finally(() => {
          this.processing = false;
          if (this.again && !this.stopped) {
            this.again = false;
            this.schedule();
          } else {
            this.notifyIdle();
          }
        });
    });
  }

  /** Stops taking Readies; what is in flight finishes (see idle()). */
  stop(): void {
    this.stopped = true;
    if (!this.processing) this.notifyIdle();
  }

  /** Resolves once no Ready is being processed (after stop(), once the in-flight one finished). */
  idle(): Promise<void> {
    if (!this.processing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once everything queued on the apply chain so far has run. */
  applied(): Promise<void> {
    return this.applyChain;
  }

  /** Runs `fn` on the apply chain (entries, snapshot restores), after everything queued before it. */
  onApplyChain(fn: () => Promise<void>): Promise<void> {
    const run = this.applyChain.then(fn);
    this.applyChain = run.catch((err: Error) => this.fail(err));
    return run;
  }

  private notifyIdle(): void {
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  private fail(err: Error): void {
    this.stopped = true;
    this.host.fail(err);
  }

  private async processReadies(): Promise<void> {
    do {
      this.again = false;
      while (!this.stopped && this.node.hasReady()) {
        await this.handleReady(this.node.ready());
      }
    } while (this.again && !this.stopped);
  }

  private async handleReady(rd: Ready): Promise<void> {
    const host = this.host;
    if (rd.softState) {
      this.role = rd.softState.role;
      host.onSoftState(rd.softState.lead, rd.softState.role);
    }
    if (rd.hardState) host.onHardState?.(rd.hardState);
    let restored: (() => void) | undefined;
    const snap = rd.snapshot;
    if (snap) {
      await this.onApplyChain(async () => {
        restored = await host.restoreSnapshot(snap);
      });
    }
    if (this.stopped) return;
    if (rd.committedEntries.length > 0) this.enqueueApply(rd.committedEntries);
    const sendEarly = this.role === StateRole.Leader && !rd.snapshot;
    if (sendEarly && rd.messages.length > 0) host.send(rd.messages);
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
      const sync = rd.mustSync || rd.snapshot !== undefined;
      const hr = this.opts.hrtime ?? process.hrtime.bigint;
      const t0 = hr();
      await this.log.save(rd.hardState, rd.entries, rd.snapshot, sync);
      if (sync) host.onSyncedWrite?.(Number(hr() - t0) / 1e9);
    }
    // A member stopped (or crashed, in the simulator) while writing reports nothing further.
    if (this.stopped) return;
    if (rd.snapshot) {
      this.storage.applySnapshot(rd.snapshot);
      host.installSnapshot(rd.snapshot);
      restored?.();
    }
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    this.node.advanceAppend(rd);
    if (!sendEarly && rd.messages.length > 0) {
      if (rd.committedEntries.some((e) => e.type === EntryType.ConfChange)) await this.applyChain;
      if (this.stopped) return;
      host.send(rd.messages);
    }
    if (rd.readStates.length > 0) host.onReadStates(rd.readStates);
    if (this.queuedApply > this.opts.maxQueuedApply) await this.applyChain;
  }

  private enqueueApply(entries: Entry[]): void {
    this.queuedApply += entries.length;
    void this.onApplyChain(async () => {
      if (this.stopped) return;
      await this.host.applyEntries(entries);
      this.queuedApply -= entries.length;
      if (this.stopped) return;
      // "Applied up to": only now may the core count these (and a conf change among them) as applied.
      this.node.advanceApply(entries);
      await this.host.afterApply?.(entries);
      this.schedule();
    });
  }
}

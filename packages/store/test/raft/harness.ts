// A small deterministic in-memory network of RawNodes for scripted tests.
// Each node has a MemoryStorage and a toy state machine (the list of applied
// normal entry payloads). Ready batches are processed exactly per the
// contract: persist, queue messages, apply, advance. Messages are delivered
// FIFO; filters drop messages to simulate partitions.

import { seededRandom } from '../../src/raft/seeded_random.js';
import {
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  type NodeId,
  type RaftConfig,
  RawNode,
  type ReadState,
  type Ready,
  StateRole,
} from '../../src/raft/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export { seededRandom };

export interface NodeOptions extends Partial<Omit<RaftConfig, 'id' | 'storage'>> {
  /** Start initial members with RawNode.bootstrap (membership in the log) instead of a snapshot-at-0 ConfState. */
  bootstrap?: boolean;
}

export interface TestNode {
  id: NodeId;
  storage: MemoryStorage;
  raw: RawNode;
  opts: NodeOptions;
  /** Applied normal payloads in order, with their index. */
  applied: { index: number; data: string }[];
  appliedIndex: number;
  confState: ConfState;
  readStates: ReadState[];
  readies: Ready[];
  seed: number;
}

export const defaultOptions: NodeOptions = {
  electionTick: 10,
  heartbeatTick: 1,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesSize: 0,
  checkQuorum: false,
  preVote: false,
  applied: 0,
};

export type Filter = (m: Message) => boolean; // true = drop

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent but not yet delivered. */
  queue: Message[] = [];
  /** Every message ever delivered (for assertions). */
  delivered: Message[] = [];
  private filters: Filter[] = [];
  private cut = new Set<string>();
  private isolated = new Set<NodeId>();
  autoReportSnapshot = true;

  constructor(
    voters: NodeId[],
    readonly opts: NodeOptions = {},
    learners: NodeId[] = [],
  ) {
    for (const id of [...voters, ...learners]) this.addNode(id, { voters, learners });
  }

  /** Creates and starts a node; with a ConfState it is an initial member, without one it joins empty. */
  addNode(id: NodeId, confState?: ConfState, opts: NodeOptions = {}): TestNode {
    const o = { ...defaultOptions, ...this.opts, ...opts };
    const storage = new MemoryStorage(o.bootstrap ? undefined : confState);
    const seed = id * 7919 + 17;
    const n: TestNode = {
      id,
      storage,
      raw: undefined as unknown as RawNode,
      opts: o,
      applied: [],
      appliedIndex: 0,
      confState: (o.bootstrap ? undefined : confState) ?? { voters: [], learners: [] },
      readStates: [],
      readies: [],
      seed,
    };
    n.raw = new RawNode(this.config(n));
    if (o.bootstrap && confState) n.raw.bootstrap(confState);
    this.nodes.set(id, n);
    this.processReady(id);
    return n;
  }

  private config(n: TestNode): RaftConfig {
    const o = n.opts;
    return {
      id: n.id,
      storage: n.storage,
      electionTick: o.electionTick!,
      heartbeatTick: o.heartbeatTick!,
      applied: n.appliedIndex,
      maxSizePerMsg: o.maxSizePerMsg!,
      maxInflightMsgs: o.maxInflightMsgs!,
      maxUncommittedEntriesSize: o.maxUncommittedEntriesSize!,
      checkQuorum: o.checkQuorum!,
      preVote: o.preVote!,
      random: o.random ?? seededRandom(n.seed),
    };
  }

  /**
   * Crash and restart: everything not persisted in storage is lost. The
   * state machine is rebuilt from the storage snapshot (applied = snapshot index).
   */
  restart(id: NodeId): TestNode {
    const n = this.node(id);
    const snap = n.storage.snapshot();
    n.applied = snap.data.byteLength > 0 ? (JSON.parse(dec(snap.data)) as { index: number; data: string }[]) : [];
    n.appliedIndex = snap.metadata.index;
    n.confState = snap.metadata.confState;
    n.readStates = [];
    n.seed += 1;
    n.raw = new RawNode(this.config(n));
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return n;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  // ---- faults ----

  addFilter(f: Filter): () => void {
    this.filters.push(f);
    return () => {
      this.filters = this.filters.filter((x) => x !== f);
    };
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  heal(): void {
    this.cut.clear();
    this.isolated.clear();
    this.filters = [];
  }

  private dropped(m: Message): boolean {
    // Every filter sees every message (filters may also just observe).
    let drop = false;
    for (const f of this.filters) if (f(m)) drop = true;
    if (drop) return true;
    if (!this.nodes.has(m.to)) return true;
    if (this.isolated.has(m.from) || this.isolated.has(m.to)) return true;
    return this.cut.has(`${m.from}-${m.to}`);
  }

  // ---- driving ----

  /** Processes one Ready of a node if it has one; returns whether it did. */
  processReady(id: NodeId): boolean {
    const n = this.node(id);
    if (!n.raw.hasReady()) return false;
    const rd = n.raw.ready();
    n.readies.push(rd);
    this.persist(n, rd);
    for (const m of rd.messages) this.queue.push(m);
    this.apply(n, rd);
    n.readStates.push(...rd.readStates);
    n.raw.advance(rd);
    return true;
  }

  /** Persist step of the Ready contract. */
  persist(n: TestNode, rd: Ready): void {
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
  }

  /** Apply step of the Ready contract. */
  apply(n: TestNode, rd: Ready): void {
    if (rd.snapshot) {
      const s = rd.snapshot;
      n.applied = s.data.byteLength > 0 ? (JSON.parse(dec(s.data)) as { index: number; data: string }[]) : [];
      n.appliedIndex = s.metadata.index;
      n.confState = s.metadata.confState;
    }
    for (const e of rd.committedEntries) this.applyEntry(n, e);
  }

  private applyEntry(n: TestNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1) throw new Error(`node ${n.id}: applying ${e.index} after ${n.appliedIndex}`);
    n.appliedIndex = e.index;
    if (e.type === EntryType.ConfChange) {
      n.confState = n.raw.applyConfChange(decodeConfChange(e.data));
    } else if (e.data.byteLength > 0) {
      n.applied.push({ index: e.index, data: dec(e.data) });
    }
  }

  /** Delivers the currently queued messages (not the ones they trigger). Returns how many were delivered. */
  deliverQueued(): number {
    const batch = this.queue;
    this.queue = [];
    let count = 0;
    for (const m of batch) {
      const dropped = this.dropped(m);
      if (m.type === MessageType.Snap && this.autoReportSnapshot) {
        if (!dropped) this.deliver(m);
        const sender = this.nodes.get(m.from);
        sender?.raw.reportSnapshot(m.to, !dropped);
        if (!dropped) count++;
        continue;
      }
      if (dropped) continue;
      this.deliver(m);
      count++;
    }
    return count;
  }

  private deliver(m: Message): void {
    this.delivered.push(m);
    this.node(m.to).raw.step(m);
  }

  /** Runs ready processing and message delivery until nothing moves. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of this.nodes.keys()) while (this.processReady(id)) progressed = true;
      if (this.queue.length > 0) {
        this.deliverQueued();
        progressed = true;
      }
      if (!progressed) return;
    }
    throw new Error('network did not stabilize');
  }

  /** Ticks the given nodes (default all) n times, stabilizing after each tick. */
  tick(n = 1, ids?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids ?? [...this.nodes.keys()]) this.node(id).raw.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.raw(id).campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): void {
    this.raw(id).propose(enc(data));
    this.stabilize();
  }

  /** Takes a snapshot at the node's applied index and compacts its log up to `compactTo` (default: that index). */
  snapshotAndCompact(id: NodeId, compactTo?: number): void {
    const n = this.node(id);
    const idx = n.appliedIndex;
    n.storage.createSnapshot(idx, n.confState, enc(JSON.stringify(n.applied)));
    n.storage.compact(compactTo ?? idx);
  }

  status(id: NodeId) {
    return this.raw(id).status();
  }

  role(id: NodeId): StateRole {
    return this.status(id).role;
  }

  leader(): NodeId {
    const leaders = [...this.nodes.keys()].filter((id) => this.role(id) === StateRole.Leader);
    const top = leaders.sort((a, b) => this.status(b).term - this.status(a).term)[0];
    return top ?? 0;
  }

  appliedData(id: NodeId): string[] {
    return this.node(id).applied.map((a) => a.data);
  }

  /** All the log entries a node persisted (from storage's first index). */
  storedEntries(id: NodeId): Entry[] {
    const s = this.node(id).storage;
    if (s.lastIndex() < s.firstIndex()) return [];
    return s.entries(s.firstIndex(), s.lastIndex() + 1, Number.POSITIVE_INFINITY);
  }
}

export const cc = {
  addNode: (nodeId: NodeId) => ({ type: ConfChangeType.AddNode, nodeId, context: new Uint8Array(0) }),
  addLearner: (nodeId: NodeId) => ({ type: ConfChangeType.AddLearner, nodeId, context: new Uint8Array(0) }),
  promote: (nodeId: NodeId) => ({ type: ConfChangeType.PromoteLearner, nodeId, context: new Uint8Array(0) }),
  remove: (nodeId: NodeId) => ({ type: ConfChangeType.RemoveNode, nodeId, context: new Uint8Array(0) }),
};

export function msg(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: 0,
    to: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...m,
  };
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: enc(data) };
}

/** Replaces a node's persisted state with the given log and term, then restarts it. */
export function preload(net: Network, id: NodeId, terms: number[], term: number): void {
  const n = net.node(id);
  const ents = terms.map((tm, i) => entry(i + 1, tm, `${id}:${i + 1}@${tm}`));
  n.storage.append(ents);
  n.storage.setHardState({ term, vote: 0, commit: 0 });
  net.restart(id);
}

export function logTerms(net: Network, id: NodeId): number[] {
  return net.storedEntries(id).map((e) => e.term);
}

// The in-memory index from user keys to their revisions, rebuilt from LevelDB
// on open. Per key, revisions are grouped in generations: a generation starts
// with the put that creates the key and ends with the tombstone that deletes it
// (the last generation is open, empty after a delete). Mirrors etcd's
// keyIndex/treeIndex semantics (get at a revision, compaction keeping the latest
// revision <= the compaction point of every live key).

import { formatRevision } from './revision.js';

export interface IndexRevision {
  main: number;
  sub: number;
  /** Bytes the record of this revision occupies in LevelDB (key + value), for quota accounting. */
  size: number;
}

interface Generation {
  /** Number of puts in this generation, counting compacted ones. */
  ver: number;
  /** Main revision of the put that created the key in this generation. */
  created: number;
  revs: IndexRevision[];
}

export interface IndexGetResult {
  modified: IndexRevision;
  created: number;
  version: number;
}

export function revisionId(rev: { main: number; sub: number }): string {
  return formatRevision(rev);
}

export class KeyIndex {
  modified: IndexRevision | undefined;
  generations: Generation[] = [];

  constructor(readonly key: Buffer) {}

  put(main: number, sub: number, size: number): void {
    const rev = { main, sub, size };
    if (this.modified && (main < this.modified.main || (main === this.modified.main && sub <= this.modified.sub))) {
      throw new Error(`mvcc: put with revision ${formatRevision(rev)} not after ${formatRevision(this.modified)} on key ${this.keyText()}`);
    }
    if (this.generations.length === 0) this.generations.push({ ver: 0, created: 0, revs: [] });
    const g = this.generations[this.generations.length - 1]!;
    if (g.revs.length === 0) g.created = main;
    g.revs.push(rev);
    g.ver++;
    this.modified = rev;
  }

  /** Starts a generation from a record whose earlier revisions were compacted away (rebuild on open). */
  restore(created: number, modified: IndexRevision, ver: number): void {
    this.modified = modified;
    const last = this.generations[this.generations.length - 1];
    if (last && last.revs.length === 0) this.generations.pop();
    this.generations.push({ ver, created, revs: [modified] });
  }

  tombstone(main: number, sub: number, size: number): void {
    if (!this.isLive()) throw new Error(`mvcc: tombstone on key ${this.keyText()} that is not live`);
    this.put(main, sub, size);
    this.generations.push({ ver: 0, created: 0, revs: [] });
  }

  /** True when the key exists at the latest revision. */
  isLive(): boolean {
    const g = this.generations[this.generations.length - 1];
    return g !== undefined && g.revs.length > 0;
  }

  isEmpty(): boolean {
    return this.generations.length === 0 || (this.generations.length === 1 && this.generations[0]!.revs.length === 0);
  }

  get(atRev: number): IndexGetResult | undefined {
    const g = this.findGeneration(atRev);
    if (!g) return undefined;
    for (let n = g.revs.length - 1; n >= 0; n--) {
      const r = g.revs[n]!;
      if (r.main <= atRev) return { modified: r, created: g.created, version: g.ver - (g.revs.length - n - 1) };
    }
    return undefined;
  }

  private findGeneration(rev: number): Generation | undefined {
    const last = this.generations.length - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.generations[i]!;
      if (g.revs.length === 0) continue;
      if (i !== last && g.revs[g.revs.length - 1]!.main <= rev) return undefined; // deleted at or before rev
      if (g.revs[0]!.main <= rev) return g;
    }
    return undefined;
  }

  /**
   * Drops revisions made obsolete by a compaction at `atRev`: keeps the latest
   * revision <= atRev of the generation alive at atRev (adding it to `keep`),
   * drops a generation whose tombstone is <= atRev. Returns the bytes dropped.
   */
  compact(atRev: number, keep: Set<string>): number {
    if (this.generations.length === 0) return 0;
    let genIdx = 0;
    let g = this.generations[0]!;
    while (genIdx < this.generations.length - 1) {
      if (g.revs[g.revs.length - 1]!.main > atRev) break;
      genIdx++;
      g = this.generations[genIdx]!;
    }
    let revIndex = -1;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      if (g.revs[i]!.main <= atRev) {
        keep.add(revisionId(g.revs[i]!));
        revIndex = i;
        break;
      }
    }
    let removed = 0;
    if (g.revs.length > 0) {
      if (revIndex > 0) {
        for (let i = 0; i < revIndex; i++) removed += g.revs[i]!.size;
        g.revs = g.revs.slice(revIndex);
      }
      if (g.revs.length === 1 && genIdx !== this.generations.length - 1) {
        keep.delete(revisionId(g.revs[0]!));
        genIdx++;
      }
    }
    for (let i = 0; i < genIdx; i++) for (const r of this.generations[i]!.revs) removed += r.size;
    if (genIdx > 0) this.generations = this.generations.slice(genIdx);
    return removed;
  }

  private keyText(): string {
    return JSON.stringify(this.key.toString('latin1'));
  }
}

// ---- ordered map of keys (B+ tree; deletes leave leaves under-full) ---------

const MAX_NODE = 64;

interface Leaf {
  leaf: true;
  keys: Buffer[];
  vals: KeyIndex[];
  next: Leaf | null;
}

interface Inner {
  leaf: false;
  /** keys[i] <= every key under children[i] (keys[0] unused). */
  keys: Buffer[];
  children: TreeNode[];
}

type TreeNode = Leaf | Inner;

function lowerBound(keys: Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function childIndex(node: Inner, key: Buffer): number {
  let lo = 1;
  let hi = node.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(node.keys[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

class OrderedKeys {
  private root: TreeNode = { leaf: true, keys: [], vals: [], next: null };

  insert(key: Buffer, val: KeyIndex): void {
    const split = this.insertInto(this.root, key, val);
    if (split) this.root = { leaf: false, keys: [this.root.keys[0]!, split[0]], children: [this.root, split[1]] };
  }

  private insertInto(node: TreeNode, key: Buffer, val: KeyIndex): [Buffer, TreeNode] | undefined {
    if (node.leaf) {
      const i = lowerBound(node.keys, key);
      node.keys.splice(i, 0, key);
      node.vals.splice(i, 0, val);
      if (node.keys.length <= MAX_NODE) return undefined;
      const half = node.keys.length >>> 1;
      const right: Leaf = { leaf: true, keys: node.keys.splice(half), vals: node.vals.splice(half), next: node.next };
      node.next = right;
      return [right.keys[0]!, right];
    }
    const ci = childIndex(node, key);
    const split = this.insertInto(node.children[ci]!, key, val);
    if (!split) return undefined;
    node.keys.splice(ci + 1, 0, split[0]);
    node.children.splice(ci + 1, 0, split[1]);
    if (node.children.length <= MAX_NODE) return undefined;
    const half = node.children.length >>> 1;
    const right: Inner = { leaf: false, keys: node.keys.splice(half), children: node.children.splice(half) };
    return [right.keys[0]!, right];
  }

  private findLeaf(key: Buffer): Leaf {
    let node = this.root;
    while (!node.leaf) node = node.children[childIndex(node, key)]!;
    return node;
  }

  delete(key: Buffer): void {
    const leaf = this.findLeaf(key);
    const i = lowerBound(leaf.keys, key);
    if (i < leaf.keys.length && leaf.keys[i]!.equals(key)) {
      leaf.keys.splice(i, 1);
      leaf.vals.splice(i, 1);
    }
  }

  /** Key indexes with from <= key (< end when end is given), ascending. */
  *ascend(from: Buffer, end: Buffer | undefined): Generator<KeyIndex> {
    let leaf: Leaf | null = this.findLeaf(from);
    let i = lowerBound(leaf.keys, from);
    while (leaf) {
      for (; i < leaf.keys.length; i++) {
        if (end && Buffer.compare(leaf.keys[i]!, end) >= 0) return;
        yield leaf.vals[i]!;
      }
      leaf = leaf.next;
      i = 0;
    }
  }
}

export interface CompactResult {
  /** Revision ids (revisionId) <= the compaction revision that stay in the store. */
  keep: Set<string>;
  removedBytes: number;
}

/**
 * All keys' KeyIndex, ordered. Range ends follow etcd's mvcc convention:
 * `undefined` = the single key, an empty buffer = no upper bound, otherwise [key, end).
 */
export class TreeIndex {
  private byKey = new Map<string, KeyIndex>();
  private ordered = new OrderedKeys();
  private deletedSinceRebuild = 0;

  get size(): number {
    return this.byKey.size;
  }

  get(key: Buffer): KeyIndex | undefined {
    return this.byKey.get(key.toString('latin1'));
  }

  getOrCreate(key: Buffer): KeyIndex {
    const k = key.toString('latin1');
    let ki = this.byKey.get(k);
    if (!ki) {
      ki = new KeyIndex(Buffer.from(key));
      this.byKey.set(k, ki);
      this.ordered.insert(ki.key, ki);
    }
    return ki;
  }

  private remove(ki: KeyIndex): void {
    this.byKey.delete(ki.key.toString('latin1'));
    this.ordered.delete(ki.key);
    this.deletedSinceRebuild++;
  }

  *range(key: Buffer, end: Buffer | undefined): Generator<KeyIndex> {
    if (end === undefined) {
      const ki = this.get(key);
      if (ki) yield ki;
      return;
    }
    if (end.length > 0 && Buffer.compare(end, key) <= 0) return;
    yield* this.ordered.ascend(key, end.length > 0 ? end : undefined);
  }

  /** Keys visible at atRev in the range, with their revision data, in key order. */
  revisions(key: Buffer, end: Buffer | undefined, atRev: number): Array<{ ki: KeyIndex } & IndexGetResult> {
    const out: Array<{ ki: KeyIndex } & IndexGetResult> = [];
    for (const ki of this.range(key, end)) {
      const r = ki.get(atRev);
      if (r) out.push({ ki, ...r });
    }
    return out;
  }

  compact(atRev: number): CompactResult {
    const keep = new Set<string>();
    let removedBytes = 0;
    const empty: KeyIndex[] = [];
    for (const ki of this.byKey.values()) {
      removedBytes += ki.compact(atRev, keep);
      if (ki.isEmpty()) empty.push(ki);
    }
    for (const ki of empty) this.remove(ki);
    if (this.deletedSinceRebuild > 1024 && this.deletedSinceRebuild > this.byKey.size) this.rebuild();
    return { keep, removedBytes };
  }

  /** Rebuilds the ordered tree to reclaim leaves emptied by deletions. */
  private rebuild(): void {
    const all = [...this.ordered.ascend(Buffer.alloc(0), undefined)];
    this.ordered = new OrderedKeys();
    for (const ki of all) this.ordered.insert(ki.key, ki);
    this.deletedSinceRebuild = 0;
  }

  *all(): Generator<KeyIndex> {
    yield* this.ordered.ascend(Buffer.alloc(0), undefined);
  }
}

// The cluster's member table (ids, names, URLs, learner flag), changed only
// when Raft applies a ConfChange or a MemberAttributes request, and persisted
// with the member's state.
import type { ClassicLevel } from 'classic-level';
import { createHash } from 'node:crypto';
import type { MemberInfo } from './backend.js';

const MEMBERS_KEY = Buffer.from('meta/members');
const REMOVED_KEY = Buffer.from('meta/removed');

/** Context carried in a ConfChange entry. */
export interface ConfChangeContext {
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** A 52-bit id derived from a string (member ids and cluster ids must fit a JS number). */
export function idFromString(s: string): number {
  const h = createHash('sha256').update(s).digest();
  const id = Number(h.readBigUInt64BE(0) & ((1n << 52n) - 1n));
  return id === 0 ? 1 : id;
}

/** Member ids of an initial cluster: every member computes the same ids from --initial-cluster. */
export function initialMemberId(peerURLs: string[], token: string): number {
  return idFromString(`member:${[...peerURLs].sort().join(',')}:${token}`);
}

export function initialClusterId(memberIds: number[], token: string): number {
  return idFromString(`cluster:${[...memberIds].sort((a, b) => a - b).join(',')}:${token}`);
}

export class Membership {
  private members = new Map<number, MemberInfo>();
  private removed = new Set<number>();

  constructor(private readonly db: ClassicLevel<Buffer, Buffer>) {}

  async load(): Promise<void> {
    const rec = await this.db.get(MEMBERS_KEY);
    if (rec) this.restore(JSON.parse(rec.toString('utf8')) as { members: MemberInfo[]; removed: number[] });
  }

  list(): MemberInfo[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m }));
  }

  get(id: number): MemberInfo | undefined {
    const m = this.members.get(id);
    return m ? { ...m } : undefined;
  }

  isRemoved(id: number): boolean {
    return this.removed.has(id);
  }

  findByPeerURL(url: string): MemberInfo | undefined {
    for (const m of this.members.values()) if (m.peerURLs.includes(url)) return { ...m };
    return undefined;
  }

  add(id: number, ctx: ConfChangeContext, isLearner: boolean): void {
    this.members.set(id, { id, name: ctx.name, peerURLs: ctx.peerURLs, clientURLs: ctx.clientURLs, isLearner });
  }

  promote(id: number): void {
    const m = this.members.get(id);
    if (m) m.isLearner = false;
  }

  remove(id: number): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  setAttributes(id: number, name: string, clientURLs: string[]): void {
    const m = this.members.get(id);
    if (m) {
      m.name = name;
      m.clientURLs = clientURLs;
    }
  }

  snapshot(): { members: MemberInfo[]; removed: number[] } {
    return { members: this.list(), removed: [...this.removed] };
  }

  restore(s: { members: MemberInfo[]; removed: number[] }): void {
    this.members = new Map(s.members.map((m) => [m.id, { ...m }]));
    this.removed = new Set(s.removed);
  }

  async persist(): Promise<void> {
    await this.db.put(MEMBERS_KEY, Buffer.from(JSON.stringify(this.snapshot())));
    await this.db.put(REMOVED_KEY, Buffer.from(JSON.stringify([...this.removed])));
  }
}

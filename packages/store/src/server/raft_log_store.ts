// Durable Raft state in LevelDB: hard state, the log and the latest snapshot
// metadata, each record with a CRC-32. On start the log is loaded into the Raft
// core's MemoryStorage; afterwards every Ready is written here (synced) before
// its messages are sent.
import type { ClassicLevel } from 'classic-level';
import { crc32 } from '../codec/crc32.js';
import { MemoryStorage } from '../raft/index.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.js';

type DB = ClassicLevel<Buffer, Buffer>;

const HARD_STATE_KEY = Buffer.from('raft/hs');
const SNAPSHOT_KEY = Buffer.from('raft/snap');
const ENTRY_PREFIX = Buffer.from('raft/e/');
const MEMBER_KEY = Buffer.from('meta/member');

export class DataCorruptError extends Error {
  readonly code = 'DATA_CORRUPT';
  constructor(what: string) {
    super(`data directory is corrupt: ${what}`);
  }
}

export function entryKey(index: number): Buffer {
  const k = Buffer.alloc(ENTRY_PREFIX.length + 8);
  ENTRY_PREFIX.copy(k);
  k.writeBigUInt64BE(BigInt(index), ENTRY_PREFIX.length);
  return k;
}

/** [crc32 over body][body] */
function seal(body: Buffer): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(crc32(body), 0);
  body.copy(out, 4);
  return out;
}

function unseal(record: Buffer, what: string): Buffer {
  if (record.length < 4) throw new DataCorruptError(`${what}: record too short`);
  const body = record.subarray(4);
  if (record.readUInt32BE(0) !== crc32(body)) throw new DataCorruptError(`${what}: checksum mismatch`);
  return body;
}

export function encodeEntry(e: Entry): Buffer {
  const body = Buffer.alloc(17 + e.data.length);
  body.writeBigUInt64BE(BigInt(e.term), 0);
  body.writeBigUInt64BE(BigInt(e.index), 8);
  body.writeUInt8(e.type, 16);
  Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).copy(body, 17);
  return seal(body);
}

export function decodeEntry(record: Buffer, expectIndex: number): Entry {
  const body = unseal(record, `raft log entry ${expectIndex}`);
  if (body.length < 17) throw new DataCorruptError(`raft log entry ${expectIndex}: truncated`);
  const index = Number(body.readBigUInt64BE(8));
  if (index !== expectIndex) throw new DataCorruptError(`raft log entry stored under index ${expectIndex} says index ${index}`);
  return { term: Number(body.readBigUInt64BE(0)), index, type: body.readUInt8(16), data: body.subarray(17) };
}

function encodeJSON(v: unknown): Buffer {
  return seal(Buffer.from(JSON.stringify(v)));
}

function decodeJSON<T>(record: Buffer, what: string): T {
  return JSON.parse(unseal(record, what).toString('utf8')) as T;
}

function encodeSnapshot(s: Snapshot): Buffer {
  const meta = Buffer.from(JSON.stringify(s.metadata));
  const body = Buffer.alloc(4 + meta.length + s.data.length);
  body.writeUInt32BE(meta.length, 0);
  meta.copy(body, 4);
  Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength).copy(body, 4 + meta.length);
  return seal(body);
}

function decodeSnapshot(record: Buffer): Snapshot {
  const body = unseal(record, 'raft snapshot');
  const n = body.readUInt32BE(0);
  return { metadata: JSON.parse(body.subarray(4, 4 + n).toString('utf8')), data: body.subarray(4 + n) };
}

export interface MemberIdentity {
  clusterId: number;
  memberId: number;
  name: string;
}

export interface LoadedRaftState {
  storage: MemoryStorage;
  hardState: HardState;
  snapshot: Snapshot | undefined;
  lastIndex: number;
}

export class RaftLogStore {
  /** Index of the last entry written to LevelDB. */
  private persistedLast = 0;

  constructor(private readonly db: DB) {}

  async readIdentity(): Promise<MemberIdentity | undefined> {
    const rec = await this.db.get(MEMBER_KEY);
    return rec === undefined ? undefined : decodeJSON<MemberIdentity>(rec, 'member identity');
  }

  async writeIdentity(id: MemberIdentity): Promise<void> {
    await this.db.put(MEMBER_KEY, encodeJSON(id), { sync: true });
  }

  /** Reads everything back, verifying checksums and log continuity. */
  async load(): Promise<LoadedRaftState> {
    const storage = new MemoryStorage();
    const snapRec = await this.db.get(SNAPSHOT_KEY);
    const snapshot = snapRec === undefined ? undefined : decodeSnapshot(snapRec);
    if (snapshot) storage.applySnapshot(snapshot);
    const hsRec = await this.db.get(HARD_STATE_KEY);
    const hardState: HardState = hsRec === undefined ? { term: 0, vote: 0, commit: 0 } : decodeJSON<HardState>(hsRec, 'raft hard state');
    const first = (snapshot?.metadata.index ?? 0) + 1;
    const entries: Entry[] = [];
    let expect = first;
    for await (const [key, value] of this.db.iterator({ gte: entryKey(first), lt: entryKey(Number.MAX_SAFE_INTEGER) })) {
      const index = Number(key.readBigUInt64BE(ENTRY_PREFIX.length));
      if (index !== expect) throw new DataCorruptError(`raft log has a gap: expected entry ${expect}, found ${index}`);
      entries.push(decodeEntry(value, index));
      expect++;
    }
    if (entries.length > 0) storage.append(entries);
    const lastIndex = expect - 1;
    if (hardState.commit > lastIndex) throw new DataCorruptError(`hard state commit ${hardState.commit} is beyond the last log entry ${lastIndex}`);
    storage.setHardState(hardState);
    this.persistedLast = lastIndex;
    return { storage, hardState, snapshot, lastIndex };
  }

  /** Persists one Ready's durable parts in a single LevelDB batch. */
  async save(hardState: HardState | undefined, entries: Entry[], snapshot: Snapshot | undefined, sync: boolean): Promise<void> {
    if (!hardState && entries.length === 0 && !snapshot) return;
    // A chained batch: the array form of db.batch() costs tens of µs per op on the main thread.
    const batch = this.db.batch();
    if (snapshot) batch.put(SNAPSHOT_KEY, encodeSnapshot(snapshot));
    for (const e of entries) batch.put(entryKey(e.index), encodeEntry(e));
    let newLast = this.persistedLast;
    if (entries.length > 0) {
      newLast = entries[entries.length - 1]!.index;
      // A conflicting append truncates the log: drop what followed the new tail.
      for (let i = newLast + 1; i <= this.persistedLast; i++) batch.del(entryKey(i));
    }
    if (snapshot && snapshot.metadata.index > newLast) newLast = snapshot.metadata.index;
    if (hardState) batch.put(HARD_STATE_KEY, encodeJSON(hardState));
    await batch.write({ sync });
    this.persistedLast = newLast;
    if (snapshot) {
      // Entries covered by an installed snapshot are obsolete.
      await this.db.clear({ gte: entryKey(0), lte: entryKey(snapshot.metadata.index) });
    }
  }

  /** Records a locally created snapshot and drops log entries before `compactIndex`. */
  async saveSnapshotAndCompact(snapshot: Snapshot, compactIndex: number): Promise<void> {
    await this.db.put(SNAPSHOT_KEY, encodeSnapshot(snapshot), { sync: true });
    if (compactIndex > 0) await this.db.clear({ gte: entryKey(0), lt: entryKey(compactIndex) });
  }
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [] };
}

// The Raft log as mkube-store kept it in LevelDB before the WAL (keys raft/hs,
// raft/snap and raft/e/<index>, each value [crc32 IEEE][body]): read once, to
// migrate a data directory written by an earlier version into the WAL, and
// removed afterwards.
import type { ClassicLevel } from 'classic-level';
import { crc32 } from '../codec/crc32.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { DataCorruptError } from '../wal/index.js';

type DB = ClassicLevel<Buffer, Buffer>;

const HARD_STATE_KEY = Buffer.from('raft/hs');
const SNAPSHOT_KEY = Buffer.from('raft/snap');
const ENTRY_PREFIX = Buffer.from('raft/e/');
/** Every key of the old layout: raft/ … (the byte after '/' is '0'). */
const RANGE = { gte: Buffer.from('raft/'), lt: Buffer.from('raft0') };

export interface LegacyRaftLog {
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  /** The entries after the snapshot, contiguous. */
  entries: Entry[];
}

function entryKey(index: number): Buffer {
  const k = Buffer.alloc(ENTRY_PREFIX.length + 8);
  ENTRY_PREFIX.copy(k);
  k.writeBigUInt64BE(BigInt(index), ENTRY_PREFIX.length);
  return k;
}

function unseal(record: Buffer, what: string): Buffer {
  if (record.length < 4) throw new DataCorruptError(`${what} (LevelDB Raft log): record too short`);
  const body = record.subarray(4);
  if (record.readUInt32BE(0) !== crc32(body)) throw new DataCorruptError(`${what} (LevelDB Raft log): checksum mismatch`);
  return body;
}

/** Whether the LevelDB still holds any key of the old Raft log. */
export async function hasLegacyRaftLog(db: DB): Promise<boolean> {
  for await (const _ of db.keys({ ...RANGE, limit: 1 })) return true;
  return false;
}

/** Reads the old Raft log back, verifying checksums and continuity (as the old store's load did). */
export async function readLegacyRaftLog(db: DB): Promise<LegacyRaftLog> {
  const snapRec = await db.get(SNAPSHOT_KEY);
  let snapshot: Snapshot | undefined;
  if (snapRec !== undefined) {
    const body = unseal(snapRec, 'raft snapshot');
    const n = body.readUInt32BE(0);
    snapshot = { metadata: JSON.parse(body.subarray(4, 4 + n).toString('utf8')) as Snapshot['metadata'], data: Buffer.from(body.subarray(4 + n)) };
  }
  const hsRec = await db.get(HARD_STATE_KEY);
  const hardState = hsRec === undefined ? undefined : (JSON.parse(unseal(hsRec, 'raft hard state').toString('utf8')) as HardState);
  const entries: Entry[] = [];
  let expect = (snapshot?.metadata.index ?? 0) + 1;
  for await (const [key, value] of db.iterator({ gte: entryKey(expect), lt: entryKey(Number.MAX_SAFE_INTEGER) })) {
    const index = Number(key.readBigUInt64BE(ENTRY_PREFIX.length));
    if (index !== expect) throw new DataCorruptError(`LevelDB Raft log has a gap: expected entry ${expect}, found ${index}`);
    const body = unseal(value, `raft log entry ${index}`);
    if (body.length < 17 || Number(body.readBigUInt64BE(8)) !== index) throw new DataCorruptError(`LevelDB Raft log entry ${index} is malformed`);
    entries.push({ term: Number(body.readBigUInt64BE(0)), index, type: body.readUInt8(16), data: Buffer.from(body.subarray(17)) });
    expect++;
  }
  return { hardState, snapshot, entries };
}

/** Removes the old Raft log's keys (after the WAL holding them is in place). */
export async function removeLegacyRaftLog(db: DB): Promise<void> {
  await db.clear(RANGE);
}

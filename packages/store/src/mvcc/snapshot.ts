// Snapshot stream of an MVCC key space, for sending to a lagging follower.
// A sequence of frames (type u8, length u32, payload):
//   'H' magic, consistent index, revision, compacted revision
//   'L' lease id (8 bytes) + sealed lease record
//   'R' revision (16 bytes) + sealed KeyValue record, in revision order
//   'E' frame count (u64) + CRC32 of every byte before this frame
// Records keep their own CRC, so they are verified twice on restore.

import type { ClassicLevel } from 'classic-level';
import { crc32, decodeLease, decodeRecord, encodeLease, encodeNumbers } from './codec.js';
import { Keyspace, META_CONTEXT } from './keyspace.js';
import { decodeRevision, formatRevision, readUint64, REVISION_BYTES, writeUint64 } from './revision.js';

type Db = ClassicLevel<Buffer, Buffer>;
type Snap = ReturnType<Db['snapshot']>;

const MAGIC = Buffer.from('mkube-mvcc-snapshot-1');
const FRAME_HEADER = 5;

export class SnapshotCorruptError extends Error {
  readonly code = 'SNAPSHOT_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotCorruptError';
  }
}

export interface SnapshotState {
  consistentIndex: number;
  revision: number;
  compactRevision: number;
  leases: Array<{ id: number; ttl: number }>;
}

function frame(type: string, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  f[0] = type.charCodeAt(0);
  f.writeUInt32BE(payload.length, 1);
  payload.copy(f, FRAME_HEADER);
  return f;
}

/** A record not yet written to LevelDB (storage key, sealed value). */
export interface UnflushedRecord {
  storageKey: Buffer;
  value: Buffer;
}

/**
 * Streams the records of `snap` up to state.revision, followed by `unflushed`
 * (the records applied but not yet written, in revision order, all after the
 * flushed ones; LevelDB is read only below the first of them).
 */
export async function* writeSnapshot(
  db: Db,
  snap: Snap,
  keys: Keyspace,
  state: SnapshotState,
  chunkBytes: number,
  unflushed: UnflushedRecord[] = [],
): AsyncGenerator<Buffer> {
  let crc = 0;
  let frames = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const add = (f: Buffer): void => {
    crc = crc32(f, crc);
    frames++;
    pending.push(f);
    pendingBytes += f.length;
  };
  const take = (): Buffer => {
    const out = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  try {
    const header = Buffer.alloc(MAGIC.length + 24);
    MAGIC.copy(header);
    writeUint64(header, MAGIC.length, state.consistentIndex);
    writeUint64(header, MAGIC.length + 8, state.revision);
    writeUint64(header, MAGIC.length + 16, state.compactRevision);
    add(frame('H', header));
    for (const l of state.leases) {
      const idBytes = Buffer.alloc(8);
      writeUint64(idBytes, 0, l.id);
      add(frame('L', Buffer.concat([idBytes, encodeLease(idBytes, l)])));
    }
    const end = unflushed.length > 0 ? unflushed[0]!.storageKey : keys.recordKey(state.revision + 1, 0);
    const it = db.iterator({ gte: keys.recordPrefix, lt: end, snapshot: snap });
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          add(frame('R', Buffer.concat([keys.revisionBytesOf(k), v])));
          if (pendingBytes >= chunkBytes) yield take();
        }
      }
    } finally {
      await it.close();
    }
    for (const r of unflushed) {
      add(frame('R', Buffer.concat([keys.revisionBytesOf(r.storageKey), r.value])));
      if (pendingBytes >= chunkBytes) yield take();
    }
    const trailer = Buffer.alloc(12);
    writeUint64(trailer, 0, frames);
    trailer.writeUInt32BE(crc, 8);
    pending.push(frame('E', trailer));
    yield take();
  } finally {
    await snap.close();
  }
}

/** The numbers of a snapshot's 'H' frame. */
export interface SnapshotHeader {
  consistentIndex: number;
  revision: number;
  compactRevision: number;
}

/** A whole, verified snapshot stream: its header, its CRC-32 (the trailer's) and its length up to and including the trailer. */
export interface SnapshotWalk extends SnapshotHeader {
  crc32: number;
  dataBytes: number;
}

/**
 * The one reader of the frame format, for a restore (readSnapshotInto) and a summary
 * (snapshot_summary.ts): checks the 'H' header, hands every 'L' and 'R' frame to `onFrame` in
 * order (any other type is refused), verifies the 'E' trailer's frame count and CRC-32 and what
 * follows it: nothing, or with `zeroPadding` only zero bytes (a snapshot file's padding).
 * Throws SnapshotCorruptError.
 */
export async function walkSnapshot(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: { zeroPadding: boolean; onFrame: (type: 'L' | 'R', payload: Buffer) => void | Promise<void> },
): Promise<SnapshotWalk> {
  const afterEnd = (data: Buffer): boolean => (opts.zeroPadding ? data.some((b) => b !== 0) : data.length > 0);
  let buf: Buffer = Buffer.alloc(0);
  let consumed = 0;
  let crc = 0;
  let frames = 0;
  let header: SnapshotHeader | undefined;
  let end: SnapshotWalk | undefined;
  for await (const chunk of chunks) {
    if (end) {
      if (afterEnd(chunk)) throw new SnapshotCorruptError('mvcc: snapshot has data after its end');
      continue;
    }
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let off = 0;
    while (!end && buf.length - off >= FRAME_HEADER) {
      const type = String.fromCharCode(buf[off]!);
      const len = buf.readUInt32BE(off + 1);
      if (buf.length - off < FRAME_HEADER + len) break;
      const whole = buf.subarray(off, off + FRAME_HEADER + len);
      const payload = whole.subarray(FRAME_HEADER);
      off += FRAME_HEADER + len;
      if (type === 'E') {
        if (!header || len !== 12 || readUint64(payload, 0) !== frames || payload.readUInt32BE(8) !== crc) {
          throw new SnapshotCorruptError('mvcc: snapshot checksum mismatch');
        }
        end = { ...header, crc32: crc, dataBytes: consumed + off };
        break;
      }
      crc = crc32(whole, crc);
      frames++;
      if (!header) {
        if (type !== 'H' || len !== MAGIC.length + 24 || !payload.subarray(0, MAGIC.length).equals(MAGIC)) {
          throw new SnapshotCorruptError('mvcc: not an mvcc snapshot (bad header)');
        }
        header = {
          consistentIndex: readUint64(payload, MAGIC.length),
          revision: readUint64(payload, MAGIC.length + 8),
          compactRevision: readUint64(payload, MAGIC.length + 16),
        };
      } else if (type === 'L' || type === 'R') {
        await opts.onFrame(type, payload);
      } else {
        throw new SnapshotCorruptError(`mvcc: snapshot has an unknown frame ${JSON.stringify(type)}`);
      }
    }
    if (end) {
      if (afterEnd(buf.subarray(off))) throw new SnapshotCorruptError('mvcc: snapshot has data after its end');
    } else {
      consumed += off;
      buf = buf.subarray(off);
    }
  }
  if (!end) throw new SnapshotCorruptError('mvcc: snapshot is truncated');
  return end;
}

/** Parses, verifies and writes a snapshot into `keys` (which must be empty). Throws SnapshotCorruptError. */
export async function readSnapshotInto(db: Db, keys: Keyspace, chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  let ops: Array<{ type: 'put'; key: Buffer; value: Buffer }> = [];
  let opBytes = 0;
  const flush = async (): Promise<void> => {
    if (ops.length === 0) return;
    await db.batch(ops);
    ops = [];
    opBytes = 0;
  };
  const header = await walkSnapshot(chunks, {
    zeroPadding: false,
    onFrame: async (type, payload) => {
      if (type === 'L' && payload.length > 8) {
        const idBytes = Buffer.from(payload.subarray(0, 8));
        const sealed = Buffer.from(payload.subarray(8));
        try {
          decodeLease(idBytes, sealed);
        } catch {
          throw new SnapshotCorruptError(`mvcc: snapshot lease record ${idBytes.toString('hex')} is corrupt`);
        }
        ops.push({ type: 'put', key: keys.leaseKey(readUint64(idBytes, 0)), value: sealed });
      } else if (type === 'R' && payload.length > REVISION_BYTES) {
        const revBytes = Buffer.from(payload.subarray(0, REVISION_BYTES));
        const sealed = Buffer.from(payload.subarray(REVISION_BYTES));
        const rev = decodeRevision(revBytes);
        try {
          decodeRecord(revBytes, sealed, rev.main, formatRevision(rev));
        } catch (err) {
          throw new SnapshotCorruptError(`mvcc: snapshot record is corrupt: ${(err as Error).message}`);
        }
        ops.push({ type: 'put', key: keys.recordKeyFromRevisionBytes(revBytes), value: sealed });
      } else {
        throw new SnapshotCorruptError(`mvcc: snapshot has an unknown frame ${JSON.stringify(type)}`);
      }
      opBytes += payload.length;
      if (ops.length >= 1000 || opBytes >= 4 << 20) await flush();
    },
  });
  await flush();
  // No "finished compaction" record: opening the restored store re-runs the
  // physical part of the compaction, dropping what the sender had not yet removed.
  await db.batch([{ type: 'put', key: keys.metaKey, value: encodeNumbers(META_CONTEXT, [header.consistentIndex, header.revision, header.compactRevision]) }], {
    sync: true,
  });
}

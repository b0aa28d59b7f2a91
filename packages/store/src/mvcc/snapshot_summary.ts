// What a key-space snapshot stream (snapshot.ts) holds, read without restoring it:
// its header (consistent index, revision, compaction), how many revision records
// and leases it carries, its CRC-32, and where the stream ends (bytes after the
// 'E' frame must be zero: the padding of a snapshot file). Used by
// `mkube-store snapshot status` and before a restore.
import { crc32 } from './codec.js';
import { SnapshotCorruptError } from './snapshot.js';
import { readUint64 } from './revision.js';

const FRAME_HEADER = 5;
/** The 'H' payload ends with three uint64: consistent index, revision, compacted revision. */
const HEADER_NUMBERS = 24;

export interface SnapshotSummary {
  consistentIndex: number;
  revision: number;
  compactRevision: number;
  /** Stored revisions of keys (puts and deletions), as etcd's key bucket counts them. */
  records: number;
  leases: number;
  /** CRC-32 of the stream before its trailer (the trailer's value). */
  crc32: number;
  /** Length of the stream up to and including its trailer. */
  dataBytes: number;
}

/** Walks the frames of `chunks`; throws SnapshotCorruptError on a damaged or truncated stream or non-zero padding. */
export async function summarizeSnapshot(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<SnapshotSummary> {
  let buf: Buffer = Buffer.alloc(0);
  let consumed = 0;
  let crc = 0;
  let frames = 0;
  let records = 0;
  let leases = 0;
  let header: { consistentIndex: number; revision: number; compactRevision: number } | undefined;
  let end: SnapshotSummary | undefined;
  for await (const chunk of chunks) {
    if (end) {
      if (chunk.some((b) => b !== 0)) throw new SnapshotCorruptError('mvcc: snapshot has data after its end');
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
        end = { ...header, records, leases, crc32: crc, dataBytes: consumed + off };
        break;
      }
      crc = crc32(whole, crc);
      frames++;
      if (!header) {
        if (type !== 'H' || len <= HEADER_NUMBERS) throw new SnapshotCorruptError('mvcc: not an mvcc snapshot (bad header)');
        const at = len - HEADER_NUMBERS;
        header = { consistentIndex: readUint64(payload, at), revision: readUint64(payload, at + 8), compactRevision: readUint64(payload, at + 16) };
      } else if (type === 'R') records++;
      else if (type === 'L') leases++;
      else throw new SnapshotCorruptError(`mvcc: snapshot has an unknown frame ${JSON.stringify(type)}`);
    }
    if (end) {
      if (buf.subarray(off).some((b) => b !== 0)) throw new SnapshotCorruptError('mvcc: snapshot has data after its end');
    } else {
      consumed += off;
      buf = buf.subarray(off);
    }
  }
  if (!end) throw new SnapshotCorruptError('mvcc: snapshot is truncated');
  return end;
}

// What a key-space snapshot stream (snapshot.ts) holds, read without restoring it:
// its header (consistent index, revision, compaction), how many revision records
// and leases it carries, its CRC-32, and where the stream ends (bytes after the
// 'E' frame must be zero: the padding of a snapshot file). Used by
// `mkube-store snapshot status` and before a restore.
import { walkSnapshot, type SnapshotWalk } from './snapshot.js';

export interface SnapshotSummary extends SnapshotWalk {
  /** Stored revisions of keys (puts and deletions), as etcd's key bucket counts them. */
  records: number;
  leases: number;
}

/** Walks the frames of `chunks` (snapshot.ts's reader); throws SnapshotCorruptError on a damaged or truncated stream or non-zero padding. */
export async function summarizeSnapshot(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<SnapshotSummary> {
  let records = 0;
  let leases = 0;
  const walk = await walkSnapshot(chunks, {
    zeroPadding: true,
    onFrame: (type) => {
      if (type === 'R') records++;
      else leases++;
    },
  });
  return { ...walk, records, leases };
}

// The file that Maintenance.Snapshot streams and `etcdctl snapshot save` /
// `mkube backup` write: the member's MVCC snapshot stream (mvcc/snapshot.ts:
// header, leases, every stored revision, CRC trailer), zero bytes up to a
// multiple of 512, then the SHA-256 of everything before it (32 bytes). The
// layout after the data is etcd's: its server appends the sha256 of the bbolt
// file after the data (v3rpc maintenance.go Snapshot) and etcdctl 3.4's
// `snapshot save` refuses a file whose size is not 512·n + 32 ("sha256
// checksum not found"); `etcdutl snapshot restore` compares the hash. The data
// is ours, not a bbolt file: `etcdctl snapshot status` cannot read it, and
// `mkube-store snapshot status` does.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';

/** The data is padded to a multiple of this (a disk sector, etcd's hasChecksum modulus). */
export const SNAPSHOT_ALIGN = 512;
export const SNAPSHOT_HASH_BYTES = 32;

export type SnapshotFileErrorCode = 'SNAPSHOT_NO_CHECKSUM' | 'SNAPSHOT_CHECKSUM_MISMATCH' | 'SNAPSHOT_CORRUPT' | 'SNAPSHOT_UNREADABLE';

export class SnapshotFileError extends Error {
  constructor(
    readonly code: SnapshotFileErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SnapshotFileError';
  }
}

/** Zero bytes to append to `dataBytes` of snapshot data. */
export function snapshotPadding(dataBytes: number): number {
  return (SNAPSHOT_ALIGN - (dataBytes % SNAPSHOT_ALIGN)) % SNAPSHOT_ALIGN;
}

/** etcd's hasChecksum: a file of this size has the sha256 appended. */
export function hasSnapshotChecksum(size: number): boolean {
  return size % SNAPSHOT_ALIGN === SNAPSHOT_HASH_BYTES;
}

export interface VerifiedSnapshotFile {
  path: string;
  /** Whole file, checksum included. */
  size: number;
  /** Bytes before the checksum (data and padding). */
  bodyBytes: number;
  sha256: string;
}

/**
 * Checks the file's appended SHA-256 against its contents, reading it once. Throws
 * SnapshotFileError: SNAPSHOT_NO_CHECKSUM (size not 512·n + 32), SNAPSHOT_CHECKSUM_MISMATCH
 * (with etcd's "expected sha256 X, got Y" wording), SNAPSHOT_UNREADABLE.
 */
export async function verifySnapshotFile(path: string): Promise<VerifiedSnapshotFile> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new SnapshotFileError('SNAPSHOT_UNREADABLE', `cannot read snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!hasSnapshotChecksum(size) || size < SNAPSHOT_ALIGN + SNAPSHOT_HASH_BYTES) {
    throw new SnapshotFileError('SNAPSHOT_NO_CHECKSUM', `snapshot ${path}: sha256 checksum not found [bytes: ${size}] (a snapshot file is 512·n + 32 bytes)`);
  }
  const bodyBytes = size - SNAPSHOT_HASH_BYTES;
  const h = createHash('sha256');
  const tail: Buffer[] = [];
  let read = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      const inBody = Math.max(0, Math.min(chunk.length, bodyBytes - read));
      if (inBody > 0) h.update(chunk.subarray(0, inBody));
      if (inBody < chunk.length) tail.push(chunk.subarray(inBody));
      read += chunk.length;
    }
  } catch (err) {
    throw new SnapshotFileError('SNAPSHOT_UNREADABLE', `cannot read snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  const expected = Buffer.concat(tail);
  const got = h.digest();
  if (read !== size || expected.length !== SNAPSHOT_HASH_BYTES || !expected.equals(got)) {
    throw new SnapshotFileError(
      'SNAPSHOT_CHECKSUM_MISMATCH',
      `snapshot ${path} is corrupt: expected sha256 ${expected.toString('hex')}, got ${got.toString('hex')}`,
    );
  }
  return { path, size, bodyBytes, sha256: got.toString('hex') };
}

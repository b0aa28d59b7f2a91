// `snapshot save` on the client side (etcdctl's): Maintenance.Snapshot from
// ONE member, the blobs written one after the other to FILE.part (0600),
// fsynced and renamed to FILE. As etcdctl, a stream whose length is not
// 512·n + 32 is refused ("sha256 checksum not found"); beyond etcdctl, the
// appended SHA-256 is compared with the data received and the remaining_bytes
// of each message with what arrived, so a damaged stream never becomes a file.
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { hasSnapshotChecksum, SNAPSHOT_HASH_BYTES, SnapshotFileError } from '../api/snapshot_file_format.js';
import type { SnapshotResponse__Output } from '../gen/etcdserverpb/SnapshotResponse.js';
import { Connection, type EtcdTlsOptions } from './connection.js';

export interface SaveSnapshotOptions {
  tls?: EtcdTlsOptions;
  /** Whole transfer (default 5 minutes). */
  timeoutMs?: number;
}

export interface SavedSnapshot {
  path: string;
  size: number;
  sha256: string;
}

export async function saveSnapshot(endpoint: string, path: string, opts: SaveSnapshotOptions = {}): Promise<SavedSnapshot> {
  const conn = new Connection(endpoint, opts.tls);
  const part = `${path}.part`;
  const fh = await open(part, 'w', 0o600);
  let done = false;
  try {
    const stream = conn.maintenance.Snapshot({}, { deadline: Date.now() + (opts.timeoutMs ?? 300_000) });
    const h = createHash('sha256');
    let size = 0;
    let pendingHash: Buffer | undefined;
    let announced: number | undefined;
    try {
      for await (const m of stream as AsyncIterable<SnapshotResponse__Output>) {
        const blob = m.blob;
        const remaining = Number(m.remainingBytes);
        if (pendingHash) throw new SnapshotFileError('SNAPSHOT_CORRUPT', `snapshot stream from ${endpoint} has data after its checksum`);
        if (remaining === 0 && blob.length === SNAPSHOT_HASH_BYTES && announced !== undefined && size === announced) pendingHash = Buffer.from(blob);
        else {
          if (announced === undefined) announced = size + blob.length + remaining;
          else if (size + blob.length + remaining !== announced) {
            throw new SnapshotFileError('SNAPSHOT_CORRUPT', `snapshot stream from ${endpoint} is inconsistent: ${size + blob.length} bytes received, ${remaining} announced as remaining, ${announced} in all`);
          }
          h.update(blob);
        }
        let off = 0;
        while (off < blob.length) off += (await fh.write(blob, off, blob.length - off)).bytesWritten;
        size += blob.length;
      }
    } catch (err) {
      if (err instanceof SnapshotFileError) throw err;
      const e = err as grpc.ServiceError;
      throw Object.assign(new Error(`snapshot from ${endpoint} failed: ${e.details ?? e.message}`, { cause: err }), { code: 'SNAPSHOT_STREAM_FAILED' });
    }
    if (!hasSnapshotChecksum(size) || !pendingHash) throw new SnapshotFileError('SNAPSHOT_NO_CHECKSUM', `sha256 checksum not found [bytes: ${size}]`);
    const got = h.digest();
    if (!got.equals(pendingHash)) throw new SnapshotFileError('SNAPSHOT_CHECKSUM_MISMATCH', `snapshot from ${endpoint}: expected sha256 ${pendingHash.toString('hex')}, got ${got.toString('hex')}`);
    await fh.sync();
    await fh.close();
    await rename(part, path);
    done = true;
    return { path, size, sha256: got.toString('hex') };
  } finally {
    if (!done) {
      await fh.close().catch(() => undefined);
      await rm(part, { force: true });
    }
    conn.close();
  }
}

// A point-in-time copy of a member's key space for Maintenance.Snapshot: the
// key space's snapshot stream (taken at one revision from a LevelDB snapshot
// plus the applies not yet flushed, while writes go on) is written to a private
// temp file under <data-dir>/snap-save and padded to a multiple of 512 bytes
// (api/snapshot_file_format.ts), so the stream can tell its exact remaining
// bytes, as etcd's does. The file is removed when the stream is done.
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { snapshotPadding } from '../api/snapshot_file_format.js';

export interface SnapshotSource {
  /** Bytes of data the stream will carry (padding included, checksum not). */
  size: number;
  /** The key space's revision the copy is of. */
  revision: number;
  chunks(): AsyncIterable<Buffer>;
  /** Removes the temp file; idempotent. */
  close(): Promise<void>;
}

const DIR = 'snap-save';
const active = new Set<string>();

export async function spoolSnapshot(dataDir: string, revision: number, stream: AsyncIterable<Buffer>): Promise<SnapshotSource> {
  const dir = join(dataDir, DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Leftovers of streams cut by a crash.
  for (const f of readdirSync(dir)) if (!active.has(join(dir, f))) rmSync(join(dir, f), { force: true });
  const path = join(dir, `${revision}-${randomBytes(6).toString('hex')}.part`);
  active.add(path);
  let size = 0;
  const release = async (): Promise<void> => {
    active.delete(path);
    await rm(path, { force: true });
  };
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      for await (const chunk of stream) {
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        size += chunk.length;
      }
      const pad = snapshotPadding(size);
      if (pad > 0) await fh.write(Buffer.alloc(pad));
      size += pad;
    } finally {
      await fh.close();
    }
  } catch (err) {
    await release();
    throw err;
  }
  return {
    size,
    revision,
    chunks: () => createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>,
    close: release,
  };
}

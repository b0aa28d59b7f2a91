// A snapshot received from the leader, written to a temp file in the member's
// data dir as it arrives (never buffered whole in memory), size-capped, fsynced
// when complete, read back as a stream for the key-space restore, then removed.
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from '../mvcc/codec.js';

/**
 * The key space's snapshot stream (mvcc/snapshot.ts) ends with an 'E' frame: type, u32 length 12,
 * u64 frame count, u32 CRC-32 of every byte before the frame. Checked as the file is written, so
 * a damaged transfer is refused before Raft is told about it.
 */
const TRAILER_BYTES = 5 + 12;

export class SnapshotRefusedError extends Error {
  constructor(
    readonly code: 'SNAPSHOT_TOO_LARGE' | 'SNAPSHOT_NOT_FROM_LEADER' | 'SNAPSHOT_INCOMPLETE',
    message: string,
  ) {
    super(message);
  }
}

const DIR = 'snap-recv';

/** Removes leftovers of transfers interrupted by a crash (they were never restored). */
export function clearReceivedSnapshots(dataDir: string): void {
  const dir = join(dataDir, DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
}

export class SnapshotFile {
  private bytes = 0;
  private closed = false;
  private crc = 0;
  private tail = Buffer.alloc(0);

  private constructor(
    readonly path: string,
    private fh: FileHandle | undefined,
    private readonly maxBytes: number,
  ) {}

  /** A new temp file `<data-dir>/snap-recv/<term>-<index>-<random>.part` (0600). */
  static async create(dataDir: string, term: number, index: number, maxBytes: number): Promise<SnapshotFile> {
    const dir = join(dataDir, DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${term}-${index}-${randomBytes(6).toString('hex')}.part`);
    const fh = await open(path, 'wx', 0o600);
    return new SnapshotFile(path, fh, maxBytes);
  }

  get size(): number {
    return this.bytes;
  }

  /** Appends a chunk; throws SNAPSHOT_TOO_LARGE (and removes the file) past the cap. */
  async write(chunk: Buffer): Promise<void> {
    if (!this.fh) throw new SnapshotRefusedError('SNAPSHOT_INCOMPLETE', 'snapshot file already closed');
    if (this.bytes + chunk.length > this.maxBytes) {
      const total = this.bytes + chunk.length;
      await this.discard();
      throw new SnapshotRefusedError('SNAPSHOT_TOO_LARGE', `snapshot exceeds --max-snapshot-bytes (${this.maxBytes} bytes; received at least ${total})`);
    }
    this.bytes += chunk.length;
    const joined = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    if (joined.length > TRAILER_BYTES) {
      this.crc = crc32(joined.subarray(0, joined.length - TRAILER_BYTES), this.crc);
      this.tail = Buffer.from(joined.subarray(joined.length - TRAILER_BYTES));
    } else this.tail = Buffer.from(joined);
    let off = 0;
    while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
  }

  /** The whole snapshot arrived: check its trailer and make it durable before anything depends on it. */
  async complete(): Promise<void> {
    if (!this.fh) throw new SnapshotRefusedError('SNAPSHOT_INCOMPLETE', 'snapshot file already closed');
    const t = this.tail;
    if (t.length !== TRAILER_BYTES || t[0] !== 'E'.charCodeAt(0) || t.readUInt32BE(1) !== 12 || t.readUInt32BE(13) !== this.crc) {
      await this.discard();
      throw new SnapshotRefusedError('SNAPSHOT_INCOMPLETE', `snapshot data is incomplete or damaged (${this.bytes} bytes, checksum mismatch)`);
    }
    await this.fh.sync();
    await this.fh.close();
    this.fh = undefined;
  }

  /** The data, read back in chunks. */
  chunks(): AsyncIterable<Buffer> {
    return createReadStream(this.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  async discard(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

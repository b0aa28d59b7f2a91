// The write-ahead log of the Raft log, after etcd's wal package: a directory
// of segment files named `%016x-%016x.wal` (sequence number, index of the
// first entry expected in it), each preallocated to the segment size and
// opening with a crc record (the chain so far), the latest snapshot record
// and the latest hard state, so that any suffix of segments reads on its own.
// One Ready's records (snapshot, entries, hard state) are framed into one
// buffer. A Ready that must be synced is one write on a descriptor opened
// with O_DSYNC (the write and its fdatasync in one syscall and one trip to
// libuv's pool); the records of Readies that need no sync (a commit-only hard
// state) wait in memory, as etcd's buffered encoder keeps them, and go to
// disk in front of the next synced batch, in the same write, so that one
// write always covers everything not yet durable. A segment that has grown past the segment size is
// cut: truncated to its data, synced, and the next segment (prepared in the
// background once the current one is half full, preallocated and synced) gets its header, is synced and renamed
// into place. After a snapshot, whole segments whose entries all precede the
// compaction index are removed. On start a torn tail of the last segment is
// cut off (the file truncated at the torn record and filled with zeros again);
// a bad record anywhere else refuses the start with DATA_CORRUPT.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { DataCorruptError, WalIoError } from './errors.js';
import { RecordWriter, STATE_DATA_BYTES, entryDataBytes, recordSize, snapshotDataBytes } from './record.js';
import { LogRuleError, parseSegmentName, readSegments, segmentName, type SegmentRef, type TornTail } from './segment_reader.js';
import { fdatasync, fsyncDir, preallocate, write, zeroFill } from './segment_file.js';
import type { RebuiltLog } from './log_builder.js';

/** How often a synced batch also asks whether the file system is full (statfs, beside the write). */
const SPACE_CHECK_MS = 200;
/** Unsynced records held in memory beyond this are written (without a sync) right away. */
const MAX_PENDING_BYTES = 64 * 1024;

/** etcd's SegmentSizeBytes is 64 MB; ours is 64 MiB unless configured. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const NEXT_SEGMENT = 'next.wal.tmp';

export interface WalLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WalOptions {
  /** Size segments are preallocated to and cut at (default 64 MiB). */
  segmentBytes?: number;
  logger?: WalLogger;
  /** How often (at most) a synced batch also checks for a full file system (default 200 ms). */
  spaceCheckMs?: number;
}

export interface WalStats {
  /** Synced writes (O_DSYNC) and fdatasync calls on segments: one per synced batch, more when a segment is cut. */
  syncs: number;
  /** Write calls for batches (an unsynced batch goes with the next synced one). */
  writes: number;
  bytes: number;
  segmentsCut: number;
  segmentsRemoved: number;
}

export interface OpenedWal {
  wal: Wal;
  log: RebuiltLog;
  /** The torn tail that was cut off on open, if any. */
  repaired: TornTail | undefined;
}

/** Free blocks of the file system holding `dir` (undefined when it cannot tell). */
function freeBlocks(dir: string): Promise<number | undefined> {
  return new Promise((resolve) => fs.statfs(dir, (err, st) => resolve(err ? undefined : st.bfree)));
}

export class Wal {
  readonly stats: WalStats = { syncs: 0, writes: 0, bytes: 0, segmentsCut: 0, segmentsRemoved: 0 };
  private chain: Promise<void> = Promise.resolve();
  private next: Promise<string> | undefined;
  private failed: Error | undefined;
  private closed = false;
  private spaceCheckedAt = 0;
  /** Unsynced batches not yet written, in order; they end at `offset`. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes were written without a sync since the last synced write (a later O_DSYNC write would not cover them). */
  private unsyncedOnDisk = false;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly logger: WalLogger | undefined,
    private readonly spaceCheckMs: number,
    private segments: SegmentRef[],
    private fd: number,
    /** The same segment opened with O_DSYNC: a write through it is durable when it returns. */
    private dfd: number,
    /** Where the next record goes in the last segment. */
    private offset: number,
    private crc: number,
    private lastIndex: number,
    private hardState: HardState | undefined,
    private snapshot: Snapshot | undefined,
  ) {}

  /** Opens (creating when empty) the WAL in `dir`, reads it back and repairs a torn tail. */
  static async open(dir: string, opts: WalOptions = {}): Promise<OpenedWal> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names = fs.readdirSync(dir);
    for (const n of names) if (n.endsWith('.tmp')) fs.rmSync(join(dir, n), { force: true });
    let segments: SegmentRef[] = names
      .map((n) => ({ n, p: parseSegmentName(n) }))
      .filter((x) => x.p !== undefined)
      .map((x) => ({ seq: x.p!.seq, index: x.p!.index, path: join(dir, x.n) }))
      .sort((a, b) => a.seq - b.seq);
    if (segments.length === 0) {
      segments = [(await Wal.createSegment(dir, 0, 0, segmentBytes, 0, undefined, undefined)).ref];
    }
    const read = readSegments(segments);
    let log: RebuiltLog;
    try {
      log = read.builder.finish();
    } catch (err) {
      if (err instanceof LogRuleError) throw new DataCorruptError(`WAL ${dir}: ${err.message}`);
      throw err;
    }
    const tail = segments[segments.length - 1]!;
    const fd = fs.openSync(tail.path, fs.constants.O_RDWR);
    try {
      if (read.torn) {
        // Cut the torn record off and give the segment back its preallocated zeros.
        const size = fs.fstatSync(fd).size;
        fs.ftruncateSync(fd, read.end);
        await zeroFill(fd, read.end, Math.max(size, segmentBytes));
        await fdatasync(fd);
        opts.logger?.warn({ segment: tail.path, offset: read.torn.offset, reason: read.torn.reason }, 'WAL: cut off a torn record at the tail of the last segment');
      }
    } catch (err) {
      fs.closeSync(fd);
      throw new WalIoError(`WAL ${dir}: repairing the torn tail of ${tail.path}`, err as Error);
    }
    const wal = new Wal(dir, segmentBytes, opts.logger, opts.spaceCheckMs ?? SPACE_CHECK_MS, segments, fd, Wal.openDsync(tail.path), read.end, read.crc, read.builder.lastIndex(), log.hardState, log.snapshot);
    return { wal, log, repaired: read.torn };
  }

  /** The last segment and where its next record goes. */
  position(): { segment: string; offset: number } {
    return { segment: this.tailPath(), offset: this.offset };
  }

  /** Segments on disk, oldest first (for tests and status). */
  segmentPaths(): string[] {
    return this.segments.map((s) => s.path);
  }

  /**
   * Appends one Ready's durable parts: a received snapshot's record, the entries, the hard state.
   * With `sync`, one synced write (with the unsynced batches before it); without, held in memory.
   */
  save(hardState: HardState | undefined, entries: Entry[], snapshot: Snapshot | undefined, sync: boolean): Promise<void> {
    if (!hardState && entries.length === 0 && !snapshot) return Promise.resolve();
    return this.enqueue(async () => {
      let size = 0;
      if (snapshot) size += recordSize(snapshotDataBytes(snapshot));
      for (const e of entries) size += recordSize(entryDataBytes(e));
      if (hardState) size += recordSize(STATE_DATA_BYTES);
      const w = new RecordWriter(Buffer.allocUnsafe(size), this.crc);
      if (snapshot) w.snapshot(snapshot);
      for (const e of entries) w.entry(e);
      if (hardState) w.state(hardState);
      this.crc = w.crc;
      if (snapshot) {
        this.snapshot = snapshot;
        if (snapshot.metadata.index > this.lastIndex) this.lastIndex = snapshot.metadata.index;
      }
      if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
      if (hardState) this.hardState = hardState;
      const batch = w.buf.subarray(0, w.off);
      if (sync) await this.writeSynced(batch);
      else await this.hold(batch);
      if (this.offset >= this.segmentBytes) await this.cut();
    });
  }

  /** Records a snapshot this member took (synced). */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      const w = new RecordWriter(Buffer.allocUnsafe(recordSize(snapshotDataBytes(snapshot))), this.crc);
      w.snapshot(snapshot);
      this.crc = w.crc;
      this.snapshot = snapshot;
      await this.writeSynced(w.buf.subarray(0, w.off));
      if (this.offset >= this.segmentBytes) await this.cut();
    });
  }

  /**
   * Removes the segments whose entries all precede `index` (a segment ends where the next begins);
   * the last segment always stays. Returns how many were removed.
   */
  releaseTo(index: number): Promise<number> {
    return this.enqueue(() => {
      let drop = 0;
      while (drop < this.segments.length - 1 && this.segments[drop + 1]!.index <= index) drop++;
      if (drop === 0) return 0;
      const gone = this.segments.slice(0, drop);
      for (const s of gone) fs.rmSync(s.path, { force: true });
      this.segments = this.segments.slice(drop);
      fsyncDir(this.dir);
      this.stats.segmentsRemoved += drop;
      return drop;
    });
  }

  /** Waits for what is queued, then closes the segment (and drops the prepared next one). */
  async close(): Promise<void> {
    if (this.closed) return;
    // Unsynced batches still in memory go to disk (synced) before the files close.
    const flushed = this.enqueue(() => (this.pendingBytes > 0 ? this.writeSynced(Buffer.alloc(0)) : undefined));
    this.closed = true;
    await flushed.catch(() => undefined);
    await this.chain;
    await this.next?.catch(() => undefined);
    fs.rmSync(join(this.dir, NEXT_SEGMENT), { force: true });
    fs.closeSync(this.fd);
    fs.closeSync(this.dfd);
  }

  // ----------------------------------------------------------------

  private enqueue<T>(op: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new WalIoError(`WAL ${this.dir}`, new Error('the WAL is closed')));
    const run = this.chain.then(() => {
      if (this.failed) throw this.failed;
      return op();
    });
    this.chain = run.then(
      () => undefined,
      (err: Error) => {
        // After a failed write or sync the file's state is unknown: nothing more is written.
        this.failed ??= err;
      },
    );
    return run;
  }

  /** Keeps an unsynced batch in memory; past MAX_PENDING_BYTES the held batches are written (not synced). */
  private async hold(batch: Buffer): Promise<void> {
    this.pending.push(batch);
    this.pendingBytes += batch.length;
    this.advance(batch.length);
    if (this.pendingBytes < MAX_PENDING_BYTES) return;
    const data = Buffer.concat(this.pending);
    const at = this.offset - this.pendingBytes;
    await this.writeAt(this.fd, data, at);
    this.pending = [];
    this.pendingBytes = 0;
    this.unsyncedOnDisk = true;
  }

  /**
   * Writes the held batches and `batch` durably, in one write through the O_DSYNC descriptor (off
   * the event loop: a write can block when the machine's disk is busy). When bytes were written
   * unsynced before, a write plus fdatasync covers them too (an O_DSYNC write syncs its own range).
   */
  private async writeSynced(batch: Buffer): Promise<void> {
    const data = this.pending.length > 0 ? Buffer.concat([...this.pending, batch]) : batch;
    const at = this.offset - this.pendingBytes;
    const now = Date.now();
    const checkSpace = now - this.spaceCheckedAt >= this.spaceCheckMs;
    if (checkSpace) this.spaceCheckedAt = now;
    const free = checkSpace ? freeBlocks(this.dir) : undefined;
    this.stats.syncs++;
    if (this.unsyncedOnDisk) {
      await this.writeAt(this.fd, data, at);
      await this.fdatasync();
      this.unsyncedOnDisk = false;
    } else {
      await this.writeAt(this.dfd, data, at);
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.advance(batch.length);
    // Writes into a preallocated segment succeed on a full disk, while the key space's (buffered,
    // unsynced) LevelDB writes will fail later: a member whose file system is full stops now.
    if ((await free) === 0) {
      const err = Object.assign(new Error('ENOSPC: no space left on device (the file system of the WAL is full)'), { code: 'ENOSPC' });
      throw new WalIoError(`WAL ${this.dir}`, err);
    }
  }

  private advance(bytes: number): void {
    this.offset += bytes;
    this.stats.bytes += bytes;
    if (!this.next && this.offset >= this.segmentBytes / 2) this.prepareNext();
  }

  private async writeAt(fd: number, data: Buffer, at: number): Promise<void> {
    if (data.length === 0) return;
    try {
      await write(fd, data, data.length, at);
    } catch (err) {
      throw new WalIoError(`WAL: writing ${data.length} bytes at offset ${at} of ${this.tailPath()}`, err as Error);
    }
    this.stats.writes++;
  }

  private async fdatasync(): Promise<void> {
    try {
      await fdatasync(this.fd);
    } catch (err) {
      throw new WalIoError(`WAL: fdatasync of ${this.tailPath()}`, err as Error);
    }
  }

  private static openDsync(path: string): number {
    return fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_DSYNC);
  }

  private tailPath(): string {
    return this.segments[this.segments.length - 1]!.path;
  }

  /** Starts preparing the next segment file in the background. */
  private prepareNext(): void {
    const path = join(this.dir, NEXT_SEGMENT);
    this.next = preallocate(path, this.segmentBytes).then(() => path);
    // Reported when the cut needs it.
    this.next.catch(() => undefined);
  }

  private async cut(): Promise<void> {
    const old = this.tailPath();
    if (this.pendingBytes > 0) await this.writeSynced(Buffer.alloc(0));
    try {
      fs.ftruncateSync(this.fd, this.offset);
      this.stats.syncs++;
      await this.fdatasync();
    } catch (err) {
      throw err instanceof WalIoError ? err : new WalIoError(`WAL: truncating ${old} to ${this.offset} bytes`, err as Error);
    }
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    let prepared: string | undefined;
    try {
      prepared = await this.next;
    } catch (err) {
      this.logger?.warn({ err }, 'WAL: preparing the next segment failed; trying again now');
    }
    this.next = undefined;
    const { ref: seg, crc } = await Wal.createSegment(this.dir, seq, this.lastIndex + 1, this.segmentBytes, this.crc, this.snapshot, this.hardState, prepared);
    fs.closeSync(this.fd);
    fs.closeSync(this.dfd);
    this.fd = fs.openSync(seg.path, fs.constants.O_RDWR);
    this.dfd = Wal.openDsync(seg.path);
    this.unsyncedOnDisk = false;
    this.segments.push(seg);
    this.offset = Wal.headerBytes(this.snapshot, this.hardState);
    this.crc = crc;
    this.stats.segmentsCut++;
    this.stats.syncs++;
    this.logger?.info({ segment: seg.path, previous: old }, 'WAL: cut a new segment');
  }

  private static headerBytes(snapshot: Snapshot | undefined, hardState: HardState | undefined): number {
    return recordSize(0) + (snapshot ? recordSize(snapshotDataBytes(snapshot)) : 0) + (hardState ? recordSize(STATE_DATA_BYTES) : 0);
  }

  /**
   * Makes segment `seq` from a preallocated file (prepared, or made now): its header — the crc
   * record, the latest snapshot and hard state — written and synced, then renamed into place.
   */
  private static async createSegment(
    dir: string, seq: number, index: number, segmentBytes: number, crc: number,
    snapshot: Snapshot | undefined, hardState: HardState | undefined, prepared?: string,
  ): Promise<{ ref: SegmentRef; crc: number }> {
    const path = join(dir, segmentName(seq, index));
    let crcAfter: number;
    try {
      let tmp = prepared;
      if (!tmp) {
        tmp = join(dir, NEXT_SEGMENT);
        await preallocate(tmp, segmentBytes);
      }
      const w = new RecordWriter(Buffer.allocUnsafe(Wal.headerBytes(snapshot, hardState)), crc);
      w.crcRecord();
      if (snapshot) w.snapshot(snapshot);
      if (hardState) w.state(hardState);
      crcAfter = w.crc;
      const fd = fs.openSync(tmp, fs.constants.O_RDWR);
      try {
        fs.writeSync(fd, w.buf, 0, w.off, 0);
        await fdatasync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, path);
      fsyncDir(dir);
    } catch (err) {
      throw new WalIoError(`WAL: creating segment ${path}`, err as Error);
    }
    return { ref: { seq, index, path }, crc: crcAfter };
  }
}

// The member's durable Raft state: the log, hard state and snapshot records
// in the write-ahead log (src/wal, a directory beside the LevelDB dirs), and
// the member's identity in the member's LevelDB. On start the WAL is read back
// into the Raft core's MemoryStorage; afterwards every Ready is written to it
// before its messages count (ready_loop.ts). A data directory written before
// the WAL (the Raft log in LevelDB) is migrated on its first start: the log is
// copied into a new WAL built beside it, the WAL renamed into place, and only
// then the old keys removed.
import type { ClassicLevel } from 'classic-level';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { crc32 } from '../codec/crc32.js';
import { MemoryStorage } from '../raft/index.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { DataCorruptError, Wal, parseSegmentName, type RebuiltLog, type WalStats } from '../wal/index.js';
import { fsyncDir } from '../wal/segment_file.js';
import { hasLegacyRaftLog, readLegacyRaftLog, removeLegacyRaftLog } from './legacy_raft_log.js';
import type { ReadyLog } from './ready_loop.js';

export { DataCorruptError };

type DB = ClassicLevel<Buffer, Buffer>;

const MEMBER_KEY = Buffer.from('meta/member');

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

export interface RaftLogStoreOptions {
  /** The WAL's directory (a member's is <data-dir>/wal). */
  walDir: string;
  /** WAL segment size (default 64 MiB). */
  segmentBytes?: number;
  logger?: Logger;
}

function hasSegments(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((n) => parseSegmentName(n) !== undefined);
}

export class RaftLogStore implements ReadyLog {
  private wal: Wal | undefined;

  constructor(
    private readonly db: DB,
    private readonly opts: RaftLogStoreOptions,
  ) {}

  async readIdentity(): Promise<MemberIdentity | undefined> {
    const rec = await this.db.get(MEMBER_KEY);
    if (rec === undefined) return undefined;
    // [crc32 over body][JSON body], the record format of the member's LevelDB.
    const body = rec.subarray(4);
    if (rec.length < 4 || rec.readUInt32BE(0) !== crc32(body)) throw new DataCorruptError('member identity: checksum mismatch');
    return JSON.parse(body.toString('utf8')) as MemberIdentity;
  }

  async writeIdentity(id: MemberIdentity): Promise<void> {
    const body = Buffer.from(JSON.stringify(id));
    const rec = Buffer.alloc(4 + body.length);
    rec.writeUInt32BE(crc32(body), 0);
    body.copy(rec, 4);
    await this.db.put(MEMBER_KEY, rec, { sync: true });
  }

  /** What the WAL has done so far (syncs, writes, segments). */
  get stats(): WalStats | undefined {
    return this.wal?.stats;
  }

  /** Opens the WAL (migrating a LevelDB Raft log first) and reads everything back. */
  async load(): Promise<LoadedRaftState> {
    const dir = this.opts.walDir;
    if (await hasLegacyRaftLog(this.db)) {
      if (hasSegments(dir)) {
        // A migration that stopped after its WAL was in place: the WAL is the log.
        await removeLegacyRaftLog(this.db);
        this.opts.logger?.info({ wal: dir }, 'removed the Raft log left in LevelDB by an interrupted migration to the WAL');
      } else {
        await this.migrate(dir);
      }
    }
    const opened = await Wal.open(dir, { segmentBytes: this.opts.segmentBytes, logger: this.opts.logger });
    this.wal = opened.wal;
    return RaftLogStore.toStorage(opened.log);
  }

  private static toStorage(log: RebuiltLog): LoadedRaftState {
    const storage = new MemoryStorage();
    if (log.snapshot) storage.applySnapshot(log.snapshot);
    if (log.entries.length > 0) storage.append(log.entries);
    storage.setHardState(log.hardState);
    return { storage, hardState: log.hardState, snapshot: log.snapshot, lastIndex: log.lastIndex };
  }

  /** Copies the LevelDB Raft log into a new WAL built beside `dir`, renames it into place, then drops the old keys. */
  private async migrate(dir: string): Promise<void> {
    const legacy = await readLegacyRaftLog(this.db);
    const building = `${dir}.migrating`;
    rmSync(building, { recursive: true, force: true });
    const { wal } = await Wal.open(building, { segmentBytes: this.opts.segmentBytes });
    try {
      await wal.save(legacy.hardState, legacy.entries, legacy.snapshot, true);
    } finally {
      await wal.close();
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(building, dir);
    fsyncDir(dirname(dir));
    await removeLegacyRaftLog(this.db);
    const last = legacy.entries[legacy.entries.length - 1]?.index ?? legacy.snapshot?.metadata.index ?? 0;
    this.opts.logger?.info(
      { wal: dir, entries: legacy.entries.length, snapshotIndex: legacy.snapshot?.metadata.index ?? 0, lastIndex: last, commit: legacy.hardState?.commit ?? 0 },
      'migrated the Raft log from LevelDB to the WAL',
    );
  }

  private opened(): Wal {
    if (!this.wal) throw new Error('the Raft log store is not loaded');
    return this.wal;
  }

  /** Persists one Ready's durable parts (one write; one fdatasync when `sync`). */
  save(hardState: HardState | undefined, entries: Entry[], snapshot: Snapshot | undefined, sync: boolean): Promise<void> {
    return this.opened().save(hardState, entries, snapshot, sync);
  }

  /** Records a locally created snapshot and drops the WAL segments wholly before `compactIndex`. */
  async saveSnapshotAndCompact(snapshot: Snapshot, compactIndex: number): Promise<void> {
    const wal = this.opened();
    await wal.saveSnapshot(snapshot);
    if (compactIndex > 0) await wal.releaseTo(compactIndex);
  }

  /** Waits for queued writes and closes the WAL. */
  async close(): Promise<void> {
    await this.wal?.close();
  }
}

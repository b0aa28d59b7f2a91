// `mkube-store snapshot restore` (etcdutl's): a new member's data dir from a
// snapshot file. The file's SHA-256 and the stream's CRC are checked first;
// the member is then created exactly as a first start with
// --initial-cluster-state new creates it (cluster ID and member IDs from
// --initial-cluster and --initial-cluster-token, as etcd's restore makes a new
// cluster), except that its key space is the snapshot's: every revision it
// holds, leases, the compaction — the next write gets the snapshot's revision
// + 1, so resourceVersions continue — unless --bump-revision N raises the
// latest revision by N and --mark-compacted marks that revision compacted
// (etcdutl's flags, mvcc/snapshot_import.ts), so that every client watching or
// listing from a revision of the old cluster is told "compacted" and relists
// (Kubernetes' etcd restore advice). Each member of the new cluster is
// restored from the same file with its own --name/--initial-advertise-peer-urls
// and then started with the same flags and --initial-cluster-state new.
import { createReadStream, existsSync, readdirSync, rmSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { pino, type Logger } from 'pino';
import { SnapshotFileError, verifySnapshotFile } from '../api/snapshot_file_format.js';
import { importSnapshot } from '../mvcc/snapshot_import.js';
import { summarizeSnapshot, type SnapshotSummary } from '../mvcc/snapshot_summary.js';
import { ConfigError, parseFlags } from './config.js';
import { Member } from './member.js';
import { StoreMetrics } from './metrics.js';
import { openMvccKeySpace, PREFIX } from './mvcc_key_space.js';

export interface RestoreOptions {
  snapshotPath: string;
  /** Default "<name>.mkube-store", as mkube-store's --data-dir. */
  dataDir?: string;
  name?: string;
  /** NAME=URL,... (default "<name>=<initial-advertise-peer-urls>"). */
  initialCluster?: string;
  initialClusterToken?: string;
  initialAdvertisePeerURLs?: string;
  /** etcdutl's --bump-revision: how much to increase the latest revision after restore (default 0). */
  bumpRevision?: number;
  /** etcdutl's --mark-compacted: mark the latest revision after restore as compacted (required if bumpRevision > 0, disallowed otherwise). */
  markCompacted?: boolean;
  logger?: Logger;
}

export interface SnapshotStatus extends SnapshotSummary {
  sha256: string;
  /** Whole file size. */
  size: number;
}

export interface RestoreResult extends SnapshotStatus {
  dataDir: string;
  name: string;
  clusterId: number;
  memberId: number;
  /** The restored key space's latest revision: the snapshot's + bumpRevision (the next write gets one more). */
  restoredRevision: number;
  /** Its compacted revision: restoredRevision with markCompacted, else the snapshot's. */
  restoredCompactRevision: number;
}

/** etcdutl's rule: --mark-compacted goes with a --bump-revision above 0 and only with one; undefined when valid. */
export function checkRevisionBump(bumpRevision: number, markCompacted: boolean): string | undefined {
  if (!Number.isSafeInteger(bumpRevision) || bumpRevision < 0) return `invalid --bump-revision ${bumpRevision}: a whole number >= 0`;
  if ((bumpRevision === 0 && markCompacted) || (bumpRevision > 0 && !markCompacted)) return '--mark-compacted required if --revision-bump > 0';
  return undefined;
}

export class SnapshotRestoreError extends Error {
  constructor(
    readonly code: 'DATA_DIR_NOT_EMPTY' | 'CONFIG_INVALID' | 'SNAPSHOT_NO_CHECKSUM' | 'SNAPSHOT_CHECKSUM_MISMATCH' | 'SNAPSHOT_CORRUPT' | 'SNAPSHOT_UNREADABLE',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SnapshotRestoreError';
  }
}

/** Verifies a snapshot file (checksum, stream) and says what it holds: `mkube-store snapshot status`. */
export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  let verified;
  try {
    verified = await verifySnapshotFile(path);
  } catch (err) {
    if (err instanceof SnapshotFileError) throw new SnapshotRestoreError(err.code, err.message, { cause: err });
    throw err;
  }
  try {
    const summary = await summarizeSnapshot(createReadStream(path, { start: 0, end: verified.bodyBytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>);
    return { ...summary, sha256: verified.sha256, size: verified.size };
  } catch (err) {
    throw new SnapshotRestoreError('SNAPSHOT_CORRUPT', `snapshot ${path} is corrupt: ${(err as Error).message}`, { cause: err });
  }
}

function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreResult> {
  const bumpRevision = o.bumpRevision ?? 0;
  const markCompacted = o.markCompacted ?? false;
  const bad = checkRevisionBump(bumpRevision, markCompacted);
  if (bad) throw new SnapshotRestoreError('CONFIG_INVALID', bad);
  const name = o.name ?? 'default';
  const flags = ['--name', name, '--initial-cluster-state', 'new'];
  if (o.dataDir) flags.push('--data-dir', o.dataDir);
  if (o.initialCluster) flags.push('--initial-cluster', o.initialCluster);
  if (o.initialClusterToken) flags.push('--initial-cluster-token', o.initialClusterToken);
  if (o.initialAdvertisePeerURLs) flags.push('--initial-advertise-peer-urls', o.initialAdvertisePeerURLs);
  let cfg;
  try {
    const parsed = parseFlags(flags);
    if (parsed.kind !== 'run') throw new ConfigError('unexpected flags');
    cfg = parsed.config;
  } catch (err) {
    throw new SnapshotRestoreError('CONFIG_INVALID', (err as Error).message, { cause: err });
  }
  const dataDir = cfg.dataDir;
  const existed = existsSync(dataDir);
  if (existed && !isEmptyDir(dataDir)) throw new SnapshotRestoreError('DATA_DIR_NOT_EMPTY', `data-dir "${dataDir}" not empty or could not be read`);
  const status = await snapshotStatus(o.snapshotPath);
  const log = o.logger ?? pino({ level: 'warn' }, pino.destination(2));
  let imported = { revision: status.revision, compactRevision: status.compactRevision };
  try {
    const member = await Member.open(cfg, {
      logger: log,
      metrics: new StoreMetrics(),
      openKeySpace: async (dir, quotaBytes) => {
        const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await db.open();
        try {
          const data = createReadStream(o.snapshotPath, { start: 0, end: status.dataBytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
          imported = await importSnapshot(db, PREFIX, data, 0, { bumpRevision, markCompacted });
        } finally {
          await db.close();
        }
        return openMvccKeySpace(dir, quotaBytes, log);
      },
    });
    const result: RestoreResult = {
      ...status, dataDir, name, clusterId: member.clusterIdValue, memberId: member.id,
      restoredRevision: imported.revision, restoredCompactRevision: imported.compactRevision,
    };
    await member.stop(false);
    return result;
  } catch (err) {
    // Nothing half-made is left behind: the directory was absent or empty.
    if (existed) for (const f of readdirSync(dataDir)) rmSync(`${dataDir}/${f}`, { recursive: true, force: true });
    else rmSync(dataDir, { recursive: true, force: true });
    if (err instanceof SnapshotRestoreError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SNAPSHOT_CORRUPT') throw new SnapshotRestoreError('SNAPSHOT_CORRUPT', `snapshot ${o.snapshotPath} is corrupt: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

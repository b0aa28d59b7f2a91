// Loads a key-space snapshot stream into an empty key space for a member of a
// NEW cluster (snapshot restore, as etcdutl's): the revisions, leases and
// compaction state are kept — the next write gets revision+1 — but the Raft
// consistent index is set to the new cluster's (its log starts again at 1; a
// consistent index from the old cluster would make the key space skip the new
// cluster's first entries as already applied).
//
// etcdutl's --bump-revision N / --mark-compacted: the latest revision raised by
// N (the next write gets revision+N+1) and that new latest revision recorded as
// both the scheduled and the finished compaction (as etcd's meta bucket), so a
// read or watch from any revision the old cluster could have handed out fails
// with "mvcc: required revision has been compacted" and its client relists. No
// record is removed: the key index keeps the snapshot's older revisions until
// the next compaction, as etcd's restore leaves them in its bbolt file.
import type { ClassicLevel } from 'classic-level';
import { decodeNumbers, encodeNumbers } from './codec.js';
import { COMPACT_CONTEXT, Keyspace, META_CONTEXT } from './keyspace.js';
import { readSnapshotInto, SnapshotCorruptError } from './snapshot.js';

type Db = ClassicLevel<Buffer, Buffer>;

export interface ImportOptions {
  /** etcdutl's --bump-revision: added to the snapshot's latest revision (default 0). */
  bumpRevision?: number;
  /** etcdutl's --mark-compacted: the (bumped) latest revision becomes the compacted revision. */
  markCompacted?: boolean;
}

export async function importSnapshot(db: Db, prefix: Buffer, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, consistentIndex: number, opts: ImportOptions = {}): Promise<{ revision: number; compactRevision: number }> {
  const it = db.keys({ gte: prefix, lt: Buffer.concat([prefix, Buffer.from([0xff])]), limit: 1 });
  const existing = await it.all();
  if (existing.length > 0) throw Object.assign(new Error('mvcc: cannot import a snapshot into a key space that holds data'), { code: 'KEY_SPACE_NOT_EMPTY' });
  // An empty key space opens at generation 0 (no marker).
  const keys = new Keyspace(Buffer.from(prefix), 0);
  await readSnapshotInto(db, keys, chunks);
  const meta = await db.get(keys.metaKey);
  if (!meta) throw new SnapshotCorruptError('mvcc: snapshot import wrote no meta record');
  const [, snapRevision, snapCompact] = decodeNumbers(META_CONTEXT, meta, 3, 'meta');
  const bump = opts.bumpRevision ?? 0;
  if (!Number.isSafeInteger(bump) || bump < 0) throw Object.assign(new Error(`mvcc: invalid revision bump ${bump}`), { code: 'INVALID_BUMP' });
  // The meta record's revision is a lower bound of the key space's (opening takes the highest record's if larger).
  const revision = snapRevision! + bump;
  const compactRevision = opts.markCompacted ? revision : snapCompact!;
  if (opts.markCompacted) await db.put(keys.compactKey, encodeNumbers(COMPACT_CONTEXT, [compactRevision]));
  await db.put(keys.metaKey, encodeNumbers(META_CONTEXT, [consistentIndex, revision, compactRevision]), { sync: true });
  return { revision, compactRevision };
}

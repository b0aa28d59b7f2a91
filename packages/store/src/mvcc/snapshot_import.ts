// Loads a key-space snapshot stream into an empty key space for a member of a
// NEW cluster (snapshot restore, as etcdutl's): the revisions, leases and
// compaction state are kept — the next write gets revision+1 — but the Raft
// consistent index is set to the new cluster's (its log starts again at 1; a
// consistent index from the old cluster would make the key space skip the new
// cluster's first entries as already applied).
import type { ClassicLevel } from 'classic-level';
import { decodeNumbers, encodeNumbers } from './codec.js';
import { Keyspace, META_CONTEXT } from './keyspace.js';
import { readSnapshotInto, SnapshotCorruptError } from './snapshot.js';

type Db = ClassicLevel<Buffer, Buffer>;

export async function importSnapshot(db: Db, prefix: Buffer, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, consistentIndex: number): Promise<{ revision: number; compactRevision: number }> {
  const it = db.keys({ gte: prefix, lt: Buffer.concat([prefix, Buffer.from([0xff])]), limit: 1 });
  const existing = await it.all();
  if (existing.length > 0) throw Object.assign(new Error('mvcc: cannot import a snapshot into a key space that holds data'), { code: 'KEY_SPACE_NOT_EMPTY' });
  // An empty key space opens at generation 0 (no marker).
  const keys = new Keyspace(Buffer.from(prefix), 0);
  await readSnapshotInto(db, keys, chunks);
  const meta = await db.get(keys.metaKey);
  if (!meta) throw new SnapshotCorruptError('mvcc: snapshot import wrote no meta record');
  const [, revision, compactRevision] = decodeNumbers(META_CONTEXT, meta, 3, 'meta');
  await db.put(keys.metaKey, encodeNumbers(META_CONTEXT, [consistentIndex, revision!, compactRevision!]), { sync: true });
  return { revision: revision!, compactRevision: compactRevision! };
}

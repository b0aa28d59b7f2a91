// Physical compaction (etcd's kvstore_compaction.go): after the key index has
// dropped the revisions <= `revision` (all but the latest of each key alive at
// it), delete their records from LevelDB in chunks of `batchSize`, yielding to
// the event loop between chunks, then record the compaction as finished. A
// store that crashes midway finds the scheduled compaction in its meta record
// and runs it again on open.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { encodeNumbers } from './codec.js';
import type { BatchOp, LevelDb } from './group_commit.js';
import { revisionId } from './key_index.js';
import { COMPACT_CONTEXT, type Keyspace } from './keyspace.js';
import { decodeRevision } from './revision.js';

/** Deletes the records of revisions <= `revision` whose id is not in `keep`; `writeOps` writes one atomic batch. */
export async function compactRecords(
  db: LevelDb,
  keys: Keyspace,
  revision: number,
  keep: Set<string>,
  batchSize: number,
  writeOps: (ops: BatchOp[]) => Promise<void>,
): Promise<void> {
  const it = db.iterator({ gte: keys.recordPrefix, lt: keys.recordKey(revision + 1, 0), values: false });
  try {
    for (;;) {
      const entries = await it.nextv(batchSize);
      if (entries.length === 0) break;
      const dels: BatchOp[] = [];
      for (const [k] of entries) {
        const rev = decodeRevision(keys.revisionBytesOf(k));
        if (!keep.has(revisionId(rev))) dels.push({ type: 'del', key: k });
      }
      if (dels.length > 0) await writeOps(dels);
      await yieldToLoop();
    }
  } finally {
    await it.close();
  }
  await db.put(keys.compactKey, encodeNumbers(COMPACT_CONTEXT, [revision]));
}

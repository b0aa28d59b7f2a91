// The key space's LevelDB on disk: its size (what etcd reports as dbSize, the
// bbolt file's size) and defragmentation (etcd's Defragment rewrites the bbolt
// file; here LevelDB's compactRange over every key rewrites the tables without
// deleted and overwritten entries, and the freed files are removed).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LevelDb } from '../mvcc/kv_store.js';

/** Total bytes of the regular files in `dir` (LevelDB keeps no subdirectories); 0 if it cannot be read. */
export function directorySize(dir: string): number {
  if (!dir) return 0;
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // removed by a LevelDB compaction meanwhile
    }
  }
  return total;
}

/** Every key the member writes sorts between these two (prefixes "kv/" and "meta/"). */
const FIRST_KEY = Buffer.from([0x00]);
const PAST_LAST_KEY = Buffer.alloc(16, 0xff);

/** Compacts the whole LevelDB: deleted and overwritten entries leave the disk. */
export async function compactWholeDb(db: LevelDb): Promise<void> {
  await db.compactRange(FIRST_KEY, PAST_LAST_KEY);
}

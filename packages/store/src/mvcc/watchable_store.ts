// The store side of watching (etcd's watchable_store.go; the watcher groups and
// the event fan-out are in watch_hub.ts): the history an unsynced watcher
// catches up from — the events of a revision range, read from LevelDB below the
// first unflushed record and from memory above it, whole revisions at a time.
import type { KeyValueFields, WatchEventFields } from '../api/kv.js';
import { decodeRecord, type StoredRecord } from './codec.js';
import { firstAtOrAfter, type LevelDb, type PendingRecord } from './group_commit.js';
import type { TreeIndex } from './key_index.js';
import type { Keyspace } from './keyspace.js';
import { copyKv } from './kvstore_txn.js';
import type { MaybePromise } from './maybe_promise.js';
import { decodeRevision, formatRevision, readUint64 } from './revision.js';

/** What a history read needs from the store. */
export interface HistoryStore {
  readonly db: LevelDb;
  readonly keys: Keyspace;
  readonly index: TreeIndex;
  /** The revision of the last compaction (read again after each await: a compaction may run meanwhile). */
  readonly compactRevision: number;
  /** Records not yet in LevelDB, in revision order. */
  unflushedRecords(): PendingRecord[];
  readKvMaybe(rev: { main: number; sub: number }): MaybePromise<KeyValueFields | undefined>;
}

/** For the watch hub: the events of revisions [fromRev, toRev] whose key passes `match`, whole revisions, about `limit` records. */
export async function readEvents(
  s: HistoryStore,
  fromRev: number,
  toRev: number,
  limit: number,
  match: (key: Buffer) => boolean,
  withPrevKv: boolean,
): Promise<{ events: WatchEventFields[]; lastRev: number }> {
  const compactAtStart = s.compactRevision;
  // Records not yet in LevelDB come from memory; they follow every flushed record, so
  // LevelDB is read only below the first of them (taken now, before any await).
  const mem = s.unflushedRecords();
  const memFrom = firstAtOrAfter(mem, fromRev);
  const memTo = firstAtOrAfter(mem, toRev + 1);
  const dbEnd = mem.length > 0 ? Math.min(toRev + 1, mem[0]!.main) : toRev + 1;
  const events: WatchEventFields[] = [];
  let lastRev = toRev;
  let records = 0;
  let prevMain = -1;
  /** True (and lastRev set) once `limit` records are read and `main` starts another revision. */
  const full = (main: number): boolean => {
    if (records < limit || main === prevMain) return false;
    lastRev = prevMain;
    return true;
  };
  const add = async (main: number, rec: StoredRecord): Promise<void> => {
    prevMain = main;
    records++;
    if (!match(rec.kv.key)) return;
    // A compaction removes the tombstones at its revision; never replay them (the result must not depend on timing).
    if (rec.tombstone && main <= s.compactRevision) return;
    const ev: WatchEventFields = rec.tombstone
      ? { type: 'DELETE', kv: { key: rec.kv.key, value: Buffer.alloc(0), createRevision: 0, modRevision: main, version: 0, lease: 0 } }
      : { type: 'PUT', kv: rec.kv };
    if (withPrevKv && !(ev.type === 'PUT' && ev.kv.version === 1) && main - 1 >= s.compactRevision) {
      const prior = s.index.get(rec.kv.key)?.get(main - 1);
      if (prior) {
        const pkv = await s.readKvMaybe(prior.modified);
        if (pkv) ev.prevKv = pkv;
      }
    }
    events.push(ev);
  };
  let more = true;
  if (fromRev < dbEnd) {
    const it = s.db.iterator({ gte: s.keys.recordKey(fromRev, 0), lt: s.keys.recordKey(dbEnd, 0) });
    try {
      outer: for (;;) {
        const entries = await it.nextv(Math.min(limit, 1000));
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          const revBytes = s.keys.revisionBytesOf(k);
          const main = readUint64(revBytes, 0);
          if (full(main)) {
            more = false;
            break outer;
          }
          await add(main, decodeRecord(revBytes, v, main, formatRevision(decodeRevision(revBytes))));
        }
      }
    } finally {
      await it.close();
    }
  }
  for (let i = memFrom; more && i < memTo; i++) {
    const r = mem[i]!;
    if (full(r.main)) break;
    await add(r.main, { tombstone: r.rec.tombstone, kv: copyKv(r.rec.kv) });
  }
  if (s.compactRevision !== compactAtStart) throw Object.assign(new Error('mvcc: compaction during history read'), { code: 'RETRY' });
  return { events, lastRev };
}

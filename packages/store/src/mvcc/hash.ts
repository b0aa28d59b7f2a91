// Hashes of the key space for Maintenance.Hash / HashKV and the cross-member
// corruption check (etcd's kvstore HashByRev). HashKV is CRC-32C (Castagnoli)
// over "key" (etcd's bucket name) and then, in revision order, every record
// with a revision <= the hashed one — records at or below the compacted
// revision only when the key index keeps them at that revision (as etcd's
// keyIndex.keep; all of them when it keeps none) — each as etcd stores it in
// its key bucket: the revision bytes (main, '_', sub, 't' for a tombstone) and
// the mvccpb.KeyValue message (a tombstone's holds only the key). With the same
// history (and no leases) it equals etcd 3.4's HashKV. Hash is CRC-32C over
// every LevelDB entry of the key space (etcd hashes its whole bbolt file, which
// has no counterpart here).
import { crc32c } from '@node-rs/crc32';
import type { KeyValueFields } from '../api/kv.js';
import type { StoredRecord } from './codec.js';
import { decodeRecord } from './codec.js';
import { compacted, futureRev } from './errors.js';
import type { KeyIndex } from './key_index.js';
import { revisionId } from './key_index.js';
import type { MvccStore } from './kv_store.js';
import { decodeRevision, formatRevision } from './revision.js';

export interface HashKVResult {
  hash: number;
  /** The store's revision when the hash was taken (etcd's header revision of HashKVResponse). */
  currentRevision: number;
  /** -1 before the first compaction, as etcd. */
  compactRevision: number;
  /** The revision hashed (the request's, or the current one for 0). */
  hashRevision: number;
}

const KEY_BUCKET = Buffer.from('key');

/** etcd's revision key: main (8 bytes BE), '_', sub (8 bytes BE), and 't' for a tombstone. */
export function etcdRevisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const b = Buffer.alloc(tombstone ? 18 : 17);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = 0x5f;
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[17] = 0x74;
  return b;
}

function varint(out: number[], v: number): void {
  let n = BigInt.asUintN(64, BigInt(v));
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
}

/** mvccpb.KeyValue as gogo-protobuf marshals it (fields in number order, zero values left out). */
export function encodeEtcdKeyValue(kv: Pick<KeyValueFields, 'key'> & Partial<KeyValueFields>): Buffer {
  const parts: Buffer[] = [];
  const bytesField = (tag: number, b: Buffer | undefined) => {
    if (!b || b.length === 0) return;
    const h: number[] = [(tag << 3) | 2];
    varint(h, b.length);
    parts.push(Buffer.from(h), b);
  };
  const intField = (tag: number, v: number | undefined) => {
    if (!v) return;
    const h: number[] = [tag << 3];
    varint(h, v);
    parts.push(Buffer.from(h));
  };
  bytesField(1, kv.key);
  intField(2, kv.createRevision);
  intField(3, kv.modRevision);
  intField(4, kv.version);
  bytesField(5, kv.value);
  intField(6, kv.lease);
  return Buffer.concat(parts);
}

/** The revisions a compaction at `atRev` would keep (etcd's keyIndex.keep: the latest of each key alive at atRev, no tombstone). */
export function keepAt(keys: Iterable<KeyIndex>, atRev: number): Set<string> {
  const keep = new Set<string>();
  for (const ki of keys) {
    const gens = ki.generations;
    if (gens.length === 0) continue;
    let gi = 0;
    while (gi < gens.length - 1) {
      const g = gens[gi]!;
      if (g.revs.length > 0 && g.revs[g.revs.length - 1]!.main > atRev) break;
      gi++;
    }
    const g = gens[gi]!;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      if (g.revs[i]!.main <= atRev) {
        // A tombstone (the last revision of a generation that is not the last one) is not kept.
        if (!(i === g.revs.length - 1 && gi !== gens.length - 1)) keep.add(revisionId(g.revs[i]!));
        break;
      }
    }
  }
  return keep;
}

/**
 * HashKV at `revision` (0 = the current one). Throws Compacted for a revision at or below the
 * compacted one and FutureRev beyond the current one, as etcd. Waits until the compactions applied
 * so far are physically done (so every member hashes the same records), then reads a LevelDB
 * snapshot plus the applies not yet flushed.
 */
export async function hashKV(store: MvccStore, revision: number): Promise<HashKVResult> {
  const check = () => {
    if (revision > 0 && revision <= store.compactRevision) throw compacted();
    if (revision > 0 && revision > store.revision) throw futureRev();
  };
  check();
  for (;;) {
    const pending = store.waitCompaction();
    await pending.catch(() => undefined);
    if (store.waitCompaction() === pending) break;
  }
  // Captured in one turn: revisions, the keep set, the LevelDB snapshot and the unflushed records.
  check();
  const compactRevision = store.compactRevision;
  const currentRevision = store.revision;
  const at = revision === 0 ? currentRevision : revision;
  const keep = keepAt(store.index.all(), at);
  const unflushed = store.unflushedRecords().slice();
  const snap = store.db.snapshot();
  let crc = crc32c(KEY_BUCKET);
  const add = (main: number, sub: number, rec: StoredRecord) => {
    if (main > at) return false;
    if (main <= compactRevision && keep.size > 0 && !keep.has(formatRevision({ main, sub }))) return true;
    crc = crc32c(etcdRevisionKey(main, sub, rec.tombstone), crc);
    crc = crc32c(encodeEtcdKeyValue(rec.tombstone ? { key: rec.kv.key } : { ...rec.kv, modRevision: main }), crc);
    return true;
  };
  try {
    const keys = store.keys;
    const end = unflushed.length > 0 ? unflushed[0]!.storageKey : keys.recordKey(at + 1, 0);
    const it = store.db.iterator({ gte: keys.recordPrefix, lt: end, snapshot: snap });
    try {
      let more = true;
      while (more) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          const revBytes = keys.revisionBytesOf(k);
          const rev = decodeRevision(revBytes);
          if (!add(rev.main, rev.sub, decodeRecord(revBytes, v, rev.main, formatRevision(rev)))) {
            more = false;
            break;
          }
        }
      }
    } finally {
      await it.close();
    }
    for (const r of unflushed) {
      const rev = decodeRevision(store.keys.revisionBytesOf(r.storageKey));
      if (!add(rev.main, rev.sub, r.rec)) break;
    }
  } finally {
    await snap.close();
  }
  // etcd's compactMainRev is -1 until the first compaction.
  return { hash: crc >>> 0, currentRevision, compactRevision: compactRevision > 0 ? compactRevision : -1, hashRevision: at };
}

/** Maintenance.Hash: CRC-32C over every LevelDB entry (key and value) of the key space, after flushing. */
export async function hashAll(store: MvccStore): Promise<{ hash: number; revision: number }> {
  await store.flush();
  const snap = store.db.snapshot();
  const revision = store.revision;
  let crc = 0;
  try {
    const it = store.db.iterator({ gte: store.keys.generationStart, lt: store.keys.generationEnd, snapshot: snap });
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          crc = crc32c(k, crc);
          crc = crc32c(v, crc);
        }
      }
    } finally {
      await it.close();
    }
  } finally {
    await snap.close();
  }
  return { hash: crc >>> 0, revision };
}

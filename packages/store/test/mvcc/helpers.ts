import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ClassicLevel } from 'classic-level';
import { MvccStore, type MvccStoreOptions } from '../../src/mvcc/index.js';
import { encodeNumbers } from '../../src/mvcc/codec.js';
import { Keyspace, META_CONTEXT } from '../../src/mvcc/keyspace.js';
import { seededRandom } from '../../src/raft/seeded_random.js';

export const PREFIX = Buffer.from('kv/');

export type Db = ClassicLevel<Buffer, Buffer>;

export async function openDb(t: ExecutionContext): Promise<{ db: Db; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-test-'));
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  t.teardown(async () => {
    await db.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, dir };
}

/**
 * Makes the key space under PREFIX one created before revisions followed etcd's (its meta record
 * exists, at revision 0): its first write is revision 1. The unit tests of this directory were
 * written with those revision numbers; that numbering stays supported for existing data dirs.
 * etcd's numbering (a new store at 1, first write 2) is tested in revisions.test.ts.
 */
export async function markLegacyNumbering(db: Db): Promise<void> {
  await db.put(new Keyspace(PREFIX, 0).metaKey, encodeNumbers(META_CONTEXT, [0, 0, 0]));
}

/** A fresh store in a fresh LevelDB (legacy numbering unless `etcdNumbering`); `index()` hands out increasing Raft indexes. */
export async function setup(t: ExecutionContext, opts: MvccStoreOptions = {}, etcdNumbering = false) {
  const { db, dir } = await openDb(t);
  if (!etcdNumbering) await markLegacyNumbering(db);
  const store = await MvccStore.open(db, PREFIX, opts);
  let next = 1;
  const ctx = {
    db,
    dir,
    store,
    index: () => next++,
    put: (key: string, value: string, lease = 0) => ctx.store.put(next++, { key: b(key), value: b(value), lease }),
    del: (key: string, rangeEnd?: string) => ctx.store.deleteRange(next++, { key: b(key), rangeEnd: rangeEnd === undefined ? undefined : b(rangeEnd) }),
    reopen: async (o: MvccStoreOptions = opts) => {
      await ctx.store.close();
      ctx.store = await MvccStore.open(db, PREFIX, o);
      return ctx.store;
    },
  };
  t.teardown(() => ctx.store.close());
  return ctx;
}

export function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export function keys(kvs: Array<{ key: Buffer }>): string[] {
  return kvs.map((kv) => kv.key.toString('latin1'));
}

export function values(kvs: Array<{ value: Buffer }>): string[] {
  return kvs.map((kv) => kv.value.toString('latin1'));
}

/** Seeded PRNG (mulberry32). */
export const rng = seededRandom;

/** Number of MVCC records LevelDB holds under PREFIX (generation 0). */
export async function recordCount(db: Db): Promise<number> {
  let n = 0;
  for await (const k of db.keys({ gte: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x72])]), lt: Buffer.concat([PREFIX, Buffer.from([1, 0, 0x73])]) })) {
    void k;
    n++;
  }
  return n;
}

/**
 * Simulates a crash: copies the files of a LevelDB that is still open (what a
 * process killed now would leave: every completed batch is in LevelDB's log)
 * and opens the copy.
 */
export async function crashCopy(t: ExecutionContext, dir: string): Promise<Db> {
  const copy = mkdtempSync(join(tmpdir(), 'mvcc-crash-'));
  cpSync(dir, copy, { recursive: true });
  const db = new ClassicLevel<Buffer, Buffer>(copy, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  t.teardown(async () => {
    await db.close().catch(() => undefined);
    rmSync(copy, { recursive: true, force: true });
  });
  return db;
}

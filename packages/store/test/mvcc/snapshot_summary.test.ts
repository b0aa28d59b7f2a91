// summarizeSnapshot and a restore read a snapshot through the same frame reader (snapshot.ts's
// walkSnapshot): a real store's snapshot is summarized with its header numbers, record and lease
// counts whatever its chunking; a file's zero padding is accepted by the summary and refused by a
// restore; damage anywhere is SNAPSHOT_CORRUPT for both.
import test from 'ava';
import { MvccStore } from '../../src/mvcc/index.js';
import { summarizeSnapshot } from '../../src/mvcc/snapshot_summary.js';
import { b, openDb, PREFIX, setup } from './helpers.js';

async function snapshotOf(t: Parameters<typeof setup>[0]) {
  const s = await setup(t);
  await s.store.leaseGrant(s.index(), 7, 60);
  await s.put('a', '1', 7);
  await s.put('b', '2');
  await s.put('a', '3');
  await s.del('b');
  const chunks: Buffer[] = [];
  for await (const c of s.store.snapshot(64)) chunks.push(c);
  return { s, whole: Buffer.concat(chunks) };
}

test('the summary of a real snapshot, in any chunking, with zero padding', async (t) => {
  const { s, whole } = await snapshotOf(t);
  const summary = await summarizeSnapshot([whole]);
  t.like(summary, { consistentIndex: s.store.consistentIndex, revision: s.store.revision, compactRevision: s.store.compactRevision, records: 4, leases: 1, dataBytes: whole.length });
  const pieces: Buffer[] = [];
  for (let i = 0; i < whole.length; i += 5) pieces.push(whole.subarray(i, i + 5));
  t.deepEqual(await summarizeSnapshot([...pieces, Buffer.alloc(100)]), summary);
  t.deepEqual(await summarizeSnapshot([Buffer.concat([whole, Buffer.alloc(3)])]), summary);
});

test('damage is SNAPSHOT_CORRUPT for the summary and the restore; padding only for the restore', async (t) => {
  const { whole } = await snapshotOf(t);
  const { db } = await openDb(t);
  const flipped = Buffer.from(whole);
  flipped[whole.length - 20] ^= 0x40;
  const cases: Array<[string, Buffer[], RegExp]> = [
    ['a flipped bit', [flipped], /checksum mismatch|corrupt/],
    ['truncated', [whole.subarray(0, whole.length - 3)], /truncated/],
    ['non-zero bytes after the end', [whole, Buffer.from([0, 1])], /data after its end/],
    ['not a snapshot', [Buffer.from('H\0\0\0\x05hello')], /bad header/],
  ];
  for (const [what, chunks, message] of cases) {
    const summaryErr = await t.throwsAsync(summarizeSnapshot(chunks), { message }, what);
    t.is((summaryErr as Error & { code: string }).code, 'SNAPSHOT_CORRUPT', what);
    const restoreErr = await t.throwsAsync(MvccStore.restore(db, PREFIX, chunks), { message }, what);
    t.is((restoreErr as Error & { code: string }).code, 'SNAPSHOT_CORRUPT', what);
  }
  await t.throwsAsync(MvccStore.restore(db, PREFIX, [whole, Buffer.alloc(4)]), { message: /data after its end/ });
  const restored = await MvccStore.restore(db, PREFIX, [whole]);
  t.is((await restored.range({ key: b('a') })).kvs[0]!.value.toString(), '3');
  await restored.close();
});

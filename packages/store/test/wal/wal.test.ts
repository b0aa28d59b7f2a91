// The Raft log's WAL (src/wal) on real files: what is written reads back after
// a reopen; a record torn at any byte (the file cut there, or the rest never
// written in a preallocated segment) is dropped and the file repaired; a bad
// record before the tail refuses to open with DATA_CORRUPT naming the file and
// offset; segments roll over with etcd's names and are released after a
// snapshot without losing what a restart needs; one fdatasync per synced batch.
import test from 'ava';
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DataCorruptError, Wal, parseSegmentName } from '../../src/wal/index.js';
import { RecordType, readFrame } from '../../src/wal/record.js';
import type { Snapshot } from '../../src/raft/types.js';
import { entries, plain, recordsOf, tempDir } from './wal_helpers.js';

const SEGMENT = 64 * 1024;

test('what is saved reads back after a reopen, and appending continues', async (t) => {
  const dir = tempDir(t);
  const { wal, log } = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(log.entries, []);
  t.deepEqual(log.hardState, { term: 0, vote: 0, commit: 0 });
  await wal.save({ term: 1, vote: 2, commit: 0 }, entries(1, 5), undefined, true);
  await wal.save({ term: 1, vote: 2, commit: 5 }, entries(6, 20), undefined, true);
  await wal.save({ term: 1, vote: 2, commit: 20 }, [], undefined, false);
  await wal.close();
  t.deepEqual(readdirSync(dir), ['0000000000000000-0000000000000000.wal']);
  t.is(statSync(join(dir, '0000000000000000-0000000000000000.wal')).size, SEGMENT, 'the segment is preallocated');

  const again = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(plain(again.log.entries), plain(entries(1, 20)));
  t.deepEqual(again.log.hardState, { term: 1, vote: 2, commit: 20 });
  t.is(again.log.lastIndex, 20);
  t.is(again.repaired, undefined);
  await again.wal.save({ term: 2, vote: 3, commit: 20 }, entries(21, 25, 2), undefined, true);
  await again.wal.close();

  const third = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(plain(third.log.entries), plain([...entries(1, 20), ...entries(21, 25, 2)]));
  t.deepEqual(third.log.hardState, { term: 2, vote: 3, commit: 20 });
  await third.wal.close();
});

test('a conflicting append replaces the tail it overlaps, also across a reopen', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  await wal.save({ term: 1, vote: 1, commit: 4 }, entries(1, 10), undefined, true);
  await wal.save({ term: 2, vote: 2, commit: 4 }, entries(6, 8, 2), undefined, true);
  await wal.close();
  const again = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(plain(again.log.entries), plain([...entries(1, 5), ...entries(6, 8, 2)]));
  t.is(again.log.lastIndex, 8);
  await again.wal.close();
});

/**
 * A WAL holding batches A (entries 1..12 and a hard state) and, last, B: one entry record (13).
 * `bodyEnd`: where B's bytes end before its padding.
 */
async function twoBatches(dir: string): Promise<{ segment: string; start: number; bodyEnd: number; end: number }> {
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  await wal.save({ term: 1, vote: 1, commit: 12 }, entries(1, 12), undefined, true);
  const start = wal.position().offset;
  await wal.save(undefined, entries(13, 13, 1, 120), undefined, true);
  const { segment, offset: end } = wal.position();
  await wal.close();
  const f = readFrame(readFileSync(segment), start);
  if (f.kind !== 'record') throw new Error('batch B is not a record');
  return { segment, start, bodyEnd: f.bodyEnd, end };
}

test('a record torn at any byte is dropped and the segment repaired: cut files and unwritten preallocated space', async (t) => {
  t.timeout(120_000);
  const base = tempDir(t);
  const original = join(base, 'original');
  const { segment, start, bodyEnd, end } = await twoBatches(original);
  const name = basename(segment);
  t.deepEqual(recordsOf(segment).map((r) => r.type).slice(-2), [RecordType.State, RecordType.Entry], 'the last record is the entry of batch B');
  t.true(end - start > 100 && bodyEnd < end, `record ${end - start} bytes, padding ${end - bodyEnd}`);
  let checked = 0;
  // A cut file loses the record wherever it is cut (padding included: the frame runs past the end);
  // in preallocated space the zeros of the padding are what was written anyway.
  const limits = { zeros: bodyEnd - start, truncated: end - start };
  for (const mode of ['zeros', 'truncated'] as const) {
    for (let k = 0; k < limits[mode]; k++) {
      const dir = join(base, `${mode}-${k}`);
      const copy = join(dir, name);
      mkdirSync(dir);
      copyFileSync(segment, copy);
      const fd = openSync(copy, 'r+');
      if (mode === 'truncated') ftruncateSync(fd, start + k);
      else writeSync(fd, Buffer.alloc(end - start - k), 0, end - start - k, start + k);
      closeSync(fd);
      const { wal, log, repaired } = await Wal.open(dir, { segmentBytes: SEGMENT });
      const ok = plain(log.entries).length === 12 && log.hardState.commit === 12;
      if (!ok) t.fail(`${mode} at byte ${k} of the last record: read ${log.entries.length} entries, commit ${log.hardState.commit}`);
      if (k > 0 && !repaired) t.fail(`${mode} at byte ${k}: the torn record was not reported`);
      if (k > 0 && repaired && repaired.offset !== start) t.fail(`${mode} at byte ${k}: cut at ${repaired.offset}, not ${start}`);
      // The repaired segment takes new records where the torn one was, and they read back.
      await wal.save({ term: 2, vote: 1, commit: 14 }, entries(13, 14, 2), undefined, true);
      await wal.close();
      const again = await Wal.open(dir, { segmentBytes: SEGMENT });
      if (JSON.stringify(plain(again.log.entries)) !== JSON.stringify(plain([...entries(1, 12), ...entries(13, 14, 2)])) || again.repaired) {
        t.fail(`${mode} at byte ${k}: after the repair and two more entries the log reads ${again.log.entries.length} entries (repaired again: ${String(!!again.repaired)})`);
      }
      await again.wal.close();
      checked++;
    }
  }
  t.is(checked, limits.zeros + limits.truncated);
  t.log(`the last record (${end - start} bytes) torn at each of its bytes, in a cut file and in preallocated space: ${checked} cases`);
});

test('a corrupt record before the tail refuses to open with DATA_CORRUPT naming the file and offset', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  await wal.save({ term: 1, vote: 1, commit: 3 }, entries(1, 6), undefined, true);
  await wal.save({ term: 1, vote: 1, commit: 6 }, entries(7, 9), undefined, true);
  const { segment } = wal.position();
  await wal.close();
  const recs = recordsOf(segment).filter((r) => r.type === RecordType.Entry);
  const victim = recs[2]!; // entry 3, followed by more records
  const bytes = readFileSync(segment);
  bytes[victim.offset + 30] = bytes[victim.offset + 30]! ^ 0x40;
  writeFileSync(segment, bytes);
  const err = await t.throwsAsync(Wal.open(dir, { segmentBytes: SEGMENT }), { instanceOf: DataCorruptError });
  t.is(err!.code, 'DATA_CORRUPT');
  t.true(err!.message.includes(basename(segment)), err!.message);
  t.true(err!.message.includes(`at offset ${victim.offset}`), err!.message);
  t.regex(err!.message, /crc mismatch/);

  // A record whose frame claims more than the file holds, in a segment before the last, is corrupt too.
  const dir2 = tempDir(t);
  const second = await Wal.open(dir2, { segmentBytes: SEGMENT });
  for (let i = 0; i < 40; i++) await second.wal.save({ term: 1, vote: 1, commit: i * 50 }, entries(i * 50 + 1, i * 50 + 50, 1, 100), undefined, false);
  const segs = second.wal.segmentPaths();
  await second.wal.close();
  t.true(segs.length >= 3, `${segs.length} segments`);
  const first = segs[0]!;
  const lastRec = recordsOf(first).at(-1)!;
  const f = readFileSync(first);
  writeFileSync(first, f.subarray(0, lastRec.end - 3));
  const err2 = await t.throwsAsync(Wal.open(dir2, { segmentBytes: SEGMENT }), { instanceOf: DataCorruptError });
  t.true(err2!.message.includes(`${basename(first)}`) && err2!.message.includes(`at offset ${lastRec.offset}`), err2!.message);
});

test('segments roll over with etcd names (seq-index), each opening with its crc record, and read back whole', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  for (let i = 0; i < 30; i++) await wal.save({ term: 1, vote: 1, commit: i * 40 }, entries(i * 40 + 1, i * 40 + 40, 1, 400), undefined, i % 3 === 0);
  t.true(wal.stats.segmentsCut >= 3, `${wal.stats.segmentsCut} cuts`);
  const paths = wal.segmentPaths();
  await wal.close();
  const names = readdirSync(dir).sort();
  t.deepEqual(names, paths.map((p) => basename(p)));
  let prevIndex = -1;
  names.forEach((n, i) => {
    const p = parseSegmentName(n)!;
    t.is(p.seq, i, `${n}: sequence number`);
    t.true(p.index > prevIndex, `${n}: first index grows`);
    prevIndex = p.index;
    const recs = recordsOf(join(dir, n));
    t.is(recs[0]!.type, RecordType.Crc, `${n} opens with a crc record`);
    const firstEntry = recs.find((r) => r.type === RecordType.Entry);
    if (i > 0 && firstEntry) {
      const buf = readFileSync(join(dir, n));
      t.is(buf.readUInt32LE(firstEntry.offset + 13 + 8), p.index, `${n}: its first entry is the index in its name`);
    }
    if (i < names.length - 1) t.is(statSync(join(dir, n)).size, recs.at(-1)!.end, `${n}: a finished segment is cut to its data`);
  });
  const again = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(plain(again.log.entries), plain(entries(1, 1200, 1, 400)));
  t.is(again.log.hardState.commit, 29 * 40);
  await again.wal.close();
});

test('after a snapshot, whole segments before the compaction index are removed and a restart still has what it needs', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  for (let i = 0; i < 30; i++) await wal.save({ term: 1, vote: 1, commit: i * 40 + 40 }, entries(i * 40 + 1, i * 40 + 40, 1, 400), undefined, true);
  const before = wal.segmentPaths().map((p) => ({ p, ...parseSegmentName(basename(p))! }));
  t.true(before.length >= 5, `${before.length} segments`);
  // The snapshot at 1000 keeps 200 entries for slow followers: compaction index 800.
  const snap: Snapshot = { metadata: { index: 1000, term: 1, confState: { voters: [1, 2, 3], learners: [4] } }, data: Buffer.from('{"members":[]}') };
  await wal.saveSnapshot(snap);
  const removed = await wal.releaseTo(800);
  const after = wal.segmentPaths();
  t.true(removed > 0, 'segments were removed');
  t.is(after.length, before.length - removed);
  const kept = before.filter((s) => after.includes(s.p));
  t.true(kept[0]!.index <= 800, 'the segment holding entry 800 stays');
  t.true(before.filter((s) => !after.includes(s.p)).every((s, i, all) => (before[before.indexOf(s) + 1]?.index ?? Infinity) <= 800 && i < all.length), 'only segments wholly before 800 went');
  // More writes after the release, into new segments.
  for (let i = 30; i < 40; i++) await wal.save({ term: 1, vote: 1, commit: i * 40 + 40 }, entries(i * 40 + 1, i * 40 + 40, 1, 400), undefined, true);
  await wal.close();
  const again = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.deepEqual(again.log.snapshot?.metadata, snap.metadata);
  t.is(Buffer.from(again.log.snapshot!.data).toString(), '{"members":[]}');
  t.deepEqual(plain(again.log.entries), plain(entries(1001, 1600, 1, 400)));
  t.deepEqual(again.log.hardState, { term: 1, vote: 1, commit: 1600 });
  // A second snapshot releases the rest up to it; the newest segment (with the snapshot) always stays.
  await again.wal.saveSnapshot({ ...snap, metadata: { ...snap.metadata, index: 1600 } });
  await again.wal.releaseTo(1600);
  const left = again.wal.segmentPaths().map((p) => parseSegmentName(basename(p))!.index);
  t.true(left.length === 1 || (left.length === 2 && left[0]! <= 1600 && left[1]! > 1600), `segments left start at ${left.join(', ')}`);
  await again.wal.close();
  const third = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.is(third.log.snapshot?.metadata.index, 1600);
  t.deepEqual(third.log.entries, []);
  t.is(third.log.lastIndex, 1600);
  await third.wal.close();
});

test('a snapshot received from the leader replaces the log it does not match', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: SEGMENT });
  await wal.save({ term: 1, vote: 1, commit: 10 }, entries(1, 20), undefined, true);
  const snap: Snapshot = { metadata: { index: 50, term: 3, confState: { voters: [1, 2, 3], learners: [] } }, data: Buffer.alloc(0) };
  await wal.save({ term: 3, vote: 0, commit: 50 }, [], snap, true);
  await wal.save({ term: 3, vote: 0, commit: 53 }, entries(51, 55, 3), undefined, true);
  await wal.close();
  const again = await Wal.open(dir, { segmentBytes: SEGMENT });
  t.is(again.log.snapshot?.metadata.index, 50);
  t.deepEqual(plain(again.log.entries), plain(entries(51, 55, 3)));
  t.deepEqual(again.log.hardState, { term: 3, vote: 0, commit: 53 });
  await again.wal.close();
});

test('one synced write per synced batch, however many entries it holds; none for an unsynced one, which goes with the next', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: 4 * 1024 * 1024 });
  const s0 = wal.stats.syncs;
  await wal.save({ term: 1, vote: 1, commit: 0 }, entries(1, 200), undefined, true);
  t.is(wal.stats.syncs - s0, 1, '200 entries and a hard state: one synced write');
  await wal.save({ term: 1, vote: 1, commit: 200 }, [], undefined, false);
  t.is(wal.stats.syncs - s0, 1, 'a commit-only hard state is not synced');
  for (let i = 0; i < 10; i++) await wal.save({ term: 1, vote: 1, commit: 200 }, entries(201 + i * 10, 210 + i * 10), undefined, true);
  t.is(wal.stats.syncs - s0, 11, 'ten more batches: ten more');
  t.is(wal.stats.writes, 11, 'one write per synced batch: the unsynced hard state went with the next');
  await wal.close();
  const again = await Wal.open(dir, { segmentBytes: 4 * 1024 * 1024 });
  t.is(again.log.lastIndex, 300);
  t.deepEqual(again.log.hardState, { term: 1, vote: 1, commit: 200 });
  await again.wal.close();
});

test('on a full file system a synced batch fails with ENOSPC although the preallocated segment has room', async (t) => {
  t.timeout(60_000);
  if (process.getuid?.() !== 0) {
    t.fail('this test mounts a small tmpfs (the full disk) and must run as root');
    return;
  }
  const dir = tempDir(t);
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir]);
  t.teardown(() => execFileSync('umount', ['-l', dir]));
  const { wal } = await Wal.open(join(dir, 'wal'), { segmentBytes: 512 * 1024, spaceCheckMs: 0 });
  t.teardown(() => wal.close().catch(() => undefined));
  await wal.save({ term: 1, vote: 1, commit: 0 }, entries(1, 10), undefined, true);
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(4 << 20));
  } catch (err) {
    t.is((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the filler stops at a full disk');
  }
  // The next synced batch notices (the check runs on every sync here).
  const err = await t.throwsAsync(wal.save({ term: 1, vote: 1, commit: 10 }, entries(11, 12), undefined, true));
  t.regex(err!.message, /ENOSPC/);
  t.is((err as unknown as { errno?: string }).errno, 'ENOSPC');
});

// Helpers of the WAL tests: temp dirs, entries, and a walk over a segment's
// records (with src/wal/record.ts's frame reader) to find record offsets.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { readFrame } from '../../src/wal/record.js';
import type { Entry } from '../../src/raft/types.js';

export function tempDir(t: ExecutionContext, name = 'mkube-wal-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Entries first..last at `term`, each with its own payload (some empty, some long). */
export function entries(first: number, last: number, term = 1, size = 40): Entry[] {
  const out: Entry[] = [];
  for (let i = first; i <= last; i++) {
    const data = i % 7 === 0 ? Buffer.alloc(0) : Buffer.from(`${term}:${i}:`.padEnd(size + (i % 5), String.fromCharCode(97 + (i % 26))));
    out.push({ term, index: i, type: i % 11 === 0 ? 1 : 0, data });
  }
  return out;
}

/** Comparable form of entries (data as text). */
export function plain(es: Entry[]): Array<[number, number, number, string]> {
  return es.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('latin1')]);
}

export interface RecordAt {
  offset: number;
  end: number;
  type: number;
}

/** The records of a segment file, in order, up to its first zero frame. */
export function recordsOf(path: string): RecordAt[] {
  const buf = readFileSync(path);
  const out: RecordAt[] = [];
  let off = 0;
  for (;;) {
    const f = readFrame(buf, off);
    if (f.kind !== 'record') return out;
    out.push({ offset: off, end: f.end, type: f.type });
    off = f.end;
  }
}

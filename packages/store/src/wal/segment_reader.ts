// Reading the WAL's segments on start. Every record's crc must chain to the
// one before it (across segments through each segment's opening crc record).
// Only the last segment may end in a torn write — a crash while the last,
// unsynced batch was being written: a record that runs past the end of the
// file, or that fails its crc or framing while nothing but zeros follows it,
// or that holds a whole zero 512-byte sector (a sector the crash did not
// write, etcd's isTornEntry). Such a tail is reported for repair. Anything
// else that does not read — in an earlier segment, or followed by data — is
// DATA_CORRUPT, naming the file and the offset.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DataCorruptError } from './errors.js';
import { LogBuilder, LogRuleError } from './log_builder.js';
import { RecordType, chainCrc, decodeEntry, decodeSnapshot, decodeState, isZero, readFrame } from './record.js';

const SECTOR = 512;

export interface SegmentRef {
  seq: number;
  /** The index of the first entry expected in the segment (from its name). */
  index: number;
  path: string;
}

const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** etcd's walName: `%016x-%016x.wal` of sequence number and first index. */
export function segmentName(seq: number, index: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): { seq: number; index: number } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const seq = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) return undefined;
  return { seq, index };
}

export interface TornTail {
  /** Where the torn record starts: the segment is cut back to here. */
  offset: number;
  reason: string;
}

export interface ReadSegments {
  builder: LogBuilder;
  /** The chain value after the last good record. */
  crc: number;
  /** Where the next record goes in the last segment. */
  end: number;
  torn: TornTail | undefined;
}

/** Whether the bytes off..end hold a whole zero sector-aligned chunk (etcd's torn-write test). */
function hasZeroSector(buf: Buffer, off: number, end: number): boolean {
  let chunkStart = off;
  while (chunkStart < end) {
    const chunkEnd = Math.min(end, (Math.floor(chunkStart / SECTOR) + 1) * SECTOR);
    if (isZero(buf, chunkStart, chunkEnd)) return true;
    chunkStart = chunkEnd;
  }
  return false;
}

function corrupt(path: string, offset: number, reason: string): DataCorruptError {
  return new DataCorruptError(`WAL segment ${basename(path)} (${path}) at offset ${offset}: ${reason}`);
}

/** Reads all segments (sorted by seq) into `builder`; the last one's torn tail, if any, is returned, not thrown. */
export function readSegments(segments: SegmentRef[]): ReadSegments {
  const builder = new LogBuilder();
  let crc: number | undefined;
  let end = 0;
  let torn: TornTail | undefined;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (i > 0 && seg.seq !== segments[i - 1]!.seq + 1) {
      throw new DataCorruptError(`WAL segment ${segmentName(segments[i - 1]!.seq + 1, 0).slice(0, 16)}-*.wal is missing before ${basename(seg.path)} (${seg.path})`);
    }
    const last = i === segments.length - 1;
    const buf = readFileSync(seg.path);
    let off = 0;
    const bad = (reason: string, recordEnd: number | undefined): void => {
      // A torn write can only be the end of the last segment.
      const tornTail = last && off > 0 && (recordEnd === undefined || isZero(buf, recordEnd, buf.length) || hasZeroSector(buf, off, recordEnd));
      if (!tornTail) throw corrupt(seg.path, off, reason);
      torn = { offset: off, reason };
    };
    for (;;) {
      const f = readFrame(buf, off);
      if (f.kind === 'zero') {
        // The preallocated, unwritten rest of the segment.
        if (isZero(buf, off, buf.length)) break;
        bad('a zero record frame is followed by data', Math.min(buf.length, (Math.floor(off / SECTOR) + 1) * SECTOR));
        break;
      }
      if (f.kind === 'bad') {
        bad(f.reason, f.end);
        break;
      }
      if (off === 0) {
        if (f.type !== RecordType.Crc) {
          bad(`the segment starts with a record of type ${f.type}, not its crc record`, f.end);
          break;
        }
        if (crc !== undefined && f.crc !== crc) throw corrupt(seg.path, off, `the segment's crc record ${f.crc.toString(16)} breaks the chain of the previous segment (${crc.toString(16)})`);
        crc = f.crc;
        off = f.end;
        continue;
      }
      const expect = chainCrc(buf, off, f.bodyEnd, crc ?? 0);
      if (expect !== f.crc) {
        bad(`crc mismatch: the record says ${f.crc.toString(16)}, its data chains to ${expect.toString(16)}`, f.end);
        break;
      }
      try {
        switch (f.type) {
          case RecordType.Entry:
            builder.entry(decodeEntry(f.data));
            break;
          case RecordType.State:
            builder.state(decodeState(f.data));
            break;
          case RecordType.Snapshot:
            builder.snapshotRecord(decodeSnapshot(f.data));
            break;
          default:
            throw new Error(`record type ${f.type} is unknown or out of place`);
        }
      } catch (err) {
        // The crc matched: this is what was written, and it does not make a log.
        throw corrupt(seg.path, off, (err as Error).message);
      }
      crc = f.crc;
      off = f.end;
    }
    if (off === 0 && !torn) throw corrupt(seg.path, 0, 'the segment holds no crc record');
    if (last) end = torn?.offset ?? off;
  }
  return { builder, crc: crc ?? 0, end, torn };
}

export { LogRuleError };

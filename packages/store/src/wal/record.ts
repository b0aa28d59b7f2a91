// The WAL's record framing and payloads, after etcd's wal (encoder.go,
// decoder.go): each record is
//   [frame: u64 LE][crc: u32 LE][type: u8][data][padding to 8 bytes]
// The frame's low 56 bits hold the record's length (crc + type + data); when
// the record is padded, its top byte is 0x80 | padding bytes, as etcd's. The
// crc is CRC-32C (Castagnoli) over type and data, chained: it starts from the
// previous record's crc, and each segment opens with a crc record that carries
// the chain's value at the end of the previous segment. Record types keep
// etcd's numbers (entry 2, state 3, crc 4, snapshot 5).
//
// Payloads (little-endian, integers as u64): entry = term, index, type (u8),
// data — the entry's bytes as proposed and shipped, copied once into the write
// buffer; state = term, vote, commit; snapshot = index, term, voter count (u32)
// and ids, learner count (u32) and ids, then the snapshot's data (the
// membership, small: the key space is in its own LevelDB).
import { crc32c } from '@node-rs/crc32';
import type { Entry, HardState, Snapshot } from '../raft/types.js';

export enum RecordType {
  Entry = 2,
  State = 3,
  Crc = 4,
  Snapshot = 5,
}

/** Frame (8) + crc (4) + type (1). */
export const RECORD_HEADER_BYTES = 13;
/** Largest record length a frame may claim (etcd's decoder refuses more than its entry size limit too). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % TWO_32, off);
  buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

/** Bytes one record with `dataBytes` of data takes in a segment, padding included. */
export function recordSize(dataBytes: number): number {
  return (RECORD_HEADER_BYTES + dataBytes + 7) & ~7;
}

export function entryDataBytes(e: Entry): number {
  return 17 + e.data.byteLength;
}

export const STATE_DATA_BYTES = 24;

export function snapshotDataBytes(s: Snapshot): number {
  return 16 + 4 + 8 * s.metadata.confState.voters.length + 4 + 8 * s.metadata.confState.learners.length + s.data.byteLength;
}

/**
 * Writes the frame of a record whose data (already in place at off + 13) is `dataBytes` long,
 * and its chained crc; zeroes the padding. Returns the new chain value.
 */
function seal(buf: Buffer, off: number, type: RecordType, dataBytes: number, prevCrc: number): number {
  const len = 5 + dataBytes;
  const pad = (8 - ((8 + len) % 8)) % 8;
  buf.writeUInt32LE(len % TWO_32, off);
  buf.writeUInt32LE(Math.floor(len / TWO_32) + (pad > 0 ? (0x80 | pad) * 0x1000000 : 0), off + 4);
  buf.writeUInt8(type, off + 12);
  const crc = type === RecordType.Crc ? prevCrc : crc32c(buf.subarray(off + 12, off + 13 + dataBytes), prevCrc);
  buf.writeUInt32LE(crc, off + 8);
  if (pad > 0) buf.fill(0, off + 8 + len, off + 8 + len + pad);
  return crc;
}

/** Appends records to one preallocated buffer (a batch written with one write), chaining the crc. */
export class RecordWriter {
  off = 0;
  constructor(
    readonly buf: Buffer,
    public crc: number,
  ) {}

  entry(e: Entry): void {
    const b = this.buf;
    const d = this.off + RECORD_HEADER_BYTES;
    writeU64(b, d, e.term);
    writeU64(b, d + 8, e.index);
    b.writeUInt8(e.type, d + 16);
    b.set(e.data, d + 17);
    this.finish(RecordType.Entry, entryDataBytes(e));
  }

  state(hs: HardState): void {
    const d = this.off + RECORD_HEADER_BYTES;
    writeU64(this.buf, d, hs.term);
    writeU64(this.buf, d + 8, hs.vote);
    writeU64(this.buf, d + 16, hs.commit);
    this.finish(RecordType.State, STATE_DATA_BYTES);
  }

  snapshot(s: Snapshot): void {
    const b = this.buf;
    let d = this.off + RECORD_HEADER_BYTES;
    writeU64(b, d, s.metadata.index);
    writeU64(b, d + 8, s.metadata.term);
    d += 16;
    for (const ids of [s.metadata.confState.voters, s.metadata.confState.learners]) {
      b.writeUInt32LE(ids.length, d);
      d += 4;
      for (const id of ids) {
        writeU64(b, d, id);
        d += 8;
      }
    }
    b.set(s.data, d);
    this.finish(RecordType.Snapshot, snapshotDataBytes(s));
  }

  /** The record that opens a segment: it carries the chain's value so far. */
  crcRecord(): void {
    this.finish(RecordType.Crc, 0);
  }

  private finish(type: RecordType, dataBytes: number): void {
    this.crc = seal(this.buf, this.off, type, dataBytes, this.crc);
    this.off += recordSize(dataBytes);
  }
}

export function decodeEntry(data: Buffer): Entry {
  if (data.length < 17) throw new Error(`entry record of ${data.length} bytes is shorter than its 17-byte header`);
  const type = data.readUInt8(16);
  if (type !== 0 && type !== 1) throw new Error(`entry type ${type} is unknown`);
  // A copy: the entry must not keep the whole segment's read buffer alive.
  return { term: readU64(data, 0), index: readU64(data, 8), type, data: Buffer.from(data.subarray(17)) };
}

export function decodeState(data: Buffer): HardState {
  if (data.length !== STATE_DATA_BYTES) throw new Error(`state record of ${data.length} bytes, expected ${STATE_DATA_BYTES}`);
  return { term: readU64(data, 0), vote: readU64(data, 8), commit: readU64(data, 16) };
}

export function decodeSnapshot(data: Buffer): Snapshot {
  let d = 16;
  const ids = (): number[] => {
    if (d + 4 > data.length) throw new Error('snapshot record ends inside its configuration');
    const n = data.readUInt32LE(d);
    d += 4;
    if (d + 8 * n > data.length) throw new Error('snapshot record ends inside its configuration');
    const out: number[] = [];
    for (let i = 0; i < n; i++, d += 8) out.push(readU64(data, d));
    return out;
  };
  if (data.length < 24) throw new Error(`snapshot record of ${data.length} bytes is too short`);
  const index = readU64(data, 0);
  const term = readU64(data, 8);
  const voters = ids();
  const learners = ids();
  return { metadata: { index, term, confState: { voters, learners } }, data: Buffer.from(data.subarray(d)) };
}

/** What the frame at `off` says, or why it cannot be read; `end` is where the record (padding included) ends. */
export type Frame =
  | { kind: 'zero' }
  | { kind: 'record'; type: number; crc: number; data: Buffer; bodyEnd: number; end: number }
  | { kind: 'bad'; reason: string; end: number | undefined };

/** Reads the frame at `off` of a segment (without checking its crc: the caller chains it). */
export function readFrame(buf: Buffer, off: number): Frame {
  if (buf.length - off < 8) {
    return isZero(buf, off, buf.length) ? { kind: 'zero' } : { kind: 'bad', reason: 'the file ends inside a record frame', end: undefined };
  }
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (lo === 0 && hi === 0) return { kind: 'zero' };
  const top = hi >>> 24;
  const pad = top & 0x80 ? top & 0x07 : 0;
  const len = lo + (hi & 0xffffff) * TWO_32;
  if (len > buf.length - off - 8 - pad) return { kind: 'bad', reason: `a record of ${len} bytes runs past the end of the file`, end: undefined };
  const end = off + 8 + len + pad;
  if (len > MAX_RECORD_BYTES) return { kind: 'bad', reason: `record length ${len} exceeds the limit of ${MAX_RECORD_BYTES}`, end };
  if (len < 5) return { kind: 'bad', reason: `record length ${len} is shorter than a record header`, end };
  if ((8 + len + pad) % 8 !== 0 || (top !== 0 && (top & 0xf8) !== 0x80)) return { kind: 'bad', reason: 'record frame with invalid padding', end };
  return { kind: 'record', type: buf.readUInt8(off + 12), crc: buf.readUInt32LE(off + 8), data: buf.subarray(off + 13, off + 8 + len), bodyEnd: off + 8 + len, end };
}

/** The crc a record's type and data (bytes off + 12 .. bodyEnd) chain to after `prevCrc`. */
export function chainCrc(buf: Buffer, off: number, bodyEnd: number, prevCrc: number): number {
  return crc32c(buf.subarray(off + 12, bodyEnd), prevCrc);
}

const ZEROS = Buffer.alloc(1 << 16);

/** Whether bytes from..to are all zero (a preallocated segment's unwritten space). */
export function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - i);
    if (!buf.subarray(i, i + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

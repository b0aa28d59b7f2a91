// Hand-written protobuf codec of the peer MessageBatch (proto/mkube/raft_peer.proto), the message
// every Raft append, heartbeat and response travels in: the bytes are the same as protobufjs
// writes for the objects toWire makes (every present field written, zeros included, in field
// order; an absent snapshot and empty repeated fields left out), and the decoder gives the same
// objects as the proto-loader deserializer (defaults filled in, uint64 as Number). Neither builds
// protobufjs message objects or Writer fork/ldelim chains: sizes are computed first and one
// buffer is written, with room for the 5-byte gRPC prefix in front (encodeFramed).
import type { MessageBatch, WireEntry, WireMessage, WireSnapshot } from './wire.js';

export class BatchDecodeError extends Error {
  readonly code = 'PEER_BATCH_DECODE';
}

// ---------------------------------------------------------------- sizes

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  let x = Math.floor(v / 0x10000000);
  while (x > 0) {
    n++;
    x = Math.floor(x / 0x80);
  }
  return n;
}

/** A length-delimited field's tag + length prefix + body. */
const delimited = (len: number): number => 1 + varintSize(len) + len;

function entrySize(e: WireEntry): number {
  return 1 + varintSize(e.term) + 1 + varintSize(e.index) + 1 + varintSize(e.type >>> 0) + delimited(e.data.length);
}

function packedSize(xs: number[]): number {
  let n = 0;
  for (const x of xs) n += varintSize(x);
  return n;
}

function confStateSize(c: { voters: number[]; learners: number[] }): number {
  let n = 0;
  if (c.voters.length > 0) n += delimited(packedSize(c.voters));
  if (c.learners.length > 0) n += delimited(packedSize(c.learners));
  return n;
}

function metadataSize(md: NonNullable<WireSnapshot['metadata']>): number {
  let n = 1 + varintSize(md.index) + 1 + varintSize(md.term);
  if (md.confState) n += delimited(confStateSize(md.confState));
  return n;
}

function snapshotSize(s: WireSnapshot): number {
  let n = 0;
  if (s.metadata) n += delimited(metadataSize(s.metadata));
  return n + delimited(s.data.length);
}

interface Sized {
  msg: number;
  entries: number[];
  snapshot: number;
}

function messageSize(m: WireMessage): Sized {
  let n = 1 + varintSize(m.type >>> 0) + 1 + varintSize(m.from) + 1 + varintSize(m.to) + 1 + varintSize(m.term) + 1 + varintSize(m.logTerm) + 1 + varintSize(m.index);
  const entries: number[] = [];
  for (const e of m.entries) {
    const s = entrySize(e);
    entries.push(s);
    n += delimited(s);
  }
  n += 1 + varintSize(m.commit);
  let snapshot = 0;
  if (m.snapshot) {
    snapshot = snapshotSize(m.snapshot);
    n += delimited(snapshot);
  }
  n += 1 + 1 + 1 + varintSize(m.rejectHint) + delimited(m.context.length);
  return { msg: n, entries, snapshot };
}

// ---------------------------------------------------------------- writing

class Out {
  constructor(
    readonly buf: Buffer,
    public pos: number,
  ) {}

  varint(v: number): void {
    const b = this.buf;
    if (v < 0x80000000) {
      while (v > 0x7f) {
        b[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[this.pos++] = v;
      return;
    }
    while (v >= 0x80) {
      b[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.buf[this.pos++] = (field << 3) | wire;
  }

  u(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }
}

function writeMessage(o: Out, m: WireMessage, sized: Sized): void {
  o.u(1, m.type >>> 0);
  o.u(2, m.from);
  o.u(3, m.to);
  o.u(4, m.term);
  o.u(5, m.logTerm);
  o.u(6, m.index);
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    o.tag(7, 2);
    o.varint(sized.entries[i]!);
    o.u(1, e.term);
    o.u(2, e.index);
    o.u(3, e.type >>> 0);
    o.bytes(4, e.data);
  }
  o.u(8, m.commit);
  if (m.snapshot) {
    const s = m.snapshot;
    o.tag(9, 2);
    o.varint(sized.snapshot);
    if (s.metadata) {
      const md = s.metadata;
      o.tag(1, 2);
      o.varint(metadataSize(md));
      o.u(1, md.index);
      o.u(2, md.term);
      if (md.confState) {
        const c = md.confState;
        o.tag(3, 2);
        o.varint(confStateSize(c));
        for (const [field, xs] of [[1, c.voters], [2, c.learners]] as const) {
          if (xs.length === 0) continue;
          o.tag(field, 2);
          o.varint(packedSize(xs));
          for (const x of xs) o.varint(x);
        }
      }
    }
    o.bytes(2, s.data);
  }
  o.u(10, m.reject ? 1 : 0);
  o.u(11, m.rejectHint);
  o.bytes(12, m.context);
}

/** The batch's protobuf bytes, after `prefix` bytes left for the caller (the gRPC frame header). */
export function encodeBatch(b: MessageBatch, prefix = 0): Buffer {
  const sized: Sized[] = [];
  for (const m of b.messages) sized.push(messageSize(m));
  let n = 1 + varintSize(b.clusterId) + 1 + varintSize(b.from);
  for (const s of sized) n += delimited(s.msg);
  const o = new Out(Buffer.allocUnsafe(prefix + n), prefix);
  o.u(1, b.clusterId);
  o.u(2, b.from);
  for (let i = 0; i < b.messages.length; i++) {
    o.tag(3, 2);
    o.varint(sized[i]!.msg);
    writeMessage(o, b.messages[i]!, sized[i]!);
  }
  if (o.pos !== prefix + n) throw new Error(`peer batch encoder: wrote ${o.pos - prefix} of ${n} bytes`);
  return o.buf;
}

// ---------------------------------------------------------------- reading

class In {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  more(): boolean {
    return this.pos < this.end;
  }

  /** A varint as a Number (uint64 above 2^53 as protobufjs' Long.toNumber gives it). */
  varint(): number {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new BatchDecodeError('truncated varint');
      if (shift >= 70) throw new BatchDecodeError('varint too long');
      const byte = this.buf[this.pos++]!;
      const bits = byte & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else if (shift < 64) hi |= bits << (shift - 32);
      if (byte < 0x80) break;
    }
    return (hi >>> 0) * 4294967296 + (lo >>> 0);
  }

  /** The bounds of a length-delimited field's body. */
  sub(): In {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new BatchDecodeError('length-delimited field runs past its message');
    const r = new In(this.buf, this.pos, end);
    this.pos = end;
    return r;
  }

  bytes(): Buffer {
    const s = this.sub();
    return this.buf.subarray(s.pos, s.end);
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.sub();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new BatchDecodeError(`invalid wire type ${wire}`);
    }
    if (this.pos > this.end) throw new BatchDecodeError('truncated field');
  }
}

function readPacked(r: In, wire: number, into: number[]): void {
  if (wire === 2) {
    const s = r.sub();
    while (s.more()) into.push(s.varint());
  } else if (wire === 0) into.push(r.varint());
  else r.skip(wire);
}

function readEntry(r: In): WireEntry {
  const e: WireEntry = { term: 0, index: 0, type: 0, data: Buffer.alloc(0) };
  while (r.more()) {
    const key = r.varint();
    const wire = key & 7;
    const field = key >>> 3;
    if (field === 1 && wire === 0) e.term = r.varint();
    else if (field === 2 && wire === 0) e.index = r.varint();
    else if (field === 3 && wire === 0) e.type = r.varint() % 4294967296;
    else if (field === 4 && wire === 2) e.data = r.bytes();
    else r.skip(wire);
  }
  return e;
}

function readSnapshot(r: In): WireSnapshot {
  const s: WireSnapshot = { metadata: null, data: Buffer.alloc(0) };
  while (r.more()) {
    const key = r.varint();
    const wire = key & 7;
    if (key >>> 3 === 1 && wire === 2) {
      const m = r.sub();
      const md: NonNullable<WireSnapshot['metadata']> = { index: 0, term: 0, confState: null };
      while (m.more()) {
        const k = m.varint();
        const w = k & 7;
        if (k >>> 3 === 1 && w === 0) md.index = m.varint();
        else if (k >>> 3 === 2 && w === 0) md.term = m.varint();
        else if (k >>> 3 === 3 && w === 2) {
          const c = m.sub();
          const cs = { voters: [] as number[], learners: [] as number[] };
          while (c.more()) {
            const ck = c.varint();
            if (ck >>> 3 === 1) readPacked(c, ck & 7, cs.voters);
            else if (ck >>> 3 === 2) readPacked(c, ck & 7, cs.learners);
            else c.skip(ck & 7);
          }
          md.confState = cs;
        } else m.skip(w);
      }
      s.metadata = md;
    } else if (key >>> 3 === 2 && wire === 2) s.data = r.bytes();
    else r.skip(wire);
  }
  return s;
}

function readMessage(r: In): WireMessage {
  const m: WireMessage = { type: 0, from: 0, to: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, snapshot: null, reject: false, rejectHint: 0, context: Buffer.alloc(0) };
  while (r.more()) {
    const key = r.varint();
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) {
      switch (field) {
        case 1: m.type = r.varint() % 4294967296; continue;
        case 2: m.from = r.varint(); continue;
        case 3: m.to = r.varint(); continue;
        case 4: m.term = r.varint(); continue;
        case 5: m.logTerm = r.varint(); continue;
        case 6: m.index = r.varint(); continue;
        case 8: m.commit = r.varint(); continue;
        case 10: m.reject = r.varint() !== 0; continue;
        case 11: m.rejectHint = r.varint(); continue;
      }
    } else if (wire === 2) {
      switch (field) {
        case 7: m.entries.push(readEntry(r.sub())); continue;
        case 9: m.snapshot = readSnapshot(r.sub()); continue;
        case 12: m.context = r.bytes(); continue;
      }
    }
    r.skip(wire);
  }
  return m;
}

/** Decodes a MessageBatch; throws BatchDecodeError on bytes that are not one. */
export function decodeBatch(buf: Buffer): MessageBatch {
  const r = new In(buf, 0, buf.length);
  const b: MessageBatch = { clusterId: 0, from: 0, messages: [] };
  while (r.more()) {
    const key = r.varint();
    const wire = key & 7;
    const field = key >>> 3;
    if (field === 1 && wire === 0) b.clusterId = r.varint();
    else if (field === 2 && wire === 0) b.from = r.varint();
    else if (field === 3 && wire === 2) b.messages.push(readMessage(r.sub()));
    else if (field === 0) throw new BatchDecodeError('field number 0');
    else r.skip(wire);
  }
  return b;
}

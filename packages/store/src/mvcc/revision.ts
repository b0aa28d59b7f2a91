// A revision is (main, sub): `main` is the store revision of a write (one per
// Raft entry that changes something), `sub` orders the changes inside it (a txn
// with three puts has sub revisions 0, 1, 2). Encoded as 16 big-endian bytes so
// LevelDB's byte order is revision order.

export const REVISION_BYTES = 16;

export interface Revision {
  main: number;
  sub: number;
}

export function encodeRevision(main: number, sub: number): Buffer {
  const buf = Buffer.allocUnsafe(REVISION_BYTES);
  writeRevision(buf, 0, main, sub);
  return buf;
}

export function writeRevision(buf: Buffer, offset: number, main: number, sub: number): void {
  writeUint64(buf, offset, main);
  writeUint64(buf, offset + 8, sub);
}

export function decodeRevision(buf: Buffer, offset = 0): Revision {
  return { main: readUint64(buf, offset), sub: readUint64(buf, offset + 8) };
}

export function compareRevision(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main < b.main ? -1 : 1;
  if (a.sub !== b.sub) return a.sub < b.sub ? -1 : 1;
  return 0;
}

export function formatRevision(rev: Revision): string {
  return `${rev.main}_${rev.sub}`;
}

/** Writes a non-negative integer below 2^53 as 8 big-endian bytes. */
export function writeUint64(buf: Buffer, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a uint53: ${value}`);
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset);
  buf.writeUInt32BE(value % 0x1_0000_0000, offset + 4);
}

export function readUint64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  const lo = buf.readUInt32BE(offset + 4);
  if (hi > 0x1f_ffff) throw new RangeError('uint64 above 2^53');
  return hi * 0x1_0000_0000 + lo;
}

// Binary encodings of what the MVCC key space stores in LevelDB. Every stored
// value is "sealed": a format byte, a CRC32 over (context || payload) and the
// payload. The context is the part of the LevelDB key that identifies the
// record (its revision, lease id, ...) so a value moved under a wrong key is
// detected as well as flipped bits.

import type { KeyValueFields } from '../api/kv.js';
import { crc32 } from '../codec/crc32.js';
import { readUint64, writeUint64 } from './revision.js';

const FORMAT = 1;
const SEAL_HEADER = 5;

export { crc32 };

export class DataCorruptError extends Error {
  readonly code = 'DATA_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'DataCorruptError';
  }
}

export function seal(context: Buffer, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SEAL_HEADER + payload.length);
  out[0] = FORMAT;
  out.writeUInt32BE(crc32(payload, crc32(context)), 1);
  payload.copy(out, SEAL_HEADER);
  return out;
}

/** Returns the payload, or undefined when the format byte or checksum is wrong. */
export function unseal(context: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < SEAL_HEADER || sealed[0] !== FORMAT) return undefined;
  const payload = sealed.subarray(SEAL_HEADER);
  if (sealed.readUInt32BE(1) !== crc32(payload, crc32(context))) return undefined;
  return payload;
}

// ---- KeyValue records --------------------------------------------------------

export interface StoredRecord {
  /** A tombstone marks the deletion of `kv.key` at this revision; the other kv fields are 0/empty. */
  tombstone: boolean;
  kv: KeyValueFields;
}

const KV_FIXED = 1 + 8 + 8 + 8 + 4;

/** Payload: flags u8, createRevision u64, version u64, lease u64, keyLength u32, key, value. modRevision is the record's main revision. */
export function encodeRecord(revisionBytes: Buffer, rec: StoredRecord): Buffer {
  const { kv } = rec;
  const payload = Buffer.allocUnsafe(KV_FIXED + kv.key.length + kv.value.length);
  payload[0] = rec.tombstone ? 1 : 0;
  writeUint64(payload, 1, kv.createRevision);
  writeUint64(payload, 9, kv.version);
  writeUint64(payload, 17, kv.lease);
  payload.writeUInt32BE(kv.key.length, 25);
  kv.key.copy(payload, KV_FIXED);
  kv.value.copy(payload, KV_FIXED + kv.key.length);
  return seal(revisionBytes, payload);
}

function parseRecord(payload: Buffer, modRevision: number): StoredRecord | undefined {
  if (payload.length < KV_FIXED || payload[0]! > 1) return undefined;
  const keyLength = payload.readUInt32BE(25);
  if (KV_FIXED + keyLength > payload.length) return undefined;
  const tombstone = payload[0] === 1;
  return {
    tombstone,
    kv: {
      key: Buffer.from(payload.subarray(KV_FIXED, KV_FIXED + keyLength)),
      value: Buffer.from(payload.subarray(KV_FIXED + keyLength)),
      createRevision: readUint64(payload, 1),
      modRevision,
      version: readUint64(payload, 9),
      lease: readUint64(payload, 17),
    },
  };
}

/** Decodes and verifies a record; throws DataCorruptError naming the key (when readable) and revision. */
export function decodeRecord(revisionBytes: Buffer, sealed: Buffer, modRevision: number, revisionText: string): StoredRecord {
  const payload = unseal(revisionBytes, sealed);
  const rec = payload && safeParse(payload, modRevision);
  if (rec) return rec;
  let keyText = '(unreadable)';
  const guess = sealed.length > SEAL_HEADER ? safeParse(sealed.subarray(SEAL_HEADER), modRevision) : undefined;
  if (guess) keyText = JSON.stringify(guess.kv.key.toString('latin1'));
  throw new DataCorruptError(`mvcc: corrupt record for key ${keyText} at revision ${revisionText}: checksum mismatch`);
}

function safeParse(payload: Buffer, modRevision: number): StoredRecord | undefined {
  try {
    return parseRecord(payload, modRevision);
  } catch {
    return undefined;
  }
}

// ---- leases and metadata -----------------------------------------------------

export interface LeaseRecord {
  id: number;
  ttl: number;
}

export function encodeLease(context: Buffer, l: LeaseRecord): Buffer {
  const payload = Buffer.allocUnsafe(16);
  writeUint64(payload, 0, l.id);
  writeUint64(payload, 8, l.ttl);
  return seal(context, payload);
}

export function decodeLease(context: Buffer, sealed: Buffer): LeaseRecord {
  const payload = unseal(context, sealed);
  if (!payload || payload.length !== 16) throw new DataCorruptError(`mvcc: corrupt lease record ${context.toString('hex')}: checksum mismatch`);
  return { id: readUint64(payload, 0), ttl: readUint64(payload, 8) };
}

/** A fixed-size record of uint53 fields (meta, finished compaction). */
export function encodeNumbers(context: Buffer, values: number[]): Buffer {
  const payload = Buffer.allocUnsafe(values.length * 8);
  values.forEach((v, i) => writeUint64(payload, i * 8, v));
  return seal(context, payload);
}

export function decodeNumbers(context: Buffer, sealed: Buffer, count: number, what: string): number[] {
  const payload = unseal(context, sealed);
  if (!payload || payload.length !== count * 8) throw new DataCorruptError(`mvcc: corrupt ${what} record: checksum mismatch`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(readUint64(payload, i * 8));
  return out;
}

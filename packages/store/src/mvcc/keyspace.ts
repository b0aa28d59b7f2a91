// LevelDB key layout of one MVCC key space under a caller-chosen prefix P:
//   P 0x00                    active generation (1 byte); absent = 0
//   P 0x01 g 'r' main sub     KeyValue record of revision (main, sub)   (16 bytes, big endian)
//   P 0x01 g 'l' id           lease record
//   P 0x01 g 'm'              meta: consistent index, current revision, scheduled compaction
//   P 0x01 g 'c'              finished compaction revision
// Two generations let a snapshot restore write a complete copy next to the
// live one and switch over with one write.

import { encodeRevision, REVISION_BYTES, writeUint64 } from './revision.js';

export const META_CONTEXT = Buffer.from('m');
export const COMPACT_CONTEXT = Buffer.from('c');

export class Keyspace {
  readonly markerKey: Buffer;
  readonly base: Buffer;
  readonly recordPrefix: Buffer;
  readonly recordEnd: Buffer;
  readonly leasePrefix: Buffer;
  readonly leaseEnd: Buffer;
  readonly metaKey: Buffer;
  readonly compactKey: Buffer;
  readonly generationStart: Buffer;
  readonly generationEnd: Buffer;

  constructor(
    readonly prefix: Buffer,
    readonly generation: number,
  ) {
    this.markerKey = Buffer.concat([prefix, Buffer.from([0])]);
    this.base = Buffer.concat([prefix, Buffer.from([1, generation])]);
    this.generationStart = this.base;
    this.generationEnd = Buffer.concat([prefix, Buffer.from([1, generation + 1])]);
    this.recordPrefix = Buffer.concat([this.base, Buffer.from('r')]);
    this.recordEnd = Buffer.concat([this.base, Buffer.from('s')]);
    this.leasePrefix = Buffer.concat([this.base, Buffer.from('l')]);
    this.leaseEnd = Buffer.concat([this.base, Buffer.from('m')]);
    this.metaKey = Buffer.concat([this.base, META_CONTEXT]);
    this.compactKey = Buffer.concat([this.base, COMPACT_CONTEXT]);
  }

  recordKey(main: number, sub: number): Buffer {
    return Buffer.concat([this.recordPrefix, encodeRevision(main, sub)]);
  }

  recordKeyFromRevisionBytes(rev: Buffer): Buffer {
    return Buffer.concat([this.recordPrefix, rev]);
  }

  /** The revision bytes of a record key. */
  revisionBytesOf(recordKey: Buffer): Buffer {
    return recordKey.subarray(this.recordPrefix.length, this.recordPrefix.length + REVISION_BYTES);
  }

  leaseKey(id: number): Buffer {
    const k = Buffer.alloc(this.leasePrefix.length + 8);
    this.leasePrefix.copy(k);
    writeUint64(k, this.leasePrefix.length, id);
    return k;
  }

  leaseIdBytesOf(leaseKey: Buffer): Buffer {
    return leaseKey.subarray(this.leasePrefix.length);
  }

  get recordKeyLength(): number {
    return this.recordPrefix.length + REVISION_BYTES;
  }
}

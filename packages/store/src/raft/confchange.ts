// Binary encoding of a ConfChange as the data of a ConfChange entry:
//   byte 0      format version (1)
//   byte 1      ConfChangeType
//   bytes 2..9  nodeId, unsigned 64-bit big-endian
//   bytes 10..  context (opaque)

import { type ConfChange, ConfChangeType } from './types.js';

const VERSION = 1;
const HEADER = 10;

export class ConfChangeDecodeError extends Error {
  readonly code = 'RAFT_CONFCHANGE_DECODE';
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId < 0) {
    throw new ConfChangeDecodeError(`raft: invalid conf change node id ${cc.nodeId}`);
  }
  const out = new Uint8Array(HEADER + cc.context.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = cc.type;
  dv.setBigUint64(2, BigInt(cc.nodeId));
  out.set(cc.context, HEADER);
  return out;
}

export function decodeConfChange(b: Uint8Array): ConfChange {
  if (b.byteLength < HEADER) throw new ConfChangeDecodeError(`raft: conf change too short (${b.byteLength} bytes)`);
  if (b[0] !== VERSION) throw new ConfChangeDecodeError(`raft: unknown conf change format version ${b[0]}`);
  const type = b[1]!;
  if (!(type in ConfChangeType)) throw new ConfChangeDecodeError(`raft: unknown conf change type ${type}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const id = dv.getBigUint64(2);
  if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfChangeDecodeError(`raft: conf change node id ${id} too large`);
  return { type: type as ConfChangeType, nodeId: Number(id), context: b.slice(HEADER) };
}

// The frames a store connection exchanges with a member when there is no
// HTTP/2 between them: in the same thread (InProcessConnection) or across a
// worker thread's MessagePort (the API server's embedded store). Messages are
// carried as their protobuf bytes, serialized and parsed by the same codecs
// grpc-js would use, so both ends see exactly what they would over a socket.
import type * as grpc from '@grpc/grpc-js';

/** Client → member. `id` names one call (unary or stream) of the connection. */
export type ClientFrame =
  | { k: 'unary'; id: number; service: string; method: string; bytes: Uint8Array; metadata?: Record<string, string>; deadline?: number }
  | { k: 'open'; id: number; service: string; method: string; metadata?: Record<string, string> }
  | { k: 'write'; id: number; bytes: Uint8Array }
  /** The client half-closed its stream. */
  | { k: 'end'; id: number }
  | { k: 'cancel'; id: number }
  /** The connection is gone: cancel every call. */
  | { k: 'close' };

/** Member → client. */
export type ServerFrame =
  | { k: 'result'; id: number; bytes: Uint8Array }
  | { k: 'error'; id: number; code: grpc.status; details: string }
  | { k: 'data'; id: number; bytes: Uint8Array }
  /** The stream finished (OK or an error). */
  | { k: 'status'; id: number; code: grpc.status; details: string };

/** A fresh Buffer view of frame bytes (a Uint8Array after a structured clone). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The bytes of a serialized message as an ArrayBuffer of their own, so a
 * postMessage can transfer them instead of cloning a whole pooled buffer.
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer)) return bytes;
  return new Uint8Array(bytes);
}

/**
 * How objects are stored: Kubernetes-style protobuf (the "k8s\0" envelope
 * around runtime.Unknown) — the same bytes kube-apiserver writes, so the
 * value stays compact, fields the schema lacks are pruned, and the contract
 * is the shared proto schema rather than whatever JSON a client sent.
 * resourceVersion is never stored; it is the key's mod_revision.
 */
import { decodeObject, encodeObject, type JsonObject } from '@mkube/api';

export function encodeStored(obj: JsonObject): Buffer {
  const meta = { ...((obj.metadata ?? {}) as JsonObject) };
  delete meta.resourceVersion;
  delete meta.selfLink;
  const { bytes } = encodeObject({ ...obj, metadata: meta });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeStored(value: Uint8Array, modRevision: number): JsonObject {
  const obj = decodeObject(value);
  const meta = (obj.metadata ?? {}) as JsonObject;
  obj.metadata = { ...meta, resourceVersion: String(modRevision) };
  return obj;
}

/**
 * The Kubernetes protobuf envelope (application/vnd.kubernetes.protobuf):
 * the 4-byte magic "k8s\0" followed by a runtime.Unknown message holding
 * typeMeta {apiVersion, kind}, the object's protobuf bytes in raw, and the
 * (empty) contentEncoding and contentType.
 */
import { decodeMessage, encodeMessage, fromJson, toJson, type JsonObject, type ProtoMessage } from './json_codec.js';
import { protoTypeForKind } from './registry.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
export const PROTOBUF_MAGIC: Uint8Array = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);
const UNKNOWN_TYPE = 'k8s.io.apimachinery.pkg.runtime.Unknown';

export class EnvelopeError extends Error {
  constructor(readonly code: 'ENVELOPE_MAGIC' | 'ENVELOPE_INVALID', message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

export interface Envelope {
  readonly apiVersion: string;
  readonly kind: string;
  readonly raw: Uint8Array;
  readonly contentEncoding: string;
  readonly contentType: string;
}

export function hasProtobufMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && PROTOBUF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Wraps raw object bytes in the envelope. */
export function encodeEnvelope(envelope: Pick<Envelope, 'apiVersion' | 'kind' | 'raw'> & Partial<Envelope>): Uint8Array {
  // Kubernetes always writes contentEncoding and contentType, empty or not.
  const body = encodeMessage(UNKNOWN_TYPE, {
    typeMeta: { apiVersion: envelope.apiVersion, kind: envelope.kind },
    raw: envelope.raw,
    contentEncoding: envelope.contentEncoding ?? '',
    contentType: envelope.contentType ?? '',
  });
  const out = new Uint8Array(PROTOBUF_MAGIC.length + body.length);
  out.set(PROTOBUF_MAGIC, 0);
  out.set(body, PROTOBUF_MAGIC.length);
  return out;
}

/** Unwraps the envelope; throws EnvelopeError when the magic is missing. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!hasProtobufMagic(bytes)) {
    throw new EnvelopeError('ENVELOPE_MAGIC', 'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
  }
  let unknown: ProtoMessage;
  try {
    unknown = decodeMessage(UNKNOWN_TYPE, bytes.subarray(PROTOBUF_MAGIC.length));
  } catch (err) {
    throw new EnvelopeError('ENVELOPE_INVALID', (err as Error).message);
  }
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  return {
    apiVersion: typeMeta.apiVersion ?? '',
    kind: typeMeta.kind ?? '',
    raw: (unknown.raw as Uint8Array | undefined) ?? new Uint8Array(0),
    contentEncoding: (unknown.contentEncoding as string | undefined) ?? '',
    contentType: (unknown.contentType as string | undefined) ?? '',
  };
}

/** Encodes a message object of a registered kind as an enveloped protobuf body. */
export function encodeObjectMessage(apiVersion: string, kind: string, message: ProtoMessage): Uint8Array {
  return encodeEnvelope({ apiVersion, kind, raw: encodeMessage(protoTypeForKind(apiVersion, kind), message) });
}

/** Decodes an enveloped protobuf body into its type and message object. */
export function decodeObjectMessage(bytes: Uint8Array): { apiVersion: string; kind: string; message: ProtoMessage } {
  const env = decodeEnvelope(bytes);
  return { apiVersion: env.apiVersion, kind: env.kind, message: decodeMessage(protoTypeForKind(env.apiVersion, env.kind), env.raw) };
}

/** Kubernetes JSON (with apiVersion and kind) → enveloped protobuf body. */
export function encodeObject(json: JsonObject): { bytes: Uint8Array; unknownFields: string[] } {
  const apiVersion = typeof json.apiVersion === 'string' ? json.apiVersion : '';
  const kind = typeof json.kind === 'string' ? json.kind : '';
  const { message, unknownFields } = fromJson(protoTypeForKind(apiVersion, kind), json, { typeMeta: true });
  return { bytes: encodeObjectMessage(apiVersion, kind, message), unknownFields };
}

/** Enveloped protobuf body → Kubernetes JSON with apiVersion and kind. */
export function decodeObject(bytes: Uint8Array): JsonObject {
  const { apiVersion, kind, message } = decodeObjectMessage(bytes);
  return toJson(protoTypeForKind(apiVersion, kind), message, { apiVersion, kind });
}

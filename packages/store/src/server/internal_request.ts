// Encoding of the requests mkube-store replicates through Raft (proto/mkube/store_internal.proto).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import type { CompactionRequest__Output } from '../gen/etcdserverpb/CompactionRequest.js';
import type { DeleteRangeRequest__Output } from '../gen/etcdserverpb/DeleteRangeRequest.js';
import type { LeaseRevokeRequest__Output } from '../gen/etcdserverpb/LeaseRevokeRequest.js';
import type { PutRequest__Output } from '../gen/etcdserverpb/PutRequest.js';
import type { TxnRequest__Output } from '../gen/etcdserverpb/TxnRequest.js';
import { ETCD_PROTO_LOADER_OPTIONS, etcdProtoDir } from '../api/etcd_proto.js';
import { protoRoot } from './proto_root.js';

export type InternalRequestBody =
  | { put: PutRequest__Output }
  | { deleteRange: DeleteRangeRequest__Output }
  | { txn: TxnRequest__Output }
  | { compaction: CompactionRequest__Output }
  | { leaseGrant: { id: number; ttl: number } }
  | { leaseRevoke: LeaseRevokeRequest__Output }
  | { memberAttributes: { id: number; name: string; clientUrls: string[] } }
  | { alarm: import('../gen/etcdserverpb/AlarmRequest.js').AlarmRequest__Output };

export type InternalRequest = { origin: number; seq: number } & InternalRequestBody;

interface Codec {
  serialize(v: object): Buffer;
  deserialize(b: Buffer): Record<string, unknown>;
}

let codec: Codec | undefined;

function load(): Codec {
  if (codec) return codec;
  const def = protoLoader.loadSync('store_internal.proto', {
    ...ETCD_PROTO_LOADER_OPTIONS,
    includeDirs: [join(protoRoot(), 'mkube'), etcdProtoDir()],
  });
  const svc = (grpc.loadPackageDefinition(def) as unknown as {
    mkube: { store: { internal: { v1: { Apply: grpc.ServiceClientConstructor } } } };
  }).mkube.store.internal.v1.Apply.service;
  const m = svc['Apply']!;
  codec = { serialize: (v) => m.requestSerialize(v), deserialize: (b) => m.requestDeserialize(b) as Record<string, unknown> };
  return codec;
}

export function encodeInternalRequest(r: InternalRequest): Buffer {
  return load().serialize(r);
}

export class MalformedEntryError extends Error {
  readonly code = 'MALFORMED_ENTRY';
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  let obj: Record<string, unknown>;
  try {
    obj = load().deserialize(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (err) {
    throw new MalformedEntryError(`cannot decode replicated request: ${(err as Error).message}`);
  }
  const which = obj['request'] as string | undefined;
  if (!which) throw new MalformedEntryError('replicated request has no body');
  return { origin: obj['origin'] as number, seq: obj['seq'] as number, [which]: obj[which] } as InternalRequest;
}

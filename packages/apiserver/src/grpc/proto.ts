/**
 * The gRPC API's own messages (proto/mkube/apiserver/v1/resources.proto) and
 * the reflection messages, loaded with protobufjs; the file descriptors for
 * server reflection come from proto-loader.
 */
import { join } from 'node:path';
import { findProtoRoot } from '@mkube/api';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const RESOURCES_PROTO = 'mkube/apiserver/v1/resources.proto';
export const REFLECTION_PROTO = 'mkube/apiserver/reflection.proto';
export const RESOURCES_SERVICE = 'mkube.api.v1.Resources';
export const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'] as const;

export class GrpcProtoError extends Error {
  constructor(readonly code: 'GRPC_PROTO_MALFORMED', message: string) {
    super(message);
    this.name = 'GrpcProtoError';
  }
}

let root: protobuf.Root | undefined;

/** The protobufjs root with the Resources and reflection messages (field names as in the .proto). */
export function grpcSchema(): protobuf.Root {
  if (root) return root;
  const protoRoot = findProtoRoot();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => join(protoRoot, target);
  r.loadSync([RESOURCES_PROTO, REFLECTION_PROTO], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

const typeCache = new Map<string, protobuf.Type>();

export function grpcType(name: string): protobuf.Type {
  let t = typeCache.get(name);
  if (!t) {
    t = grpcSchema().lookupType(name);
    typeCache.set(name, t);
  }
  return t;
}

/** A plain object of one of this API's messages (int64 as number, bytes as Buffer/Uint8Array). */
export type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a decoded message of any kind (protobufjs toObject); readers check the fields they use

export function encodeGrpc(name: string, msg: Msg): Buffer {
  const t = grpcType(name);
  const bytes = t.encode(t.fromObject(msg)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeGrpc(name: string, bytes: Uint8Array): Msg {
  const t = grpcType(name);
  try {
    return t.toObject(t.decode(bytes), { longs: Number, defaults: true, enums: String }) as Msg;
  } catch (err) {
    throw new GrpcProtoError('GRPC_PROTO_MALFORMED', `${name}: ${(err as Error).message}`);
  }
}

/** The service methods as protobufjs reflection objects. */
export function serviceMethods(service: string): protobuf.Method[] {
  const s = grpcSchema().lookupService(service);
  return s.methodsArray;
}

let descriptors: Map<string, Buffer> | undefined;
const FILE_OF_PACKAGE: Record<string, string> = { 'mkube.api.v1': RESOURCES_PROTO, 'grpc.reflection.v1alpha': REFLECTION_PROTO };

/** The FileDescriptorProto with its name (field 1) replaced; the other fields are copied as they are. */
function renameDescriptor(fd: Uint8Array, name: string): Buffer {
  const r = protobuf.Reader.create(fd);
  const parts: Uint8Array[] = [protobuf.Writer.create().uint32((1 << 3) | 2).string(name).finish()];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    r.skipType(tag & 7);
    if (tag >>> 3 !== 1) parts.push(fd.subarray(start, r.pos));
  }
  return Buffer.concat(parts);
}

/**
 * FileDescriptorProto encodings by file name (resources.proto and
 * reflection.proto; neither imports anything) for server reflection.
 * proto-loader names its descriptors after the package; they are renamed
 * to their paths under proto/.
 */
export function fileDescriptors(): Map<string, Buffer> {
  if (descriptors) return descriptors;
  const def = protoLoader.loadSync([RESOURCES_PROTO, REFLECTION_PROTO], { includeDirs: [findProtoRoot()], keepCase: true });
  const out = new Map<string, Buffer>();
  const fdType = protobuf.Root.fromJSON({
    nested: { d: { nested: { F: { fields: { name: { type: 'string', id: 1 }, package: { type: 'string', id: 2 } } } } } },
  }).lookupType('d.F');
  for (const entry of Object.values(def)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos
      ?? Object.values(entry as Record<string, { requestType?: { fileDescriptorProtos?: Buffer[] } }>).flatMap((m) => m?.requestType?.fileDescriptorProtos ?? []);
    for (const fd of protos) {
      const head = fdType.decode(fd) as unknown as { name: string; package: string };
      const name = FILE_OF_PACKAGE[head.package] ?? head.name;
      if (!out.has(name)) out.set(name, name === head.name ? fd : renameDescriptor(fd, name));
    }
  }
  descriptors = out;
  return out;
}

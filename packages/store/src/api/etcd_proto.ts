// Loads the etcd v3 protos (proto/etcd at the repository root) at runtime with
// the same conversion options the generated types in ../gen were produced with:
// camelCase field names, int64 as number, enums as strings, bytes as Buffer,
// defaults filled in and virtual oneof fields.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../gen/rpc.js';

export type { ProtoGrpcType } from '../gen/rpc.js';

export const ETCD_PROTO_FILES = ['etcdserverpb/rpc.proto', 'mvccpb/kv.proto'] as const;

export const ETCD_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/**
 * Finds proto/etcd by walking up from this module (works from src/ under tsx and
 * from dist/src/ after a build). MKUBE_ETCD_PROTO_DIR overrides the search.
 */
export function etcdProtoDir(): string {
  const override = process.env.MKUBE_ETCD_PROTO_DIR;
  if (override) return resolve(override);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto', 'etcd');
    if (existsSync(join(candidate, 'etcdserverpb', 'rpc.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`etcd protos not found above ${fileURLToPath(import.meta.url)} (set MKUBE_ETCD_PROTO_DIR)`);
    }
    dir = parent;
  }
}

let cached: ProtoGrpcType | undefined;

/** The typed gRPC package definition of etcdserverpb and mvccpb (loaded once). */
export function loadEtcdProto(): ProtoGrpcType {
  if (cached) return cached;
  const includeDir = etcdProtoDir();
  const definition = protoLoader.loadSync([...ETCD_PROTO_FILES], {
    ...ETCD_PROTO_LOADER_OPTIONS,
    includeDirs: [includeDir],
  });
  cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  return cached;
}

/** Shorthand: the etcdserverpb namespace (service constructors with `.service`, message types). */
export function etcdserverpb(): ProtoGrpcType['etcdserverpb'] {
  return loadEtcdProto().etcdserverpb;
}

/**
 * Loads mkube's Kubernetes-compatible proto schema (proto/k8s.io/**) with
 * protobufjs at runtime and hands out reflection types by full name.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const PROTO_FILES = [
  'k8s.io/apimachinery/pkg/runtime/generated.proto',
  'k8s.io/apimachinery/pkg/api/resource/generated.proto',
  'k8s.io/apimachinery/pkg/util/intstr/generated.proto',
  'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto',
  'k8s.io/api/core/v1/generated.proto',
  'k8s.io/api/apps/v1/generated.proto',
  'k8s.io/api/batch/v1/generated.proto',
  'k8s.io/api/networking/v1/generated.proto',
  'k8s.io/api/discovery/v1/generated.proto',
  'k8s.io/api/coordination/v1/generated.proto',
  'k8s.io/api/rbac/v1/generated.proto',
  // v2 before v1: the preferred version's HorizontalPodAutoscaler types keep the plain TypeScript names.
  'k8s.io/api/autoscaling/v2/generated.proto',
  'k8s.io/api/autoscaling/v1/generated.proto',
  'k8s.io/api/scheduling/v1/generated.proto',
  'k8s.io/api/storage/v1/generated.proto',
  'k8s.io/api/authentication/v1/generated.proto',
  'k8s.io/api/authentication/v1beta1/generated.proto',
  'k8s.io/api/authorization/v1/generated.proto',
  'k8s.io/api/apiregistration/v1/generated.proto',
  'k8s.io/api/policy/v1/generated.proto',
  'k8s.io/api/certificates/v1/generated.proto',
] as const;

export class SchemaError extends Error {
  constructor(readonly code: 'SCHEMA_NOT_FOUND' | 'SCHEMA_UNKNOWN_TYPE', message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

/** Finds the repository's proto/ directory by walking up from this module. */
export function findProtoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new SchemaError('SCHEMA_NOT_FOUND', `no proto/k8s.io directory above ${start}`);
    dir = parent;
  }
}

/** Loads every schema file into a fresh, fully resolved protobufjs Root. */
export function loadSchema(protoRoot: string = findProtoRoot()): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync([...PROTO_FILES], { keepCase: true });
  root.resolveAll();
  return root;
}

let shared: protobuf.Root | undefined;

/** The process-wide schema root (loaded once). */
export function schema(): protobuf.Root {
  shared ??= loadSchema();
  return shared;
}

/** Looks up a message type by full name, with or without the leading dot. */
const typeCache = new Map<string, protobuf.Type>();

export function messageType(fullName: string): protobuf.Type {
  const cached = typeCache.get(fullName);
  if (cached && shared) return cached;
  const name = fullName.startsWith('.') ? fullName.slice(1) : fullName;
  const found = schema().lookup(name);
  if (found instanceof protobuf.Type) typeCache.set(fullName, found);
  if (!(found instanceof protobuf.Type)) {
    throw new SchemaError('SCHEMA_UNKNOWN_TYPE', `no message type ${name} in the mkube schema`);
  }
  return found;
}

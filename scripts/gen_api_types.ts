/**
 * Generates packages/api/src/types/generated.ts: a TypeScript interface for
 * every message of mkube's proto schema (proto/k8s.io/**\/generated.proto),
 * shaped as the Kubernetes JSON the codec (json_codec.ts) reads and writes:
 * JSON names, Go embedded structs spread (interface `extends`), the special
 * types by their JSON form, int64 as number. A field is required exactly
 * where upstream's OpenAPI `required` lists say so (required_scalars.ts,
 * required_fields.ts); every other field is optional. The proto comments
 * (upstream's field documentation) become the fields' JSDoc.
 *
 * Usage: npm run gen:types   (node --import tsx scripts/gen_api_types.ts);
 * --stdout prints the module instead of writing it, which
 * packages/api/test/generated_types.test.ts compares with the committed file.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { findProtoRoot, PROTO_FILES } from '../packages/api/src/schema.js';
import {
  DURATION_TYPE,
  FIELDS_V1_TYPE,
  INLINE_FIELDS,
  INT_OR_STRING_TYPE,
  JSON_NAMES,
  MICRO_TIME_TYPE,
  QUANTITY_TYPE,
  RAW_EXTENSION_TYPE,
  TIME_TYPE,
} from '../packages/api/src/json_codec.js';
import { REQUIRED_SCALARS } from '../packages/api/src/required_scalars.js';
import { REQUIRED_NON_SCALARS } from '../packages/api/src/required_fields.js';
import { AUXILIARY_KINDS } from '../packages/api/src/registry.js';

export const GENERATED_TYPES_PATH = 'packages/api/src/types/generated.ts';

/** The special types: their JSON form as a TypeScript type, and a line of documentation. */
const SPECIAL: ReadonlyMap<string, { ts: string; doc: string }> = new Map([
  [TIME_TYPE, { ts: 'string', doc: 'RFC 3339 time in UTC, whole seconds ("2024-01-02T03:04:05Z").' }],
  [MICRO_TIME_TYPE, { ts: 'string', doc: 'RFC 3339 time in UTC with microseconds ("2024-01-02T03:04:05.000006Z").' }],
  [DURATION_TYPE, { ts: 'string', doc: 'A Go duration string ("1h2m3s").' }],
  [QUANTITY_TYPE, { ts: 'string', doc: 'A resource quantity in canonical form ("100m", "1Gi"); see quantity.ts.' }],
  [INT_OR_STRING_TYPE, { ts: 'number | string', doc: 'An integer or a string (a port number or name, "25%").' }],
  [FIELDS_V1_TYPE, { ts: '{ [key: string]: unknown }', doc: 'A managed-fields set in its JSON form ("f:metadata": {...}).' }],
  [RAW_EXTENSION_TYPE, { ts: '{ [key: string]: unknown }', doc: 'An embedded object, as raw JSON.' }],
  ['k8s.io.api.authentication.v1.ExtraValue', { ts: 'string[]', doc: 'user.Info extra values.' }],
  ['k8s.io.api.authorization.v1.ExtraValue', { ts: 'string[]', doc: 'user.Info extra values.' }],
]);

const SCALARS: Record<string, string> = {
  string: 'string',
  bool: 'boolean',
  bytes: 'string',
  double: 'number',
  float: 'number',
  int32: 'number',
  int64: 'number',
  uint32: 'number',
  uint64: 'number',
  sint32: 'number',
  sint64: 'number',
  fixed32: 'number',
  fixed64: 'number',
  sfixed32: 'number',
  sfixed64: 'number',
};

/** Messages whose name @mkube/api already uses for something else (quantity.ts's parsed Quantity). */
const RENAMED: ReadonlyMap<string, string> = new Map([[QUANTITY_TYPE, 'QuantityString']]);

const OBJECT_META = 'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const LIST_META = 'k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta';

function fullNameOf(t: protobuf.ReflectionObject): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}

/** "k8s.io.api.authentication.v1beta1" → "AuthenticationV1beta1"; "k8s.io.apimachinery.pkg.apis.meta.v1" → "MetaV1". */
function packagePrefix(pkg: string): string {
  const parts = pkg.split('.').filter((p) => !['k8s', 'io', 'api', 'apimachinery', 'pkg', 'apis', 'util'].includes(p));
  return parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

function collectTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[]): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) out.push(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) collectTypes(nested, out);
  }
}

/** Messages in PROTO_FILES order, then declaration order. */
function orderedTypes(root: protobuf.Root): protobuf.Type[] {
  const all: protobuf.Type[] = [];
  collectTypes(root, all);
  const fileIndex = (t: protobuf.Type): number => {
    const file = t.filename ?? '';
    const i = PROTO_FILES.findIndex((f) => file.endsWith(f));
    return i < 0 ? PROTO_FILES.length : i;
  };
  return all
    .map((t, i) => ({ t, i }))
    .sort((a, b) => fileIndex(a.t) - fileIndex(b.t) || a.i - b.i)
    .map((x) => x.t);
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** The schema with its // comments (upstream's field documentation) kept on the reflection objects. */
function loadSchemaWithComments(): protobuf.Root {
  const protoRoot = findProtoRoot();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync([...PROTO_FILES], { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

/** A JSDoc block for a proto comment, indented; none when there is no comment. */
function jsdoc(comment: string | null | undefined, indent: string): string[] {
  const text = (comment ?? '').replace(/\*\//g, '*\u2215').trim();
  if (!text) return [];
  const lines = text.split('\n').map((l) => l.trimEnd());
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [`${indent}/**`, ...lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)), `${indent} */`];
}

/** The text of the generated module. */
export function generateApiTypes(): string {
  const root = loadSchemaWithComments();
  const types = orderedTypes(root);

  // TypeScript names: a message name used in several packages keeps its plain
  // name in the first package (PROTO_FILES order) and is prefixed elsewhere.
  const tsName = new Map<string, string>(RENAMED);
  const taken = new Set<string>(RENAMED.values());
  for (const t of types) {
    const full = fullNameOf(t);
    const pkg = full.slice(0, full.length - t.name.length - 1);
    if (RENAMED.has(full)) continue;
    const name = taken.has(t.name) ? `${packagePrefix(pkg)}${t.name}` : t.name;
    if (taken.has(name)) throw new Error(`gen_api_types: two messages map to the TypeScript name ${name}`);
    taken.add(name);
    tsName.set(full, name);
  }

  const auxiliary = new Set(AUXILIARY_KINDS.values());
  const lines: string[] = [
    '/**',
    ' * Generated by scripts/gen_api_types.ts (npm run gen:types) from the',
    ' * generated.proto files under proto/k8s.io — do not edit.',
    ' *',
    ' * The Kubernetes JSON shape of every message of the mkube schema: JSON field',
    ' * names, Go embedded structs spread, Time/MicroTime/Duration/Quantity as',
    ' * strings, IntOrString as number | string, int64 as number. Fields are',
    " * optional except where upstream's OpenAPI lists them as required.",
    ' */',
    '',
  ];

  const typeOf = (field: protobuf.Field): string => {
    let base: string;
    if (field.resolvedType instanceof protobuf.Type) base = tsName.get(fullNameOf(field.resolvedType))!;
    else if (field.resolvedType instanceof protobuf.Enum) base = 'number';
    else {
      const scalar = SCALARS[field.type];
      if (!scalar) throw new Error(`gen_api_types: no TypeScript type for ${field.fullName} (${field.type})`);
      base = scalar;
    }
    if (field instanceof protobuf.MapField) return `{ [key: string]: ${base} }`;
    if (field.repeated) return base.includes(' ') ? `(${base})[]` : `${base}[]`;
    return base;
  };

  for (const t of types) {
    const full = fullNameOf(t);
    const name = tsName.get(full)!;
    const special = SPECIAL.get(full);
    if (special) {
      lines.push(`/** ${full}: ${special.doc} */`, `export type ${name} = ${special.ts};`, '');
      continue;
    }
    const required = new Set([...(REQUIRED_SCALARS.get(full) ?? []), ...(REQUIRED_NON_SCALARS.get(full) ?? [])]);
    const bases: string[] = [];
    const members: string[] = [];
    const meta = t.fieldsArray.find((f) => f.name === 'metadata' && f.resolvedType instanceof protobuf.Type);
    const metaType = meta ? fullNameOf(meta.resolvedType!) : '';
    if (metaType === OBJECT_META || metaType === LIST_META || auxiliary.has(full)) {
      members.push('  apiVersion?: string;', '  kind?: string;');
    }
    for (const field of t.fieldsArray) {
      const key = `${full}.${field.name}`;
      if (INLINE_FIELDS.has(key)) {
        bases.push(tsName.get(fullNameOf(field.resolvedType!))!);
        continue;
      }
      const jsonKey = JSON_NAMES.get(key) ?? field.name;
      const prop = IDENT.test(jsonKey) ? jsonKey : JSON.stringify(jsonKey);
      members.push(...jsdoc(field.comment, '  '));
      members.push(`  ${prop}${required.has(jsonKey) ? '' : '?'}: ${typeOf(field)};`);
    }
    const ext = bases.length > 0 ? ` extends ${bases.join(', ')}` : '';
    lines.push(...(t.comment ? jsdoc(`${full}: ${t.comment}`, '') : [`/** ${full} */`]));
    if (members.length === 0) lines.push(`export interface ${name}${ext} {}`);
    else lines.push(`export interface ${name}${ext} {`, ...members, '}');
    lines.push('');
  }
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
  const text = generateApiTypes();
  if (process.argv.includes('--stdout')) process.stdout.write(text);
  else {
    writeFileSync(join(repo, GENERATED_TYPES_PATH), text);
    console.log(`wrote ${GENERATED_TYPES_PATH} (${text.split('\n').length} lines)`);
  }
}

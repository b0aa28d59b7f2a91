// Regenerates packages/api/src/proto_zero_fields.ts, json_zero_fields.ts and json_field_order.ts (upstream's
// JSON key order, the Go declaration order, where mkube's proto declares fields in another order).
// proto_zero_fields.ts: for every message of mkube's proto schema, the
// fields upstream's protobuf encoding writes even when zero. gogo's generated marshallers always write
// a Go field that is not a pointer, list or map (`int32` as 0, `string` as "", `bool` as false, an
// embedded struct as a possibly empty message); pointers (`*int32`, `*LabelSelector`) only when set;
// lists, maps and []byte only when non-nil. The Go types come from packages/api/facts/go_proto_fields.json
// (scripts/extract_go_proto_fields.mjs: kubectl's Go type metadata, plus hand-kept facts for what kubectl
// does not link). A proto field number that disagrees with upstream's is an error.
// json_zero_fields.ts: the scalar fields upstream's JSON writes even when zero — a non-pointer string,
// bool or number whose json tag has no omitempty (StatefulSetStatus.availableReplicas, Event.reportingComponent);
// OpenAPI's required lists (required_scalars.ts) miss the ones marked +optional.
// Usage: node scripts/gen_proto_zero_fields.mjs  (after npx tsc -b packages/api)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { schema } = await import(join(root, 'packages/api/dist/src/index.js'));
const facts = JSON.parse(readFileSync(join(root, 'packages/api/facts/go_proto_fields.json'), 'utf8'));
const structs = { ...facts.structs, ...facts.handwritten };

/** A Go field gogo writes only when set: a pointer, slice (incl. []byte) or map, named or not. */
const onlyWhenSet = (row) => ['ptr', 'slice', 'map'].includes(row[3]);

const out = new Map();
const jsonZero = new Map();
/** Messages whose proto field order is not Go's declaration order (upstream's JSON key order): the Go order. */
const jsonOrder = new Map();
const SCALAR_KINDS = new Set(['bool', 'string', 'int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64']);
/** A non-pointer scalar Go writes in JSON when zero: a json tag of its own without omitempty. */
const jsonAlways = (row) => SCALAR_KINDS.has(row[3]) && typeof row[4] === 'string' && row[4] !== '' && row[4] !== '-' && !row[4].split(',').slice(1).includes('omitempty') && !row[4].startsWith(',');
const noFacts = [];
const notUpstream = [];
const errors = [];
const walk = (ns) => {
  for (const nested of ns.nestedArray ?? []) {
    if (nested instanceof protobuf.Type) {
      const full = nested.fullName.slice(1);
      if (full.startsWith('k8s.io.')) {
        const rows = structs[full];
        if (!rows) {
          noFacts.push(full);
        } else {
          const byName = new Map(rows.map((r) => [r[0], r]));
          const byNumber = new Map(rows.map((r) => [r[1], r]));
          const always = [];
          const json = [];
          for (const field of nested.fieldsArray) {
            // By name; else by number where mkube's proto spells a name differently (BoundObjectReference's
            // uid is upstream's uID).
            const row = byName.get(field.name) ?? byNumber.get(field.id);
            if (!row) {
              notUpstream.push(`${full}.${field.name}`);
              continue;
            }
            if (row[1] !== field.id) errors.push(`${full}.${field.name}: field number ${field.id}, upstream ${row[1]}`);
            if (!onlyWhenSet(row)) always.push(field.name);
            if (jsonAlways(row) && !field.resolvedType) json.push(field.name);
          }
          const goOrder = [];
          for (const r of rows) {
            const f = nested.fields[r[0]] ?? nested.fieldsArray.find((x) => x.id === r[1]);
            if (f && !goOrder.includes(f.name)) goOrder.push(f.name);
          }
          const protoOrder = nested.fieldsArray.map((f) => f.name);
          const ordered = [...goOrder, ...protoOrder.filter((n) => !goOrder.includes(n))];
          if (ordered.join(',') !== protoOrder.join(',')) jsonOrder.set(full, ordered);
          if (always.length > 0) out.set(full, always);
          if (json.length > 0) jsonZero.set(full, json);
        }
      }
    }
    if (nested.nestedArray) walk(nested);
  }
};
walk(schema());
if (errors.length > 0) {
  console.error(errors.join('\n'));
  process.exit(1);
}

const lines = [...out.keys()].sort().map((k) => `  ['${k}', [${out.get(k).map((f) => `'${f}'`).join(', ')}]],`);
writeFileSync(
  join(root, 'packages/api/src/proto_zero_fields.ts'),
  `/**
 * Data: the fields upstream's protobuf encoding writes even when zero, per
 * message of the mkube schema — Go struct fields that are not pointers, lists
 * or maps (gogo-generated marshallers always write them: \`int32\` as 0,
 * \`string\` as "", \`bool\` as false, an embedded struct as a possibly empty
 * message, a zero metav1.Time as an empty message, time_proto.go; a zero
 * resource.Quantity as "0", quantity_proto.go). Pointer fields (\`*int32\`,
 * \`*LabelSelector\`), lists and maps are written only when set, so they are
 * not listed.
 *
 * Source: packages/api/facts/go_proto_fields.json — upstream's Go field types
 * from the ${facts.source.replace(/;.*/, '')}
 * (scripts/extract_go_proto_fields.mjs), plus hand-kept facts for
 * kube-aggregator's apiregistration/v1 and Quantity.
 * Generated by scripts/gen_proto_zero_fields.mjs; do not edit by hand.
 */
export const PROTO_ZERO_FIELDS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
${lines.join('\n')}
]);
`,
);
const jsonLines = [...jsonZero.keys()].sort().map((k) => `  ['${k}', [${jsonZero.get(k).map((f) => `'${f}'`).join(', ')}]],`);
writeFileSync(
  join(root, 'packages/api/src/json_zero_fields.ts'),
  `/**
 * Data: the scalar fields upstream's JSON writes even when zero, per message
 * of the mkube schema — Go fields of a string, bool or number type (not a
 * pointer) whose json tag has no omitempty: \`"availableReplicas": 0\` in
 * StatefulSetStatus, \`"reportingComponent": ""\` in Event. The JSON codec
 * writes these and OpenAPI's required scalars (required_scalars.ts, which
 * misses the fields marked +optional) when absent.
 *
 * Source: the json tags in packages/api/facts/go_proto_fields.json, from the
 * ${facts.source.replace(/;.*/, '')}
 * (scripts/extract_go_proto_fields.mjs).
 * Generated by scripts/gen_proto_zero_fields.mjs; do not edit by hand.
 */
export const JSON_ZERO_FIELDS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
${jsonLines.join('\n')}
]);
`,
);
const orderLines = [...jsonOrder.keys()].sort().map((k) => `  ['${k}', [${jsonOrder.get(k).map((f) => `'${f}'`).join(', ')}]],`);
writeFileSync(
  join(root, 'packages/api/src/json_field_order.ts'),
  `/**
 * Data: upstream's JSON key order (encoding/json follows the Go struct's
 * declaration order) for the messages of the mkube schema whose proto fields
 * are declared in another order (OwnerReference: apiVersion, kind, name, uid,
 * ...; Container, PodSpec, ServicePort...). The JSON codec writes fields in
 * this order; messages not listed already follow it. Fields upstream lacks
 * come last.
 *
 * Source: the row order in packages/api/facts/go_proto_fields.json, from the
 * ${facts.source.replace(/;.*/, '')}
 * (scripts/extract_go_proto_fields.mjs).
 * Generated by scripts/gen_proto_zero_fields.mjs; do not edit by hand.
 */
export const JSON_FIELD_ORDER: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
${orderLines.join('\n')}
]);
`,
);
console.log(`${out.size} messages with always-written fields; ${jsonZero.size} with JSON zeros; ${jsonOrder.size} reordered for JSON`);
console.log(`messages without upstream facts (${noFacts.length}): ${noFacts.join(', ')}`);
console.log(`fields upstream (kubectl's copy) lacks (${notUpstream.length}): ${notUpstream.join(', ')}`);

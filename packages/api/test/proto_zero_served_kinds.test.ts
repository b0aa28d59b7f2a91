// Zero values in the protobuf encoding of every served kind, checked against upstream's Go types directly
// (packages/api/facts/go_proto_fields.json), not against the generated table: for each kind of the registry
// (objects, lists, and the auxiliary wire kinds), an object is encoded twice — empty, and with every
// message, list and map field of every reachable message set (message fields to a filled sub-object, scalar
// pointers to their zero, non-pointer scalars unset) — and the bytes are read back with protobufjs' Reader, message by message:
// the field numbers present must be exactly upstream's non-pointer fields plus the ones set. JSON survives
// the bytes: the fields given come back unchanged, only empty structs Go writes are added, and a second
// trip changes nothing.
import { readFileSync } from 'node:fs';
import test from 'ava';
import protobuf from 'protobufjs';
import {
  AUXILIARY_KINDS,
  bytesToJson,
  encodeMessage,
  jsonToBytes,
  messageType,
  RESOURCES,
  toJson,
  type JsonValue,
  type ProtoMessage,
} from '../src/index.js';

type Row = [name: string, number: number, goType: string, goKind: string];
const facts = JSON.parse(readFileSync(new URL('../facts/go_proto_fields.json', import.meta.url), 'utf8')) as {
  structs: Record<string, Row[]>;
  handwritten: Record<string, Row[] | string>;
};
const upstream = new Map<string, Row[]>();
for (const [k, v] of Object.entries({ ...facts.structs, ...facts.handwritten })) if (Array.isArray(v)) upstream.set(k, v);

const fullName = (t: protobuf.Type): string => t.fullName.replace(/^\./, '');

/** Upstream's row for a proto field (by name; by number where mkube spells the name differently). */
function rowOf(type: protobuf.Type, field: protobuf.Field): Row | undefined {
  const rows = upstream.get(fullName(type));
  return rows?.find((r) => r[0] === field.name) ?? rows?.find((r) => r[1] === field.id);
}

const isPointerLike = (row: Row | undefined): boolean => row !== undefined && ['ptr', 'slice', 'map'].includes(row[3]);

/** Types whose message form is the codec's own (JSON strings or numbers): the fixture leaves them unset. */
const OPAQUE = new Set([
  'k8s.io.apimachinery.pkg.apis.meta.v1.Time',
  'k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime',
  'k8s.io.apimachinery.pkg.apis.meta.v1.Duration',
  'k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1',
  'k8s.io.apimachinery.pkg.api.resource.Quantity',
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString',
  'k8s.io.apimachinery.pkg.runtime.RawExtension',
]);

/** Every pointer, list and map field set, down the tree (a type already on the path is left out). */
function fixture(type: protobuf.Type, path: Set<string> = new Set()): ProtoMessage {
  const out: ProtoMessage = {};
  const name = fullName(type);
  if (path.has(name) || path.size > 12) return out;
  path.add(name);
  for (const field of type.fieldsArray) {
    const row = rowOf(type, field);
    const inner = field.resolvedType;
    // Non-pointer structs are followed too (their pointer fields set); non-pointer scalars stay unset.
    if (!isPointerLike(row) && !(inner instanceof protobuf.Type)) continue;
    if (inner instanceof protobuf.Type) {
      if (OPAQUE.has(fullName(inner)) || path.has(fullName(inner))) continue;
      const sub = fixture(inner, path);
      if (field instanceof protobuf.MapField) out[field.name] = { k: sub };
      else if (field.repeated) out[field.name] = [sub];
      else out[field.name] = sub;
    } else if (field.repeated || field instanceof protobuf.MapField || inner) {
      continue; // lists/maps of scalars, enums: nothing to learn from an empty one
    } else if (field.type === 'bytes') {
      continue;
    } else {
      out[field.name] = field.type === 'string' ? '' : field.type === 'bool' ? false : 0;
    }
  }
  path.delete(name);
  return out;
}

/** Field number → every occurrence's raw bytes (length-delimited) or value. */
function read(bytes: Uint8Array): Map<number, Array<Uint8Array | number>> {
  const r = protobuf.Reader.create(bytes);
  const out = new Map<number, Array<Uint8Array | number>>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    let v: Uint8Array | number;
    if (wire === 0) v = Number(r.int64());
    else if (wire === 2) v = r.bytes();
    else if (wire === 1) v = Number(r.fixed64());
    else if (wire === 5) v = r.fixed32();
    else throw new Error(`unexpected wire type ${wire}`);
    const list = out.get(tag >>> 3) ?? [];
    list.push(v);
    out.set(tag >>> 3, list);
  }
  return out;
}

/**
 * Checks a message's bytes against upstream: exactly the non-pointer fields plus those set in `given`,
 * then every nested message present, recursively. Returns the messages checked (for coverage).
 */
function check(type: protobuf.Type, bytes: Uint8Array, given: ProtoMessage | undefined, where: string, problems: string[], seen: Set<string>): void {
  const name = fullName(type);
  seen.add(name);
  const fields = read(bytes);
  if (name === 'k8s.io.apimachinery.pkg.api.resource.Quantity') {
    if (!fields.has(1)) problems.push(`${where}: a Quantity without its string`);
    return;
  }
  const expected = new Set<number>();
  for (const field of type.fieldsArray) {
    const row = rowOf(type, field);
    const set = given?.[field.name] !== undefined && given?.[field.name] !== null;
    if ((row && !isPointerLike(row)) || set) expected.add(field.id);
  }
  const present = [...fields.keys()].sort((a, b) => a - b);
  const want = [...expected].sort((a, b) => a - b);
  if (present.join(',') !== want.join(',')) problems.push(`${where} (${name}): fields [${present}] written, upstream writes [${want}]`);
  for (const field of type.fieldsArray) {
    const inner = field.resolvedType;
    if (!(inner instanceof protobuf.Type)) continue;
    const g = given?.[field.name];
    for (const [i, raw] of (fields.get(field.id) ?? []).entries()) {
      if (!(raw instanceof Uint8Array)) continue;
      if (field instanceof protobuf.MapField) {
        const entry = read(raw);
        const value = entry.get(2)?.[0];
        const sub = (g as Record<string, ProtoMessage> | undefined)?.k;
        check(inner, value instanceof Uint8Array ? value : new Uint8Array(0), sub, `${where}.${field.name}[k]`, problems, seen);
      } else if (field.repeated) {
        check(inner, raw, (g as ProtoMessage[] | undefined)?.[i], `${where}.${field.name}[${i}]`, problems, seen);
      } else {
        check(inner, raw, g as ProtoMessage | undefined, `${where}.${field.name}`, problems, seen);
      }
    }
  }
}

const kinds = new Map<string, string>();
for (const r of RESOURCES) {
  kinds.set(`${r.apiVersion}/${r.kind}`, r.protoType);
  if (r.listProtoType) kinds.set(`${r.apiVersion}/${r.listKind}`, r.listProtoType);
}
for (const [k, t] of AUXILIARY_KINDS) kinds.set(k, t);

const covered = new Set<string>();

for (const [kind, protoType] of kinds) {
  test(`${kind}: protobuf writes exactly upstream's non-pointer fields, empty and filled`, (t) => {
    const type = messageType(protoType);
    const problems: string[] = [];
    check(type, encodeMessage(protoType, {}), {}, kind, problems, covered);
    const filled = fixture(type);
    check(type, encodeMessage(protoType, filled), filled, kind, problems, covered);
    t.deepEqual(problems, []);
  });
}

/** Whether `whole` holds every key of `part` with the same value (objects compared the same way). */
function contains(whole: JsonValue | undefined, part: JsonValue | undefined, where: string, problems: string[]): void {
  if (part !== null && typeof part === 'object' && !Array.isArray(part)) {
    if (whole === null || typeof whole !== 'object' || Array.isArray(whole)) {
      problems.push(`${where}: not an object after the bytes`);
      return;
    }
    for (const [k, v] of Object.entries(part)) contains(whole[k], v, `${where}.${k}`, problems);
  } else if (Array.isArray(part)) {
    if (!Array.isArray(whole) || whole.length !== part.length) problems.push(`${where}: list changed`);
    else part.forEach((v, i) => contains(whole[i], v, `${where}[${i}]`, problems));
  } else if (whole !== part) {
    problems.push(`${where}: ${JSON.stringify(part)} became ${JSON.stringify(whole)}`);
  }
}

for (const r of RESOURCES) {
  test(`${r.apiVersion}/${r.kind}: JSON keeps its fields through the bytes, and a second trip changes nothing`, (t) => {
    const direct = toJson(r.protoType, fixture(messageType(r.protoType)));
    const once = bytesToJson(r.protoType, jsonToBytes(r.protoType, direct).bytes);
    const problems: string[] = [];
    contains(once, direct, r.kind, problems);
    t.deepEqual(problems, []);
    t.deepEqual(bytesToJson(r.protoType, jsonToBytes(r.protoType, once).bytes), once);
  });
}

test('coverage: the kinds reach the core/v1 messages the issue names, and more than 300 messages in all', (t) => {
  for (const m of ['Pod', 'PodSpec', 'Container', 'ContainerStatus', 'Service', 'ServicePort', 'Node', 'NodeStatus', 'Endpoints', 'PersistentVolume', 'PersistentVolumeClaim', 'Event', 'Volume']) {
    t.true(covered.has(`k8s.io.api.core.v1.${m}`), m);
  }
  t.true(covered.size > 300, `${covered.size} messages checked`);
  // A message without facts would pass unchecked: a new group needs `node scripts/extract_go_proto_fields.mjs`.
  const WITHOUT_FIELDS = ['k8s.io.apimachinery.pkg.apis.meta.v1.Time', 'k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime'];
  t.deepEqual([...covered].filter((m) => !upstream.has(m) && !WITHOUT_FIELDS.includes(m) && !m.endsWith('.ExtraValue')), []);
});

test('Service: targetPort (a non-pointer IntOrString) is written with all three fields; nodePort 0 and the embedded status too', (t) => {
  const svc = read(encodeMessage('k8s.io.api.core.v1.Service', { spec: { ports: [{ port: 80 }] } }));
  t.deepEqual([...svc.keys()], [1, 2, 3]);
  const spec = read(svc.get(2)![0] as Uint8Array);
  const port = read(spec.get(1)![0] as Uint8Array);
  t.deepEqual([...port.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  const target = read(port.get(4)![0] as Uint8Array);
  t.deepEqual([...target.entries()].map(([n, v]) => [n, v[0] instanceof Uint8Array ? v[0].length : v[0]]), [[1, 0], [2, 0], [3, 0]]);
  t.is(port.get(5)![0], 0, 'nodePort 0');
  const status = read(svc.get(3)![0] as Uint8Array);
  t.deepEqual([...status.keys()], [1], 'status.loadBalancer, an embedded struct');
});

test('a zero Quantity is written as "0" (quantity_proto.go), a set one as its string', (t) => {
  const type = 'k8s.io.api.core.v1.ResourceFieldSelector';
  const zero = read(encodeMessage(type, { resource: 'limits.cpu' }));
  t.is(Buffer.from(read(zero.get(3)![0] as Uint8Array).get(1)![0] as Uint8Array).toString(), '0');
  const json = bytesToJson(type, jsonToBytes(type, { resource: 'limits.cpu', divisor: '1m' }).bytes);
  t.deepEqual(json, { resource: 'limits.cpu', divisor: '1m' });
  t.deepEqual(bytesToJson(type, jsonToBytes(type, { resource: 'limits.cpu' }).bytes), { resource: 'limits.cpu', divisor: '0' });
});

test('Pod JSON after the bytes: empty embedded structs Go writes appear, zero scalars stay out', (t) => {
  const type = 'k8s.io.api.core.v1.Pod';
  const json = bytesToJson(type, jsonToBytes(type, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } }).bytes);
  t.deepEqual(json, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', resources: {} }] }, status: {} });
});

test('Time and MicroTime: nothing for a zero time, seconds and nanos (even 0) once set, as a Timestamp marshals', (t) => {
  const cond = read(encodeMessage('k8s.io.api.core.v1.PodCondition', { type: 'Ready' }));
  t.is((cond.get(4)![0] as Uint8Array).length, 0, 'a zero lastTransitionTime is an empty message');
  const meta = read(encodeMessage('k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta', { creationTimestamp: { seconds: 1704164645 } }));
  const ts = read(meta.get(8)![0] as Uint8Array);
  t.deepEqual([...ts.entries()].map(([n, v]) => [n, v[0]]), [[1, 1704164645], [2, 0]]);
  const lease = read(encodeMessage('k8s.io.api.coordination.v1.LeaseSpec', { renewTime: { seconds: 1704164645, nanos: 1000 } }));
  t.deepEqual([...read(lease.get(4)![0] as Uint8Array).entries()].map(([n, v]) => [n, v[0]]), [[1, 1704164645], [2, 1000]]);
  t.false(lease.has(3), 'acquireTime (*MicroTime) stays unset');
});

test("JSON keys follow upstream's Go declaration order for every message with facts (encoding/json's order)", (t) => {
  const problems: string[] = [];
  for (const [name, rows] of upstream) {
    let type: protobuf.Type;
    try {
      type = messageType(name);
    } catch {
      continue;
    }
    if (OPAQUE.has(name)) continue;
    const msg: ProtoMessage = {};
    for (const field of type.fieldsArray) {
      if (field instanceof protobuf.MapField || field.repeated) continue;
      const inner = field.resolvedType;
      if (inner instanceof protobuf.Type) {
        if (!OPAQUE.has(fullName(inner))) msg[field.name] = {};
      } else if (!inner && field.type !== 'bytes') {
        msg[field.name] = field.type === 'string' ? 'x' : field.type === 'bool' ? true : 1;
      }
    }
    const keys = Object.keys(toJson(name, msg));
    const go = rows.map((r) => (type.fields[r[0]] ?? type.fieldsArray.find((f) => f.id === r[1]))?.name).filter((n): n is string => n !== undefined && keys.includes(n));
    const written = keys.filter((k) => go.includes(k));
    if (written.join(',') !== go.join(',')) problems.push(`${name}: ${written.join(',')} (Go: ${go.join(',')})`);
  }
  t.deepEqual(problems, []);
  t.deepEqual(Object.keys(toJson('k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference', { kind: 'ReplicaSet', name: 'r', uid: 'u', apiVersion: 'apps/v1', controller: true })), ['apiVersion', 'kind', 'name', 'uid', 'controller']);
});

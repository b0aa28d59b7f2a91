// Zero values in the protobuf encoding as upstream's gogo marshallers write them: a non-pointer Go field
// (int32, string, bool, embedded struct) is always written, zero or not; pointers, lists and maps only
// when set (every served kind against upstream's Go types: proto_zero_served_kinds.test.ts). Table-driven over proto_zero_fields.ts: each message encoded empty carries exactly the table's
// field numbers (read back with protobufjs' Reader); nested messages are filled too; JSON stays the same
// after a trip through the bytes.
import test from 'ava';
import protobuf from 'protobufjs';
import { bytesToJson, encodeMessage, fromJson, jsonToBytes, messageType, toJson } from '../src/index.js';
import { PROTO_ZERO_FIELDS } from '../src/proto_zero_fields.js';

/** Field number → raw bytes (length-delimited) or value (varint) of the top-level fields. */
function fieldsOf(bytes: Uint8Array): Map<number, Uint8Array | number> {
  const r = protobuf.Reader.create(bytes);
  const out = new Map<number, Uint8Array | number>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = tag & 7;
    if (wire === 0) out.set(tag >>> 3, Number(r.int64()));
    else if (wire === 2) out.set(tag >>> 3, r.bytes());
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const numbers = (type: string, names: readonly string[]): number[] =>
  names.map((n) => messageType(type).fields[n]!.id).sort((a, b) => a - b);

for (const [type, names] of PROTO_ZERO_FIELDS) {
  // A zero Quantity is written as "0" (proto_zero_served_kinds.test.ts).
  if (type === 'k8s.io.apimachinery.pkg.api.resource.Quantity') continue;
  test(`${type}: an empty message carries exactly its non-pointer fields, zero`, (t) => {
    for (const n of names) t.truthy(messageType(type).fields[n], `${type}.${n} is declared`);
    const fields = fieldsOf(encodeMessage(type, {}));
    t.deepEqual([...fields.keys()].sort((a, b) => a - b), numbers(type, names));
    for (const n of names) {
      const field = messageType(type).fields[n]!;
      const value = fields.get(field.id);
      // Embedded messages are written filled with their own non-pointer fields (a zero Time empty); scalars as zero.
      if (field.resolvedType) t.true(value instanceof Uint8Array, `${n} is a message`);
      else t.true(value === 0 || (value instanceof Uint8Array && value.length === 0), `${n} is zero`);
    }
  });
}

test('DaemonSet: embedded metadata, spec and status written; status carries its four counters and the rest as 0', (t) => {
  const type = 'k8s.io.api.apps.v1.DaemonSet';
  const top = fieldsOf(encodeMessage(type, { metadata: { name: 'ds' } }));
  t.deepEqual([...top.keys()], [1, 2, 3]);
  const status = fieldsOf(top.get(3) as Uint8Array);
  t.deepEqual([...status.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
  t.false(status.has(9), 'collisionCount (*int32) stays unset');
  const spec = fieldsOf(top.get(2) as Uint8Array);
  t.true(spec.has(2) && spec.has(3) && spec.has(4), 'template, updateStrategy, minReadySeconds');
  t.false(spec.has(1), 'selector (*LabelSelector) stays unset');
  t.false(spec.has(6), 'revisionHistoryLimit (*int32) stays unset');
});

test('DeploymentSpec: replicas (*int32) only when set, 0 included; paused (bool) always', (t) => {
  const type = 'k8s.io.api.apps.v1.DeploymentSpec';
  t.false(fieldsOf(encodeMessage(type, {})).has(1));
  const set = fieldsOf(encodeMessage(type, { replicas: 0 }));
  t.is(set.get(1), 0);
  t.is(set.get(7), 0);
});

test('nested lists: conditions and list items are filled, empty lists are not written', (t) => {
  const ds = fieldsOf(encodeMessage('k8s.io.api.apps.v1.DaemonSetStatus', { conditions: [{ type: 'X' }] }));
  const cond = fieldsOf(ds.get(10) as Uint8Array);
  t.deepEqual([...cond.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  t.is((cond.get(3) as Uint8Array).length, 0, 'a zero lastTransitionTime is an empty message, as time_proto.go writes it');
  const list = fieldsOf(encodeMessage('k8s.io.api.apps.v1.DeploymentList', { items: [{}] }));
  t.deepEqual([...list.keys()], [1, 2]);
  t.deepEqual([...fieldsOf(list.get(2) as Uint8Array).keys()], [1, 2, 3]);
  const meta = fieldsOf(encodeMessage('k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta', { labels: {}, finalizers: [] }));
  t.false(meta.has(11) || meta.has(14), 'empty map and list are not written');
});

test('the input message object is not changed', (t) => {
  const msg = { status: {} };
  encodeMessage('k8s.io.api.apps.v1.DaemonSet', msg);
  t.deepEqual(msg, { status: {} });
});

const objects: Array<[string, Record<string, unknown>]> = [
  ['k8s.io.api.apps.v1.DaemonSet', { metadata: { name: 'ds', namespace: 'default' }, spec: { selector: { matchLabels: { a: 'b' } }, template: {}, updateStrategy: { type: 'OnDelete' } }, status: {} }],
  ['k8s.io.api.apps.v1.Deployment', { metadata: { name: 'd' }, spec: { replicas: 0, paused: false, template: {}, strategy: {} }, status: { conditions: [{ type: 'Available', status: 'True' }] } }],
  ['k8s.io.api.apps.v1.StatefulSet', { metadata: { name: 's', generation: 1 }, spec: { serviceName: 'svc', template: {}, updateStrategy: {}, ordinals: { start: 0 } }, status: { replicas: 0 } }],
];

for (const [type, json] of objects) {
  test(`${type}: JSON after a trip through the bytes adds only the empty pod template parts, and stays so`, (t) => {
    const direct = toJson(type, fromJson(type, json).message) as { spec: Record<string, unknown> };
    const viaBytes = bytesToJson(type, jsonToBytes(type, json).bytes);
    // PodTemplateSpec embeds ObjectMeta and PodSpec (non-pointer): Go writes both even when empty.
    t.deepEqual(viaBytes, { ...direct, spec: { ...direct.spec, template: { metadata: {}, spec: {} } } });
    t.deepEqual(bytesToJson(type, jsonToBytes(type, viaBytes).bytes), viaBytes);
  });
}

test('JSON after the bytes: scalar non-pointer zeros left out, pointer zeros kept, embedded structs shown', (t) => {
  const type = 'k8s.io.api.apps.v1.StatefulSet';
  const json = bytesToJson(type, jsonToBytes(type, { metadata: { name: 's' }, spec: { replicas: 0 } }).bytes);
  // replicas is *int32 (kept, 0); minReadySeconds is a non-pointer zero with omitempty (left out);
  // serviceName, status.replicas and status.availableReplicas have no omitempty (written); template and
  // updateStrategy are non-pointer structs, which Go's encoding/json writes even when empty.
  t.deepEqual(json, { metadata: { name: 's' }, spec: { replicas: 0, template: { metadata: {}, spec: {} }, serviceName: '', updateStrategy: {} }, status: { replicas: 0, availableReplicas: 0 } });
});

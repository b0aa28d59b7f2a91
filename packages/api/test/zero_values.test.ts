// Zero values in JSON as upstream writes them: a Go field without omitempty is written even when it is
// zero ("currentNumberScheduled": 0 in DaemonSetStatus; the official Python client refuses a DaemonSet
// without it), every other zero is left out. Table-driven: one test per message type of the table
// (required_scalars.ts, from upstream's OpenAPI `required` lists, and json_zero_fields.ts, from upstream's
// Go json tags), one per served resource, and a cross-check of the tables against json tags read from
// upstream's Go types.
import test from 'ava';
import protobuf from 'protobufjs';
import { bytesToJson, DURATION_TYPE, FIELDS_V1_TYPE, INT_OR_STRING_TYPE, jsonToBytes, messageType, MICRO_TIME_TYPE, QUANTITY_TYPE, RAW_EXTENSION_TYPE, RESOURCES, TIME_TYPE, toJson, type JsonObject, type JsonValue } from '../src/index.js';
import { REQUIRED_SCALARS } from '../src/required_scalars.js';
import { JSON_ZERO_FIELDS } from '../src/json_zero_fields.js';

/** What JSON writes when zero: OpenAPI's required scalars and the Go fields without omitempty (json_zero_fields.ts). */
const WRITTEN_ZERO = new Map<string, string[]>();
for (const table of [REQUIRED_SCALARS, JSON_ZERO_FIELDS]) {
  for (const [type, fields] of table) WRITTEN_ZERO.set(type, [...new Set([...(WRITTEN_ZERO.get(type) ?? []), ...fields])]);
}

const zeroOf = (type: string, field: string): JsonValue => {
  const f = messageType(type).fields[field]!;
  return f.type === 'string' ? '' : f.type === 'bool' ? false : 0;
};

for (const [type, fields] of WRITTEN_ZERO) {
  test(`${type}: an empty message writes ${fields.join(', ')} as zeros and nothing else`, (t) => {
    const json = toJson(type, {});
    const expected: JsonObject = {};
    for (const f of fields) expected[f] = zeroOf(type, f);
    // Inline (Go embedded) members may add their own required fields; only this type's are compared.
    const own = Object.fromEntries(Object.entries(json).filter(([k]) => k in expected || messageType(type).fields[k]));
    t.deepEqual(own, expected);
    // A value that is set is written as it is.
    const set = toJson(type, Object.fromEntries(fields.map((f) => [f, zeroOf(type, f) === '' ? 'x' : zeroOf(type, f) === false ? true : 3])));
    for (const f of fields) t.not(set[f], zeroOf(type, f), f);
  });
}

// Facts from upstream's Go types (json tags without omitempty), staging/src/k8s.io/api/*/v1/types.go and
// apimachinery meta/v1/types.go: [type, fields without omitempty that are scalars, scalar fields with omitempty].
const GO_FACTS: [string, string[], string[]][] = [
  ['k8s.io.api.apps.v1.DaemonSetStatus', ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady'], ['observedGeneration', 'updatedNumberScheduled', 'numberAvailable', 'numberUnavailable', 'collisionCount']],
  ['k8s.io.api.apps.v1.ReplicaSetStatus', ['replicas'], ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration']],
  ['k8s.io.api.apps.v1.DeploymentStatus', [], ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount']],
  ['k8s.io.api.apps.v1.StatefulSetStatus', ['replicas', 'availableReplicas'], ['observedGeneration', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'currentRevision', 'updateRevision']],
  ['k8s.io.api.core.v1.Event', ['reportingComponent', 'reportingInstance'], ['message', 'reason', 'type', 'count', 'action']],
  ['k8s.io.api.core.v1.ContainerStatus', ['name', 'ready', 'restartCount', 'image', 'imageID'], ['containerID']],
  ['k8s.io.api.core.v1.ServicePort', ['port'], ['name', 'protocol', 'nodePort']],
  ['k8s.io.api.core.v1.ContainerPort', ['containerPort'], ['name', 'hostPort', 'protocol', 'hostIP']],
  ['k8s.io.api.core.v1.PodCondition', ['type', 'status'], ['reason', 'message']],
  ['k8s.io.api.core.v1.ContainerStateTerminated', ['exitCode'], ['signal', 'reason', 'message', 'containerID']],
  ['k8s.io.api.autoscaling.v1.ScaleStatus', ['replicas'], ['selector']],
  ['k8s.io.api.authorization.v1.SubjectAccessReviewStatus', ['allowed'], ['denied', 'reason', 'evaluationError']],
  ['k8s.io.api.rbac.v1.Subject', ['kind', 'name'], ['apiGroup', 'namespace']],
  ['k8s.io.api.scheduling.v1.PriorityClass', ['value'], ['globalDefault', 'description']],
  ['k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference', ['apiVersion', 'kind', 'name', 'uid'], []],
];

for (const [type, always, omitted] of GO_FACTS) {
  test(`${type}: the table agrees with upstream's Go json tags`, (t) => {
    const table = new Set(WRITTEN_ZERO.get(type) ?? []);
    for (const f of always) t.true(table.has(f), `${f} has no omitempty upstream`);
    for (const f of omitted) t.false(table.has(f), `${f} is omitempty upstream`);
    const json = toJson(type, {});
    for (const f of omitted) t.false(f in json, `${f} is left out when zero`);
  });
}

/** Every JSON object inside `json` of message `type` carries its required scalars (walked through the schema). */
function missingRequired(type: protobuf.Type, json: JsonValue | undefined, path: string, out: string[]): void {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return;
  const name = type.fullName.slice(1);
  for (const f of REQUIRED_SCALARS.get(name) ?? []) if (!(f in json)) out.push(`${path}.${f}`);
  for (const field of type.fieldsArray) {
    if (!(field.resolvedType instanceof protobuf.Type)) continue;
    const value = (json as JsonObject)[field.name];
    if (field.map) {
      if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) missingRequired(field.resolvedType, v, `${path}.${field.name}[${k}]`, out);
    } else if (Array.isArray(value)) value.forEach((v, i) => missingRequired(field.resolvedType as protobuf.Type, v, `${path}.${field.name}[${i}]`, out));
    else missingRequired(field.resolvedType, value, `${path}.${field.name}`, out);
  }
}

/** Types with a JSON form of their own (not an object of fields). */
const SPECIAL = new Set([TIME_TYPE, MICRO_TIME_TYPE, DURATION_TYPE, FIELDS_V1_TYPE, QUANTITY_TYPE, INT_OR_STRING_TYPE, RAW_EXTENSION_TYPE]);

for (const info of RESOURCES) {
  test(`${info.apiVersion} ${info.kind}: an object with empty members comes back with upstream's zero values`, (t) => {
    const type = messageType(info.protoType);
    const json: JsonObject = { apiVersion: info.apiVersion, kind: info.kind, metadata: { name: 'zero' } };
    for (const f of type.fieldsArray) if (f.name !== 'metadata' && f.resolvedType instanceof protobuf.Type && !f.repeated && !f.map && !SPECIAL.has(f.resolvedType.fullName.slice(1))) json[f.name] = {};
    const { bytes } = jsonToBytes(info.protoType, json);
    const back = bytesToJson(info.protoType, bytes, { apiVersion: info.apiVersion, kind: info.kind });
    const missing: string[] = [];
    missingRequired(type, back, '', missing);
    t.deepEqual(missing, []);
    if (info.kind === 'DaemonSet') t.deepEqual(back.status, { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 });
  });
}

import test from 'ava';
import {
  bytesToJson,
  decodeObject,
  encodeObject,
  jsonToBytes,
  protoTypeForKind,
  type JsonValue,
} from '../src/index.js';
import { fixtures } from './fixtures.js';

/** Kubernetes treats a JSON null like an absent field. */
function withoutNulls(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (v && typeof v === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
    return out;
  }
  return v;
}

for (const [kind, json] of Object.entries(fixtures)) {
  test(`${kind}: JSON → protobuf bytes → JSON is lossless`, (t) => {
    const apiVersion = json.apiVersion as string;
    const type = protoTypeForKind(apiVersion, kind);
    const { bytes, unknownFields } = jsonToBytes(type, json, { typeMeta: true });
    t.deepEqual(unknownFields, []);
    t.true(bytes.length > 10);
    const back = bytesToJson(type, bytes, { apiVersion, kind });
    t.deepEqual(back, withoutNulls(json));
  });

  test(`${kind}: JSON → k8s protobuf envelope → JSON is lossless`, (t) => {
    const { bytes, unknownFields } = encodeObject(json);
    t.deepEqual(unknownFields, []);
    t.deepEqual(decodeObject(bytes), withoutNulls(json));
  });
}

test('non-canonical quantities come back canonical, as the API server prints them', (t) => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'q' },
    spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: '1000m', memory: '1024Mi' }, requests: { cpu: 0.1, memory: '1e3' } } }] },
  };
  const back = decodeObject(encodeObject(pod).bytes) as any;
  t.deepEqual(back.spec.containers[0].resources, { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '100m', memory: '1e3' } });
});

test('explicit zero and false values survive in pointer fields; a non-pointer false is left out as upstream', (t) => {
  const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'z' }, spec: { replicas: 0, paused: false, selector: {}, template: {} } };
  const back = decodeObject(encodeObject(d).bytes) as any;
  t.is(back.spec.replicas, 0);
  // paused is a Go bool with omitempty: always on the wire, false omitted from JSON
  t.is(back.spec.paused, undefined);
  t.deepEqual(back.spec.selector, {});
  // PodTemplateSpec embeds ObjectMeta and PodSpec (non-pointer): written even when empty, as upstream
  t.deepEqual(back.spec.template, { metadata: {}, spec: {} });
});

test('empty strings, lists and maps are omitted on output like omitempty', (t) => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e', namespace: '', labels: {}, finalizers: [] }, data: {} };
  t.deepEqual(decodeObject(encodeObject(cm).bytes), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e' } });
});

test('Time drops sub-second precision on the wire; MicroTime keeps microseconds', (t) => {
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'l', creationTimestamp: '2024-01-02T03:04:05.999Z' },
    spec: { renewTime: '2024-01-02T04:04:05.1234567+01:00' },
  };
  const back = decodeObject(encodeObject(lease).bytes) as any;
  t.is(back.metadata.creationTimestamp, '2024-01-02T03:04:05Z');
  t.is(back.spec.renewTime, '2024-01-02T03:04:05.123456Z');
});

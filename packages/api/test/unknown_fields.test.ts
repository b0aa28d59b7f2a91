import test from 'ava';
import { CodecError, encodeObject, fromJson } from '../src/index.js';

const POD = 'k8s.io.api.core.v1.Pod';

test('reports unknown fields with their JSON path, and still converts the known ones', (t) => {
  const { message, unknownFields } = fromJson(
    POD,
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'a', nmae: 'typo' },
      spec: {
        containers: [
          { name: 'ok', image: 'x' },
          { name: 'c', imagee: 'busybox', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k', extra: 1 } } }] },
        ],
        volumes: [{ name: 'v', emptyDir: {}, bogus: true }],
      },
      statuss: {},
    },
    { typeMeta: true },
  );
  t.deepEqual(unknownFields, [
    '.metadata.nmae',
    '.spec.containers[1].imagee',
    '.spec.containers[1].env[0].valueFrom.configMapKeyRef.extra',
    '.spec.volumes[0].bogus',
    '.statuss',
  ]);
  t.is((message.metadata as any).name, 'a');
  t.is((message.spec as any).containers[1].name, 'c');
});

test('map keys and free-form fields are never unknown', (t) => {
  const { unknownFields } = fromJson(
    POD,
    {
      metadata: {
        labels: { anything: 'goes' },
        annotations: { 'x/y': 'z' },
        managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': { 'f:whatever': {} } } }],
      },
      spec: { nodeSelector: { 'k/v': 'w' }, containers: [{ name: 'c', resources: { limits: { 'example.com/gpu': '1' } } }] },
    },
  );
  t.deepEqual(unknownFields, []);
});

test('apiVersion and kind are accepted only at the top level and on list items', (t) => {
  t.deepEqual(fromJson(POD, { apiVersion: 'v1', kind: 'Pod' }, { typeMeta: true }).unknownFields, []);
  t.deepEqual(fromJson(POD, { apiVersion: 'v1', kind: 'Pod' }).unknownFields, ['.apiVersion', '.kind']);
  t.deepEqual(fromJson(POD, { spec: { kind: 'x' } }, { typeMeta: true }).unknownFields, ['.spec.kind']);
  const list = { apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' } }] };
  t.deepEqual(fromJson('k8s.io.api.core.v1.PodList', list, { typeMeta: true }).unknownFields, []);
});

test('encodeObject passes unknown fields back for fieldValidation=Warn/Strict', (t) => {
  const { unknownFields } = encodeObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replica: 3 } });
  t.deepEqual(unknownFields, ['.spec.replica']);
});

test('wrong JSON types are errors naming the path', (t) => {
  const err = t.throws(() => fromJson('k8s.io.api.apps.v1.Deployment', { spec: { replicas: '3' } }), { instanceOf: CodecError });
  t.is(err?.code, 'JSON_TYPE_MISMATCH');
  t.is(err?.path, '.spec.replicas');
  t.throws(() => fromJson(POD, { spec: { containers: {} } }), { message: /^\.spec\.containers: expected an array/ });
  t.throws(() => fromJson(POD, { spec: { containers: [{ ports: [{ containerPort: 1.5 }] }] } }), { message: /containerPort: expected integer/ });
  t.throws(() => fromJson(POD, { metadata: { creationTimestamp: 'yesterday' } }), { message: /creationTimestamp.*RFC 3339/ });
  t.throws(() => fromJson(POD, { spec: { containers: [{ resources: { limits: { cpu: '1 core' } } }] } }), {
    message: /limits\.cpu: quantities must match the regular expression/,
  });
  t.throws(() => fromJson('k8s.io.api.core.v1.Secret', { data: { k: 'not base64!' } }), { message: /\.data\.k: illegal base64/ });
  t.throws(() => fromJson(POD, { spec: { priority: 2 ** 31 } }), { message: /overflows int32/ });
});

test('null is treated as absent', (t) => {
  const { message, unknownFields } = fromJson(POD, { metadata: { name: 'a', creationTimestamp: null, labels: null }, spec: null });
  t.deepEqual(unknownFields, []);
  t.deepEqual(message, { metadata: { name: 'a' } });
});

// Kubernetes list messages assembled from cached item encodings are byte for
// byte what encoding the whole list gives, and each item is encoded once.
import test from 'ava';
import { jsonToBytes, bytesToJson, type JsonObject } from '@mkube/api';
import { encodeItem, encodeList } from '../src/grpc/list_encoding.js';

const CM = 'k8s.io.api.core.v1.ConfigMap';
const CM_LIST = 'k8s.io.api.core.v1.ConfigMapList';
const POD_LIST = 'k8s.io.api.core.v1.PodList';

const cm = (name: string): JsonObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', resourceVersion: '42', uid: `uid-${name}`, labels: { a: 'b' }, creationTimestamp: '2026-11-25T20:00:00Z' },
  data: { k: 'v'.repeat(300), other: 'x' },
});

test('a list from item encodings equals the encoding of the whole list', (t) => {
  const items = [cm('a'), cm('b'), cm('c')];
  const metadata = { resourceVersion: '99', continue: 'token', remainingItemCount: 7 };
  const whole = Buffer.from(jsonToBytes(CM_LIST, { kind: 'ConfigMapList', apiVersion: 'v1', metadata, items }, { typeMeta: true }).bytes);
  t.deepEqual(encodeList(CM_LIST, metadata, items), whole);
  const back = bytesToJson(CM_LIST, encodeList(CM_LIST, metadata, items));
  t.is((back.items as JsonObject[]).length, 3);
  t.is(((back.items as JsonObject[])[1]!.metadata as JsonObject).name, 'b');
  // Empty list and a list of another type.
  t.deepEqual(encodeList(CM_LIST, { resourceVersion: '1' }, []), Buffer.from(jsonToBytes(CM_LIST, { metadata: { resourceVersion: '1' }, items: [] }).bytes));
  const pod: JsonObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', resourceVersion: '5' }, spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }] }] } };
  t.deepEqual(encodeList(POD_LIST, { resourceVersion: '5' }, [pod]), Buffer.from(jsonToBytes(POD_LIST, { metadata: { resourceVersion: '5' }, items: [pod] }, { typeMeta: true }).bytes));
});

test('each item object is encoded once; a new object version is encoded anew', (t) => {
  const a = cm('a');
  const first = encodeItem(CM, a);
  t.is(encodeItem(CM, a), first, 'same object: the remembered bytes');
  const changed = { ...a, data: { k: 'changed' } };
  t.notDeepEqual(Buffer.from(encodeItem(CM, changed)), Buffer.from(first));
});

import test from 'ava';
import { bytesToJson, decodeMessage, encodeMessage, formatGoDuration, fromJson, jsonToBytes, parseGoDuration, toJson } from '../src/index.js';

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

test('ObjectMeta{name:"a"} encodes as gogo marshals it: every non-pointer field written, zero or not', (t) => {
  t.is(hex(encodeMessage(`${META}.ObjectMeta`, { name: 'a' })), '0a0161' + '1200' + '1a00' + '2200' + '2a00' + '3200' + '3800' + '4200');
});

test('a Pod puts metadata in field 1, spec in field 2, status in field 3', (t) => {
  const { bytes: b } = jsonToBytes('k8s.io.api.core.v1.Pod', { metadata: { name: 'a' }, spec: {}, status: { phase: 'Running' } });
  // 0a 11 (0a 01 61, then ObjectMeta's zero non-pointer fields 2..8)
  // | 12 1c (PodSpec's non-pointer zeros: restartPolicy 3, dnsPolicy 6, serviceAccountName 8, serviceAccount 9,
  //   nodeName 10, hostNetwork 11, hostPID 12, hostIPC 13, hostname 16, subdomain 17, schedulerName 19,
  //   priorityClassName 24)
  // | 1a 1a (0a 07 "Running", then PodStatus' zeros: message 3, reason 4, hostIP 5, podIP 6,
  //   qosClass 9, nominatedNodeName 11, resize 14, observedGeneration 17)
  t.is(
    hex(b),
    '0a110a0161' + '12001a0022002a00320038004200' +
      '121c' + '1a00320042004a0052005800600068008201008a01009a0100c20100' +
      '1a1a0a0752756e6e696e67' + '1a0022002a0032004a005a007200880100',
  );
});

test('field numbers of nested types follow upstream (container image = 2, containerPort = 3, nodeName = 10)', (t) => {
  const { bytes: b } = jsonToBytes('k8s.io.api.core.v1.PodSpec', {
    containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }] }],
    nodeName: 'n',
  });
  // PodSpec.containers = 2: 12 26 [0a 01 63 | 12 01 69 | workingDir 2a 00 | ports 32 0a (name 0a 00, hostPort 10 00,
  // containerPort 18 50, protocol 22 00, hostIP 2a 00) | resources 42 00 | terminationMessagePath 6a 00 |
  // imagePullPolicy 72 00 | stdin 80 01 00 | stdinOnce 88 01 00 | tty 90 01 00 | terminationMessagePolicy a2 01 00]
  // then PodSpec's own zeros with nodeName = 10: 52 01 6e
  t.is(
    hex(b),
    '1226' + '0a0163' + '120169' + '2a00' + '320a0a00100018502200' + '2a00' + '42006a007200800100880100900100a20100' +
      '1a00320042004a00' + '52016e' + '5800600068008201008a01009a0100c20100',
  );
});

test('IntOrString: number → {type 0, intVal}, string → {type 1, strVal}', (t) => {
  const type = 'k8s.io.api.core.v1.TCPSocketAction';
  // IntOrString's three fields are non-pointer: all written (type, intVal, strVal); then TCPSocketAction.host "".
  t.is(hex(jsonToBytes(type, { port: 8080 }).bytes), '0a07' + '0800' + '10903f' + '1a00' + '1200');
  t.is(hex(jsonToBytes(type, { port: 'http' }).bytes), '0a0a' + '0801' + '1000' + '1a0468747470' + '1200');
  t.deepEqual(fromJson(type, { port: 'http' }).message, { port: { type: 1, strVal: 'http' } });
});

test('Quantity is its canonical string in field 1', (t) => {
  const { message, bytes: b } = jsonToBytes('k8s.io.api.core.v1.ResourceRequirements', { limits: { cpu: '100m' } });
  t.deepEqual(message, { limits: { cpu: { string: '100m' } } });
  // limits = map field 1: entry { key=1 "cpu", value=2 Quantity{ string=1 "100m" } }
  t.is(hex(b), '0a0d' + '0a03637075' + '1206' + '0a04' + '3130306d');
});

test('Time is {seconds} and MicroTime {seconds, nanos}', (t) => {
  t.deepEqual(fromJson(`${META}.ObjectMeta`, { creationTimestamp: '2024-01-02T03:04:05Z' }).message, {
    creationTimestamp: { seconds: 1704164645 },
  });
  t.deepEqual(fromJson('k8s.io.api.coordination.v1.LeaseSpec', { renewTime: '2024-01-02T03:04:05.000001Z' }).message, {
    renewTime: { seconds: 1704164645, nanos: 1000 },
  });
  // creationTimestamp = field 8: 42 08 (08 a5facdac06 | 10 00: a set Time marshals as a Timestamp whose
  // seconds and nanos are both written, time_proto.go), after the zero fields 1..7
  t.is(hex(encodeMessage(`${META}.ObjectMeta`, { creationTimestamp: { seconds: 1704164645 } })), '0a0012001a0022002a0032003800' + '4208' + '08a5facdac06' + '1000');
});

test('Duration is nanoseconds on the wire and a Go duration string in JSON', (t) => {
  const dur = `${META}.Duration`;
  const { message } = fromJson(dur, '1m30s');
  t.deepEqual(message, { duration: 90e9 });
  // duration = field 1, varint 90_000_000_000
  t.is(hex(encodeMessage(dur, message)), '088088aca3cf02');
  t.deepEqual(decodeMessage(dur, bytes('088088aca3cf02')), { duration: 90e9 });
  t.is(formatGoDuration(90e9), '1m30s');
  t.is(formatGoDuration(3600e9), '1h0m0s');
  t.is(formatGoDuration(1.5e9), '1.5s');
  t.is(formatGoDuration(100e6), '100ms');
  t.is(formatGoDuration(0), '0s');
  t.is(parseGoDuration('1h2m3.5s'), 3723.5e9);
  t.is(parseGoDuration('-300ms'), -300e6);
  t.throws(() => fromJson(dur, '5 minutes'), { message: /invalid duration/ });
});

test('Secret data travels as raw bytes and comes back as base64', (t) => {
  const { message } = fromJson('k8s.io.api.core.v1.Secret', { data: { k: 'AP8=' } });
  t.deepEqual(Array.from((message.data as Record<string, Uint8Array>).k!), [0, 255]);
  // metadata (non-pointer, its zeros) | data = map<string, bytes> field 2: 12 07 (0a 01 6b | 12 02 00 ff) | type "" = 3
  t.is(hex(encodeMessage('k8s.io.api.core.v1.Secret', message)), '0a100a0012001a0022002a00320038004200' + '1207' + '0a016b' + '120200ff' + '1a00');
  t.deepEqual(bytesToJson('k8s.io.api.core.v1.Secret', bytes('1207 0a016b 120200ff')), { data: { k: 'AP8=' } });
});

test('inline Go structs: LocalObjectReference, ProbeHandler and VolumeSource nest in proto', (t) => {
  const { message } = fromJson('k8s.io.api.core.v1.Container', {
    env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }],
    livenessProbe: { exec: { command: ['true'] }, periodSeconds: 5 },
  });
  t.deepEqual(message, {
    env: [{ name: 'A', valueFrom: { configMapKeyRef: { localObjectReference: { name: 'cm' }, key: 'k' } } }],
    livenessProbe: { handler: { exec: { command: ['true'] } }, periodSeconds: 5 },
  });
  t.deepEqual(fromJson('k8s.io.api.core.v1.Volume', { name: 'v', emptyDir: {} }).message, { name: 'v', volumeSource: { emptyDir: {} } });
});

test('bytes written the way Go writes them (every non-pointer field present) decode to clean JSON', (t) => {
  // ObjectMeta as gogo-protobuf marshals metav1.ObjectMeta{Name: "a"}: all strings written
  // empty, zero generation, an empty creationTimestamp.
  const goBytes = bytes('0a0161 1200 1a00 2200 2a00 3200 3800 4200');
  t.deepEqual(bytesToJson(`${META}.ObjectMeta`, goBytes), { name: 'a' });
  // and mkube writes exactly those bytes
  t.is(hex(encodeMessage(`${META}.ObjectMeta`, { name: 'a' })), hex(goBytes));
  // a field number mkube does not declare (e.g. a future one) is skipped, not fatal
  t.deepEqual(decodeMessage(`${META}.ObjectMeta`, bytes('0a0161 fa0f0178')), { name: 'a' });
});

test('IngressClassParametersReference.aPIGroup is apiGroup in JSON', (t) => {
  const type = 'k8s.io.api.networking.v1.IngressClassParametersReference';
  const { message, unknownFields } = fromJson(type, { apiGroup: 'g', kind: 'K', name: 'n' });
  t.deepEqual(unknownFields, []);
  t.deepEqual(message, { aPIGroup: 'g', kind: 'K', name: 'n' });
  t.deepEqual(toJson(type, message), { apiGroup: 'g', kind: 'K', name: 'n' });
});

import test from 'ava';
import {
  decodeEnvelope,
  decodeObject,
  decodeObjectMessage,
  encodeEnvelope,
  encodeObject,
  encodeObjectMessage,
  EnvelopeError,
  hasProtobufMagic,
  PROTOBUF_CONTENT_TYPE,
  PROTOBUF_MAGIC,
} from '../src/index.js';
import { pod } from './fixtures.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('the envelope is "k8s\\0" + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}', (t) => {
  t.is(PROTOBUF_CONTENT_TYPE, 'application/vnd.kubernetes.protobuf');
  t.is(hex(PROTOBUF_MAGIC), '6b387300');
  const b = encodeEnvelope({ apiVersion: 'v1', kind: 'Pod', raw: Uint8Array.of(0x0a, 0x00) });
  t.is(
    hex(b),
    '6b387300' +
      '0a09' + '0a027631' + '1203506f64' + // typeMeta {apiVersion "v1", kind "Pod"}
      '12020a00' + // raw
      '1a00' + // contentEncoding ""
      '2200', // contentType ""
  );
  t.true(hasProtobufMagic(b));
  t.deepEqual(decodeEnvelope(b), { apiVersion: 'v1', kind: 'Pod', raw: Uint8Array.of(0x0a, 0x00), contentEncoding: '', contentType: '' });
});

test('a Pod round-trips through the envelope; raw holds the Pod message itself', (t) => {
  const { bytes } = encodeObject(pod);
  const env = decodeEnvelope(bytes);
  t.is(env.apiVersion, 'v1');
  t.is(env.kind, 'Pod');
  t.is(env.raw[0], 0x0a); // metadata, field 1
  const { message } = decodeObjectMessage(bytes);
  t.is((message.metadata as any).name, 'web-0');
  t.deepEqual(decodeObjectMessage(encodeObjectMessage('v1', 'Pod', message)).message, message);
  t.is((decodeObject(bytes).metadata as any).name, 'web-0');
});

test('lists, Status and Scale are encodable kinds', (t) => {
  const list = { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }] };
  // A Pod's spec and status are non-pointer structs: upstream's protobuf (and so its JSON) carries them empty.
  const pod = (name: string) => ({ metadata: { name }, spec: {}, status: {} });
  t.deepEqual(decodeObject(encodeObject(list).bytes), { ...list, items: [pod('a'), pod('b')] });
  const status = {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message: 'pods "x" not found',
    reason: 'NotFound',
    details: { name: 'x', kind: 'pods' },
    code: 404,
  };
  t.deepEqual(decodeObject(encodeObject(status).bytes), status);
  const scale = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 3 }, status: { replicas: 2, selector: 'app=web' } };
  t.deepEqual(decodeObject(encodeObject(scale).bytes), scale);
});

test('bytes without the magic are refused', (t) => {
  const err = t.throws(() => decodeEnvelope(Buffer.from('{"kind":"Pod"}')), { instanceOf: EnvelopeError });
  t.is(err?.code, 'ENVELOPE_MAGIC');
  t.false(hasProtobufMagic(Uint8Array.of(0x6b, 0x38)));
});

test('a truncated envelope is refused', (t) => {
  const b = encodeEnvelope({ apiVersion: 'v1', kind: 'Pod', raw: new Uint8Array(40) });
  const err = t.throws(() => decodeEnvelope(b.subarray(0, 12)), { instanceOf: EnvelopeError });
  t.is(err?.code, 'ENVELOPE_INVALID');
});

test('unregistered kinds are refused', (t) => {
  t.throws(() => encodeObject({ apiVersion: 'v1', kind: 'Widget' }), { message: /no kind "Widget" is registered in version "v1"/ });
});

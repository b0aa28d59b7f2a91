// The hand-written peer MessageBatch codec (server/peer/batch_codec.ts) against protobufjs (the
// proto-loader codecs of raft_peer.proto): the same bytes for the batches the transport sends,
// the same objects for any bytes either writes, refusals of truncated or malformed bytes.
import test from 'ava';
import { decodeBatch, encodeBatch, BatchDecodeError } from '../../src/server/peer/batch_codec.js';
import { RaftPeerClient, type MessageBatch, type WireMessage } from '../../src/server/peer/wire.js';
import { seededRandom } from '../../src/raft/seeded_random.js';

// protobufjs' codecs (the client constructor's definition: the served one has the hand-written codec).
const send = (RaftPeerClient.service as unknown as Record<string, { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): MessageBatch }>).Send!;

function randomBatch(rnd: () => number): MessageBatch {
  const int = (max: number) => Math.floor(rnd() * max);
  // Values across every varint length up to 2^53 (member ids are 53-bit safe integers).
  const big = () => [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 35, 2 ** 49 + 3, Number.MAX_SAFE_INTEGER][int(13)]! + (rnd() < 0.5 ? 0 : int(100));
  const bytes = (max: number) => Buffer.from(Array.from({ length: int(max) }, () => int(256)));
  const messages: WireMessage[] = Array.from({ length: int(4) }, () => ({
    type: int(18),
    from: big(),
    to: big(),
    term: big(),
    logTerm: big(),
    index: big(),
    entries: Array.from({ length: int(5) }, () => ({ term: big(), index: big(), type: int(2), data: bytes(rnd() < 0.1 ? 70_000 : 300) })),
    commit: big(),
    snapshot:
      rnd() < 0.2
        ? { metadata: rnd() < 0.8 ? { index: big(), term: big(), confState: rnd() < 0.8 ? { voters: Array.from({ length: int(4) }, big), learners: Array.from({ length: int(3) }, big) } : null } : null, data: bytes(50) }
        : null,
    reject: rnd() < 0.3,
    rejectHint: big(),
    context: bytes(rnd() < 0.5 ? 0 : 20),
  }));
  return { clusterId: big(), from: big(), messages };
}

test('the bytes are protobufjs bytes for the batches the transport sends (1000 random batches)', (t) => {
  const rnd = seededRandom(15);
  for (let i = 0; i < 1000; i++) {
    const b = randomBatch(rnd);
    const ours = encodeBatch(b);
    const theirs = send.requestSerialize(b);
    if (!ours.equals(theirs)) {
      t.fail(`batch ${i}: ${ours.length} vs ${theirs.length} bytes`);
      return;
    }
  }
  t.pass();
});

test('decoding gives the objects protobufjs gives, for our bytes and for bytes with defaults left out', (t) => {
  const rnd = seededRandom(16);
  for (let i = 0; i < 500; i++) {
    const b = randomBatch(rnd);
    const bytes = encodeBatch(b);
    t.deepEqual(decodeBatch(bytes), send.requestDeserialize(bytes), `batch ${i}`);
  }
  // Minimal encodings (fields absent: a proto3 writer that omits defaults) decode to the defaults.
  const sparse = send.requestSerialize({ clusterId: 7, messages: [{ type: 3, to: 2, entries: [{ index: 4 }] }, {}] });
  t.deepEqual(decodeBatch(sparse), send.requestDeserialize(sparse));
  t.deepEqual(decodeBatch(Buffer.alloc(0)), send.requestDeserialize(Buffer.alloc(0)));
});

test('the prefix leaves room for the gRPC frame header; unknown fields are skipped', (t) => {
  const b = randomBatch(seededRandom(3));
  const framed = encodeBatch(b, 5);
  t.true(framed.subarray(5).equals(send.requestSerialize(b)));
  // Field 15 (varint) and field 14 (bytes) in front of a valid batch.
  const withUnknown = Buffer.concat([Buffer.from([0x78, 0x01, 0x72, 0x02, 0xaa, 0xbb]), send.requestSerialize(b)]);
  t.deepEqual(decodeBatch(withUnknown), send.requestDeserialize(withUnknown));
});

test('truncated and malformed bytes are refused with BatchDecodeError', (t) => {
  const rnd = seededRandom(4);
  let b = randomBatch(rnd);
  while (b.messages.length === 0) b = randomBatch(rnd);
  const bytes = encodeBatch(b);
  for (const cut of [1, bytes.length - 1]) {
    const e = t.throws(() => decodeBatch(bytes.subarray(0, cut)), undefined, `cut at ${cut}`);
    t.true(e instanceof BatchDecodeError, String(e));
  }
  t.throws(() => decodeBatch(Buffer.from([0x1a, 0x05, 0x08])), { instanceOf: BatchDecodeError }); // length past the end
  t.throws(() => decodeBatch(Buffer.from([0x0f])), { instanceOf: BatchDecodeError }); // wire type 7
  t.throws(() => decodeBatch(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), { instanceOf: BatchDecodeError }); // varint too long
});

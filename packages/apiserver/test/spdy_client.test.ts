// The client role of the SPDY/3.1 session (packages/apiserver/src/http/spdy.ts)
// against a peer's real zlib streams: streams we open (odd ids, SYN_STREAM
// header blocks a dictionary-aware inflater reads), the peer's SYN_REPLY with
// a dictionary-compressed block, DATA and FIN both ways, the peer's
// even-numbered PINGs echoed, and protocol errors.
import test from 'ava';
import { constants as zc, createDeflate, inflateSync } from 'node:zlib';
import { FLAG_FIN, FRAME, FrameParser, SPDY3_DICTIONARY, SpdySession, dataFrame, decodeHeaderBlock, encodeHeaderBlock, type Frame, type Headers } from '../src/http/spdy.js';
import { spdyStreamTypes } from '../src/http/spdy_exec_bridge.js';

function peerCompressor(): (raw: Buffer) => Promise<Buffer> {
  const z = createDeflate({ level: 9, dictionary: SPDY3_DICTIONARY });
  const chunks: Buffer[] = [];
  z.on('data', (d: Buffer) => chunks.push(d));
  return (raw) =>
    new Promise((resolve) => {
      z.write(raw);
      z.flush(zc.Z_SYNC_FLUSH, () => resolve(Buffer.concat(chunks.splice(0))));
    });
}

function control(type: number, payload: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([h, payload]);
}

function harness() {
  const sent: Frame[] = [];
  const parser = new FrameParser();
  const events: string[] = [];
  const data: [number, string][] = [];
  const s = new SpdySession((b) => sent.push(...parser.push(b)), {
    stream: (id) => events.push(`stream ${id}`),
    data: (id, d) => data.push([id, d.toString()]),
    end: (id, reset) => events.push(`end ${id}${reset ? ' reset' : ''}`),
    close: (err) => events.push(`close${err ? ` ${err.code}` : ''}`),
  }, { client: true });
  return { s, sent, events, data };
}

test('a client opens odd-numbered streams whose header blocks a peer inflater decodes', (t) => {
  const { s, sent } = harness();
  const ids = ['error', 'stdin', 'stdout'].map((type) => s.openStream(new Map([['streamtype', [type]]])));
  t.deepEqual(ids, [1, 3, 5]);
  t.is(sent.length, 3);
  const blocks: Buffer[] = [];
  for (const f of sent) {
    if (f.kind !== 'control') return t.fail('expected SYN_STREAM');
    t.is(f.type, FRAME.SYN_STREAM);
    t.is(f.payload.readUInt32BE(4), 0); // no associated stream
    blocks.push(f.payload.subarray(10));
  }
  t.deepEqual(sent.map((f) => (f.kind === 'control' ? f.payload.readUInt32BE(0) : 0)), [1, 3, 5]);
  // the blocks form one zlib stream; a peer (Go's zlib with the dictionary) reads them in order
  const all = inflateSync(Buffer.concat(blocks), { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
  const first = encodeHeaderBlock(new Map([['streamtype', ['error']]]));
  t.deepEqual(decodeHeaderBlock(all.subarray(0, first.length)), new Map([['streamtype', ['error']]]));
});

test('a client takes SYN_REPLY for its streams, passes DATA and FIN, writes and finishes, echoes even PINGs', async (t) => {
  const { s, sent, events, data } = harness();
  const id = s.openStream(new Map([['streamtype', ['stdout']]]) as Headers);
  const compress = await peerCompressor();
  const reply = Buffer.concat([Buffer.alloc(4), await compress(encodeHeaderBlock(new Map()))]);
  reply.writeUInt32BE(id, 0);
  s.receive(control(FRAME.SYN_REPLY, reply));
  s.receive(Buffer.concat([dataFrame(id, Buffer.from('out')), dataFrame(id, Buffer.alloc(0), FLAG_FIN)]));
  t.deepEqual(data, [[1, 'out']]);
  t.deepEqual(events, ['end 1']);
  sent.length = 0;
  s.write(id, Buffer.from('in'));
  s.finish(id);
  t.deepEqual(sent.map((f) => (f.kind === 'data' ? [f.streamId, f.flags, f.data.toString()] : ['control'])), [[1, 0, 'in'], [1, FLAG_FIN, '']]);
  sent.length = 0;
  const even = Buffer.alloc(4);
  even.writeUInt32BE(2);
  const odd = Buffer.alloc(4);
  odd.writeUInt32BE(1);
  s.receive(Buffer.concat([control(FRAME.PING, even), control(FRAME.PING, odd)]));
  t.is(sent.length, 1); // only the peer's (even) ping is answered
  t.deepEqual(sent[0]?.kind === 'control' ? [sent[0].type, sent[0].payload.readUInt32BE(0)] : [], [FRAME.PING, 2]);
  s.receive(control(FRAME.GOAWAY, Buffer.alloc(8)));
  t.true(s.isClosed);
  t.is(events.at(-1), 'close');
});

test('a SYN_REPLY for a stream the client did not open, or an odd peer stream id, is a protocol error with GOAWAY', async (t) => {
  const a = harness();
  const compress = await peerCompressor();
  const reply = Buffer.concat([Buffer.alloc(4), await compress(encodeHeaderBlock(new Map()))]);
  reply.writeUInt32BE(7, 0);
  a.s.receive(control(FRAME.SYN_REPLY, reply));
  t.is(a.events.at(-1), 'close ProtocolError');
  t.true(a.sent.some((f) => f.kind === 'control' && f.type === FRAME.GOAWAY));
  const b = harness();
  const syn = Buffer.concat([Buffer.alloc(10), await (await peerCompressor())(encodeHeaderBlock(new Map()))]);
  syn.writeUInt32BE(1, 0); // odd: a client's id, not a server's
  b.s.receive(control(FRAME.SYN_STREAM, syn));
  t.is(b.events.at(-1), 'close ProtocolError');
});

test('the streams a remotecommand server expects: error first, stderr merged into a tty, resize only with one', (t) => {
  t.deepEqual(spdyStreamTypes({ stdin: true, stdout: true, stderr: true, tty: false }), ['error', 'stdin', 'stdout', 'stderr']);
  t.deepEqual(spdyStreamTypes({ stdin: true, stdout: true, stderr: true, tty: true }), ['error', 'stdin', 'stdout', 'resize']);
  t.deepEqual(spdyStreamTypes({ stdin: false, stdout: true, stderr: false, tty: false }), ['error', 'stdout']);
});

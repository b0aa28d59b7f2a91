// SPDY/3.1 codec and session (packages/apiserver/src/http/spdy.ts) against
// real zlib streams: the peer's dictionary-compressed, sync-flushed header
// blocks, our stored blocks as a peer's inflater reads them, and the frames a
// session answers with.
import test from 'ava';
import { createHash } from 'node:crypto';
import { constants as zc, createDeflate, inflateSync } from 'node:zlib';
import { FLAG_FIN, FRAME, FrameParser, HeaderCompressor, HeaderDecompressor, SPDY3_DICTIONARY, SpdySession, dataFrame, decodeHeaderBlock, encodeHeaderBlock, type Frame, type Headers } from '../src/http/spdy.js';

/** A peer's header compressor: one zlib stream with the SPDY/3 dictionary, sync flush per block. */
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

function synStream(id: number, block: Buffer, flags = 0): Buffer {
  const p = Buffer.alloc(10 + block.length);
  p.writeUInt32BE(id, 0);
  block.copy(p, 10);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(FRAME.SYN_STREAM, 2);
  h[4] = flags;
  h.writeUIntBE(p.length, 5, 3);
  return Buffer.concat([h, p]);
}

function control(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([h, payload]);
}

test('the SPDY/3 dictionary is the 1423-byte one of the spec', (t) => {
  t.is(SPDY3_DICTIONARY.length, 1423);
  t.is(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
});

test('header blocks of a peer zlib stream decode block by block', async (t) => {
  const compress = peerCompressor();
  const d = new HeaderDecompressor();
  const h1: Headers = new Map([['streamtype', ['error']]]);
  const h2: Headers = new Map([['streamtype', ['stdout']], ['x-multi', ['a', 'b']]]);
  t.deepEqual(decodeHeaderBlock(d.decompress(await compress(encodeHeaderBlock(h1)))), h1);
  t.deepEqual(decodeHeaderBlock(d.decompress(await compress(encodeHeaderBlock(h2)))), h2);
  t.throws(() => new HeaderDecompressor().decompress(Buffer.from([0x78, 0xbb, 1, 2, 3, 4, 5])), { message: /does not decompress/ });
});

test('our header blocks form one zlib stream, each ending at a sync-flush marker', (t) => {
  const c = new HeaderCompressor();
  const b1 = c.compress(encodeHeaderBlock(new Map()));
  const b2 = c.compress(encodeHeaderBlock(new Map([['a', ['1']]])));
  t.deepEqual(b1.subarray(-5), Buffer.from([0, 0, 0, 0xff, 0xff]));
  t.deepEqual(b2.subarray(-5), Buffer.from([0, 0, 0, 0xff, 0xff]));
  const all = inflateSync(Buffer.concat([b1, b2]), { finishFlush: zc.Z_SYNC_FLUSH });
  t.deepEqual(all, Buffer.concat([encodeHeaderBlock(new Map()), encodeHeaderBlock(new Map([['a', ['1']]]))]));
});

test('a session replies to SYN_STREAM, passes DATA and FIN, echoes peer PINGs and writes data frames', async (t) => {
  const out = new FrameParser();
  const sent: Frame[] = [];
  const events: string[] = [];
  const s = new SpdySession((b) => sent.push(...out.push(b)), {
    stream: (id, h, fin) => events.push(`stream ${id} ${h.get('streamtype')?.[0]} ${fin}`),
    data: (id, d) => events.push(`data ${id} ${d.toString()}`),
    end: (id, reset) => events.push(`end ${id} ${reset}`),
    close: (err) => events.push(`close ${err?.code ?? ''}`),
  });
  const compress = peerCompressor();
  const wire = Buffer.concat([
    synStream(1, await compress(encodeHeaderBlock(new Map([['streamtype', ['error']]])))),
    synStream(3, await compress(encodeHeaderBlock(new Map([['streamtype', ['stdin']]])))),
    dataFrame(3, Buffer.from('abc')),
    dataFrame(3, Buffer.alloc(0), FLAG_FIN),
    control(FRAME.PING, Buffer.from([0, 0, 0, 7])),
  ]);
  // delivered in awkward pieces
  for (let i = 0; i < wire.length; i += 7) s.receive(wire.subarray(i, i + 7));
  t.deepEqual(events, ['stream 1 error false', 'stream 3 stdin false', 'data 3 abc', 'end 3 false']);
  t.deepEqual(sent.map((f) => (f.kind === 'control' ? `c${f.type}` : `d${f.streamId}`)), ['c2', 'c2', `c${FRAME.PING}`]);
  const replyIds = sent.filter((f) => f.kind === 'control' && f.type === FRAME.SYN_REPLY).map((f) => (f as { payload: Buffer }).payload.readUInt32BE(0));
  t.deepEqual(replyIds, [1, 3]);
  s.write(1, Buffer.alloc(70_000, 1));
  s.finish(1);
  const data = sent.filter((f) => f.kind === 'data') as { streamId: number; flags: number; data: Buffer }[];
  t.deepEqual(data.map((f) => [f.streamId, f.data.length, f.flags]), [[1, 65535, 0], [1, 70_000 - 65535, 0], [1, 0, FLAG_FIN]]);
  s.receive(control(FRAME.GOAWAY, Buffer.alloc(8)));
  t.is(events.at(-1), 'close ');
});

test('a session answers a protocol error with GOAWAY', (t) => {
  const out = new FrameParser();
  const sent: Frame[] = [];
  let closed: string | undefined;
  const s = new SpdySession((b) => sent.push(...out.push(b)), { stream: () => undefined, data: () => undefined, end: () => undefined, close: (err) => (closed = err?.code) });
  s.receive(synStream(2, new HeaderCompressor().compress(encodeHeaderBlock(new Map())))); // even ids are the server's
  t.is(closed, 'ProtocolError');
  t.deepEqual(sent.map((f) => (f.kind === 'control' ? f.type : -1)), [FRAME.GOAWAY]);
});

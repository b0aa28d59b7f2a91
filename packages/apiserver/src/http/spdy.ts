/**
 * SPDY/3.1 as far as the Kubernetes remotecommand peers (kubectl before 1.30
 * and the runtimes' streaming servers, via moby/spdystream) use it: frame
 * codec, header blocks (zlib with the SPDY/3 dictionary), and a session that
 * accepts peer-initiated streams (SYN_STREAM → SYN_REPLY) or, as a client
 * (`{ client: true }`), opens its own (`openStream`, SYN_STREAM ← SYN_REPLY);
 * carries DATA with FIN, answers the peer's PINGs and takes RST_STREAM /
 * GOAWAY. Flow control is not enforced
 * (spdystream neither sends nor honours WINDOW_UPDATE); WINDOW_UPDATE and
 * SETTINGS are accepted and ignored. No I/O: bytes come in through
 * `receive`, frames go out through the injected `send`.
 */
import { constants as zc, inflateSync } from 'node:zlib';

export const SPDY_VERSION = 3;
export const FRAME = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
export const FLAG_FIN = 0x01;
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5, INTERNAL_ERROR: 6, STREAM_IN_USE: 8, STREAM_ALREADY_CLOSED: 9 } as const;

const DICT_WORDS = ['options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin'];
const DICT_TAIL = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 header compression dictionary (1423 bytes): length-prefixed words, then a tail. */
export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICT_WORDS.flatMap((w) => {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(w.length);
    return [l, Buffer.from(w, 'latin1')];
  }),
  Buffer.from(DICT_TAIL, 'latin1'),
]);

export class SpdyError extends Error {
  constructor(
    message: string,
    readonly code: 'ProtocolError' | 'HeaderBlockError' | 'TooLarge',
  ) {
    super(message);
  }
}

export type Headers = Map<string, string[]>;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; type: number; version: number; flags: number; payload: Buffer };

const MAX_HEADER_STREAM = 1 << 20;

/** Splits a byte stream into SPDY frames. */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  push(d: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      const flags = this.buf[4]!;
      const body = this.buf.subarray(8, 8 + len);
      if (this.buf[0]! & 0x80) out.push({ kind: 'control', version: this.buf.readUInt16BE(0) & 0x7fff, type: this.buf.readUInt16BE(2), flags, payload: body });
      else out.push({ kind: 'data', streamId: this.buf.readUInt32BE(0) & 0x7fffffff, flags, data: body });
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([h, payload]);
}

export function dataFrame(streamId: number, data: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h[4] = flags;
  h.writeUIntBE(data.length, 5, 3);
  return Buffer.concat([h, data]);
}

export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(headers.size);
  parts.push(n);
  for (const [k, vs] of headers) {
    for (const s of [Buffer.from(k.toLowerCase()), Buffer.from(vs.join('\0'))]) {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(s.length);
      parts.push(l, s);
    }
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): Headers {
  const out: Headers = new Map();
  let off = 0;
  const u32 = () => {
    if (off + 4 > b.length) throw new SpdyError('truncated header block', 'HeaderBlockError');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = () => {
    const l = u32();
    if (off + l > b.length) throw new SpdyError('truncated header block', 'HeaderBlockError');
    const s = b.subarray(off, off + l).toString('utf8');
    off += l;
    return s;
  };
  const n = u32();
  for (let i = 0; i < n; i++) {
    const k = str().toLowerCase();
    out.set(k, [...(out.get(k) ?? []), ...str().split('\0')]);
  }
  return out;
}

/**
 * The peer's header blocks form one zlib stream (SPDY/3 dictionary, a sync
 * flush after each block). Decoded synchronously by re-inflating everything
 * received so far; remotecommand clients send a handful of small blocks, and
 * the total is capped.
 */
export class HeaderDecompressor {
  private input: Buffer = Buffer.alloc(0);
  private produced = 0;

  decompress(block: Buffer): Buffer {
    this.input = Buffer.concat([this.input, block]);
    if (this.input.length > MAX_HEADER_STREAM) throw new SpdyError('header compression stream too large', 'TooLarge');
    let out: Buffer;
    try {
      out = inflateSync(this.input, { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
    } catch (err) {
      throw new SpdyError(`header block does not decompress: ${(err as Error).message}`, 'HeaderBlockError');
    }
    const fresh = out.subarray(this.produced);
    this.produced = out.length;
    return fresh;
  }
}

/**
 * Our header blocks: one zlib stream of stored (uncompressed) deflate blocks,
 * each header block followed by an empty stored block exactly as a zlib sync
 * flush ends (a peer's inflater hands out the data only at that marker). No
 * preset dictionary is referenced, so the zlib header does not announce one.
 */
export class HeaderCompressor {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(Buffer.from([0x78, 0x01]));
      this.started = true;
    }
    for (let off = 0; off < raw.length; off += 0xffff) parts.push(storedBlock(raw.subarray(off, off + 0xffff)));
    parts.push(storedBlock(Buffer.alloc(0)));
    return Buffer.concat(parts);
  }
}

/** A non-final stored deflate block (BFINAL=0, BTYPE=00, LEN, NLEN, data). */
function storedBlock(chunk: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt16LE(chunk.length, 1);
  h.writeUInt16LE(~chunk.length & 0xffff, 3);
  return Buffer.concat([h, chunk]);
}

export interface SpdySessionEvents {
  /** A peer-initiated stream; answered with SYN_REPLY by the session. */
  stream(id: number, headers: Headers, fin: boolean): void;
  data(id: number, data: Buffer): void;
  /** The peer half-closed (FIN) or reset the stream. */
  end(id: number, reset: boolean): void;
  /** GOAWAY from the peer, or a protocol error (then `err` is set). */
  close(err?: SpdyError): void;
}

const MAX_DATA = 0xffff;

export class SpdySession {
  private readonly parser = new FrameParser();
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private readonly open = new Set<number>();
  private readonly opened = new Set<number>();
  private lastPeerStream = 0;
  private nextId: number;
  private closed = false;

  constructor(
    private readonly send: (b: Buffer) => void,
    private readonly on: SpdySessionEvents,
    private readonly role: { client: boolean } = { client: false },
  ) {
    // clients open odd-numbered streams, servers even-numbered ones
    this.nextId = role.client ? 1 : 2;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a stream of our own (SYN_STREAM); returns its id. Its SYN_REPLY is awaited silently. */
  openStream(headers: Headers, fin = false): number {
    const id = this.nextId;
    this.nextId += 2;
    this.open.add(id);
    this.opened.add(id);
    const p = Buffer.concat([Buffer.alloc(10), this.deflater.compress(encodeHeaderBlock(headers))]);
    p.writeUInt32BE(id, 0); // associated stream 0, priority 0, slot 0
    if (!this.closed) this.send(controlFrame(FRAME.SYN_STREAM, fin ? FLAG_FIN : 0, p));
    return id;
  }

  receive(d: Buffer): void {
    if (this.closed) return;
    try {
      for (const f of this.parser.push(d)) {
        this.handle(f);
        if (this.closed) return;
      }
    } catch (err) {
      const e = err instanceof SpdyError ? err : new SpdyError(String((err as Error)?.message ?? err), 'ProtocolError');
      this.goAway(1);
      this.on.close(e);
    }
  }

  write(id: number, data: Buffer): void {
    if (this.closed) return;
    for (let off = 0; off < data.length; off += MAX_DATA) this.send(dataFrame(id, data.subarray(off, off + MAX_DATA)));
  }

  /** Half-closes our side of the stream (empty DATA with FIN). */
  finish(id: number): void {
    if (!this.closed) this.send(dataFrame(id, Buffer.alloc(0), FLAG_FIN));
  }

  reset(id: number, status: number = RST.CANCEL): void {
    if (this.closed) return;
    const p = Buffer.alloc(8);
    p.writeUInt32BE(id & 0x7fffffff, 0);
    p.writeUInt32BE(status, 4);
    this.send(controlFrame(FRAME.RST_STREAM, 0, p));
  }

  goAway(status = 0): void {
    if (this.closed) return;
    const p = Buffer.alloc(8);
    p.writeUInt32BE(this.lastPeerStream, 0);
    p.writeUInt32BE(status, 4);
    this.send(controlFrame(FRAME.GOAWAY, 0, p));
    this.closed = true;
  }

  private handle(f: Frame): void {
    if (f.kind === 'data') {
      if (!this.open.has(f.streamId)) return this.reset(f.streamId, RST.INVALID_STREAM);
      if (f.data.length) this.on.data(f.streamId, f.data);
      if (f.flags & FLAG_FIN) this.on.end(f.streamId, false);
      return;
    }
    if (f.version !== SPDY_VERSION) throw new SpdyError(`unsupported SPDY version ${f.version}`, 'ProtocolError');
    const p = f.payload;
    switch (f.type) {
      case FRAME.SYN_STREAM: {
        if (p.length < 10) throw new SpdyError('short SYN_STREAM', 'ProtocolError');
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(this.inflater.decompress(p.subarray(10)));
        if (id % 2 === (this.role.client ? 1 : 0) || id <= this.lastPeerStream) throw new SpdyError(`bad stream id ${id}`, 'ProtocolError');
        this.lastPeerStream = id;
        this.open.add(id);
        const reply = Buffer.concat([Buffer.alloc(4), this.deflater.compress(encodeHeaderBlock(new Map()))]);
        reply.writeUInt32BE(id, 0);
        this.send(controlFrame(FRAME.SYN_REPLY, 0, reply));
        this.on.stream(id, headers, (f.flags & FLAG_FIN) !== 0);
        return;
      }
      case FRAME.HEADERS:
        if (p.length >= 4) this.inflater.decompress(p.subarray(4)); // keeps the zlib stream in step
        return;
      case FRAME.RST_STREAM: {
        const id = p.readUInt32BE(0) & 0x7fffffff;
        if (this.open.delete(id)) this.on.end(id, true);
        return;
      }
      case FRAME.PING:
        // peer-initiated pings carry the peer's parity (odd from a client; we never ping)
        if (p.length === 4 && p.readUInt32BE(0) % 2 === (this.role.client ? 0 : 1)) this.send(controlFrame(FRAME.PING, 0, p));
        return;
      case FRAME.GOAWAY:
        this.closed = true;
        this.on.close();
        return;
      case FRAME.SYN_REPLY: {
        if (p.length < 4) throw new SpdyError('short SYN_REPLY', 'ProtocolError');
        const id = p.readUInt32BE(0) & 0x7fffffff;
        if (!this.opened.delete(id)) throw new SpdyError('SYN_REPLY for a stream we did not open', 'ProtocolError');
        this.inflater.decompress(p.subarray(4)); // keeps the zlib stream in step
        if (f.flags & FLAG_FIN) this.on.end(id, false);
        return;
      }
      default:
        return; // SETTINGS, WINDOW_UPDATE, unknown: ignored
    }
  }
}

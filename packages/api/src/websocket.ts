// RFC 6455 framing over a connected socket, for the streaming subresources of
// the Kubernetes API (exec, attach, port-forward over v4/v5.channel.k8s.io):
// binary and text messages, fragmentation, ping/pong, the close handshake, and
// masking on the client side. No extensions. The HTTP upgrade itself is done by
// the caller (the node agent accepts it, the API server's node proxy and the node
// agent's client send it).
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The largest message accepted (a longer frame is a protocol error). */
export const MAX_WEBSOCKET_MESSAGE = 64 * 1024 * 1024;

export class WebSocketError extends Error {
  constructor(
    message: string,
    readonly code: 'HandshakeFailed' | 'ProtocolError' | 'TooLarge',
  ) {
    super(message);
  }
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * Events: 'message' (data: Buffer, binary: boolean), 'close' (code: number).
 * `masking` is true for the client side (RFC 6455 5.3).
 */
export class WebSocketConn extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private closed = false;
  private closeSent = false;

  constructor(
    readonly socket: Duplex,
    readonly protocol: string,
    private readonly masking: boolean,
    head?: Buffer,
  ) {
    super();
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.finish(1006));
    socket.on('error', () => this.finish(1006));
    socket.on('end', () => this.finish(1006));
    if (head && head.length) setImmediate(() => this.onData(head));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(data: Buffer | string, binary = true): void {
    if (this.closed || this.closeSent) return;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    this.socket.write(this.frame(binary ? 2 : 1, payload));
  }

  /** Sends a close frame and ends the socket once the peer answers (or soon). */
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent) {
      this.closeSent = true;
      const p = Buffer.alloc(2 + Buffer.byteLength(reason));
      p.writeUInt16BE(code, 0);
      p.write(reason, 2);
      this.socket.write(this.frame(8, p));
    }
    const t = setTimeout(() => this.socket.destroy(), 2_000);
    t.unref();
    this.socket.end();
  }

  private frame(opcode: number, payload: Buffer): Buffer {
    const len = payload.length;
    const headLen = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + (this.masking ? 4 : 0);
    const head = Buffer.alloc(headLen);
    head[0] = 0x80 | opcode;
    let off = 2;
    if (len < 126) head[1] = len;
    else if (len < 65536) {
      head[1] = 126;
      head.writeUInt16BE(len, 2);
      off = 4;
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
      off = 10;
    }
    if (!this.masking) return Buffer.concat([head, payload]);
    head[1]! |= 0x80;
    const mask = randomBytes(4);
    mask.copy(head, off);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    return Buffer.concat([head, masked]);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    try {
      while (this.parseOne());
    } catch (err) {
      this.emit('protocolError', err);
      this.close(1002, 'protocol error');
      this.socket.destroy();
      this.finish(1002);
    }
  }

  private parseOne(): boolean {
    const b = this.buf;
    if (b.length < 2) return false;
    const fin = (b[0]! & 0x80) !== 0;
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return false;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return false;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_WEBSOCKET_MESSAGE)) throw new WebSocketError('frame too large', 'TooLarge');
      len = Number(big);
      off = 10;
    }
    const maskOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return false;
    let payload = b.subarray(off, off + len);
    if (masked) {
      const out = Buffer.alloc(len);
      for (let i = 0; i < len; i++) out[i] = payload[i]! ^ b[maskOff + (i & 3)]!;
      payload = out;
    } else payload = Buffer.from(payload);
    this.buf = b.subarray(off + len);
    this.onFrame(fin, opcode, payload);
    return true;
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x0: // continuation
        this.fragments.push(payload);
        if (fin) {
          const all = Buffer.concat(this.fragments);
          this.fragments = [];
          this.emit('message', all, this.fragmentOpcode === 2);
        }
        return;
      case 0x1:
      case 0x2:
        if (fin) this.emit('message', payload, opcode === 2);
        else {
          this.fragmentOpcode = opcode;
          this.fragments = [payload];
        }
        return;
      case 0x8: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!this.closeSent) {
          this.closeSent = true;
          this.socket.write(this.frame(8, payload.subarray(0, 2)));
        }
        this.socket.end();
        this.finish(code);
        return;
      }
      case 0x9:
        if (!this.closeSent) this.socket.write(this.frame(0xa, payload));
        return;
      case 0xa:
        return;
      default:
        throw new WebSocketError(`unknown opcode ${opcode}`, 'ProtocolError');
    }
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', code);
  }
}

/**
 * A minimal RFC 6455 client over an already connected socket, for the
 * remotecommand channel protocols towards a node agent: handshake
 * (`handshakeWebSocket`), then binary messages, ping → pong, close. Client
 * frames are masked; fragmented messages are reassembled.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 64 * 1024 * 1024;

export class ChannelWebSocketError extends Error {
  constructor(
    message: string,
    readonly code: 'HandshakeFailed' | 'ProtocolError' | 'TooLarge',
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

/**
 * Sends the upgrade request and waits for the 101; resolves with the bytes
 * that followed the response head. Non-101 answers reject with the status and body.
 */
export function handshakeWebSocket(socket: Duplex, path: string, host: string, protocol: string, timeoutMs = 15_000): Promise<Buffer> {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`);
  return new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(rest!);
    };
    const timer = setTimeout(() => done(new ChannelWebSocketError('WebSocket handshake timed out', 'HandshakeFailed')), timeoutMs);
    const onClose = () => {
      const text = buf.toString('utf8');
      const m = /^HTTP\/1\.\d (\d+)/.exec(text);
      const body = text.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      done(new ChannelWebSocketError(`WebSocket handshake failed: ${m ? `status ${m[1]}` : 'connection closed'}`, 'HandshakeFailed', m ? Number(m[1]) : undefined, body));
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const status = Number(/^HTTP\/1\.\d (\d+)/.exec(lines[0] ?? '')?.[1] ?? 0);
      if (status !== 101) {
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const body = buf.subarray(end + 4);
        if (cl && body.length >= Number(cl[1])) done(new ChannelWebSocketError(`WebSocket handshake failed: status ${status}`, 'HandshakeFailed', status, body.toString('utf8')));
        return; // otherwise wait for the rest of the body or the close
      }
      const h = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as const));
      if (h.get('sec-websocket-accept') !== accept) return done(new ChannelWebSocketError('WebSocket handshake: bad Sec-WebSocket-Accept', 'HandshakeFailed', 101));
      if (h.get('sec-websocket-protocol') !== protocol) return done(new ChannelWebSocketError(`WebSocket handshake: server did not select ${protocol}`, 'HandshakeFailed', 101));
      done(undefined, buf.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Events: 'message' (data: Buffer), 'close'. */
export class ChannelWebSocket extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private closed = false;

  constructor(
    readonly socket: Duplex,
    head: Buffer,
  ) {
    super();
    socket.on('data', (d: Buffer) => this.onData(d));
    const gone = () => this.finish();
    socket.on('close', gone);
    socket.on('end', gone);
    socket.on('error', gone);
    if (head.length) setImmediate(() => this.onData(head));
  }

  send(payload: Buffer): void {
    if (!this.closed) this.socket.write(this.frame(2, payload));
  }

  close(): void {
    if (this.closed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(1000);
    this.socket.write(this.frame(8, p));
    this.socket.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  private frame(opcode: number, payload: Buffer): Buffer {
    const len = payload.length;
    const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
    const head = Buffer.alloc(2 + ext + 4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | (len < 126 ? len : len < 65536 ? 126 : 127);
    if (ext === 2) head.writeUInt16BE(len, 2);
    else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
    const mask = randomBytes(4);
    mask.copy(head, 2 + ext);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    return Buffer.concat([head, masked]);
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    try {
      while (this.parseOne());
    } catch (err) {
      this.emit('protocolError', err);
      this.socket.destroy();
      this.finish();
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
      if (big > BigInt(MAX_MESSAGE)) throw new ChannelWebSocketError('frame too large', 'TooLarge');
      len = Number(big);
      off = 10;
    }
    const maskOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return false;
    let payload = b.subarray(off, off + len);
    if (masked) {
      const m = b.subarray(maskOff, maskOff + 4);
      payload = Buffer.from(payload.map((x, i) => x ^ m[i & 3]!));
    }
    this.buf = b.subarray(off + len);
    switch (opcode) {
      case 0:
      case 1:
      case 2:
        this.fragments.push(payload);
        if (fin) {
          const msg = Buffer.concat(this.fragments);
          this.fragments = [];
          this.emit('message', msg);
        }
        break;
      case 8:
        this.close();
        return false;
      case 9:
        this.socket.write(this.frame(10, payload));
        break;
      case 10:
        break;
      default:
        throw new ChannelWebSocketError(`unknown opcode ${opcode}`, 'ProtocolError');
    }
    return true;
  }
}

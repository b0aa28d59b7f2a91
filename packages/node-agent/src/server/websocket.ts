// A minimal RFC 6455 WebSocket endpoint (server accept and client connect)
// for the exec/attach channel protocols (v4/v5.channel.k8s.io): binary and
// text messages, fragmentation, ping/pong, close. No extensions.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 64 * 1024 * 1024;

export class WebSocketError extends Error {
  constructor(
    message: string,
    readonly code: 'HandshakeFailed' | 'ProtocolError' | 'TooLarge',
  ) {
    super(message);
  }
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Offered subprotocols of a handshake request, in the client's order. */
export function offeredProtocols(req: IncomingMessage): string[] {
  const h = req.headers['sec-websocket-protocol'];
  const raw = Array.isArray(h) ? h.join(',') : (h ?? '');
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
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
      if (big > BigInt(MAX_MESSAGE)) throw new WebSocketError('frame too large', 'TooLarge');
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

/**
 * Completes the server side of a handshake on an 'upgrade' socket with the
 * first protocol the client offered that is in `supported` (client's
 * preference, as kubelet's wsstream does). Writes a 400 and returns
 * undefined when none fits.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, supported: string[]): WebSocketConn | undefined {
  const key = req.headers['sec-websocket-key'];
  const offered = offeredProtocols(req);
  const protocol = offered.find((p) => supported.includes(p));
  if (!key || protocol === undefined) {
    const msg = !key ? 'missing Sec-WebSocket-Key' : `none of the offered subprotocols [${offered.join(', ')}] is supported (${supported.join(', ')})`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(String(key))}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  (socket as Socket).setNoDelay?.(true);
  return new WebSocketConn(socket, protocol, false, head);
}

/** Opens a client WebSocket to ws://, wss://, http:// or https:// URL with the given subprotocols. */
export function connectWebSocket(url: string, protocols: string[], tls: ConnectionOptions = {}, timeoutMs = 10_000): Promise<WebSocketConn> {
  const u = new URL(url);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  const port = Number(u.port || (secure ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket: Socket = secure ? tlsConnect({ host, port, servername: host, ...tls }) : netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new WebSocketError(`WebSocket handshake with ${u.host} timed out`, 'HandshakeFailed'));
    }, timeoutMs);
    const key = randomBytes(16).toString('base64');
    const onConnect = () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocols.length ? `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n` : '') +
          '\r\n',
      );
    };
    socket.once(secure ? 'secureConnect' : 'connect', onConnect);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('error', onError);
      clearTimeout(timer);
      const headText = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      const [status, ...lines] = headText.split('\r\n');
      const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      if (!/^HTTP\/1\.1 101/.test(status ?? '') || headers.get('sec-websocket-accept') !== acceptKey(key)) {
        socket.destroy();
        reject(new WebSocketError(`WebSocket handshake with ${u.host} failed: ${status} ${rest.toString().slice(0, 300)}`, 'HandshakeFailed'));
        return;
      }
      socket.setNoDelay(true);
      resolve(new WebSocketConn(socket, headers.get('sec-websocket-protocol') ?? '', true, rest));
    };
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new WebSocketError(`WebSocket connection to ${u.host} failed: ${err.message}`, 'HandshakeFailed'));
    };
    socket.on('data', onData);
    socket.once('error', onError);
  });
}

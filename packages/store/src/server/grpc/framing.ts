// gRPC's length-prefixed message framing (gRPC over HTTP/2, "Length-Prefixed-Message"):
// a 1-byte compressed flag, a 4-byte big-endian length, then the message. The decoder
// takes DATA frame chunks as they arrive (a message may span chunks, a chunk may hold
// several messages) and refuses a message above the receive limit before buffering it.

export class GrpcFramingError extends Error {
  constructor(
    message: string,
    /** The gRPC status the call ends with. */
    readonly grpcCode: number,
    readonly code = 'GRPC_FRAMING',
  ) {
    super(message);
    this.name = 'GrpcFramingError';
  }
}

const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;

/** One message with its 5-byte prefix. */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export class MessageDecoder {
  private header = Buffer.alloc(5);
  private headerHave = 0;
  private body: Buffer | undefined;
  private bodyHave = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** True while a message is partly read (the stream ended mid-message if so). */
  get partial(): boolean {
    return this.headerHave > 0 || this.body !== undefined;
  }

  /** The complete messages in `chunk` (and before it); throws GrpcFramingError. */
  write(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.body === undefined) {
        // Fast path: a whole message in this chunk with no header pending.
        if (this.headerHave === 0 && chunk.length - i >= 5) {
          const len = this.checkHeader(chunk[i]!, chunk.readUInt32BE(i + 1));
          if (chunk.length - i - 5 >= len) {
            out.push(chunk.subarray(i + 5, i + 5 + len));
            i += 5 + len;
            continue;
          }
          this.body = Buffer.allocUnsafe(len);
          this.bodyHave = chunk.length - i - 5;
          chunk.copy(this.body, 0, i + 5);
          i = chunk.length;
          continue;
        }
        const n = Math.min(5 - this.headerHave, chunk.length - i);
        chunk.copy(this.header, this.headerHave, i, i + n);
        this.headerHave += n;
        i += n;
        if (this.headerHave < 5) break;
        this.headerHave = 0;
        const len = this.checkHeader(this.header[0]!, this.header.readUInt32BE(1));
        this.body = Buffer.allocUnsafe(len);
        this.bodyHave = 0;
      }
      const n = Math.min(this.body.length - this.bodyHave, chunk.length - i);
      chunk.copy(this.body, this.bodyHave, i, i + n);
      this.bodyHave += n;
      i += n;
      if (this.bodyHave === this.body.length) {
        out.push(this.body);
        this.body = undefined;
      }
    }
    return out;
  }

  private checkHeader(flag: number, len: number): number {
    if (flag !== 0) {
      // No decompressor is installed (clients here never compress: grpc-js and etcdctl send identity).
      throw new GrpcFramingError('Received compressed message but "grpc-encoding" header was identity', UNIMPLEMENTED);
    }
    if (len > this.maxMessageBytes) throw new GrpcFramingError(`Received message larger than max (${len} vs ${this.maxMessageBytes})`, RESOURCE_EXHAUSTED);
    return len;
  }
}

// The gRPC-over-HTTP/2 header values the server reads and writes: grpc-timeout
// (a deadline of at most 8 digits and a unit) and grpc-message (percent-encoded as
// the gRPC spec says: bytes outside 0x20–0x7E and '%' itself, as UTF-8).

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Milliseconds of a grpc-timeout value, or undefined if it is not one. */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})\s*([HMSmun])$/.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

const NEEDS_ENCODING = /[^\x20-\x24\x26-\x7e]/;

export function encodeGrpcMessage(message: string): string {
  if (!NEEDS_ENCODING.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * IP address and CIDR checks with Kubernetes' messages (apimachinery's
 * IsValidIP / IsValidIPv4Address / IsValidIPv6Address / IsValidCIDR and core
 * validation's ValidateNonSpecialIP). Addresses are parsed with net.isIP and
 * CIDRs strictly (address, "/", a prefix length in range without sign or
 * leading zeros): nothing with spaces, newlines, zones or other characters
 * reaches storage, and from there iptables-restore or ip route.
 */
import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';

export const IP_MSG = {
  ip: 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  ipPlain: 'must be a valid IP address',
  ipv4: 'must be a valid IPv4 address',
  ipv6: 'must be a valid IPv6 address',
  cidr: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  loopback: 'may not be in the loopback range (127.0.0.0/8, ::1/128)',
  linkLocal: 'may not be in the link-local range (169.254.0.0/16, fe80::/10)',
  linkLocalMulticast: 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
};

/** Only the characters an IPv4/IPv6 literal may hold (no zone "%eth0", no whitespace). */
const IP_CHARS = /^[0-9A-Fa-f:.]+$/;

/** 4 or 6 for a valid address, 0 otherwise. */
export function ipFamily(v: unknown): 0 | 4 | 6 {
  if (typeof v !== 'string' || v.length > 45 || !IP_CHARS.test(v)) return 0;
  return isIP(v) as 0 | 4 | 6;
}

/** The 16 bytes of an address (IPv4 as IPv4-mapped IPv6), or undefined. */
export function ipBytes(v: string): Uint8Array | undefined {
  const fam = ipFamily(v);
  if (fam === 0) return undefined;
  const out = new Uint8Array(16);
  if (fam === 4) {
    out[10] = 0xff;
    out[11] = 0xff;
    v.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  let text = v;
  // A trailing dotted quad ("::ffff:1.2.3.4") becomes two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const q = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 255;
  });
  return out;
}

/** True for IPv4 addresses and IPv4-mapped IPv6 ones (Go's To4() != nil). */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** validation.IsValidIP. */
export function validateIP(v: unknown, field: string, errs: FieldError[]): boolean {
  if (ipFamily(v) !== 0) return true;
  errs.push({ type: 'FieldValueInvalid', field, value: v, detail: IP_MSG.ip });
  return false;
}

/** validation.IsValidIPv4Address / IsValidIPv6Address (an IPv4-mapped IPv6 address counts as IPv4, as Go's To4 does). */
export function validateIPOfFamily(v: unknown, family: 4 | 6, field: string, errs: FieldError[]): void {
  const b = typeof v === 'string' ? ipBytes(v) : undefined;
  const v4 = b !== undefined && isV4Mapped(b);
  if (!b || (family === 4) !== v4) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: family === 4 ? IP_MSG.ipv4 : IP_MSG.ipv6 });
}

/**
 * ValidateNonSpecialIP (Endpoints, EndpointSlices, external IPs): not
 * unspecified, loopback, link-local or link-local multicast.
 */
export function validateNonSpecialIP(v: unknown, field: string, errs: FieldError[]): void {
  const b = typeof v === 'string' ? ipBytes(v) : undefined;
  if (!b) {
    errs.push({ type: 'FieldValueInvalid', field, value: v, detail: IP_MSG.ipPlain });
    return;
  }
  const bad = (detail: string) => errs.push({ type: 'FieldValueInvalid', field, value: v, detail });
  if (isV4Mapped(b)) {
    const [a, c, d, e] = [b[12]!, b[13]!, b[14]!, b[15]!];
    if (a === 0 && c === 0 && d === 0 && e === 0) bad(`may not be unspecified (${String(v)})`);
    if (a === 127) bad(IP_MSG.loopback);
    if (a === 169 && c === 254) bad(IP_MSG.linkLocal);
    if (a === 224 && c === 0 && d === 0) bad(IP_MSG.linkLocalMulticast);
    return;
  }
  if (b.every((x) => x === 0)) bad(`may not be unspecified (${String(v)})`);
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) bad(IP_MSG.loopback);
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) bad(IP_MSG.linkLocal);
  if (b[0] === 0xff && (b[1]! & 0x0f) === 0x02) bad(IP_MSG.linkLocalMulticast);
}

export interface Cidr {
  family: 4 | 6;
  /** The address as written. */
  address: string;
  bits: number;
  /** The network as a 128-bit number (IPv4 as IPv4-mapped IPv6). */
  network: bigint;
  /** The prefix length in the 128-bit space. */
  bits128: number;
}

/** Strict CIDR parse: "address/len", the length in decimal without leading zeros and within the family's range. */
export function parseCidr(v: unknown): Cidr | undefined {
  if (typeof v !== 'string') return undefined;
  const slash = v.indexOf('/');
  if (slash < 0) return undefined;
  const address = v.slice(0, slash);
  const len = v.slice(slash + 1);
  const family = ipFamily(address);
  if (family === 0 || !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const bits = Number(len);
  if (bits > (family === 4 ? 32 : 128)) return undefined;
  const bytes = ipBytes(address)!;
  let n = 0n;
  for (const x of bytes) n = (n << 8n) | BigInt(x);
  const bits128 = family === 4 ? bits + 96 : bits;
  const mask = bits128 === 0 ? 0n : ((1n << BigInt(bits128)) - 1n) << BigInt(128 - bits128);
  return { family, address, bits, network: n & mask, bits128 };
}

/** validation.IsValidCIDR (strict). */
export function validateCIDR(v: unknown, field: string, errs: FieldError[]): Cidr | undefined {
  const c = parseCidr(v);
  if (!c) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: IP_MSG.cidr });
  return c;
}

/** True when the two ranges share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits128, b.bits128);
  const shift = BigInt(128 - bits);
  return a.network >> shift === b.network >> shift;
}

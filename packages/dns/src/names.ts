/**
 * DNS name helpers of the cluster zone: normalisation (lower case, no
 * trailing dot), reverse names of IPv4/IPv6 addresses (in-addr.arpa,
 * ip6.arpa), the dashed form of an address used as an endpoint's generated
 * hostname, and parsing a dashed IPv4 pod name back.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Lower case, without the trailing dot (DNS comparisons are case-insensitive). */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Expands an IPv6 address to its 32 hex digits. */
function ipv6Nibbles(ip: string): string {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** The PTR name of an address: 4.3.2.1.in-addr.arpa, or the nibbles of an IPv6 address under ip6.arpa. */
export function reverseName(ip: string): string | undefined {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIPv6(ip)) return `${[...ipv6Nibbles(ip.toLowerCase())].reverse().join('.')}.ip6.arpa`;
  return undefined;
}

/** 10.0.0.1 → 10-0-0-1; fd00::1 → fd00--1 (a DNS label standing for an endpoint without hostname). */
export function dashedAddress(ip: string): string {
  return ip.toLowerCase().replace(/[.:]/g, '-');
}

/** 10-0-0-1 → 10.0.0.1 when the label is a dashed IPv4 address. */
export function undashIPv4(label: string): string | undefined {
  const ip = label.replace(/-/g, '.');
  return isIPv4(ip) ? ip : undefined;
}

/** Whether `name` is `zone` or below it. */
export function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

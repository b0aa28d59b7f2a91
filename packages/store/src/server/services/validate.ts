// Request validation of etcd 3.4's v3rpc (key.go): empty keys, ignore_value /
// ignore_lease misuse, txn size and duplicate keys, request size.

import type { RangeRequest__Output } from '../../gen/etcdserverpb/RangeRequest.js';
import type { PutRequest__Output } from '../../gen/etcdserverpb/PutRequest.js';
import type { DeleteRangeRequest__Output } from '../../gen/etcdserverpb/DeleteRangeRequest.js';
import type { TxnRequest__Output } from '../../gen/etcdserverpb/TxnRequest.js';
import type { RequestOp__Output } from '../../gen/etcdserverpb/RequestOp.js';
import { RpcError, RpcErrors } from './errors.js';

export const MAX_TXN_OPS = 128;
export const MAX_LEASE_TTL = 9_000_000_000;

export function checkRange(r: RangeRequest__Output): void {
  if (r.key.length === 0) throw new RpcError(RpcErrors.EmptyKey);
}

export function checkPut(r: PutRequest__Output): void {
  if (r.key.length === 0) throw new RpcError(RpcErrors.EmptyKey);
  if (r.ignoreValue && r.value.length !== 0) throw new RpcError(RpcErrors.ValueProvided);
  if (r.ignoreLease && r.lease !== 0) throw new RpcError(RpcErrors.LeaseProvided);
}

export function checkDelete(r: DeleteRangeRequest__Output): void {
  if (r.key.length === 0) throw new RpcError(RpcErrors.EmptyKey);
}

function checkOp(op: RequestOp__Output, maxOps: number): void {
  switch (op.request) {
    case 'requestRange':
      return checkRange(op.requestRange!);
    case 'requestPut':
      return checkPut(op.requestPut!);
    case 'requestDeleteRange':
      return checkDelete(op.requestDeleteRange!);
    case 'requestTxn':
      return checkTxn(op.requestTxn!, maxOps);
    default:
      // An empty RequestOp: etcd ignores it (no response op either).
      return;
  }
}

interface Interval {
  start: Buffer;
  /** Exclusive end; undefined = single key; empty = to the end of the key space. */
  end: Buffer | undefined;
}

function intervalOf(key: Buffer, rangeEnd: Buffer): Interval {
  if (rangeEnd.length === 0) return { start: key, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: Buffer.alloc(0) };
  return { start: key, end: rangeEnd };
}

function contains(iv: Interval, key: Buffer): boolean {
  if (iv.end === undefined) return iv.start.equals(key);
  if (Buffer.compare(key, iv.start) < 0) return false;
  return iv.end.length === 0 || Buffer.compare(key, iv.end) < 0;
}

/** Returns the delete intervals and put keys of `ops`, throwing DuplicateKey on conflicts (like etcd's checkIntervals). */
function checkIntervals(ops: RequestOp__Output[]): { dels: Interval[]; puts: Set<string> } {
  const dels: Interval[] = [];
  for (const op of ops) {
    if (op.request === 'requestDeleteRange') dels.push(intervalOf(op.requestDeleteRange!.key, op.requestDeleteRange!.rangeEnd));
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.request !== 'requestTxn') continue;
    const t = op.requestTxn!;
    const s = checkIntervals(t.success);
    const f = checkIntervals(t.failure);
    for (const branch of [s, f]) {
      for (const k of branch.puts) {
        if (dels.some((d) => contains(d, Buffer.from(k, 'latin1')))) throw new RpcError(RpcErrors.DuplicateKey);
      }
    }
    // A key put in both branches of a nested txn is fine (only one runs); against the outer level it is not.
    for (const k of new Set([...s.puts, ...f.puts])) {
      if (puts.has(k)) throw new RpcError(RpcErrors.DuplicateKey);
      puts.add(k);
    }
    dels.push(...s.dels, ...f.dels);
  }
  for (const op of ops) {
    if (op.request !== 'requestPut') continue;
    const key = op.requestPut!.key;
    const k = key.toString('latin1');
    if (puts.has(k)) throw new RpcError(RpcErrors.DuplicateKey);
    if (dels.some((d) => contains(d, key))) throw new RpcError(RpcErrors.DuplicateKey);
    puts.add(k);
  }
  return { dels, puts };
}

export function checkTxn(r: TxnRequest__Output, maxOps = MAX_TXN_OPS): void {
  if (r.compare.length > maxOps || r.success.length > maxOps || r.failure.length > maxOps) {
    throw new RpcError(RpcErrors.TooManyOps);
  }
  for (const c of r.compare) {
    if (c.key.length === 0) throw new RpcError(RpcErrors.EmptyKey);
  }
  for (const op of r.success) checkOp(op, maxOps);
  for (const op of r.failure) checkOp(op, maxOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

export function checkRequestSize(size: number | undefined, maxRequestBytes: number): void {
  if (size !== undefined && size > maxRequestBytes) throw new RpcError(RpcErrors.RequestTooLarge);
}

export function checkLeaseTTL(ttl: number): void {
  if (ttl > MAX_LEASE_TTL) throw new RpcError(RpcErrors.LeaseTTLTooLarge);
}

/** etcd's types.NewURLs: absolute http/https/unix/unixs URLs with a host:port and no path. */
export function checkPeerURLs(urls: string[]): void {
  if (urls.length === 0) throw new RpcError(RpcErrors.MemberBadURLs);
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new RpcError(RpcErrors.MemberBadURLs);
    }
    if (!['http:', 'https:', 'unix:', 'unixs:'].includes(url.protocol)) throw new RpcError(RpcErrors.MemberBadURLs);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && (!url.hostname || !/:\d+$/.test(url.host))) {
      throw new RpcError(RpcErrors.MemberBadURLs);
    }
    if (url.pathname !== '' && url.pathname !== '/') throw new RpcError(RpcErrors.MemberBadURLs);
  }
}

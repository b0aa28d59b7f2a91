// Public result types of the etcd client and conversions from the wire shapes.
// Revisions, versions and counts are numbers; IDs (cluster, member, lease) are
// decimal strings because etcd's 63-bit random IDs do not fit a JS number.

import type { KeyValue__Output } from '../gen/mvccpb/KeyValue.js';
import type { ResponseHeader__Output } from '../gen/etcdserverpb/ResponseHeader.js';
import type { Member__Output } from '../gen/etcdserverpb/Member.js';

export type Bytes = Buffer | string;
/** Lease / member IDs: decimal string (also accepted: number, bigint). */
export type Id = string;
export type IdInput = string | number | bigint;

export interface ResponseHeader {
  clusterId: Id;
  memberId: Id;
  revision: number;
  raftTerm: number;
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  /** '0' when no lease is attached. */
  lease: Id;
}

export interface RangeResult {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutResult {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteResult {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export interface Member {
  id: Id;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface StatusResult {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  leader: Id;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  dbSizeInUse: number;
  isLearner: boolean;
}

export interface LeaseGrantResult {
  header: ResponseHeader;
  id: Id;
  ttl: number;
}

export interface LeaseTimeToLiveResult {
  header: ResponseHeader;
  id: Id;
  /** Remaining seconds; -1 when the lease does not exist (expired). */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

export const toBuffer = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b) : b);

/** int64 as sent on the wire by a longs:String loader (typed as number by the generated types). */
export const num = (v: number | string | null | undefined): number => (v === null || v === undefined ? 0 : Number(v));
export const idStr = (v: number | string | bigint | null | undefined): Id => (v === null || v === undefined ? '0' : String(v));

export function toHeader(h: ResponseHeader__Output | null | undefined): ResponseHeader {
  return {
    clusterId: idStr(h?.clusterId),
    memberId: idStr(h?.memberId),
    revision: num(h?.revision),
    raftTerm: num(h?.raftTerm),
  };
}

export function toKeyValue(kv: KeyValue__Output): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: num(kv.createRevision),
    modRevision: num(kv.modRevision),
    version: num(kv.version),
    lease: idStr(kv.lease),
  };
}

export function toMember(m: Member__Output): Member {
  return { id: idStr(m.ID), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

/** The smallest key greater than every key with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Bytes): Buffer {
  const p = Buffer.from(toBuffer(prefix));
  for (let i = p.length - 1; i >= 0; i--) {
    if (p[i]! < 0xff) {
      const end = p.subarray(0, i + 1);
      end[i] = end[i]! + 1;
      return end;
    }
  }
  // All 0xff (or empty): the range extends to the end of the key space.
  return Buffer.from([0]);
}

export interface KeyRangeOptions {
  /** Treat `key` as a prefix. */
  prefix?: boolean;
  /** Explicit range end (exclusive). */
  rangeEnd?: Bytes;
  /** All keys >= key. */
  fromKey?: boolean;
}

export function rangeEndFor(key: Bytes, opts: KeyRangeOptions): Buffer {
  if (opts.rangeEnd !== undefined) return toBuffer(opts.rangeEnd);
  if (opts.prefix) return prefixEnd(key);
  if (opts.fromKey) return Buffer.from([0]);
  return Buffer.alloc(0);
}

// A small transaction builder:
//
//   await client.txn()
//     .if(Compare.modRevision('/k', '=', 5), Compare.value('/flag', '!=', 'x'))
//     .then(Op.put('/k', 'v', { lease }), Op.get('/k'))
//     .else(Op.get('/k'))
//     .commit();

import type { Compare as WireCompare } from '../gen/etcdserverpb/Compare.js';
import type { RequestOp } from '../gen/etcdserverpb/RequestOp.js';
import type { RangeRequest } from '../gen/etcdserverpb/RangeRequest.js';
import type { PutRequest } from '../gen/etcdserverpb/PutRequest.js';
import type { DeleteRangeRequest } from '../gen/etcdserverpb/DeleteRangeRequest.js';
import type { TxnRequest } from '../gen/etcdserverpb/TxnRequest.js';
import { rangeEndFor, toBuffer, type Bytes, type DeleteResult, type IdInput, type KeyRangeOptions, type PutResult, type RangeResult, type ResponseHeader } from './types.js';

export type CompareOp = '=' | '!=' | '>' | '<';

const RESULT = { '=': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' } as const;

export interface CompareSpec {
  readonly wire: WireCompare;
}

function cmp(key: Bytes, op: CompareOp, target: WireCompare['target'], field: Partial<WireCompare>, range?: KeyRangeOptions): CompareSpec {
  const wire: WireCompare = { key: toBuffer(key), result: RESULT[op], target, ...field };
  const rangeEnd = range ? rangeEndFor(key, range) : undefined;
  if (rangeEnd && rangeEnd.length > 0) wire.rangeEnd = rangeEnd; // never an empty range_end (see keyAndEnd)
  return { wire };
}

/** Comparisons on a key (or, with `range`, on every key of a range). A missing key has version/create/mod 0 and no value. */
export const Compare = {
  value: (key: Bytes, op: CompareOp, value: Bytes, range?: KeyRangeOptions) => cmp(key, op, 'VALUE', { value: toBuffer(value) }, range),
  version: (key: Bytes, op: CompareOp, version: number, range?: KeyRangeOptions) => cmp(key, op, 'VERSION', { version }, range),
  createRevision: (key: Bytes, op: CompareOp, rev: number, range?: KeyRangeOptions) => cmp(key, op, 'CREATE', { createRevision: rev }, range),
  modRevision: (key: Bytes, op: CompareOp, rev: number, range?: KeyRangeOptions) => cmp(key, op, 'MOD', { modRevision: rev }, range),
  lease: (key: Bytes, op: CompareOp, lease: IdInput, range?: KeyRangeOptions) => cmp(key, op, 'LEASE', { lease: String(lease) }, range),
};

export interface GetOptions extends KeyRangeOptions {
  revision?: number;
  limit?: number;
  sort?: { target?: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE'; order?: 'NONE' | 'ASCEND' | 'DESCEND' };
  countOnly?: boolean;
  keysOnly?: boolean;
  /** Member-local read instead of a linearizable one. */
  serializable?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface PutOptions {
  lease?: IdInput;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface DeleteOptions extends KeyRangeOptions {
  prevKv?: boolean;
}

/**
 * Key and (only when non-empty) range end. An empty range_end must be left out
 * of the message, not sent as a zero-length field: etcd (gogoproto) decodes a
 * present-but-empty bytes field as a non-nil empty slice, which its MVCC index
 * treats as "to the end of the key space".
 */
function keyAndEnd(key: Bytes, opts: KeyRangeOptions): { key: Buffer; rangeEnd?: Buffer } {
  let k = toBuffer(key);
  const rangeEnd = rangeEndFor(k, opts);
  // etcd's convention for "everything": key "\0" with range end "\0".
  if (k.length === 0 && (opts.prefix || opts.fromKey)) k = Buffer.from([0]);
  return rangeEnd.length > 0 ? { key: k, rangeEnd } : { key: k };
}

export function rangeRequest(key: Bytes, opts: GetOptions = {}): RangeRequest {
  return {
    ...keyAndEnd(key, opts),
    revision: opts.revision ?? 0,
    limit: opts.limit ?? 0,
    sortOrder: opts.sort?.order ?? (opts.sort ? 'ASCEND' : 'NONE'),
    sortTarget: opts.sort?.target ?? 'KEY',
    countOnly: opts.countOnly ?? false,
    keysOnly: opts.keysOnly ?? false,
    serializable: opts.serializable ?? false,
    minModRevision: opts.minModRevision ?? 0,
    maxModRevision: opts.maxModRevision ?? 0,
    minCreateRevision: opts.minCreateRevision ?? 0,
    maxCreateRevision: opts.maxCreateRevision ?? 0,
  };
}

export function putRequest(key: Bytes, value: Bytes, opts: PutOptions = {}): PutRequest {
  return {
    key: toBuffer(key),
    value: toBuffer(value),
    lease: opts.lease === undefined ? '0' : String(opts.lease),
    prevKv: opts.prevKv ?? false,
    ignoreValue: opts.ignoreValue ?? false,
    ignoreLease: opts.ignoreLease ?? false,
  };
}

export function deleteRequest(key: Bytes, opts: DeleteOptions = {}): DeleteRangeRequest {
  return { ...keyAndEnd(key, opts), prevKv: opts.prevKv ?? false };
}

export interface OpSpec {
  readonly wire: RequestOp;
  /** True when the op only reads (used to decide whether a txn is idempotent). */
  readonly readOnly: boolean;
}

export const Op = {
  get: (key: Bytes, opts?: GetOptions): OpSpec => ({ wire: { requestRange: rangeRequest(key, opts) }, readOnly: true }),
  put: (key: Bytes, value: Bytes, opts?: PutOptions): OpSpec => ({ wire: { requestPut: putRequest(key, value, opts) }, readOnly: false }),
  delete: (key: Bytes, opts?: DeleteOptions): OpSpec => ({ wire: { requestDeleteRange: deleteRequest(key, opts) }, readOnly: false }),
  txn: (t: TxnBuilder): OpSpec => ({ wire: { requestTxn: t.request() }, readOnly: t.readOnly() }),
};

export type TxnOpResult =
  | ({ type: 'range' } & RangeResult)
  | ({ type: 'put' } & PutResult)
  | ({ type: 'delete' } & DeleteResult)
  | ({ type: 'txn' } & TxnResult);

export interface TxnResult {
  header: ResponseHeader;
  succeeded: boolean;
  responses: TxnOpResult[];
}

export class TxnBuilder {
  private compares: CompareSpec[] = [];
  private success: OpSpec[] = [];
  private failure: OpSpec[] = [];

  constructor(private readonly run?: (b: TxnBuilder) => Promise<TxnResult>) {}

  if(...c: CompareSpec[]): this {
    this.compares.push(...c);
    return this;
  }

  then(...ops: OpSpec[]): this {
    this.success.push(...ops);
    return this;
  }

  else(...ops: OpSpec[]): this {
    this.failure.push(...ops);
    return this;
  }

  readOnly(): boolean {
    return this.success.every((o) => o.readOnly) && this.failure.every((o) => o.readOnly);
  }

  request(): TxnRequest {
    return {
      compare: this.compares.map((c) => c.wire),
      success: this.success.map((o) => o.wire),
      failure: this.failure.map((o) => o.wire),
    };
  }

  commit(): Promise<TxnResult> {
    if (!this.run) throw new Error('TxnBuilder: not bound to a client (use client.txn())');
    return this.run(this);
  }
}

// etcd KV service: Range, Put, DeleteRange, Txn, Compact.

import type { EtcdBackend } from '../backend.js';
import type { KVHandlers } from '../../gen/etcdserverpb/KV.js';
import type { RangeRequest__Output } from '../../gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../../gen/etcdserverpb/RangeResponse.js';
import type { PutRequest__Output } from '../../gen/etcdserverpb/PutRequest.js';
import type { PutResponse } from '../../gen/etcdserverpb/PutResponse.js';
import type { DeleteRangeRequest__Output } from '../../gen/etcdserverpb/DeleteRangeRequest.js';
import type { DeleteRangeResponse } from '../../gen/etcdserverpb/DeleteRangeResponse.js';
import type { TxnRequest__Output } from '../../gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../../gen/etcdserverpb/TxnResponse.js';
import type { CompactionRequest__Output } from '../../gen/etcdserverpb/CompactionRequest.js';
import type { CompactionResponse } from '../../gen/etcdserverpb/CompactionResponse.js';
import { headerOr, requestSize, unary, type ServiceOptions } from './common.js';
import { checkDelete, checkPut, checkRange, checkRequestSize, checkTxn } from './validate.js';

export function kvService(backend: EtcdBackend, opts: ServiceOptions): KVHandlers {
  return {
    Range: unary<RangeRequest__Output, RangeResponse>(async (req) => {
      checkRange(req);
      const res = await backend.range(req);
      return { ...res, header: headerOr(backend, res.header) };
    }),
    Put: unary<PutRequest__Output, PutResponse>(async (req) => {
      checkPut(req);
      checkRequestSize(requestSize(req), opts.maxRequestBytes);
      const res = await backend.put(req);
      return { ...res, header: headerOr(backend, res.header) };
    }),
    DeleteRange: unary<DeleteRangeRequest__Output, DeleteRangeResponse>(async (req) => {
      checkDelete(req);
      checkRequestSize(requestSize(req), opts.maxRequestBytes);
      const res = await backend.deleteRange(req);
      return { ...res, header: headerOr(backend, res.header) };
    }),
    Txn: unary<TxnRequest__Output, TxnResponse>(async (req) => {
      checkTxn(req);
      checkRequestSize(requestSize(req), opts.maxRequestBytes);
      const res = await backend.txn(req);
      return { ...res, header: headerOr(backend, res.header) };
    }),
    Compact: unary<CompactionRequest__Output, CompactionResponse>(async (req) => {
      const res = await backend.compact(req);
      return { ...res, header: headerOr(backend, res.header) };
    }),
  };
}

export { EtcdClient, type EtcdClientOptions } from './etcd_client.js';
export { type EtcdTlsOptions, type StoreConnection, endpointAddress } from './connection.js';
export { InProcessConnection, type InProcessService } from './in_process_connection.js';
export {
  EtcdClientError,
  EtcdCompactedError,
  EtcdWatchCanceledError,
  EtcdLeaseLostError,
  EtcdMessages,
  isRetryableRead,
  isRetryableWrite,
  wasNotSent,
} from './errors.js';
export { Watcher, type WatchOptions, type WatchEvent, type WatchBatch } from './watch.js';
export { LeaseKeeper, type KeepAliveInfo, type LeaseKeeperOptions } from './lease.js';
export {
  TxnBuilder,
  Compare,
  Op,
  type CompareOp,
  type CompareSpec,
  type OpSpec,
  type GetOptions,
  type PutOptions,
  type DeleteOptions,
  type TxnResult,
  type TxnOpResult,
} from './txn.js';
export {
  prefixEnd,
  type Bytes,
  type Id,
  type IdInput,
  type KeyValue,
  type ResponseHeader,
  type RangeResult,
  type PutResult,
  type DeleteResult,
  type Member,
  type StatusResult,
  type LeaseGrantResult,
  type LeaseTimeToLiveResult,
  type KeyRangeOptions,
} from './types.js';
export { saveSnapshot, type SaveSnapshotOptions, type SavedSnapshot } from './snapshot_save.js';

// mkube-store's MVCC key space (etcd v3.4 mvcc semantics over LevelDB).
export { MvccStore, validateTxn, type LevelDb, type MvccStoreOptions } from './kv_store.js';
export { WatchHub, type MvccWatchHandle, type WatchHubOptions, type WatchSource } from './watch_hub.js';
export { Lessor, MAX_LEASE_TTL, FOREVER_TTL, type LessorOptions, type LeaseTimeToLive } from './lessor.js';
export { DataCorruptError, crc32 } from './codec.js';
export { SnapshotCorruptError } from './snapshot.js';
export * from './types.js';

// @mkube/store: embed a store member in another process, or talk to a store (or etcd) cluster.
export { startStore, type RunningStore } from './embedded/store_server.js';
export { startStoreInWorker, WorkerConnection, WorkerStoreError, type WorkerStore } from './embedded/worker_store.js';
export { freePort } from './util/free_port.js';
export { ensurePrivateDir, restrictTree, restrictKeyFiles, writePrivateFile, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './server/private_dir.js';
export { parseFlags, USAGE, ConfigError, type MemberConfig, type TLSFiles } from './server/config.js';
export { Member, StartupError, STORE_VERSION } from './server/member.js';
export { EtcdError, type EtcdErrorName } from './api/etcd_error.js';
export { loadEtcdProto } from './api/etcd_proto.js';
export type { EtcdBackend } from './server/backend.js';
export * from './client/index.js';
export { restoreSnapshot, snapshotStatus, SnapshotRestoreError, type RestoreOptions, type RestoreResult, type SnapshotStatus } from './server/snapshot_restore.js';

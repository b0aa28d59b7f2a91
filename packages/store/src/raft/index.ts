export * from './types.js';
export { RawNode } from './rawnode.js';
export { MemoryStorage, SnapshotOutOfDateError, StorageError } from './memory_storage.js';
export { encodeConfChange, decodeConfChange, ConfChangeDecodeError } from './confchange.js';
export { RaftConfigError } from './raft.js';
export { RaftLogError } from './log.js';

// The Raft core of the store (after etcd-io/raft): a pure, deterministic
// state machine. Drive it through RawNode (see rawnode.ts for the Ready
// loop). Storage is read through the Storage interface; MemoryStorage is the
// in-memory implementation (tests, simulator, server log cache).
//
// Membership at start-up: either every initial member is created with
// `new MemoryStorage(confState)` (snapshot-at-0 style; nodes that join later
// can then only catch up through a snapshot at index >= 1), or every initial
// member calls `RawNode.bootstrap(confState)` on an empty storage (etcd style:
// the membership is in the log as committed ConfChange entries 1..n, which
// joining nodes replay). The transport must call reportSnapshot for every
// Snap message it sends (ok or failed), or that follower stays paused.

export * from './types.js';
export { RawNode } from './rawnode.js';
export { newMessage } from './message.js';
export { MemoryStorage, SnapshotOutOfDateError, StorageError } from './memory_storage.js';
export { encodeConfChange, decodeConfChange, ConfChangeDecodeError } from './confchange.js';
export { RaftConfigError } from './raft.js';
export { RaftLogError } from './log.js';

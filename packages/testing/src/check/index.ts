// Linearizability checking for store histories (used by the Raft simulator and
// by the real-process chaos tests).
export * from './history.js';
export * from './linearizability.js';
export * from './kv_model.js';
export * from './key_windows.js';

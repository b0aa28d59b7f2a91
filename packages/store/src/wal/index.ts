// The write-ahead log of the Raft log (entries, hard state, snapshot records).
export { DataCorruptError, WalIoError } from './errors.js';
export { DEFAULT_SEGMENT_BYTES, Wal, type OpenedWal, type WalLogger, type WalOptions, type WalStats } from './wal.js';
export type { RebuiltLog } from './log_builder.js';
export { segmentName, parseSegmentName } from './segment_reader.js';

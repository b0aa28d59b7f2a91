export { CriClient, type CriClientOptions, type CallOptions } from './cri/cri_client.js';
export { CriError, type CriErrorCode } from './cri/cri_error.js';
export { parseCriLog, parseCriLogRecord, type CriLogLine, type CriLogRecord } from './cri/cri_log.js';
export { criProtoPath } from './cri/proto_path.js';
export type * from './cri/types.js';

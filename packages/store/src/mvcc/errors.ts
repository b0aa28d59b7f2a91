// The MVCC layer's request errors with etcd's identities and messages
// (mvcc.ErrCompacted, mvcc.ErrFutureRev), thrown by reads, txns and compaction.
import { EtcdError } from '../api/etcd_error.js';

export const COMPACTED_MESSAGE = 'mvcc: required revision has been compacted';
export const FUTURE_REV_MESSAGE = 'mvcc: required revision is a future revision';

export function compacted(): EtcdError {
  return new EtcdError('Compacted', COMPACTED_MESSAGE);
}
export function futureRev(): EtcdError {
  return new EtcdError('FutureRev', FUTURE_REV_MESSAGE);
}

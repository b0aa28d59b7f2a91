// EtcdError: an error carrying an etcd error identity (ErrCompacted,
// ErrLeaseNotFound, ErrNoSpace, ...). Thrown by the MVCC key space, the lessor
// and the member; the server's service layer maps the identity to etcd's gRPC
// code and message (server/services/errors.ts). Declared below mvcc so the MVCC
// layer does not import from the server layer.

/** Errors thrown by the store carry an etcd error identity; the service layer maps it to gRPC. */
export type EtcdErrorName =
  | 'KeyNotFound'
  | 'RequestTooLarge'
  | 'LeaseNotFound'
  | 'LeaseExist'
  | 'LeaseTTLTooLarge'
  | 'Compacted'
  | 'FutureRev'
  | 'NoLeader'
  | 'NotLeader'
  | 'LeaderChanged'
  | 'Timeout'
  | 'TimeoutDueToLeaderFail'
  | 'Stopped'
  | 'TooManyRequests'
  | 'NoSpace'
  | 'MemberExist'
  | 'PeerURLExist'
  | 'MemberNotFound'
  | 'MemberNotLearner'
  | 'LearnerNotReady'
  | 'TooManyLearners'
  | 'UnhealthyCluster'
  | 'NotEnoughStartedMembers'
  | 'NotCapable'
  | 'Corrupt'
  | 'BadLeaderTransferee'
  | 'TimeoutLeaderTransfer';

export class EtcdError extends Error {
  constructor(readonly etcdName: EtcdErrorName, message?: string) {
    super(message ?? etcdName);
    this.name = 'EtcdError';
  }
}

// etcd 3.4's gRPC error table (api/v3rpc/rpctypes): code and exact message per
// error, and the mapping from the backend's EtcdError to a gRPC status.

import * as grpc from '@grpc/grpc-js';
import { EtcdError, type EtcdErrorName } from '../backend.js';

export interface GrpcEtcdError {
  code: grpc.status;
  message: string;
}

const S = grpc.status;

/** Errors the service layer raises itself while validating requests. */
export const RpcErrors = {
  EmptyKey: { code: S.INVALID_ARGUMENT, message: 'etcdserver: key is not provided' },
  KeyNotFound: { code: S.INVALID_ARGUMENT, message: 'etcdserver: key not found' },
  ValueProvided: { code: S.INVALID_ARGUMENT, message: 'etcdserver: value is provided' },
  LeaseProvided: { code: S.INVALID_ARGUMENT, message: 'etcdserver: lease is provided' },
  TooManyOps: { code: S.INVALID_ARGUMENT, message: 'etcdserver: too many operations in txn request' },
  DuplicateKey: { code: S.INVALID_ARGUMENT, message: 'etcdserver: duplicate key given in txn request' },
  RequestTooLarge: { code: S.INVALID_ARGUMENT, message: 'etcdserver: request is too large' },
  LeaseTTLTooLarge: { code: S.OUT_OF_RANGE, message: 'etcdserver: too large lease TTL' },
  MemberBadURLs: { code: S.INVALID_ARGUMENT, message: 'etcdserver: given member URLs are invalid' },
  NotSupported: { code: S.UNIMPLEMENTED, message: 'etcdserver: not supported by mkube-store' },
} satisfies Record<string, GrpcEtcdError>;

/** EtcdError.etcdName -> etcd 3.4's gRPC code and message. */
export const ETCD_ERRORS: Record<EtcdErrorName, GrpcEtcdError> = {
  KeyNotFound: RpcErrors.KeyNotFound,
  RequestTooLarge: RpcErrors.RequestTooLarge,
  LeaseNotFound: { code: S.NOT_FOUND, message: 'etcdserver: requested lease not found' },
  LeaseExist: { code: S.FAILED_PRECONDITION, message: 'etcdserver: lease already exists' },
  LeaseTTLTooLarge: RpcErrors.LeaseTTLTooLarge,
  Compacted: { code: S.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision has been compacted' },
  FutureRev: { code: S.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision is a future revision' },
  NoLeader: { code: S.UNAVAILABLE, message: 'etcdserver: no leader' },
  NotLeader: { code: S.FAILED_PRECONDITION, message: 'etcdserver: not leader' },
  LeaderChanged: { code: S.UNAVAILABLE, message: 'etcdserver: leader changed' },
  Timeout: { code: S.UNAVAILABLE, message: 'etcdserver: request timed out' },
  TimeoutDueToLeaderFail: { code: S.UNAVAILABLE, message: 'etcdserver: request timed out, possibly due to previous leader failure' },
  Stopped: { code: S.UNAVAILABLE, message: 'etcdserver: server stopped' },
  TooManyRequests: { code: S.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' },
  NoSpace: { code: S.RESOURCE_EXHAUSTED, message: 'etcdserver: mvcc: database space exceeded' },
  MemberExist: { code: S.FAILED_PRECONDITION, message: 'etcdserver: member ID already exist' },
  PeerURLExist: { code: S.FAILED_PRECONDITION, message: 'etcdserver: Peer URLs already exists' },
  MemberNotFound: { code: S.NOT_FOUND, message: 'etcdserver: member not found' },
  MemberNotLearner: { code: S.FAILED_PRECONDITION, message: 'etcdserver: can only promote a learner member' },
  LearnerNotReady: { code: S.FAILED_PRECONDITION, message: 'etcdserver: can only promote a learner member which is in sync with leader' },
  TooManyLearners: { code: S.FAILED_PRECONDITION, message: 'etcdserver: too many learner members in cluster' },
  UnhealthyCluster: { code: S.UNAVAILABLE, message: 'etcdserver: unhealthy cluster' },
  NotEnoughStartedMembers: { code: S.FAILED_PRECONDITION, message: 'etcdserver: re-configuration failed due to not enough started members' },
  NotCapable: { code: S.UNAVAILABLE, message: 'etcdserver: not capable' },
  Corrupt: { code: S.DATA_LOSS, message: 'etcdserver: corrupt cluster' },
  BadLeaderTransferee: { code: S.FAILED_PRECONDITION, message: 'etcdserver: bad leader transferee' },
  TimeoutLeaderTransfer: { code: S.UNAVAILABLE, message: 'etcdserver: request timed out, leader transfer took too long' },
};

/** A gRPC error object as grpc-js handlers pass to callbacks / stream.destroy. */
export function grpcError(e: GrpcEtcdError): grpc.ServiceError {
  const err = new Error(e.message) as grpc.ServiceError;
  err.code = e.code;
  err.details = e.message;
  err.metadata = new grpc.Metadata();
  return err;
}

/** Thrown by validation; carries the exact etcd error. */
export class RpcError extends Error {
  constructor(readonly rpc: GrpcEtcdError) {
    super(rpc.message);
    this.name = 'RpcError';
  }
}

/** Maps anything a handler or the backend threw to a gRPC error with etcd's code and message. */
export function toGrpcError(err: unknown): grpc.ServiceError {
  if (err instanceof RpcError) return grpcError(err.rpc);
  if (err instanceof EtcdError) {
    const known = ETCD_ERRORS[err.etcdName];
    if (known) return grpcError(known);
  }
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number' && 'details' in err) {
    return err as grpc.ServiceError;
  }
  const message = err instanceof Error ? err.message : String(err);
  return grpcError({ code: S.UNKNOWN, message });
}

export function isEtcdError(err: unknown, name: EtcdErrorName): boolean {
  return err instanceof EtcdError && err.etcdName === name;
}

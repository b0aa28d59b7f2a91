// Typed errors of the etcd v3 client and the classification used for retries.

import { status, type ServiceError } from '@grpc/grpc-js';

/** Messages etcd 3.4 puts into gRPC status details (subset the client reacts to). */
export const EtcdMessages = {
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  futureRev: 'etcdserver: mvcc: required revision is a future revision',
  leaseNotFound: 'etcdserver: requested lease not found',
  noLeader: 'etcdserver: no leader',
  notLeader: 'etcdserver: not leader',
  leaderChanged: 'etcdserver: leader changed',
  timeout: 'etcdserver: request timed out',
  timeoutDueToLeaderFail: 'etcdserver: request timed out, possibly due to previous leader failure',
  timeoutDueToConnectionLost: 'etcdserver: request timed out, possibly due to connection lost',
  stopped: 'etcdserver: server stopped',
  tooManyRequests: 'etcdserver: too many requests',
  unhealthyCluster: 'etcdserver: unhealthy cluster',
} as const;

export class EtcdClientError extends Error {
  /** gRPC status code (grpc.status). */
  readonly code: status;
  /** The status details as sent by the server (etcd's message), or the local reason. */
  readonly etcdMessage: string;
  /** host:port the failing attempt went to, if any. */
  readonly endpoint: string | undefined;
  /** e.g. 'KV.Range'. */
  readonly method: string;

  constructor(code: status, etcdMessage: string, method: string, endpoint?: string, options?: { cause?: unknown }) {
    super(`${method}${endpoint ? ` @${endpoint}` : ''}: ${status[code] ?? code}: ${etcdMessage}`, options);
    this.name = 'EtcdClientError';
    this.code = code;
    this.etcdMessage = etcdMessage;
    this.method = method;
    this.endpoint = endpoint;
  }

  static fromServiceError(err: ServiceError, method: string, endpoint: string): EtcdClientError {
    const details = err.details ?? err.message;
    if (details === EtcdMessages.compacted || details === 'mvcc: required revision has been compacted') {
      return new EtcdCompactedError(0, method, endpoint, { cause: err });
    }
    return new EtcdClientError(err.code ?? status.UNKNOWN, details, method, endpoint, { cause: err });
  }
}

/** The requested revision has been compacted (Range/Watch/Txn). `compactRevision` is 0 when unknown (Range). */
export class EtcdCompactedError extends EtcdClientError {
  constructor(
    readonly compactRevision: number,
    method: string,
    endpoint?: string,
    options?: { cause?: unknown },
  ) {
    super(status.OUT_OF_RANGE, EtcdMessages.compacted, method, endpoint, options);
    this.name = 'EtcdCompactedError';
  }
}

/** A watch was cancelled by the server for a reason other than compaction. */
export class EtcdWatchCanceledError extends EtcdClientError {
  constructor(reason: string, endpoint?: string) {
    super(status.CANCELLED, reason || 'watch canceled by server', 'Watch.Watch', endpoint);
    this.name = 'EtcdWatchCanceledError';
  }
}

/** A kept-alive lease is gone (expired, revoked, or could not be renewed in time). */
export class EtcdLeaseLostError extends EtcdClientError {
  constructor(
    readonly leaseId: string,
    reason: string,
    endpoint?: string,
  ) {
    super(status.NOT_FOUND, reason, 'Lease.LeaseKeepAlive', endpoint);
    this.name = 'EtcdLeaseLostError';
  }
}

/** A transport failure (UNAVAILABLE without an etcdserver message): the member or the connection is gone. */
export function isConnectionLevel(err: EtcdClientError): boolean {
  return err.code === status.UNAVAILABLE && !err.etcdMessage.startsWith('etcdserver:');
}

/**
 * True when the request provably never reached a server: the channel had no
 * connection (connection refused / not yet established) or the client's
 * connect wait timed out before sending.
 */
export function wasNotSent(err: EtcdClientError): boolean {
  if (err instanceof NotSentError) return true;
  if (err.code !== status.UNAVAILABLE) return false;
  return /No connection established|ECONNREFUSED|connect ECONN|Connection refused|Name resolution failed/i.test(err.etcdMessage);
}

/**
 * Errors after which an idempotent request (a read) may be retried on another
 * endpoint: transport failures, member-side leader trouble and timeouts.
 */
export function isRetryableRead(err: EtcdClientError): boolean {
  if (err instanceof EtcdCompactedError) return false;
  if (isConnectionLevel(err) || wasNotSent(err)) return true;
  if (err.code === status.DEADLINE_EXCEEDED) return true;
  const m = err.etcdMessage;
  return (
    m === EtcdMessages.noLeader ||
    m === EtcdMessages.notLeader ||
    m === EtcdMessages.leaderChanged ||
    m === EtcdMessages.stopped ||
    m === EtcdMessages.tooManyRequests ||
    m.startsWith(EtcdMessages.timeout)
  );
}

/**
 * Errors after which a non-idempotent request (put/delete/txn/lease grant…) may
 * be re-sent: only when the request was never sent, or etcd refused it before
 * proposing it to Raft ("no leader", "not leader", "too many requests"). After a timeout, a dropped connection or "leader changed" the
 * write may or may not have been applied, so it is NOT retried; the caller gets
 * the error and must reconcile (e.g. read back the key's mod revision).
 */
export function isRetryableWrite(err: EtcdClientError): boolean {
  if (wasNotSent(err)) return true;
  const m = err.etcdMessage;
  return m === EtcdMessages.noLeader || m === EtcdMessages.notLeader || m === EtcdMessages.tooManyRequests;
}

/** Internal marker: the connect wait failed, nothing was sent. */
export class NotSentError extends EtcdClientError {
  constructor(message: string, method: string, endpoint: string) {
    super(status.UNAVAILABLE, message, method, endpoint);
    this.name = 'EtcdClientError';
  }
}

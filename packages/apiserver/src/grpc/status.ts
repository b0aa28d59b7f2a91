/**
 * Kubernetes errors on the gRPC wire: the Status code picks the gRPC status
 * code, the Kubernetes message is the gRPC message, and the whole
 * meta.k8s.io/v1 Status travels as the binary trailer `k8s-status-bin`
 * (protobuf encoding of k8s.io.apimachinery.pkg.apis.meta.v1.Status).
 */
import { jsonToBytes, bytesToJson, type JsonObject } from '@mkube/api';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ApiError, errors } from '../errors.js';
import { storageTooLarge } from '../http/request_errors.js';

export const K8S_STATUS_TRAILER = 'k8s-status-bin';
const STATUS_TYPE = 'k8s.io.apimachinery.pkg.apis.meta.v1.Status';

/** The gRPC code for a Kubernetes Status code and reason. */
export function grpcCodeFor(code: number, reason: string): GrpcStatus {
  switch (code) {
    case 400:
    case 415:
    case 422:
      return GrpcStatus.INVALID_ARGUMENT;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.NOT_FOUND;
    case 405:
    case 406:
      return GrpcStatus.UNIMPLEMENTED;
    case 409:
      return reason === 'AlreadyExists' ? GrpcStatus.ALREADY_EXISTS : GrpcStatus.ABORTED;
    case 410:
      return GrpcStatus.OUT_OF_RANGE;
    case 413:
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 503:
      return GrpcStatus.UNAVAILABLE;
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    default:
      return code >= 200 && code < 300 ? GrpcStatus.OK : GrpcStatus.INTERNAL;
  }
}

export interface GrpcErrorStatus {
  code: GrpcStatus;
  details: string;
  metadata: Metadata;
}

/** An ApiError (or a Status object from a watch ERROR event) as a gRPC status with the k8s-status-bin trailer. */
export function toGrpcStatus(err: ApiError | JsonObject): GrpcErrorStatus {
  const status = err instanceof ApiError ? err.toStatus() : err;
  const code = Number(status.code ?? 500);
  const metadata = new Metadata();
  metadata.set(K8S_STATUS_TRAILER, Buffer.from(jsonToBytes(STATUS_TYPE, status, { typeMeta: true }).bytes));
  return { code: grpcCodeFor(code, String(status.reason ?? '')), details: String(status.message ?? ''), metadata };
}

/** Any thrown value as an ApiError (internal errors keep their message). */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as Error & { name?: string };
  const msg = e?.message ?? String(err);
  if (e?.name === 'EtcdClientError' && /UNAVAILABLE|no leader|connect|deadline/i.test(msg)) return errors.serviceUnavailable(`etcd is unavailable: ${msg}`);
  return storageTooLarge(err) ?? errors.internal(msg);
}

/** Client side: the Kubernetes Status of a failed call, from its k8s-status-bin trailer. */
export function k8sStatusOf(err: Pick<ServiceError, 'metadata'>): JsonObject | undefined {
  const v = err.metadata?.get(K8S_STATUS_TRAILER)[0];
  if (!v || typeof v === 'string') return undefined;
  return bytesToJson(STATUS_TYPE, v, { apiVersion: 'v1', kind: 'Status' });
}

import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

/** Error codes of the CRI client: a gRPC status name, or a local condition. */
export type CriErrorCode = keyof typeof GrpcStatus | 'NOT_READY' | 'CLOSED';

/** A failed CRI call, with the method, the endpoint and the runtime's message. */
export class CriError extends Error {
  override readonly name = 'CriError';

  constructor(
    readonly code: CriErrorCode,
    readonly method: string,
    readonly address: string,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`CRI ${method} at ${address} failed: ${code}: ${details}`, options);
  }

  static fromGrpc(method: string, address: string, err: ServiceError): CriError {
    const code = (GrpcStatus[err.code] as keyof typeof GrpcStatus | undefined) ?? 'UNKNOWN';
    return new CriError(code, method, address, err.details || err.message, { cause: err });
  }

  /** True when the object/sandbox/container does not exist. */
  get isNotFound(): boolean {
    return this.code === 'NOT_FOUND';
  }
}

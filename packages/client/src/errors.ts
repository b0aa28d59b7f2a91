/** ApiError: a non-2xx reply of the API server, carrying its metav1.Status (@mkube/api's Status). */
import type { Status } from '@mkube/api';

export type { Status };

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: Status;

  constructor(code: number, status: Status, context?: string) {
    const reason = status.reason ?? reasonFor(code);
    super(`${context ? `${context}: ` : ''}${code} ${reason}: ${status.message ?? ''}`.trim());
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.status = status;
  }

  static isNotFound(e: unknown): boolean {
    return e instanceof ApiError && e.code === 404;
  }
  static isConflict(e: unknown): boolean {
    return e instanceof ApiError && e.code === 409 && e.reason !== 'AlreadyExists';
  }
  static isAlreadyExists(e: unknown): boolean {
    return e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists';
  }
  static isGone(e: unknown): boolean {
    return e instanceof ApiError && (e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone');
  }
  static isInvalid(e: unknown): boolean {
    return e instanceof ApiError && e.code === 422;
  }
  static isForbidden(e: unknown): boolean {
    return e instanceof ApiError && e.code === 403;
  }
}

function reasonFor(code: number): string {
  switch (code) {
    case 400: return 'BadRequest';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'NotFound';
    case 405: return 'MethodNotAllowed';
    case 409: return 'Conflict';
    case 410: return 'Expired';
    case 415: return 'UnsupportedMediaType';
    case 422: return 'Invalid';
    case 429: return 'TooManyRequests';
    case 500: return 'InternalError';
    case 503: return 'ServiceUnavailable';
    case 504: return 'Timeout';
    default: return 'Unknown';
  }
}

/**
 * Kubernetes API errors: an ApiError carries the HTTP code, the Status reason
 * and details, and renders as a meta.k8s.io/v1 Status object.
 */
import type { JsonObject, StatusCause, StatusDetails } from '@mkube/api';

/** A Status's details and causes are @mkube/api's (meta.k8s.io/v1). */
export type { StatusCause, StatusDetails };

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The Status, its fields in upstream's Go declaration order (kind, apiVersion, metadata, status, message, reason, details, code). */
  toStatus(): JsonObject {
    const status: JsonObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message };
    if (this.reason !== '') status.reason = this.reason;
    if (this.details) status.details = orderedDetails(this.details);
    status.code = this.code;
    return status;
  }
}

/** StatusDetails as JSON in Go declaration order, omitting what upstream omits when empty. */
function orderedDetails(d: StatusDetails): JsonObject {
  const out: JsonObject = {};
  if (d.name) out.name = d.name;
  if (d.group) out.group = d.group;
  if (d.kind) out.kind = d.kind;
  if (d.uid) out.uid = d.uid;
  if (d.causes && d.causes.length > 0) {
    out.causes = d.causes.map((c) => {
      const cause: JsonObject = {};
      if (c.reason) cause.reason = c.reason;
      if (c.message) cause.message = c.message;
      if (c.field) cause.field = c.field;
      return cause;
    });
  }
  if (d.retryAfterSeconds) out.retryAfterSeconds = d.retryAfterSeconds;
  return out;
}

/** Who an error is about: the resource ("pods", "deployments" in "apps") and the object name. */
export interface ResourceRef {
  group: string;
  resource: string;
}

/** "pods", "deployments.apps": how Kubernetes names a resource in messages. */
export function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.resource}.${ref.group}` : ref.resource;
}

export const errors = {
  notFound: (ref: ResourceRef, name: string) =>
    new ApiError(404, 'NotFound', `${qualified(ref)} "${name}" not found`, { name, group: ref.group || undefined, kind: ref.resource }),
  alreadyExists: (ref: ResourceRef, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualified(ref)} "${name}" already exists`, { name, group: ref.group || undefined, kind: ref.resource }),
  conflict: (ref: ResourceRef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${name}": ${why}`, {
      name,
      group: ref.group || undefined,
      kind: ref.resource,
    }),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  forbidden: (message: string, details?: StatusDetails) => new ApiError(403, 'Forbidden', message, details),
  methodNotSupported: (ref: ResourceRef, action: string) =>
    new ApiError(405, 'MethodNotAllowed', `${action} is not supported on resources of kind "${qualified(ref)}"`, { group: ref.group || undefined, kind: ref.resource }),
  notAcceptable: (message: string) => new ApiError(406, 'NotAcceptable', message),
  unsupportedMediaType: (type: string) => new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${type})`),
  gone: (message: string) => new ApiError(410, 'Expired', message),
  tooManyRequests: (message: string) => new ApiError(429, 'TooManyRequests', message, { retryAfterSeconds: 1 }),
  internal: (message: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }),
  serviceUnavailable: (message: string) => new ApiError(503, 'ServiceUnavailable', message),
  timeout: (message: string) => new ApiError(504, 'Timeout', message),
};

/** One field problem, as k8s.io/apimachinery/pkg/util/validation/field.Error. */
export interface FieldError {
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueDuplicate' | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueNotFound';
  field: string;
  detail?: string;
  value?: unknown;
  supported?: string[];
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The body of a field error (what follows "field: "). */
export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case 'FieldValueRequired':
      return e.detail ? `Required value: ${e.detail}` : 'Required value';
    case 'FieldValueInvalid':
      return `Invalid value: ${formatValue(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${formatValue(e.value)}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${formatValue(e.value)}${e.supported ? `: supported values: ${e.supported.map((s) => JSON.stringify(s)).join(', ')}` : ''}`;
    case 'FieldValueForbidden':
      return `Forbidden: ${e.detail ?? ''}`;
    case 'FieldValueTooLong':
      return `Too long: ${e.detail ?? ''}`;
    case 'FieldValueNotFound':
      return `Not found: ${formatValue(e.value)}`;
  }
}

/**
 * 422 Invalid, named by the qualified kind as upstream's NewInvalid does (GroupKind.String()):
 * `Pod "x" is invalid: spec.containers[0].image: Required value`, `Deployment.apps "d" is invalid: ...`.
 */
export function invalid(kind: string, group: string, name: string, errs: FieldError[]): ApiError {
  const parts = errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const summary = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    group: group || undefined,
    kind,
    causes: errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  });
}

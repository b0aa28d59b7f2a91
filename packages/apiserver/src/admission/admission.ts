/**
 * Validating admission as the registry runs it: the attributes of a write
 * (after defaulting and validation, before it is stored) handed to every
 * ValidatingAdmission plugin, and the per-request AdmissionContext through
 * which plugins reach the requester: who asks (for exemptions), warnings for
 * the response (REST `Warning` header, gRPC `warnings`) and annotations for
 * the request's audit event (e.g. `pod-security.kubernetes.io/audit-violations`).
 */
import type { JsonObject, ResourceInfo } from '@mkube/api';
import type { AuthenticatedUser } from '../auth/authn.js';

/** Per-request state a caller of the registry passes in WriteOptions.admission. */
export interface AdmissionContext {
  user?: AuthenticatedUser;
  /** Warnings for the response; plugins append (without duplicates). */
  warnings?: string[];
  /** Annotations for the audit event of this request ("key" → "value"). */
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionAttributes {
  operation: 'CREATE' | 'UPDATE';
  info: ResourceInfo;
  /** The object's namespace (undefined for cluster-scoped resources). */
  namespace: string | undefined;
  name: string;
  subresource?: string;
  /** The object as it would be stored. */
  obj: JsonObject;
  /** The stored object, on UPDATE. */
  oldObj?: JsonObject;
  dryRun: boolean;
  context?: AdmissionContext;
}

/** A validating admission plugin: throws an ApiError to refuse the write. */
export interface ValidatingAdmission {
  readonly name: string;
  validate(attrs: AdmissionAttributes): void | Promise<void>;
}

/** Adds a warning to the request's response, once (a retried update re-runs admission). */
export function addWarning(ctx: AdmissionContext | undefined, warning: string): void {
  if (!ctx?.warnings || ctx.warnings.includes(warning)) return;
  ctx.warnings.push(warning);
}

/** Adds annotations to the request's audit event. */
export function addAuditAnnotations(ctx: AdmissionContext | undefined, annotations: Record<string, string>): void {
  if (!ctx) return;
  const target = (ctx.auditAnnotations ??= {});
  for (const [k, v] of Object.entries(annotations)) target[k] = v;
}

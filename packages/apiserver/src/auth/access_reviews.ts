/**
 * The identity APIs answered from the real authenticator and RBAC
 * authorizer, registered as create-only virtual resources:
 * authorization.k8s.io/v1 SelfSubjectAccessReview, SubjectAccessReview,
 * LocalSubjectAccessReview, SelfSubjectRulesReview (`kubectl auth can-i`,
 * `--list`) and authentication.k8s.io v1/v1beta1 SelfSubjectReview
 * (`kubectl auth whoami`). Validation and messages follow upstream's
 * pkg/apis/authorization/validation and the registries' REST storage.
 */
import type { JsonObject, ResourceInfo } from '@mkube/api';
import { ApiError, errors, invalid, type FieldError } from '../errors.js';
import type { VirtualCreateRequest, VirtualResources } from '../http/virtual_resources.js';
import type { AuthenticatedUser } from './authn.js';
import type { Attributes, RbacAuthorizer } from './rbac.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** 422 with upstream's qualified kind: `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: ...`. */
function reviewInvalid(info: ResourceInfo, errs: FieldError[]): ApiError {
  return invalid(info.kind, info.group, '', errs);
}

/** metadata may hold nothing but (for the local review) its namespace; a null creationTimestamp is nothing. */
function metadataErrors(meta: unknown, allowNamespace: boolean): FieldError[] {
  if (!isObj(meta)) return [];
  const extra = Object.keys(meta).filter((k) => {
    const v = meta[k];
    if (k === 'managedFields' || (allowNamespace && k === 'namespace')) return false;
    // Zero values are empty (a protobuf body from Go carries every non-pointer field: generation 0).
    return !(v === null || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0));
  });
  if (extra.length === 0) return [];
  return [{ type: 'FieldValueInvalid', field: 'metadata', value: meta, detail: allowNamespace ? 'must be empty except for namespace' : 'must be empty' }];
}

function specErrors(spec: Obj, subject: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ra = own(spec, 'resourceAttributes');
  const nra = own(spec, 'nonResourceAttributes');
  if (isObj(ra) && isObj(nra)) errs.push({ type: 'FieldValueInvalid', field: 'spec.nonResourceAttributes', value: nra, detail: 'cannot be specified in combination with resourceAttributes' });
  if (!isObj(ra) && !isObj(nra)) errs.push({ type: 'FieldValueInvalid', field: 'spec.resourceAttributes', value: 'null', detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  if (subject) {
    const groups = own(spec, 'groups');
    if (!str(own(spec, 'user')) && !(Array.isArray(groups) && groups.length > 0)) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.user', value: str(own(spec, 'user')), detail: 'at least one of user or group must be specified' });
    }
  }
  return errs;
}

/** The authorizer attributes a review spec asks about. */
function attributesOf(spec: Obj): Attributes {
  const ra = own(spec, 'resourceAttributes');
  if (isObj(ra)) {
    const ns = str(own(ra, 'namespace'));
    return {
      verb: str(own(ra, 'verb')),
      apiGroup: str(own(ra, 'group')),
      resource: str(own(ra, 'resource')),
      subresource: str(own(ra, 'subresource')) || undefined,
      namespace: ns || undefined,
      name: str(own(ra, 'name')) || undefined,
    };
  }
  const nra = (own(spec, 'nonResourceAttributes') ?? {}) as Obj;
  return { verb: str(own(nra, 'verb')), path: str(own(nra, 'path')) };
}

/** The user a SubjectAccessReview asks about (no system:authenticated added, as upstream). */
function subjectOf(spec: Obj): AuthenticatedUser {
  const groups = own(spec, 'groups');
  const extra = own(spec, 'extra');
  const user: AuthenticatedUser = { name: str(own(spec, 'user')), groups: Array.isArray(groups) ? groups.map(String) : [] };
  const uid = str(own(spec, 'uid'));
  if (uid) user.uid = uid;
  if (isObj(extra)) {
    const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    for (const [k, v] of Object.entries(extra)) out[k] = Array.isArray(v) ? v.map(String) : [];
    user.extra = out;
  }
  return user;
}

/** UserInfo as authentication.k8s.io/v1 UserInfo JSON. */
export function userInfoJson(user: AuthenticatedUser): Obj {
  const out: Obj = { username: user.name };
  if (user.uid) out.uid = user.uid;
  if (user.groups.length) out.groups = [...user.groups];
  if (user.extra && Object.keys(user.extra).length) {
    const extra: Obj = {};
    for (const [k, v] of Object.entries(user.extra)) extra[k.toLowerCase()] = [...v];
    out.extra = extra;
  }
  return out;
}

export class AccessReviews {
  constructor(private readonly authz: RbacAuthorizer) {}

  /** Registers every review this module answers. */
  register(v: VirtualResources): void {
    v.register('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', (r) => this.selfSubjectAccessReview(r));
    v.register('authorization.k8s.io', 'v1', 'subjectaccessreviews', (r) => this.subjectAccessReview(r));
    v.register('authorization.k8s.io', 'v1', 'localsubjectaccessreviews', (r) => this.localSubjectAccessReview(r));
    v.register('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', (r) => this.selfSubjectRulesReview(r));
    v.register('authentication.k8s.io', 'v1', 'selfsubjectreviews', (r) => this.selfSubjectReview(r));
    v.register('authentication.k8s.io', 'v1beta1', 'selfsubjectreviews', (r) => this.selfSubjectReview(r));
  }

  private decide(user: AuthenticatedUser, spec: Obj): Obj {
    const attrs = attributesOf(spec);
    const allowed = this.authz.authorize(user, attrs);
    return allowed ? { allowed: true } : { allowed: false };
  }

  private selfSubjectAccessReview(r: VirtualCreateRequest): Obj {
    const spec = isObj(own(r.body, 'spec')) ? (own(r.body, 'spec') as Obj) : {};
    const errs = [...specErrors(spec, false), ...metadataErrors(own(r.body, 'metadata'), false)];
    if (errs.length) throw reviewInvalid(r.info, errs);
    return { metadata: {}, spec, status: this.decide(r.user, spec) };
  }

  private subjectAccessReview(r: VirtualCreateRequest): Obj {
    const spec = isObj(own(r.body, 'spec')) ? (own(r.body, 'spec') as Obj) : {};
    const errs = [...specErrors(spec, true), ...metadataErrors(own(r.body, 'metadata'), false)];
    if (errs.length) throw reviewInvalid(r.info, errs);
    return { metadata: {}, spec, status: this.decide(subjectOf(spec), spec) };
  }

  private localSubjectAccessReview(r: VirtualCreateRequest): Obj {
    const namespace = r.namespace ?? '';
    if (!namespace) throw errors.badRequest(`namespace is required on this type: ${namespace}`);
    const meta = isObj(own(r.body, 'metadata')) ? (own(r.body, 'metadata') as Obj) : {};
    const metaNs = str(own(meta, 'namespace')) || namespace;
    if (metaNs !== namespace) throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const spec = isObj(own(r.body, 'spec')) ? (own(r.body, 'spec') as Obj) : {};
    const errs = [...specErrors(spec, true), ...metadataErrors(meta, true)];
    const ra = own(spec, 'resourceAttributes');
    if (isObj(ra) && str(own(ra, 'namespace')) !== metaNs) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.resourceAttributes.namespace', value: str(own(ra, 'namespace')), detail: 'must match metadata.namespace' });
    }
    const nra = own(spec, 'nonResourceAttributes');
    if (isObj(nra)) errs.push({ type: 'FieldValueInvalid', field: 'spec.nonResourceAttributes', value: nra, detail: 'disallowed on this kind of request' });
    if (errs.length) throw reviewInvalid(r.info, errs);
    return { metadata: { namespace }, spec, status: this.decide(subjectOf(spec), spec) };
  }

  private selfSubjectRulesReview(r: VirtualCreateRequest): Obj {
    const spec = isObj(own(r.body, 'spec')) ? (own(r.body, 'spec') as Obj) : {};
    const namespace = str(own(spec, 'namespace'));
    if (!namespace) throw errors.badRequest('no namespace on request');
    const errs: string[] = [];
    const rules = this.authz.rulesFor(r.user, namespace, errs);
    const resourceRules: Obj[] = [];
    const nonResourceRules: Obj[] = [];
    for (const rule of rules) {
      if (rule.resources.length > 0) {
        const rr: Obj = { verbs: rule.verbs, apiGroups: rule.apiGroups, resources: rule.resources };
        if (rule.resourceNames.length) rr.resourceNames = rule.resourceNames;
        resourceRules.push(rr);
      }
      if (rule.nonResourceURLs.length > 0) nonResourceRules.push({ verbs: rule.verbs, nonResourceURLs: rule.nonResourceURLs });
    }
    // Node identities are authorized by the Node authorizer too, which cannot list its rules.
    const incomplete = errs.length > 0 || r.user.groups.includes('system:nodes');
    const status: Obj = { resourceRules, nonResourceRules, incomplete };
    if (errs.length) status.evaluationError = errs.length === 1 ? errs[0]! : `[${errs.join(', ')}]`;
    return { metadata: {}, spec, status };
  }

  private selfSubjectReview(r: VirtualCreateRequest): Obj {
    return { metadata: { creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }, status: { userInfo: userInfoJson(r.user) } };
  }
}

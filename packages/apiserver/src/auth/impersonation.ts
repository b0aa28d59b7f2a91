/**
 * Impersonation (upstream's WithImpersonation filter): the Impersonate-User,
 * Impersonate-Group (repeated), Impersonate-Uid and Impersonate-Extra-<key>
 * headers, each authorized as the `impersonate` verb on users, groups,
 * serviceaccounts (core group) or uids, userextras/<key>
 * (authentication.k8s.io) for the requesting user. A user name of the form
 * system:serviceaccount:NS:NAME impersonates that service account (checked
 * in NS; its groups are added when no group is asked for).
 * system:authenticated is added to the impersonated user's groups.
 */
import type { IncomingMessage } from 'node:http';
import { errors } from '../errors.js';
import type { AuthenticatedUser } from './authn.js';
import { forbiddenMessage, type Attributes, type RbacAuthorizer } from './rbac.js';

export const IMPERSONATE_USER = 'impersonate-user';
export const IMPERSONATE_GROUP = 'impersonate-group';
export const IMPERSONATE_UID = 'impersonate-uid';
export const IMPERSONATE_EXTRA_PREFIX = 'impersonate-extra-';

/** Header name (lower case) → every value sent, as Node's headersDistinct or gRPC metadata give them. */
export type HeaderValues = Record<string, string[] | undefined>;

/** One thing asked to be impersonated (upstream's ObjectReference). */
interface Request {
  kind: 'User' | 'ServiceAccount' | 'Group' | 'UserExtra' | 'UID';
  namespace: string;
  name: string;
  apiVersion: string;
  fieldPath: string;
}

/** Go's %v of an ObjectReference slice, for upstream's 400 message. */
function goFormat(reqs: Request[]): string {
  return `[${reqs.map((r) => `{${r.kind} ${r.namespace} ${r.name}  ${r.apiVersion}  ${r.fieldPath}}`).join(' ')}]`;
}

function splitServiceAccount(name: string): { namespace: string; name: string } | undefined {
  const prefix = 'system:serviceaccount:';
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

/** The impersonation requests the headers carry, in upstream's order; a 400 for groups/extra/uid without a user. */
function parseRequests(h: HeaderValues): Request[] {
  const out: Request[] = [];
  const user = h[IMPERSONATE_USER]?.[0] ?? '';
  if (user) {
    const sa = splitServiceAccount(user);
    out.push(sa ? { kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name, apiVersion: '', fieldPath: '' } : { kind: 'User', namespace: '', name: user, apiVersion: '', fieldPath: '' });
  }
  let others = false;
  for (const g of h[IMPERSONATE_GROUP] ?? []) {
    others = true;
    out.push({ kind: 'Group', namespace: '', name: g, apiVersion: '', fieldPath: '' });
  }
  for (const [header, values] of Object.entries(h)) {
    if (!header.startsWith(IMPERSONATE_EXTRA_PREFIX) || !values) continue;
    others = true;
    const key = unescapeExtraKey(header.slice(IMPERSONATE_EXTRA_PREFIX.length).toLowerCase());
    for (const v of values) out.push({ kind: 'UserExtra', namespace: '', name: v, apiVersion: 'authentication.k8s.io/v1', fieldPath: key });
  }
  const uid = h[IMPERSONATE_UID]?.[0] ?? '';
  if (uid) {
    others = true;
    out.push({ kind: 'UID', namespace: '', name: uid, apiVersion: 'authentication.k8s.io/v1', fieldPath: '' });
  }
  if (others && !user) throw errors.badRequest(`requested ${goFormat(out)} without impersonating a user`);
  return out;
}

/** Whether any impersonation header is present. */
export function wantsImpersonation(h: HeaderValues): boolean {
  return Object.keys(h).some((k) => k === IMPERSONATE_USER || k === IMPERSONATE_GROUP || k === IMPERSONATE_UID || k.startsWith(IMPERSONATE_EXTRA_PREFIX));
}

/**
 * The user the request acts as: `requestor` itself without impersonation
 * headers, else the impersonated user once every part is authorized (403
 * with upstream's message for the first part that is not).
 */
export function impersonate(requestor: AuthenticatedUser, h: HeaderValues, authz: RbacAuthorizer): AuthenticatedUser {
  if (!wantsImpersonation(h)) return requestor;
  const requests = parseRequests(h);
  if (requests.length === 0) return requestor;
  const groupsAsked = requests.some((r) => r.kind === 'Group');
  let name = '';
  let uid: string | undefined;
  let groups: string[] = [];
  const extra: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const r of requests) {
    const attrs: Attributes = { verb: 'impersonate', apiGroup: '', resource: '', name: r.name };
    switch (r.kind) {
      case 'ServiceAccount':
        attrs.resource = 'serviceaccounts';
        attrs.namespace = r.namespace;
        name = `system:serviceaccount:${r.namespace}:${r.name}`;
        if (!groupsAsked) groups = ['system:serviceaccounts', `system:serviceaccounts:${r.namespace}`];
        break;
      case 'User':
        attrs.resource = 'users';
        name = r.name;
        break;
      case 'Group':
        attrs.resource = 'groups';
        groups.push(r.name);
        break;
      case 'UserExtra':
        attrs.apiGroup = 'authentication.k8s.io';
        attrs.resource = 'userextras';
        attrs.subresource = r.fieldPath;
        (extra[r.fieldPath] ??= []).push(r.name);
        break;
      case 'UID':
        attrs.apiGroup = 'authentication.k8s.io';
        attrs.resource = 'uids';
        uid = r.name;
        break;
    }
    if (!authz.authorize(requestor, attrs)) {
      throw errors.forbidden(forbiddenMessage(requestor, attrs), { name: r.name, group: attrs.apiGroup || undefined, kind: attrs.resource });
    }
  }
  if (name === 'system:anonymous') {
    if (!groups.includes('system:unauthenticated')) groups.push('system:unauthenticated');
  } else if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
  const user: AuthenticatedUser = { name, groups };
  if (uid !== undefined) user.uid = uid;
  if (Object.keys(extra).length) user.extra = extra;
  return user;
}

/** The impersonation headers of an HTTP request, every value of a repeated header kept. */
export function impersonationHeaders(req: IncomingMessage): HeaderValues {
  const out: HeaderValues = Object.create(null) as HeaderValues;
  const distinct = req.headersDistinct as Record<string, string[] | undefined> | undefined;
  for (const [k, v] of Object.entries(distinct ?? {})) {
    if (k.startsWith('impersonate-')) out[k] = v;
  }
  return out;
}

/** Who made a request and whom it acted as, for the audit log (set by the handler after authentication). */
export interface RequestIdentity {
  /** The authenticated user. */
  user: AuthenticatedUser;
  /** The impersonated user, when impersonation headers were honoured. */
  impersonatedUser?: AuthenticatedUser;
}

const identities = new WeakMap<object, RequestIdentity>();

/** Authenticates impersonation for an HTTP request and records both identities on it. */
export function actingUser(req: IncomingMessage, requestor: AuthenticatedUser, authz: RbacAuthorizer): AuthenticatedUser {
  identities.set(req, { user: requestor });
  const acting = impersonate(requestor, impersonationHeaders(req), authz);
  if (acting !== requestor) identities.set(req, { user: requestor, impersonatedUser: acting });
  return acting;
}

export function requestIdentity(req: object): RequestIdentity | undefined {
  return identities.get(req);
}



/**
 * RBAC authorization over Role / ClusterRole / RoleBinding /
 * ClusterRoleBinding objects (read from the watch caches): verbs, apiGroups,
 * resources (incl. subresources like pods/status), resourceNames and
 * nonResourceURLs. system:masters may do everything; node identities pass
 * the Node authorizer (node_authorizer.ts) first. Also the rule resolver the
 * escalation checks use (rulesFor, roleReferenceRules). Stored objects are
 * user input: only their own fields are read, lists must be arrays and their
 * entries strings.
 */
import { findResource, type JsonObject } from '@mkube/api';
import { errors } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { AuthenticatedUser } from './authn.js';
import { NodeAuthorizer } from './node_authorizer.js';

type Obj = JsonObject;

export interface Attributes {
  verb: string;
  /** Resource request: */
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource request: */
  path?: string;
}

/** A PolicyRule as RBAC reads it: only the string entries of own array fields. */
export interface RbacRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** An own field of an untrusted object (never one inherited from a prototype). */
export const own = (o: unknown, key: string): unknown => (isObj(o) && Object.hasOwn(o, key) ? o[key] : undefined);
const ownString = (o: unknown, key: string): string | undefined => {
  const v = own(o, key);
  return typeof v === 'string' ? v : undefined;
};
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

/** A stored rule as a PolicyRule (non-object entries give an empty rule, which allows nothing). */
export function toPolicyRule(rule: unknown): RbacRule {
  return {
    verbs: strings(own(rule, 'verbs')),
    apiGroups: strings(own(rule, 'apiGroups')),
    resources: strings(own(rule, 'resources')),
    resourceNames: strings(own(rule, 'resourceNames')),
    nonResourceURLs: strings(own(rule, 'nonResourceURLs')),
  };
}

/** The rules of a Role / ClusterRole object. */
export function rulesOf(role: unknown): RbacRule[] {
  const rules = own(role, 'rules');
  return Array.isArray(rules) ? rules.map(toPolicyRule) : [];
}

const ruleHas = (list: string[], v: string): boolean => list.includes('*') || list.includes(v);

export function ruleAllows(rule: RbacRule, a: Attributes): boolean {
  if (!ruleHas(rule.verbs, a.verb)) return false;
  if (a.resource === undefined) {
    const path = a.path ?? '';
    return rule.nonResourceURLs.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
  }
  if (!ruleHas(rule.apiGroups, a.apiGroup ?? '')) return false;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!rule.resources.some((r) => r === '*' || r === full || (a.subresource && r === `*/${a.subresource}`))) return false;
  return rule.resourceNames.length === 0 || (a.name !== undefined && rule.resourceNames.includes(a.name));
}

function subjectMatches(subjects: unknown, user: AuthenticatedUser, bindingNs?: string): boolean {
  if (!Array.isArray(subjects)) return false;
  for (const s of subjects) {
    const kind = ownString(s, 'kind');
    const name = ownString(s, 'name');
    if (name === undefined) continue;
    if (kind === 'User' && name === user.name) return true;
    if (kind === 'Group' && user.groups.includes(name)) return true;
    if (kind === 'ServiceAccount') {
      const ns = ownString(s, 'namespace') || bindingNs || '';
      if (ns && user.name === `system:serviceaccount:${ns}:${name}`) return true;
    }
  }
  return false;
}

/** Why a request was denied (set by authorize, appended by forbiddenMessage). */
const denyReasons = new WeakMap<Attributes, string>();

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** The ClusterRole of node identities (bound to system:nodes by the bootstrap policy). */
const SYSTEM_NODE_ROLE = 'system:node';

export class RbacAuthorizer {
  private readonly node: NodeAuthorizer;
  private readonly roles = findResource(RBAC_GROUP, 'v1', 'roles')!;
  private readonly clusterRoles = findResource(RBAC_GROUP, 'v1', 'clusterroles')!;
  private readonly roleBindings = findResource(RBAC_GROUP, 'v1', 'rolebindings')!;
  private readonly clusterRoleBindings = findResource(RBAC_GROUP, 'v1', 'clusterrolebindings')!;

  constructor(private readonly registry: Registry) {
    this.node = new NodeAuthorizer(registry);
  }

  /** The referenced role's object, or undefined (missing, or an unsupported kind). */
  private roleFor(ref: unknown, ns: string | undefined): Obj | undefined {
    const kind = ownString(ref, 'kind');
    const name = ownString(ref, 'name') ?? '';
    if (kind === 'ClusterRole') return this.registry.cachedGet(this.clusterRoles, undefined, name);
    if (kind === 'Role' && ns) return this.registry.cachedGet(this.roles, ns, name);
    return undefined;
  }

  /**
   * The rules of a binding's roleRef in the binding's namespace ("" for a
   * ClusterRoleBinding), as upstream's GetRoleReferenceRules: a missing role
   * is a 404 NotFound.
   */
  roleReferenceRules(ref: unknown, bindingNs: string | undefined): RbacRule[] {
    const kind = ownString(ref, 'kind');
    const name = ownString(ref, 'name') ?? '';
    if (kind !== 'ClusterRole' && kind !== 'Role') throw errors.badRequest(`unsupported role reference kind: ${JSON.stringify(kind ?? '')}`);
    const role = this.roleFor(ref, bindingNs);
    if (!role) throw errors.notFound({ group: RBAC_GROUP, resource: kind === 'ClusterRole' ? 'clusterroles' : 'roles' }, name);
    return rulesOf(role);
  }

  /**
   * Every RBAC rule that applies to the user in `namespace` (cluster-wide ones only when undefined),
   * as upstream's RulesFor; bindings whose role is missing add upstream's message to `unresolved`.
   */
  rulesFor(user: AuthenticatedUser, namespace: string | undefined, unresolved: string[] = []): RbacRule[] {
    const out: RbacRule[] = [];
    const add = (ref: unknown, ns: string | undefined) => {
      const role = this.roleFor(ref, ns);
      if (role) out.push(...rulesOf(role));
      else unresolved.push(`${ownString(ref, 'kind') === 'ClusterRole' ? 'clusterrole' : 'role'}.${RBAC_GROUP} "${ownString(ref, 'name') ?? ''}" not found`);
    };
    for (const b of this.registry.cachedList(this.clusterRoleBindings)) {
      if (subjectMatches(own(b, 'subjects'), user)) add(own(b, 'roleRef'), undefined);
    }
    if (namespace) {
      for (const b of this.registry.cachedList(this.roleBindings, namespace)) {
        if (subjectMatches(own(b, 'subjects'), user, namespace)) add(own(b, 'roleRef'), namespace);
      }
    }
    return out;
  }

  authorize(user: AuthenticatedUser, a: Attributes): boolean {
    if (user.groups.includes('system:masters')) return true;
    const nd = this.node.authorize(user, a);
    if (nd.decision === 'allow') return true;
    if (nd.decision === 'deny') {
      denyReasons.set(a, nd.reason);
      return false;
    }
    // On what the Node authorizer subdivides, the system:node role's grants do not count (upstream leaves it unbound).
    const counts = (ref: unknown): boolean => !nd.subdivided || ownString(ref, 'kind') !== 'ClusterRole' || ownString(ref, 'name') !== SYSTEM_NODE_ROLE;
    for (const b of this.registry.cachedList(this.clusterRoleBindings)) {
      if (!subjectMatches(own(b, 'subjects'), user) || !counts(own(b, 'roleRef'))) continue;
      if (rulesOf(this.roleFor(own(b, 'roleRef'), undefined)).some((r) => ruleAllows(r, a))) return true;
    }
    if (a.namespace && a.resource !== undefined) {
      for (const b of this.registry.cachedList(this.roleBindings, a.namespace)) {
        if (!subjectMatches(own(b, 'subjects'), user, a.namespace) || !counts(own(b, 'roleRef'))) continue;
        if (rulesOf(this.roleFor(own(b, 'roleRef'), a.namespace)).some((r) => ruleAllows(r, a))) return true;
      }
    }
    if (nd.reason) denyReasons.set(a, nd.reason);
    return false;
  }
}

/** Kubernetes' 403 message for a denied request. */
export function forbiddenMessage(user: AuthenticatedUser, a: Attributes): string {
  if (a.resource === undefined) return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const reason = denyReasons.get(a);
  return `${subject} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup ?? ''}" ${scope}${reason ? `: ${reason}` : ''}`;
}

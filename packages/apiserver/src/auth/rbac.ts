/**
 * RBAC authorization over Role / ClusterRole / RoleBinding /
 * ClusterRoleBinding objects (read from the watch caches): verbs, apiGroups,
 * resources (incl. subresources like pods/status), resourceNames and
 * nonResourceURLs. system:masters may do everything; node identities pass
 * the Node authorizer (node_authorizer.ts) first.
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import type { UserInfo } from './authn.js';
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

const ruleHas = (list: unknown, v: string): boolean => Array.isArray(list) && (list.includes('*') || list.includes(v));

function ruleAllows(rule: Obj, a: Attributes): boolean {
  if (!ruleHas(rule.verbs, a.verb)) return false;
  if (a.resource === undefined) {
    const urls = (rule.nonResourceURLs as string[] | undefined) ?? [];
    return urls.some((u) => u === '*' || u === a.path || (u.endsWith('*') && (a.path ?? '').startsWith(u.slice(0, -1))));
  }
  if (!ruleHas(rule.apiGroups, a.apiGroup ?? '')) return false;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resources = (rule.resources as string[] | undefined) ?? [];
  if (!resources.some((r) => r === '*' || r === full || (a.subresource && r === `*/${a.subresource}`))) return false;
  const names = (rule.resourceNames as string[] | undefined) ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

function subjectMatches(subjects: unknown, user: UserInfo, bindingNs?: string): boolean {
  for (const s of (subjects as Obj[] | undefined) ?? []) {
    if (s.kind === 'User' && s.name === user.name) return true;
    if (s.kind === 'Group' && user.groups.includes(String(s.name))) return true;
    if (s.kind === 'ServiceAccount') {
      const ns = String(s.namespace ?? bindingNs ?? '');
      if (user.name === `system:serviceaccount:${ns}:${String(s.name)}`) return true;
    }
  }
  return false;
}

/** Why a request was denied (set by authorize, appended by forbiddenMessage). */
const denyReasons = new WeakMap<Attributes, string>();

export class RbacAuthorizer {
  private readonly node: NodeAuthorizer;
  constructor(private readonly registry: Registry) {
    this.node = new NodeAuthorizer(registry);
  }

  private rules(ref: Obj, ns: string | undefined): Obj[] {
    const kind = ref.kind;
    const name = String(ref.name ?? '');
    const info = findResource('rbac.authorization.k8s.io', 'v1', kind === 'ClusterRole' ? 'clusterroles' : 'roles')!;
    const role = this.registry.cachedGet(info, kind === 'ClusterRole' ? undefined : ns, name);
    return ((role?.rules as Obj[] | undefined) ?? []);
  }

  authorize(user: UserInfo, a: Attributes): boolean {
    if (user.groups.includes('system:masters')) return true;
    const nd = this.node.authorize(user, a);
    if (nd.decision === 'deny') {
      denyReasons.set(a, nd.reason);
      return false;
    }
    const crb = findResource('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings')!;
    for (const b of this.registry.cachedList(crb)) {
      if (!subjectMatches(b.subjects, user)) continue;
      if (this.rules(b.roleRef as Obj, undefined).some((r) => ruleAllows(r, a))) return true;
    }
    if (a.namespace && a.resource !== undefined) {
      const rb = findResource('rbac.authorization.k8s.io', 'v1', 'rolebindings')!;
      for (const b of this.registry.cachedList(rb, a.namespace)) {
        if (!subjectMatches(b.subjects, user, a.namespace)) continue;
        if (this.rules(b.roleRef as Obj, a.namespace).some((r) => ruleAllows(r, a))) return true;
      }
    }
    return false;
  }
}

/** Kubernetes' 403 message for a denied request. */
export function forbiddenMessage(user: UserInfo, a: Attributes): string {
  if (a.resource === undefined) return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const reason = denyReasons.get(a);
  return `${subject} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup ?? ''}" ${scope}${reason ? `: ${reason}` : ''}`;
}

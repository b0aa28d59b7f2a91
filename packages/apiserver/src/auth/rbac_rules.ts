/**
 * RBAC rule resolution (upstream's RulesFor): every PolicyRule granted to a
 * user by the ClusterRoleBindings, plus the RoleBindings of one namespace,
 * read from the same watch caches the RBAC authorizer reads. Feeds
 * SelfSubjectRulesReview (`kubectl auth can-i --list`).
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import type { UserInfo } from './authn.js';

type Obj = JsonObject;

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

export interface RulesResult {
  rules: PolicyRule[];
  /** Why some rules could not be resolved (a binding naming a missing role), as upstream's aggregated error. */
  errors: string[];
}

const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function bindingApplies(subjects: unknown, user: UserInfo, bindingNs: string | undefined): boolean {
  if (!Array.isArray(subjects)) return false;
  for (const s of subjects as Obj[]) {
    if (typeof s !== 'object' || s === null) continue;
    const kind = own(s, 'kind');
    const name = String(own(s, 'name') ?? '');
    if (kind === 'User' && name === user.name) return true;
    if (kind === 'Group' && user.groups.includes(name)) return true;
    if (kind === 'ServiceAccount') {
      const ns = String(own(s, 'namespace') ?? bindingNs ?? '');
      if (user.name === `system:serviceaccount:${ns}:${name}`) return true;
    }
  }
  return false;
}

export class RbacRuleResolver {
  constructor(private readonly registry: Registry) {}

  private roleRules(ref: Obj, ns: string | undefined, errors: string[]): PolicyRule[] {
    const cluster = own(ref, 'kind') === 'ClusterRole';
    const name = String(own(ref, 'name') ?? '');
    const info = findResource('rbac.authorization.k8s.io', 'v1', cluster ? 'clusterroles' : 'roles')!;
    const role = this.registry.cachedGet(info, cluster ? undefined : ns, name);
    if (!role) {
      errors.push(cluster ? `clusterrole.rbac.authorization.k8s.io "${name}" not found` : `role.rbac.authorization.k8s.io "${name}" not found`);
      return [];
    }
    const rules = own(role, 'rules');
    return (Array.isArray(rules) ? (rules as Obj[]) : []).map((r) => ({
      verbs: strings(own(r, 'verbs')),
      apiGroups: strings(own(r, 'apiGroups')),
      resources: strings(own(r, 'resources')),
      resourceNames: strings(own(r, 'resourceNames')),
      nonResourceURLs: strings(own(r, 'nonResourceURLs')),
    }));
  }

  /** The rules that apply to `user` in `namespace` (cluster-wide ones included). */
  rulesFor(user: UserInfo, namespace: string | undefined): RulesResult {
    const errors: string[] = [];
    const rules: PolicyRule[] = [];
    const crb = findResource('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings')!;
    for (const b of this.registry.cachedList(crb)) {
      if (!bindingApplies(own(b, 'subjects'), user, undefined)) continue;
      rules.push(...this.roleRules((own(b, 'roleRef') ?? {}) as Obj, undefined, errors));
    }
    if (namespace) {
      const rb = findResource('rbac.authorization.k8s.io', 'v1', 'rolebindings')!;
      for (const b of this.registry.cachedList(rb, namespace)) {
        if (!bindingApplies(own(b, 'subjects'), user, namespace)) continue;
        rules.push(...this.roleRules((own(b, 'roleRef') ?? {}) as Obj, namespace, errors));
      }
    }
    return { rules, errors };
  }
}

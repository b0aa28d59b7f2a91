/**
 * RBAC escalation prevention, as kube-apiserver's policy-based storage of
 * roles and bindings (pkg/registry/rbac): a user may create or update a
 * Role / ClusterRole only with every permission in it already held in that
 * scope (or `escalate` on the resource), and a RoleBinding /
 * ClusterRoleBinding only with the referenced role's permissions held in the
 * binding's scope (or `bind` on that role). system:masters always may. The
 * coverage check and the message listing the missing rules follow upstream's
 * validation.Covers, CompactRules and CompactString.
 */
import type { JsonObject, ResourceInfo } from '@mkube/api';
import { ApiError } from '../errors.js';
import { deepEqual } from '../registry/validation.js';
import type { AuthenticatedUser } from './authn.js';
import { own, rulesOf, type RbacRule, type RbacAuthorizer } from './rbac.js';

type Obj = JsonObject;

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const PRIVILEGED_GROUP = 'system:masters';

const EMPTY: Omit<RbacRule, 'verbs'> = { apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [] };
/** What an aggregationRule may gather: everything (upstream's fullAuthority). */
const FULL_AUTHORITY: RbacRule[] = [
  { ...EMPTY, verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { ...EMPTY, verbs: ['*'], nonResourceURLs: ['*'] },
];

// ------------------------------------------------------------------ coverage

/** One rule per group × resource × verb (× name), and per URL × verb. */
export function breakdownRule(rule: RbacRule): RbacRule[] {
  const out: RbacRule[] = [];
  for (const group of rule.apiGroups) {
    for (const resource of rule.resources) {
      for (const verb of rule.verbs) {
        const names = rule.resourceNames.length > 0 ? rule.resourceNames.map((n) => [n]) : [[]];
        for (const resourceNames of names) out.push({ ...EMPTY, apiGroups: [group], resources: [resource], verbs: [verb], resourceNames });
      }
    }
  }
  for (const url of rule.nonResourceURLs) for (const verb of rule.verbs) out.push({ ...EMPTY, nonResourceURLs: [url], verbs: [verb] });
  return out;
}

const hasAll = (set: string[], wanted: string[]): boolean => wanted.every((w) => set.includes(w));

function resourcesCover(owner: string[], wanted: string[]): boolean {
  if (owner.includes('*') || hasAll(owner, wanted)) return true;
  return wanted.every((r) => {
    if (owner.includes(r)) return true;
    const slash = r.indexOf('/');
    return slash >= 0 && owner.includes(`*/${r.slice(slash + 1)}`);
  });
}

const urlCovers = (owner: string, path: string): boolean => owner === path || (owner.endsWith('*') && path.startsWith(owner.replace(/\*+$/, '')));

function ruleCovers(owner: RbacRule, sub: RbacRule): boolean {
  const verbs = owner.verbs.includes('*') || hasAll(owner.verbs, sub.verbs);
  const groups = owner.apiGroups.includes('*') || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourcesCover(owner.resources, sub.resources);
  const urls = sub.nonResourceURLs.every((p) => owner.nonResourceURLs.some((o) => urlCovers(o, p)));
  const names = sub.resourceNames.length === 0 ? owner.resourceNames.length === 0 : owner.resourceNames.length === 0 || hasAll(owner.resourceNames, sub.resourceNames);
  return verbs && groups && resources && urls && names;
}

/** Whether `owner` covers every permission in `servant`, and the broken-down rules it does not cover. */
export function covers(owner: RbacRule[], servant: RbacRule[]): { covered: boolean; missing: RbacRule[] } {
  const missing = servant.flatMap(breakdownRule).filter((sub) => !owner.some((o) => ruleCovers(o, sub)));
  return { covered: missing.length === 0, missing };
}

/** Merges single group/resource (at most one name) rules that differ only in verbs. */
export function compactRules(rules: RbacRule[]): RbacRule[] {
  const out: RbacRule[] = [];
  const simple = new Map<string, RbacRule>();
  for (const r of rules) {
    const isSimple = r.resourceNames.length <= 1 && r.nonResourceURLs.length === 0 && r.apiGroups.length === 1 && r.resources.length === 1;
    if (!isSimple) {
      out.push(r);
      continue;
    }
    const key = JSON.stringify([r.apiGroups[0], r.resources[0], r.resourceNames[0] ?? null]);
    const seen = simple.get(key);
    if (seen) seen.verbs.push(...r.verbs);
    else simple.set(key, { ...r, verbs: [...r.verbs] });
  }
  return [...out, ...simple.values()];
}

/** Go's %q of one string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Go's %q of a []string: ["a" "b"]. */
export const goQuoteList = (list: string[]): string => `[${list.map(goQuote).join(' ')}]`;

/** Upstream's CompactString: {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}. */
export function compactString(r: RbacRule): string {
  const parts: string[] = [];
  if (r.apiGroups.length > 0) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources.length > 0) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs.length > 0) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames.length > 0) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs.length > 0) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** Go's byte-wise string order (sets.String.List()). */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

// ------------------------------------------------------------------ the checks

function forbidden(info: ResourceInfo, name: string, why: string): ApiError {
  const what = `${info.resource}.${info.group}`;
  return new ApiError(403, 'Forbidden', name ? `${what} "${name}" is forbidden: ${why}` : `${what} is forbidden: ${why}`, { name: name || undefined, group: info.group, kind: info.resource });
}

const nameOf = (obj: Obj): string => {
  const n = own(own(obj, 'metadata'), 'name');
  return typeof n === 'string' ? n : '';
};

/** Metadata fields a write may change without a new escalation check (upstream's IsOnlyMutatingGCFields, plus what the server owns). */
const GC_AND_SYSTEM_FIELDS = ['ownerReferences', 'finalizers', 'selfLink', 'managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'name', 'namespace'];
function withoutGcFields(obj: Obj): unknown {
  const copy: Obj = { ...obj };
  delete copy.apiVersion;
  delete copy.kind;
  const meta = own(obj, 'metadata');
  const m: Obj = typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? { ...(meta as Obj) } : {};
  for (const k of GC_AND_SYSTEM_FIELDS) delete m[k];
  copy.metadata = m;
  return copy;
}
export const onlyMutatesGcFields = (next: Obj, old: Obj): boolean => deepEqual(withoutGcFields(next), withoutGcFields(old));

export interface WriteContext {
  user: AuthenticatedUser;
  info: ResourceInfo;
  /** The namespace of the request (undefined for cluster-scoped resources). */
  namespace: string | undefined;
  /** The name on the request (URL or gRPC name); undefined for a create. */
  requestName?: string;
}

export class EscalationCheck {
  constructor(private readonly authz: RbacAuthorizer) {}

  /**
   * Throws 403 (404 for a binding to a missing role) when the user may not
   * write `obj` — a create when `old` is undefined, else an update of `old`.
   * Does nothing for other resources.
   */
  check(ctx: WriteContext, obj: Obj, old?: Obj): void {
    const { info, user } = ctx;
    if (info.group !== RBAC_GROUP || user.groups.includes(PRIVILEGED_GROUP)) return;
    if (old && onlyMutatesGcFields(obj, old)) return;
    const ns = info.namespaced ? ctx.namespace : undefined;
    if (info.resource === 'roles' || info.resource === 'clusterroles') {
      if (this.escalateAuthorized(ctx)) return;
      this.confirmNoEscalation(ctx, obj, rulesOf(obj));
      // An aggregationRule gathers anything: setting one (or changing or dropping it on update) needs full authority.
      const agg = (o: Obj | undefined): unknown => own(o, 'aggregationRule') ?? null;
      if (info.resource === 'clusterroles' && (old ? !deepEqual(agg(obj), agg(old)) : agg(obj) !== null)) {
        if (!covers(this.authz.rulesFor(user, undefined), FULL_AUTHORITY).covered) {
          throw forbidden(info, nameOf(obj), 'must have cluster-admin privileges to use the aggregationRule');
        }
      }
      return;
    }
    if (info.resource === 'rolebindings' || info.resource === 'clusterrolebindings') {
      const roleRef = own(obj, 'roleRef');
      if (this.bindAuthorized(user, roleRef, ns)) return;
      const rules = this.authz.roleReferenceRules(roleRef, ns);
      this.confirmNoEscalation(ctx, obj, rules);
    }
  }

  /** `escalate` on roles / clusterroles in the request's scope (upstream's RoleEscalationAuthorized). */
  private escalateAuthorized(ctx: WriteContext): boolean {
    return this.authz.authorize(ctx.user, { verb: 'escalate', apiGroup: RBAC_GROUP, resource: ctx.info.resource, namespace: ctx.info.namespaced ? ctx.namespace : undefined, name: ctx.requestName });
  }

  /** `bind` on the referenced role by name, in the binding's namespace (upstream's BindingAuthorized). */
  private bindAuthorized(user: AuthenticatedUser, roleRef: unknown, ns: string | undefined): boolean {
    const kind = own(roleRef, 'kind');
    const name = own(roleRef, 'name');
    const group = own(roleRef, 'apiGroup');
    if ((kind !== 'ClusterRole' && kind !== 'Role') || typeof name !== 'string') return false;
    return this.authz.authorize(user, { verb: 'bind', apiGroup: typeof group === 'string' ? group : '', resource: kind === 'ClusterRole' ? 'clusterroles' : 'roles', namespace: ns, name });
  }

  private confirmNoEscalation(ctx: WriteContext, obj: Obj, rules: RbacRule[]): void {
    const ns = ctx.info.namespaced ? ctx.namespace : undefined;
    const { covered, missing } = covers(this.authz.rulesFor(ctx.user, ns), rules);
    if (covered) return;
    const descriptions = [...new Set(compactRules(missing).map(compactString))].sort(byteOrder);
    const why = `user ${goQuote(ctx.user.name)} (groups=${goQuoteList(ctx.user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`;
    throw forbidden(ctx.info, nameOf(obj) || ctx.requestName || '', why);
  }
}

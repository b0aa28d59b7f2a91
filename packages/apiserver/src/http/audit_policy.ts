/**
 * The audit policy (audit.k8s.io/v1 Policy, upstream's --audit-policy-file
 * format): rules with level None/Metadata/Request/RequestResponse matched on
 * users, userGroups, verbs, resources (group, resources incl. "*",
 * "res/sub", "*\/sub", "res/*", resourceNames), namespaces and
 * nonResourceURLs; the first matching rule wins, no match is None. Policy-
 * and rule-level omitStages and omitManagedFields.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export type AuditLevel = 'None' | 'Metadata' | 'Request' | 'RequestResponse';
export type AuditStage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

export const LEVELS: readonly AuditLevel[] = ['None', 'Metadata', 'Request', 'RequestResponse'];
const STAGES: readonly AuditStage[] = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];

export interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

export interface AuditPolicyRule {
  level: AuditLevel;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: AuditStage[];
  omitManagedFields: boolean | undefined;
}

export interface AuditPolicy {
  rules: AuditPolicyRule[];
  omitStages: AuditStage[];
  omitManagedFields: boolean;
}

/** What a request looks like to the policy (upstream's authorizer.Attributes). */
export interface AuditAttributes {
  user: string;
  groups: string[];
  verb: string;
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

export class AuditPolicyError extends Error {
  readonly code = 'AUDIT_POLICY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AuditPolicyError';
  }
}

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Raw, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new AuditPolicyError(`${where}: must be a list of strings`);
  return v as string[];
}

function stages(v: unknown, where: string): AuditStage[] {
  const out = strings(v, where);
  for (const s of out) if (!STAGES.includes(s as AuditStage)) throw new AuditPolicyError(`${where}: Unsupported value: "${s}": supported values: ${STAGES.map((x) => `"${x}"`).join(', ')}`);
  return out as AuditStage[];
}

/** Parses and validates a Policy document (YAML or JSON). */
export function parseAuditPolicy(text: string): AuditPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AuditPolicyError(`not YAML or JSON: ${(err as Error).message}`);
  }
  if (!isObj(doc)) throw new AuditPolicyError('the policy must be an object');
  const apiVersion = own(doc, 'apiVersion');
  if (own(doc, 'kind') !== 'Policy' || (apiVersion !== 'audit.k8s.io/v1' && apiVersion !== 'audit.k8s.io/v1beta1')) {
    throw new AuditPolicyError(`expected apiVersion audit.k8s.io/v1, kind Policy (got ${String(apiVersion)} ${String(own(doc, 'kind'))})`);
  }
  const rawRules = own(doc, 'rules');
  if (!Array.isArray(rawRules) || rawRules.length === 0) throw new AuditPolicyError('rules: Required value: at least one rule');
  const rules = rawRules.map((r, i): AuditPolicyRule => {
    const where = `rules[${i}]`;
    if (!isObj(r)) throw new AuditPolicyError(`${where}: must be an object`);
    const level = own(r, 'level');
    if (!LEVELS.includes(level as AuditLevel)) throw new AuditPolicyError(`${where}.level: Unsupported value: ${JSON.stringify(level ?? '')}: supported values: ${LEVELS.map((x) => `"${x}"`).join(', ')}`);
    const resources = (Array.isArray(own(r, 'resources')) ? (own(r, 'resources') as unknown[]) : []).map((g, j): GroupResources => {
      if (!isObj(g)) throw new AuditPolicyError(`${where}.resources[${j}]: must be an object`);
      return { group: typeof own(g, 'group') === 'string' ? (own(g, 'group') as string) : '', resources: strings(own(g, 'resources'), `${where}.resources[${j}].resources`), resourceNames: strings(own(g, 'resourceNames'), `${where}.resources[${j}].resourceNames`) };
    });
    const nonResourceURLs = strings(own(r, 'nonResourceURLs'), `${where}.nonResourceURLs`);
    const namespaces = strings(own(r, 'namespaces'), `${where}.namespaces`);
    if (nonResourceURLs.length > 0 && (resources.length > 0 || namespaces.length > 0)) {
      throw new AuditPolicyError(`${where}.nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs`);
    }
    const omf = own(r, 'omitManagedFields');
    return {
      level: level as AuditLevel,
      users: strings(own(r, 'users'), `${where}.users`),
      userGroups: strings(own(r, 'userGroups'), `${where}.userGroups`),
      verbs: strings(own(r, 'verbs'), `${where}.verbs`),
      resources,
      namespaces,
      nonResourceURLs,
      omitStages: stages(own(r, 'omitStages'), `${where}.omitStages`),
      omitManagedFields: typeof omf === 'boolean' ? omf : undefined,
    };
  });
  return { rules, omitStages: stages(own(doc, 'omitStages'), 'omitStages'), omitManagedFields: own(doc, 'omitManagedFields') === true };
}

export function loadAuditPolicy(path: string): AuditPolicy {
  return parseAuditPolicy(readFileSync(path, 'utf8'));
}

function matchesResource(r: AuditPolicyRule, a: AuditAttributes): boolean {
  if (!a.resourceRequest) return false;
  if (r.namespaces.length > 0 && !r.namespaces.includes(a.namespace)) return false;
  if (r.resources.length === 0) return true;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const gr of r.resources) {
    if (gr.group !== a.apiGroup) continue;
    if (gr.resources.length === 0) return true;
    if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(a.name)) continue;
    for (const res of gr.resources) {
      if (res === '*' || res === combined) return true;
      if (a.subresource && res.startsWith('*/') && res.slice(2) === a.subresource) return true;
      if (res.endsWith('/*') && res.slice(0, -2) === a.resource) return true;
    }
  }
  return false;
}

function matchesNonResource(r: AuditPolicyRule, a: AuditAttributes): boolean {
  if (a.resourceRequest) return false;
  return r.nonResourceURLs.some((u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))));
}

function ruleMatches(r: AuditPolicyRule, a: AuditAttributes): boolean {
  if (r.users.length > 0 && !r.users.includes(a.user)) return false;
  if (r.userGroups.length > 0 && !a.groups.some((g) => r.userGroups.includes(g))) return false;
  if (r.verbs.length > 0 && !r.verbs.includes(a.verb)) return false;
  if (r.namespaces.length > 0 || r.resources.length > 0) return matchesResource(r, a);
  if (r.nonResourceURLs.length > 0) return matchesNonResource(r, a);
  return true;
}

/** The level, omitted stages and managed-fields choice for one request: the first matching rule's. */
export function evaluatePolicy(p: AuditPolicy, a: AuditAttributes): { level: AuditLevel; omitStages: Set<AuditStage>; omitManagedFields: boolean } {
  for (const r of p.rules) {
    if (!ruleMatches(r, a)) continue;
    return { level: r.level, omitStages: new Set([...p.omitStages, ...r.omitStages]), omitManagedFields: r.omitManagedFields ?? p.omitManagedFields };
  }
  return { level: 'None', omitStages: new Set(p.omitStages), omitManagedFields: p.omitManagedFields };
}

/**
 * The PodSecurity admission plugin, as upstream's built-in
 * (k8s.io/pod-security-admission/admission): namespaces' pod-security labels
 * validated on create/update (422 for an invalid level or version, warnings
 * listing existing pods that violate a stricter enforce level), pods checked
 * against the namespace's enforce level (403 "violates PodSecurity") with
 * warn and audit levels reported as response warnings and audit annotations,
 * and pod-template workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet,
 * Job, CronJob, ReplicationController, PodTemplate) warned and audited, never
 * refused. Exemptions (usernames, namespaces, runtimeClasses) and defaults
 * come from the PodSecurityConfiguration (see pod_security_config.ts).
 */
import { findResource, type JsonObject } from '@mkube/api';
import { ApiError, fieldErrorBody, invalid, qualified, type FieldError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { addAuditAnnotations, addWarning, type AdmissionAttributes, type ValidatingAdmission } from './admission.js';
import {
  compareLevels,
  ENFORCE_LEVEL_LABEL,
  ENFORCE_VERSION_LABEL,
  AUDIT_LEVEL_LABEL,
  AUDIT_VERSION_LABEL,
  WARN_LEVEL_LABEL,
  WARN_VERSION_LABEL,
  evaluatePod,
  forbiddenDetail,
  forbiddenReason,
  LABEL_PREFIX,
  levelVersionString,
  policyToEvaluate,
  sameLevelVersion,
  type LevelVersion,
  type Policy,
  type Violation,
} from './pod_security.js';
import { DEFAULT_POD_SECURITY_CONFIGURATION, type PodSecurityConfiguration } from './pod_security_config.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: unknown, k: string): unknown => (isObj(o) && Object.hasOwn(o, k) ? o[k] : undefined);
const objAt = (o: unknown, k: string): Obj | undefined => {
  const v = own(o, k);
  return isObj(v) ? v : undefined;
};

/** Audit annotation keys, without the `pod-security.kubernetes.io/` prefix. */
export const AUDIT_VIOLATIONS = 'audit-violations';
export const ENFORCE_POLICY = 'enforce-policy';
export const EXEMPT = 'exempt';

/** At most this many existing pods are checked when a namespace's enforce level tightens, for at most this long. */
const NAMESPACE_MAX_PODS_TO_CHECK = 3000;
const NAMESPACE_POD_CHECK_TIMEOUT_MS = 1000;

/** Pod subresources that cannot change the pod spec (upstream's ignoredPodSubresources). */
const IGNORED_POD_SUBRESOURCES = new Set(['exec', 'attach', 'binding', 'eviction', 'log', 'portforward', 'proxy', 'status']);

/** Where a workload keeps its pod template, by group/resource. */
const TEMPLATE_PATHS: Record<string, string[]> = {
  '/replicationcontrollers': ['spec', 'template'],
  '/podtemplates': ['template'],
  'apps/replicasets': ['spec', 'template'],
  'apps/deployments': ['spec', 'template'],
  'apps/statefulsets': ['spec', 'template'],
  'apps/daemonsets': ['spec', 'template'],
  'batch/jobs': ['spec', 'template'],
  'batch/cronjobs': ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The outcome of one evaluation: an error refuses the write; warnings and audit annotations go with the answer either way. */
export interface PodSecurityResponse {
  error?: ApiError;
  warnings: string[];
  /** Keys without the `pod-security.kubernetes.io/` prefix, as upstream's AdmissionResponse. */
  auditAnnotations: Record<string, string>;
}

/** What the plugin reads: a namespace (fresh, for its labels) and the pods of a namespace. */
export interface PodSecurityLookups {
  namespace(name: string): Promise<Obj | undefined>;
  pods(namespace: string): Obj[] | Promise<Obj[]>;
}

const allowed = (auditAnnotations: Record<string, string> = {}): PodSecurityResponse => ({ warnings: [], auditAnnotations });

export class PodSecurityAdmission implements ValidatingAdmission {
  readonly name = 'PodSecurity';
  private readonly defaults: Policy;

  constructor(
    private readonly lookups: PodSecurityLookups,
    private readonly config: PodSecurityConfiguration = DEFAULT_POD_SECURITY_CONFIGURATION,
  ) {
    this.defaults = config.defaults;
  }

  async validate(attrs: AdmissionAttributes): Promise<void> {
    const r = await this.evaluate(attrs);
    for (const w of r.warnings) addWarning(attrs.context, w);
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.auditAnnotations)) annotations[LABEL_PREFIX + k] = v;
    if (Object.keys(annotations).length) addAuditAnnotations(attrs.context, annotations);
    if (r.error) throw r.error;
  }

  /** Upstream's Validate: namespaces, pods, or pod-template workloads; anything else is allowed untouched. */
  async evaluate(attrs: AdmissionAttributes): Promise<PodSecurityResponse> {
    const { group, resource } = attrs.info;
    if (group === '' && resource === 'namespaces') return this.validateNamespace(attrs);
    if (group === '' && resource === 'pods') return this.validatePod(attrs);
    if (TEMPLATE_PATHS[`${group}/${resource}`]) return this.validatePodController(attrs);
    return allowed();
  }

  private exemptNamespace(ns: string | undefined): boolean {
    return !!ns && this.config.exemptions.namespaces.includes(ns);
  }

  private exemptUser(attrs: AdmissionAttributes): boolean {
    const user = attrs.context?.user?.name;
    return !!user && this.config.exemptions.usernames.includes(user);
  }

  private exemptRuntimeClass(spec: Obj | undefined): boolean {
    const rc = own(spec, 'runtimeClassName');
    return typeof rc === 'string' && rc !== '' && this.config.exemptions.runtimeClasses.includes(rc);
  }

  private async namespaceLabels(ns: string | undefined): Promise<unknown> {
    if (!ns) return undefined;
    const obj = await this.lookups.namespace(ns);
    return objAt(objAt(obj, 'metadata'), 'labels');
  }

  // ---------------------------------------------------------------- namespaces

  private validateNamespace(attrs: AdmissionAttributes): Promise<PodSecurityResponse> | PodSecurityResponse {
    if (attrs.subresource) return allowed();
    const labels = objAt(objAt(attrs.obj, 'metadata'), 'labels');
    const { policy, errors } = policyToEvaluate(labels, this.defaults);
    // For the namespaces resource the request's namespace is the object's own name.
    const exempt = this.exemptNamespace(attrs.name);
    if (attrs.operation === 'CREATE') {
      if (errors.length) return { ...allowed(), error: invalid('Namespace', '', attrs.name, errors) };
      return this.exemptNamespaceWarning(exempt, attrs.name, policy, labels);
    }
    const old = policyToEvaluate(objAt(objAt(attrs.oldObj, 'metadata'), 'labels'), this.defaults);
    if (errors.length && (old.errors.length === 0 || JSON.stringify(errors) !== JSON.stringify(old.errors))) {
      return { ...allowed(), error: invalid('Namespace', '', attrs.name, errors) };
    }
    // No dry run of existing pods when the enforce policy is unchanged, privileged, or relaxed at the same version.
    if (sameLevelVersion(policy.enforce, old.policy.enforce)) return allowed();
    if (policy.enforce.level === 'privileged') return allowed();
    if (policy.enforce.version === old.policy.enforce.version && compareLevels(policy.enforce.level, old.policy.enforce.level) < 1) return allowed();
    if (exempt) return this.exemptNamespaceWarning(exempt, attrs.name, policy, labels);
    return this.evaluatePodsInNamespace(attrs.name, policy.enforce);
  }

  /** Upstream's warning when an exempt namespace sets a policy that will be ignored. */
  private exemptNamespaceWarning(exempt: boolean, ns: string, policy: Policy, labels: unknown): PodSecurityResponse {
    if (!exempt) return allowed();
    const equivalent = (a: LevelVersion, b: LevelVersion) => a.level === b.level && (a.level === 'privileged' || a.version === b.version);
    const fullyPrivileged = policy.enforce.level === 'privileged' && policy.audit.level === 'privileged' && policy.warn.level === 'privileged';
    if (fullyPrivileged || (equivalent(policy.enforce, this.defaults.enforce) && equivalent(policy.audit, this.defaults.audit) && equivalent(policy.warn, this.defaults.warn))) return allowed();
    const has = (k: string) => isObj(labels) && Object.hasOwn(labels, k);
    const parts: string[] = [];
    if (policy.enforce.level !== 'privileged' && (has(ENFORCE_LEVEL_LABEL) || has(ENFORCE_VERSION_LABEL))) parts.push(`enforce=${levelVersionString(policy.enforce)}`);
    if (policy.audit.level !== 'privileged' && (has(AUDIT_LEVEL_LABEL) || has(AUDIT_VERSION_LABEL))) parts.push(`audit=${levelVersionString(policy.audit)}`);
    if (policy.warn.level !== 'privileged' && (has(WARN_LEVEL_LABEL) || has(WARN_VERSION_LABEL))) parts.push(`warn=${levelVersionString(policy.warn)}`);
    return { ...allowed(), warnings: [`namespace ${JSON.stringify(ns)} is exempt from Pod Security, and the policy (${parts.join(', ')}) will be ignored`] };
  }

  /** Warnings naming the existing pods of a namespace that the new enforce level would refuse. */
  private async evaluatePodsInNamespace(ns: string, enforce: LevelVersion): Promise<PodSecurityResponse> {
    let pods: Obj[];
    try {
      pods = await this.lookups.pods(ns);
    } catch {
      return { ...allowed(), warnings: ['failed to list pods while checking new PodSecurity enforce level'] };
    }
    // Exempt runtime classes are skipped; one pod per controller first, the other replicas after.
    const first: Obj[] = [];
    const replicas: Obj[] = [];
    const seenControllers = new Set<string>();
    for (const pod of pods) {
      const spec = objAt(pod, 'spec');
      if (this.exemptRuntimeClass(spec)) continue;
      const refs = own(objAt(pod, 'metadata'), 'ownerReferences');
      const controller = Array.isArray(refs) ? refs.find((r) => own(r, 'controller') === true) : undefined;
      const uid = controller ? String(own(controller, 'uid') ?? '') : undefined;
      if (uid === undefined) first.push(pod);
      else if (seenControllers.has(uid)) replicas.push(pod);
      else {
        seenControllers.add(uid);
        first.push(pod);
      }
    }
    const prioritized = [...first, ...replicas];
    const total = prioritized.length;
    const candidates = prioritized.slice(0, NAMESPACE_MAX_PODS_TO_CHECK);
    const deadline = Date.now() + NAMESPACE_POD_CHECK_TIMEOUT_MS;
    let checked = candidates.length;
    const byWarning = new Map<string, { podName: string; count: number }>();
    for (let i = 0; i < candidates.length; i++) {
      const pod = candidates[i]!;
      const violations = evaluatePod(enforce, objAt(pod, 'metadata'), objAt(pod, 'spec'));
      if (violations.length) {
        const warning = forbiddenReason(violations);
        const podName = String(own(objAt(pod, 'metadata'), 'name') ?? '');
        const c = byWarning.get(warning);
        if (!c) byWarning.set(warning, { podName, count: 1 });
        else {
          c.count++;
          if (podName < c.podName) c.podName = podName;
        }
      }
      if (Date.now() > deadline) {
        checked = i + 1;
        break;
      }
    }
    const warnings: string[] = [];
    if (checked < total) warnings.push(`new PodSecurity enforce level only checked against the first ${checked} of ${total} existing pods`);
    if (byWarning.size) warnings.push(`existing pods in namespace ${JSON.stringify(ns)} violate the new PodSecurity enforce level ${JSON.stringify(levelVersionString(enforce))}`);
    const podWarnings = [...byWarning].map(([warning, c]) => {
      if (c.count === 1) return `${c.podName}: ${warning}`;
      if (c.count === 2) return `${c.podName} (and 1 other pod): ${warning}`;
      return `${c.podName} (and ${c.count - 1} other pods): ${warning}`;
    });
    podWarnings.sort();
    return { ...allowed(), warnings: [...warnings, ...podWarnings] };
  }

  // ---------------------------------------------------------------- pods and workloads

  private async validatePod(attrs: AdmissionAttributes): Promise<PodSecurityResponse> {
    if (attrs.subresource && IGNORED_POD_SUBRESOURCES.has(attrs.subresource)) return allowed();
    if (this.exemptNamespace(attrs.namespace)) return allowed({ [EXEMPT]: 'namespace' });
    if (this.exemptUser(attrs)) return allowed({ [EXEMPT]: 'user' });
    // Checked before the namespace is read (upstream reads it first; the answer is the same): bindings and
    // metadata-only updates cost no store read.
    if (attrs.operation === 'UPDATE' && attrs.oldObj && !isSignificantPodUpdate(attrs.obj, attrs.oldObj)) return allowed();
    const { policy, errors } = policyToEvaluate(await this.namespaceLabels(attrs.namespace), this.defaults);
    if (errors.length === 0 && policy.enforce.level === 'privileged' && policy.warn.level === 'privileged' && policy.audit.level === 'privileged') return allowed();
    return this.evaluatePodSpec(attrs, policy, errors, objAt(attrs.obj, 'metadata'), objAt(attrs.obj, 'spec'), true);
  }

  private async validatePodController(attrs: AdmissionAttributes): Promise<PodSecurityResponse> {
    if (attrs.subresource) return allowed();
    if (this.exemptNamespace(attrs.namespace)) return allowed({ [EXEMPT]: 'namespace' });
    if (this.exemptUser(attrs)) return allowed({ [EXEMPT]: 'user' });
    const { policy, errors } = policyToEvaluate(await this.namespaceLabels(attrs.namespace), this.defaults);
    if (errors.length === 0 && policy.warn.level === 'privileged' && policy.audit.level === 'privileged') return allowed();
    let template: unknown = attrs.obj;
    for (const k of TEMPLATE_PATHS[`${attrs.info.group}/${attrs.info.resource}`]!) template = own(template, k);
    if (!isObj(template)) return allowed(); // a workload without a pod template
    return this.evaluatePodSpec(attrs, policy, errors, objAt(template, 'metadata'), objAt(template, 'spec'), false);
  }

  /** Upstream's EvaluatePod: enforce (pods only), audit and warn levels, each evaluated once per level and version. */
  private evaluatePodSpec(attrs: AdmissionAttributes, policy: Policy, policyErrors: FieldError[], meta: Obj | undefined, spec: Obj | undefined, enforce: boolean): PodSecurityResponse {
    if (this.exemptRuntimeClass(spec)) return allowed({ [EXEMPT]: 'runtimeClass' });
    const out = allowed();
    if (policyErrors.length) out.auditAnnotations.error = `Failed to parse policy: ${aggregate(policyErrors)}`;
    const cache = new Map<string, Violation[]>();
    const evaluate = (lv: LevelVersion) => {
      const key = levelVersionString(lv);
      let v = cache.get(key);
      if (!v) cache.set(key, (v = evaluatePod(lv, meta, spec)));
      return v;
    };
    if (enforce) {
      out.auditAnnotations[ENFORCE_POLICY] = levelVersionString(policy.enforce);
      const v = evaluate(policy.enforce);
      if (v.length) {
        const ref = { group: attrs.info.group, resource: attrs.info.resource };
        const subject = attrs.name ? `${qualified(ref)} ${JSON.stringify(attrs.name)}` : qualified(ref);
        out.error = new ApiError(403, 'Forbidden', `${subject} is forbidden: violates PodSecurity ${JSON.stringify(levelVersionString(policy.enforce))}: ${forbiddenDetail(v)}`, {
          name: attrs.name || undefined,
          group: attrs.info.group || undefined,
          kind: attrs.info.resource,
        });
      }
    }
    const audit = evaluate(policy.audit);
    if (audit.length) out.auditAnnotations[AUDIT_VIOLATIONS] = `would violate PodSecurity ${JSON.stringify(levelVersionString(policy.audit))}: ${forbiddenDetail(audit)}`;
    // No warnings on a request that is refused anyway.
    if (!out.error) {
      const warn = evaluate(policy.warn);
      if (warn.length) out.warnings.push(`would violate PodSecurity ${JSON.stringify(levelVersionString(policy.warn))}: ${forbiddenDetail(warn)}`);
    }
    return out;
  }
}

/** Go's aggregate error text of field errors: one message, or "[a, b]". */
function aggregate(errs: FieldError[]): string {
  const parts = errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  return parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
}

const SECCOMP_CONTAINER_ANNOTATION_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';

/**
 * Whether a pod update changes anything the policy looks at that an update
 * may change (upstream's isSignificantPodUpdate): the number of containers,
 * a container's image (or its seccomp annotation), or an ephemeral container
 * added or changed. Metadata-only, status and binding updates are not.
 */
export function isSignificantPodUpdate(pod: Obj, oldPod: Obj): boolean {
  const spec = objAt(pod, 'spec');
  const oldSpec = objAt(oldPod, 'spec');
  const list = (s: Obj | undefined, k: string): Obj[] => {
    const v = own(s, k);
    return Array.isArray(v) ? v.filter(isObj) : [];
  };
  const annotations = objAt(objAt(pod, 'metadata'), 'annotations');
  const oldAnnotations = objAt(objAt(oldPod, 'metadata'), 'annotations');
  const significant = (c: Obj, old: Obj) => {
    if (own(c, 'image') !== own(old, 'image')) return true;
    const key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + String(own(c, 'name') ?? '');
    return own(annotations, key) !== own(oldAnnotations, key);
  };
  for (const k of ['containers', 'initContainers']) {
    const cur = list(spec, k);
    const old = list(oldSpec, k);
    if (cur.length !== old.length) return true;
    if (cur.some((c, i) => significant(c, old[i]!))) return true;
  }
  const oldEphemeral = list(oldSpec, 'ephemeralContainers');
  for (const c of list(spec, 'ephemeralContainers')) {
    const old = oldEphemeral.find((o) => own(o, 'name') === own(c, 'name'));
    if (!old || significant(c, old)) return true;
  }
  return false;
}

/** The lookups over the registry: the namespace read from the store (its labels must be current), pods by a consistent list. */
export function registryLookups(registry: Registry): PodSecurityLookups {
  const namespaces = findResource('', 'v1', 'namespaces')!;
  const pods = findResource('', 'v1', 'pods')!;
  return {
    async namespace(name) {
      return (await registry.store.get(registry.key(namespaces, undefined, name)))?.obj;
    },
    async pods(ns) {
      return (await registry.list(pods, ns, { selection: { labels: [], fields: [] } })).items;
    },
  };
}

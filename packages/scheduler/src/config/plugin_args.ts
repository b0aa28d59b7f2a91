/**
 * The args of mkube's in-tree plugins (kubescheduler.config.k8s.io/v1's
 * *Args kinds): their types, upstream's v1 defaults and upstream's
 * validation (validation_pluginargs.go), each decoder reporting FieldErrors
 * under the pluginConfig entry's `args` path.
 */
import type { NodeAffinitySpec, TopologySpreadConstraint } from '../types.js';
import { Decoder } from './decode.js';
import { duplicate, FieldError, forbidden, invalid, notSupported, required } from './field_errors.js';

export interface ResourceSpec {
  name: string;
  weight: number;
}

export interface UtilizationShapePoint {
  utilization: number;
  score: number;
}

export type ScoringStrategyType = 'LeastAllocated' | 'MostAllocated' | 'RequestedToCapacityRatio';
export const SCORING_STRATEGY_TYPES: readonly ScoringStrategyType[] = ['LeastAllocated', 'MostAllocated', 'RequestedToCapacityRatio'];

export interface ScoringStrategy {
  type: ScoringStrategyType;
  resources: ResourceSpec[];
  requestedToCapacityRatio?: { shape: UtilizationShapePoint[] };
}

export interface NodeResourcesFitArgs {
  ignoredResources: string[];
  ignoredResourceGroups: string[];
  scoringStrategy: ScoringStrategy;
}

export interface NodeResourcesBalancedAllocationArgs {
  resources: ResourceSpec[];
}

export interface InterPodAffinityArgs {
  hardPodAffinityWeight: number;
  ignorePreferredTermsOfExistingPods: boolean;
}

export interface DefaultPreemptionArgs {
  minCandidateNodesPercentage: number;
  minCandidateNodesAbsolute: number;
}

export type PodTopologySpreadDefaulting = 'System' | 'List';

export interface PodTopologySpreadArgs {
  defaultConstraints: TopologySpreadConstraint[];
  defaultingType: PodTopologySpreadDefaulting;
}

export interface NodeAffinityArgs {
  addedAffinity?: NodeAffinitySpec;
}

/** Upstream's MaxCustomPriorityScore: shape scores are 0..10. */
export const MAX_CUSTOM_PRIORITY_SCORE = 10;

const DEFAULT_RESOURCES: readonly ResourceSpec[] = [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }];

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** metav1validation.ValidateLabelName: a qualified name ("prefix/name"), messages as upstream's IsQualifiedName. */
function labelNameErrors(path: string, v: string): FieldError[] {
  const out: FieldError[] = [];
  const parts = v.split('/');
  let name = v;
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) out.push(invalid(path, v, 'prefix part must be non-empty'));
    else if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) {
      out.push(invalid(path, v, "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
    }
  } else if (parts.length > 2) {
    return [invalid(path, v, "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
  }
  if (name.length === 0) out.push(invalid(path, v, 'name part must be non-empty'));
  else if (name.length > 63) out.push(invalid(path, v, 'name part must be no more than 63 characters'));
  else if (!QUALIFIED_NAME.test(name)) {
    out.push(invalid(path, v, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
  }
  return out;
}

function resourceSpecs(d: Decoder, v: unknown, path: string): ResourceSpec[] | undefined {
  const a = d.array(v, path);
  if (!a) return undefined;
  return a.map((x, i) => {
    const o = d.object(x, `${path}[${i}]`, ['name', 'weight']) ?? {};
    return { name: d.str(o.name, `${path}[${i}].name`) ?? '', weight: d.int(o.weight, `${path}[${i}].weight`, true) ?? 0 };
  });
}

function shape(d: Decoder, v: unknown, path: string): UtilizationShapePoint[] {
  return (d.array(v, path) ?? []).map((x, i) => {
    const o = d.object(x, `${path}[${i}]`, ['utilization', 'score']) ?? {};
    return { utilization: d.int(o.utilization, `${path}[${i}].utilization`) ?? 0, score: d.int(o.score, `${path}[${i}].score`) ?? 0 };
  });
}

function validateShape(pts: UtilizationShapePoint[], path: string, errs: FieldError[]): void {
  if (pts.length === 0) {
    errs.push(required(path, 'at least one point must be specified'));
    return;
  }
  for (let i = 1; i < pts.length; i++) {
    if (pts[i - 1]!.utilization >= pts[i]!.utilization) {
      errs.push(invalid(`${path}[${i}].utilization`, pts[i]!.utilization, 'values must be sorted in increasing order'));
      break;
    }
  }
  pts.forEach((p, i) => {
    if (p.utilization < 0 || p.utilization > 100) errs.push(invalid(`${path}[${i}].utilization`, p.utilization, 'not in valid range [0, 100]'));
    if (p.score < 0 || p.score > MAX_CUSTOM_PRIORITY_SCORE) errs.push(invalid(`${path}[${i}].score`, p.score, `not in valid range [0, ${MAX_CUSTOM_PRIORITY_SCORE}]`));
  });
}

export function decodeNodeResourcesFitArgs(raw: unknown, path: string, errs: FieldError[]): NodeResourcesFitArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'ignoredResources', 'ignoredResourceGroups', 'scoringStrategy']) ?? {};
  const ignoredResources = d.strings(o.ignoredResources, `${path}.ignoredResources`) ?? [];
  const ignoredResourceGroups = d.strings(o.ignoredResourceGroups, `${path}.ignoredResourceGroups`) ?? [];
  const sp = `${path}.scoringStrategy`;
  const so = d.object(o.scoringStrategy, sp, ['type', 'resources', 'requestedToCapacityRatio']);
  let strategy: ScoringStrategy;
  if (!so) {
    strategy = { type: 'LeastAllocated', resources: DEFAULT_RESOURCES.map((r) => ({ ...r })) };
  } else {
    const type = d.str(so.type, `${sp}.type`) ?? '';
    let resources = resourceSpecs(d, so.resources, `${sp}.resources`) ?? [];
    if (resources.length === 0) resources = DEFAULT_RESOURCES.map((r) => ({ ...r }));
    resources = resources.map((r) => ({ ...r, weight: r.weight === 0 ? 1 : r.weight }));
    const rp = `${sp}.requestedToCapacityRatio`;
    const ro = d.object(so.requestedToCapacityRatio, rp, ['shape']);
    strategy = { type: type as ScoringStrategyType, resources, ...(ro ? { requestedToCapacityRatio: { shape: shape(d, ro.shape, `${rp}.shape`) } } : {}) };
    if (!SCORING_STRATEGY_TYPES.includes(type as ScoringStrategyType)) errs.push(notSupported(`${sp}.type`, type, SCORING_STRATEGY_TYPES));
    resources.forEach((r, i) => {
      if (r.weight <= 0 || r.weight > 100) errs.push(invalid(`${sp}.resources[${i}].weight`, r.weight, `resource weight of ${r.name} not in valid range (0, 100]`));
    });
    if (type === 'RequestedToCapacityRatio') {
      if (!strategy.requestedToCapacityRatio) errs.push(required(rp, 'must be specified when type is RequestedToCapacityRatio'));
      else validateShape(strategy.requestedToCapacityRatio.shape, `${rp}.shape`, errs);
    } else if (strategy.requestedToCapacityRatio) {
      errs.push(forbidden(rp, 'must be nil when type is not RequestedToCapacityRatio'));
    }
  }
  ignoredResources.forEach((r, i) => errs.push(...labelNameErrors(`${path}.ignoredResources[${i}]`, r)));
  ignoredResourceGroups.forEach((g, i) => {
    const p = `${path}.ignoredResourceGroups[${i}]`;
    if (g.includes('/')) errs.push(invalid(p, g, "resource group name can't contain '/'"));
    errs.push(...labelNameErrors(p, g));
  });
  return { ignoredResources, ignoredResourceGroups, scoringStrategy: strategy };
}

export function decodeNodeResourcesBalancedAllocationArgs(raw: unknown, path: string, errs: FieldError[]): NodeResourcesBalancedAllocationArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'resources']) ?? {};
  let resources = resourceSpecs(d, o.resources, `${path}.resources`) ?? [];
  if (resources.length === 0) resources = DEFAULT_RESOURCES.map((r) => ({ ...r }));
  resources = resources.map((r) => ({ ...r, weight: r.weight === 0 ? 1 : r.weight }));
  const seen = new Set<string>();
  resources.forEach((r, i) => {
    if (seen.has(r.name)) errs.push(duplicate(`${path}.resources[${i}].name`, r.name));
    seen.add(r.name);
    if (r.weight !== 1) errs.push(invalid(`${path}.resources[${i}].weight`, r.weight, 'must be 1'));
  });
  return { resources };
}

export function decodeInterPodAffinityArgs(raw: unknown, path: string, errs: FieldError[]): InterPodAffinityArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'hardPodAffinityWeight', 'ignorePreferredTermsOfExistingPods']) ?? {};
  const w = d.int(o.hardPodAffinityWeight, `${path}.hardPodAffinityWeight`) ?? 1;
  if (w < 0 || w > 100) errs.push(invalid(`${path}.hardPodAffinityWeight`, w, 'not in valid range [0, 100]'));
  return { hardPodAffinityWeight: w, ignorePreferredTermsOfExistingPods: d.bool(o.ignorePreferredTermsOfExistingPods, `${path}.ignorePreferredTermsOfExistingPods`) ?? false };
}

export function decodeDefaultPreemptionArgs(raw: unknown, path: string, errs: FieldError[]): DefaultPreemptionArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'minCandidateNodesPercentage', 'minCandidateNodesAbsolute']) ?? {};
  const pp = `${path}.minCandidateNodesPercentage`;
  const ap = `${path}.minCandidateNodesAbsolute`;
  const pct = d.int(o.minCandidateNodesPercentage, pp) ?? 10;
  const abs = d.int(o.minCandidateNodesAbsolute, ap) ?? 100;
  if (pct < 0 || pct > 100) errs.push(invalid(pp, pct, 'not in valid range [0, 100]'));
  if (abs < 0) errs.push(invalid(ap, abs, 'not in valid range [0, inf)'));
  if (pct === 0 && abs === 0) {
    errs.push(invalid(pp, pct, 'cannot be zero at the same time as minCandidateNodesAbsolute'));
    errs.push(invalid(ap, abs, 'cannot be zero at the same time as minCandidateNodesPercentage'));
  }
  return { minCandidateNodesPercentage: pct, minCandidateNodesAbsolute: abs };
}

export function decodePodTopologySpreadArgs(raw: unknown, path: string, errs: FieldError[]): PodTopologySpreadArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'defaultConstraints', 'defaultingType']) ?? {};
  const defaultingType = d.str(o.defaultingType, `${path}.defaultingType`) || 'System';
  const cp = `${path}.defaultConstraints`;
  const constraints: TopologySpreadConstraint[] = (d.array(o.defaultConstraints, cp) ?? []).map((x, i) => {
    const p = `${cp}[${i}]`;
    const c = d.object(x, p, ['maxSkew', 'topologyKey', 'whenUnsatisfiable', 'labelSelector', 'minDomains', 'nodeAffinityPolicy', 'nodeTaintsPolicy', 'matchLabelKeys']) ?? {};
    const tc: TopologySpreadConstraint = {
      maxSkew: d.int(c.maxSkew, `${p}.maxSkew`) ?? 0,
      topologyKey: d.str(c.topologyKey, `${p}.topologyKey`) ?? '',
      whenUnsatisfiable: d.str(c.whenUnsatisfiable, `${p}.whenUnsatisfiable`) ?? '',
    };
    if (c.labelSelector !== undefined && c.labelSelector !== null) errs.push(forbidden(`${p}.labelSelector`, 'constraint must not define a selector, as they deduced for each pod'));
    return tc;
  });
  if (defaultingType !== 'System' && defaultingType !== 'List') errs.push(notSupported(`${path}.defaultingType`, defaultingType, ['System', 'List']));
  else if (defaultingType === 'System' && constraints.length > 0) errs.push(invalid(`${path}.defaultingType`, defaultingType, 'when .defaultConstraints are not empty'));
  constraints.forEach((c, i) => {
    const p = `${cp}[${i}]`;
    if (c.maxSkew <= 0) errs.push(invalid(`${p}.maxSkew`, c.maxSkew, 'not in valid range (0, inf)'));
    if (!c.topologyKey) errs.push(required(`${p}.topologyKey`, 'can not be empty'));
    else errs.push(...labelNameErrors(`${p}.topologyKey`, c.topologyKey));
    if (!c.whenUnsatisfiable) errs.push(required(`${p}.whenUnsatisfiable`, 'can not be empty'));
    else if (c.whenUnsatisfiable !== 'DoNotSchedule' && c.whenUnsatisfiable !== 'ScheduleAnyway') {
      errs.push(notSupported(`${p}.whenUnsatisfiable`, c.whenUnsatisfiable, ['DoNotSchedule', 'ScheduleAnyway']));
    }
    const dup = constraints.slice(0, i).some((o2) => o2.topologyKey === c.topologyKey && o2.whenUnsatisfiable === c.whenUnsatisfiable);
    if (dup) errs.push(duplicate(`${cp}[${i}]`, `{${c.topologyKey}, ${c.whenUnsatisfiable}}`));
  });
  return { defaultConstraints: constraints, defaultingType: defaultingType as PodTopologySpreadDefaulting };
}

export function decodeNodeAffinityArgs(raw: unknown, path: string, errs: FieldError[]): NodeAffinityArgs {
  const d = new Decoder(errs);
  const o = d.object(raw, path, ['kind', 'apiVersion', 'addedAffinity']) ?? {};
  const ap = `${path}.addedAffinity`;
  const a = d.object(o.addedAffinity, ap, ['requiredDuringSchedulingIgnoredDuringExecution', 'preferredDuringSchedulingIgnoredDuringExecution']);
  if (!a) return {};
  const req = d.object(a.requiredDuringSchedulingIgnoredDuringExecution, `${ap}.requiredDuringSchedulingIgnoredDuringExecution`, ['nodeSelectorTerms']);
  if (req) d.array(req.nodeSelectorTerms, `${ap}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`);
  const pref = d.array(a.preferredDuringSchedulingIgnoredDuringExecution, `${ap}.preferredDuringSchedulingIgnoredDuringExecution`);
  pref?.forEach((t, i) => {
    const tp = `${ap}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
    const to = d.object(t, tp, ['weight', 'preference']) ?? {};
    const w = d.int(to.weight, `${tp}.weight`) ?? 0;
    if (w <= 0 || w > 100) errs.push(invalid(`${tp}.weight`, w, 'must be in the range 1-100'));
  });
  return { addedAffinity: a as NodeAffinitySpec };
}

/**
 * Selector matching as scheduling uses it: label selectors compiled once
 * (over @mkube/api's metav1 LabelSelector semantics) and node selector terms
 * (component-helpers' nodeaffinity: expressions and metadata.name fields,
 * Gt/Lt on integers, terms ORed).
 */
import { labelSelectorAsSelector, selectorMatches, type Labels } from '@mkube/api';
import type { LabelSelector, SchedulerNode, NodeSelectorRequirement, NodeSelectorTerm } from './types.js';

/** A compiled label selector; a nil or invalid selector matches nothing, an empty one everything. */
export type LabelMatcher = (labels: Labels) => boolean;

export const MATCH_NOTHING: LabelMatcher = () => false;

export function compileLabelSelector(ls: LabelSelector | null | undefined): LabelMatcher {
  let sel;
  try {
    sel = labelSelectorAsSelector(ls);
  } catch {
    return MATCH_NOTHING;
  }
  if (sel.nothing) return MATCH_NOTHING;
  if (sel.requirements.length === 0) return () => true;
  return (labels) => selectorMatches(sel, labels);
}

function parseIntStrict(s: string | undefined): number | null {
  if (s === undefined || !/^[-+]?\d+$/.test(s)) return null;
  return Number.parseInt(s, 10);
}

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const has = value !== undefined;
  switch (r.operator) {
    case 'In': return has && (r.values ?? []).includes(value);
    case 'NotIn': return !has || !(r.values ?? []).includes(value);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    case 'Gt':
    case 'Lt': {
      const v = parseIntStrict(value);
      const bound = parseIntStrict(r.values?.[0]);
      if (v === null || bound === null || (r.values?.length ?? 0) !== 1) return false;
      return r.operator === 'Gt' ? v > bound : v < bound;
    }
    default: return false;
  }
}

/** One NodeSelectorTerm: expressions and fields ANDed; an empty term matches nothing. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, node: SchedulerNode): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs) {
    if (!requirementMatches(r, Object.prototype.hasOwnProperty.call(labels, r.key) ? labels[r.key] : undefined)) return false;
  }
  for (const r of fields) {
    if (r.key !== 'metadata.name') return false;
    if (r.operator !== 'In' && r.operator !== 'NotIn') return false;
    if (!requirementMatches(r, node.metadata.name)) return false;
  }
  return true;
}

/** Terms are ORed. */
export function nodeSelectorTermsMatch(terms: NodeSelectorTerm[], node: SchedulerNode): boolean {
  return terms.some((t) => nodeSelectorTermMatches(t, node));
}

/** Label and node selectors with Kubernetes semantics. */
import type { LabelSelector, Node, NodeSelectorRequirement, NodeSelectorTerm } from './types.js';

export type Labels = Record<string, string> | undefined;

/** A compiled label selector; `null` selector matches nothing, empty matches everything. */
export type LabelMatcher = (labels: Labels) => boolean;

export const MATCH_NOTHING: LabelMatcher = () => false;
export const MATCH_EVERYTHING: LabelMatcher = () => true;

export function compileLabelSelector(sel: LabelSelector | null | undefined): LabelMatcher {
  if (sel == null) return MATCH_NOTHING;
  const ml = Object.entries(sel.matchLabels ?? {});
  const me = sel.matchExpressions ?? [];
  if (ml.length === 0 && me.length === 0) return MATCH_EVERYTHING;
  return (labels) => {
    const l = labels ?? {};
    for (const [k, v] of ml) if (l[k] !== v) return false;
    for (const r of me) {
      const has = Object.prototype.hasOwnProperty.call(l, r.key);
      switch (r.operator) {
        case 'In': if (!has || !(r.values ?? []).includes(l[r.key]!)) return false; break;
        case 'NotIn': if (has && (r.values ?? []).includes(l[r.key]!)) return false; break;
        case 'Exists': if (!has) return false; break;
        case 'DoesNotExist': if (has) return false; break;
        default: return false;
      }
    }
    return true;
  };
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
export function nodeSelectorTermMatches(term: NodeSelectorTerm, node: Node): boolean {
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
export function nodeSelectorTermsMatch(terms: NodeSelectorTerm[], node: Node): boolean {
  return terms.some((t) => nodeSelectorTermMatches(t, node));
}

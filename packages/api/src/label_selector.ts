/**
 * Label selectors with apimachinery's semantics: the structured
 * metav1.LabelSelector (matchLabels + matchExpressions In/NotIn/Exists/
 * DoesNotExist; nil selects nothing, empty selects everything —
 * LabelSelectorAsSelector), the string form of labels.Parse
 * ("a=b,c!=d,e in (x,y),f notin (z),g,!h,n gt 3"), a plain map selector
 * (SelectorFromSet), and the string form of a LabelSelector.
 */
import type { LabelSelector } from './types/generated.js';

export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One requirement of a parsed selector (labels.Requirement). */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

/** A parsed selector: every requirement must hold; `nothing` selects no object at all. */
export interface Selector {
  readonly requirements: readonly LabelRequirement[];
  readonly nothing?: boolean;
}

export type Labels = Readonly<Record<string, string>> | undefined | null;

export class LabelSelectorError extends Error {
  readonly code = 'LABEL_SELECTOR_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'LabelSelectorError';
  }
}

export const EVERYTHING: Selector = { requirements: [] };
export const NOTHING: Selector = { requirements: [], nothing: true };

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/** validation.IsQualifiedName's messages for a label key, or [] when valid. */
export function labelKeyErrors(key: string): string[] {
  const errs: string[] = [];
  const parts = key.split('/');
  let name = key;
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else if (prefix.length > 253) errs.push('prefix part must be no more than 253 bytes');
    else if (!DNS1123_SUBDOMAIN_RE.test(prefix)) {
      errs.push(
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
    }
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 bytes');
  if (name.length > 0 && !NAME_RE.test(name)) errs.push(NAME_MSG);
  return errs;
}

/** validation.IsValidLabelValue's messages, or [] when valid. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 bytes');
  if (value.length > 0 && !NAME_RE.test(value)) errs.push(VALUE_MSG);
  return errs;
}

/** labels.NewRequirement: validates key, operator arity and values. */
export function newRequirement(key: string, operator: LabelOperator, values: readonly string[]): LabelRequirement {
  const keyErrs = labelKeyErrors(key);
  if (keyErrs.length > 0) throw new LabelSelectorError(`key: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) throw new LabelSelectorError(`values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty`);
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) throw new LabelSelectorError(`values: Invalid value: [${values.join(' ')}]: exact-match compatibility requires one single value`);
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) throw new LabelSelectorError(`values: Invalid value: [${values.join(' ')}]: values set must be empty for exists and does not exist`);
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) throw new LabelSelectorError(`values: Invalid value: [${values.join(' ')}]: for 'Gt', 'Lt' operators, exactly one value is required`);
      if (!/^[+-]?\d+$/.test(values[0]!)) throw new LabelSelectorError(`values[0]: Invalid value: ${JSON.stringify(values[0])}: for 'Gt', 'Lt' operators, the value must be an integer`);
      break;
  }
  for (const v of values) {
    const errs = labelValueErrors(v);
    if (errs.length > 0) throw new LabelSelectorError(`values[0][${key}]: Invalid value: ${JSON.stringify(v)}: ${errs.join('; ')}`);
  }
  return { key, operator, values: [...new Set(values)].sort() };
}

/** Requirement.Matches. */
export function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  const l = labels ?? {};
  const has = Object.prototype.hasOwnProperty.call(l, r.key);
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(l[r.key]!);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(l[r.key]!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^[+-]?\d+$/.test(l[r.key]!)) return false;
      const actual = BigInt(l[r.key]!);
      const bound = BigInt(r.values[0]!);
      return r.operator === 'gt' ? actual > bound : actual < bound;
    }
  }
}

/** Does the selector select an object with these labels? */
export function selectorMatches(sel: Selector, labels: Labels): boolean {
  if (sel.nothing) return false;
  return sel.requirements.every((r) => requirementMatches(r, labels));
}

/** metav1.LabelSelectorAsSelector: nil → nothing, empty → everything; unknown operators are errors. */
export function labelSelectorAsSelector(ls: LabelSelector | undefined | null): Selector {
  if (!ls) return NOTHING;
  const reqs: LabelRequirement[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {})) reqs.push(newRequirement(k, '=', [v]));
  for (const e of ls.matchExpressions ?? []) {
    const ops: Record<string, LabelOperator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };
    const op = Object.prototype.hasOwnProperty.call(ops, e.operator) ? ops[e.operator] : undefined;
    if (!op) throw new LabelSelectorError(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    reqs.push(newRequirement(e.key, op, op === 'exists' || op === '!' ? [] : (e.values ?? [])));
  }
  return { requirements: reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}

/**
 * Does a metav1.LabelSelector select these labels? A nil selector selects
 * nothing, an empty one everything; an invalid selector selects nothing.
 */
export function labelSelectorMatches(ls: LabelSelector | undefined | null, labels: Labels): boolean {
  let sel: Selector;
  try {
    sel = labelSelectorAsSelector(ls);
  } catch {
    return false;
  }
  return selectorMatches(sel, labels);
}

/** A selector that has no requirements (and is not "nothing"). */
export function isEmptySelector(ls: LabelSelector | undefined | null): boolean {
  return !!ls && Object.keys(ls.matchLabels ?? {}).length === 0 && (ls.matchExpressions ?? []).length === 0;
}

/** labels.SelectorFromSet: every key equal; an empty or missing map selects everything. */
export function selectorFromSet(set: Labels): Selector {
  const reqs = Object.entries(set ?? {}).map(([k, v]) => ({ key: k, operator: '=' as const, values: [v] }));
  return { requirements: reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}

/** Does every key of `set` have its value in `labels` (labels.Set.AsSelector().Matches)? */
export function setMatches(set: Labels, labels: Labels): boolean {
  const l = labels ?? {};
  return Object.entries(set ?? {}).every(([k, v]) => Object.prototype.hasOwnProperty.call(l, k) && l[k] === v);
}

/** The string form of a selector (Selector.String): "a=b,c in (x,y),!d". */
export function selectorString(sel: Selector): string {
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.operator} (${r.values.join(',')})`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return `${r.key}${r.operator}${r.values[0]}`;
      }
    })
    .join(',');
}

/** The query-string form of a metav1.LabelSelector (metav1.FormatLabelSelector's body). */
export function formatLabelSelector(ls: LabelSelector): string {
  return selectorString(labelSelectorAsSelector(ls));
}

// ---------------------------------------------------------------- labels.Parse

type Tok = 'id' | '!' | '!=' | '=' | '==' | '>' | '<' | '(' | ')' | ',' | 'in' | 'notin' | 'eos';

function lex(text: string): { tok: Tok; lit: string }[] {
  const out: { tok: Tok; lit: string }[] = [];
  let i = 0;
  const special = '!=<>(),';
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      i++;
      continue;
    }
    if (special.includes(ch)) {
      const two = text.slice(i, i + 2);
      if (two === '!=' || two === '==') {
        out.push({ tok: two, lit: two });
        i += 2;
      } else {
        out.push({ tok: ch as Tok, lit: ch });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < text.length && !special.includes(text[j]!) && !' \t\r\n'.includes(text[j]!)) j++;
    const lit = text.slice(i, j);
    out.push({ tok: lit === 'in' ? 'in' : lit === 'notin' ? 'notin' : 'id', lit });
    i = j;
  }
  out.push({ tok: 'eos', lit: '' });
  return out;
}

/** labels.Parse: the string form of a selector, with upstream's error messages. */
export function parseSelector(text: string): Selector {
  const toks = lex(text);
  let pos = 0;
  // In value context the keywords are identifiers.
  const peek = () => {
    const t = toks[pos]!;
    return t.tok === 'in' || t.tok === 'notin' ? { tok: 'id' as Tok, lit: t.lit } : t;
  };
  const next = () => {
    const t = peek();
    pos++;
    return t;
  };
  const fail = (msg: string): never => {
    throw new LabelSelectorError(msg);
  };
  const requirement = (): LabelRequirement => {
    let t = next();
    let op: LabelOperator | undefined;
    if (t.tok === '!') {
      op = '!';
      t = next();
    }
    if (t.tok !== 'id') fail(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const errs = labelKeyErrors(key);
    if (errs.length > 0) fail(`<nil>: Invalid value: ${JSON.stringify(key)}: ${errs.join('; ')}`);
    const after = peek().tok;
    if (after === 'eos' || after === ',') return newRequirement(key, op ?? 'exists', []);
    if (op === '!') fail(`found '${peek().lit}', expected: ',' or 'end of string'`);
    const o = toks[pos++]!;
    const ops: Partial<Record<Tok, LabelOperator>> = { in: 'in', notin: 'notin', '=': '=', '==': '==', '!=': '!=', '>': 'gt', '<': 'lt' };
    op = ops[o.tok];
    if (!op) return fail(`found '${o.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    const values = new Set<string>();
    if (op === 'in' || op === 'notin') {
      const open = next();
      if (open.tok !== '(') fail(`found '${open.lit}' expected: '('`);
      const first = peek();
      if (first.tok === ')') {
        next();
        values.add('');
      } else if (first.tok === 'id' || first.tok === ',') {
        for (;;) {
          const v = next();
          if (v.tok === 'id') {
            values.add(v.lit);
            const la = peek();
            if (la.tok === ',') continue;
            if (la.tok === ')') break;
            fail(`found '${la.lit}', expected: ',' or ')'`);
          } else if (v.tok === ',') {
            if (values.size === 0) values.add('');
            const la = peek();
            if (la.tok === ')') {
              values.add('');
              break;
            }
            if (la.tok === ',') values.add('');
          } else fail(`found '${v.lit}', expected: ',', or identifier`);
        }
        if (next().tok !== ')') fail(`found '${first.lit}', expected: ')'`);
      } else fail(`found '${first.lit}', expected: ',', ')' or identifier`);
    } else {
      const la = peek();
      if (la.tok === 'eos' || la.tok === ',') values.add('');
      else {
        const v = next();
        if (v.tok !== 'id') fail(`found '${v.lit}', expected: identifier`);
        values.add(v.lit);
      }
    }
    return newRequirement(key, op, [...values]);
  };
  const reqs: LabelRequirement[] = [];
  for (;;) {
    const t = peek();
    if (t.tok === 'eos') break;
    if (t.tok !== 'id' && t.tok !== '!') fail(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
    try {
      reqs.push(requirement());
    } catch (err) {
      if (err instanceof LabelSelectorError) throw new LabelSelectorError(`unable to parse requirement: ${err.message}`);
      throw err;
    }
    const sep = next();
    if (sep.tok === 'eos') break;
    if (sep.tok !== ',') fail(`found '${sep.lit}', expected: ',' or 'end of string'`);
    const la = peek();
    if (la.tok !== 'id' && la.tok !== '!') fail(`found '${la.lit}', expected: identifier after ','`);
  }
  return { requirements: reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}

/**
 * Field selectors as apimachinery's fields.ParseSelector: comma-separated
 * terms "field=value", "field==value", "field!=value", with "\," "\=" and
 * "\\" escapes in values; matched against a set of field values (the
 * metadata.name / metadata.namespace / per-kind fields an object exposes).
 */

export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

export class FieldSelectorError extends Error {
  readonly code = 'FIELD_SELECTOR_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'FieldSelectorError';
  }
}

/** Splits on commas not preceded by a backslash escape. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += ch + text[i + 1];
      i++;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** fields.UnescapeValue: "\\" "\," "\=" are the only escapes. */
export function unescapeFieldValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\') {
      const n = s[i + 1];
      if (n === undefined) throw new FieldSelectorError(`invalid field selector: invalid trailing escape sequence: ${JSON.stringify(s)}`);
      if (n !== '\\' && n !== ',' && n !== '=') throw new FieldSelectorError(`invalid field selector: invalid escape sequence: ${JSON.stringify('\\' + n)}`);
      out += n;
      i++;
    } else if (ch === ',' || ch === '=') {
      throw new FieldSelectorError(`invalid field selector: unescaped ${JSON.stringify(ch)}`);
    } else out += ch;
  }
  return out;
}

/** fields.EscapeValue. */
export function escapeFieldValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** Parses a field selector string; "" selects everything. */
export function parseFieldSelector(text: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (text === '') return out;
  for (const term of splitTerms(text)) {
    if (term === '') continue;
    let found = false;
    for (const op of ['!=', '==', '='] as const) {
      const i = term.indexOf(op);
      if (i < 0) continue;
      out.push({ field: term.slice(0, i), operator: op === '!=' ? '!=' : '=', value: unescapeFieldValue(term.slice(i + op.length)) });
      found = true;
      break;
    }
    if (!found) throw new FieldSelectorError(`invalid selector: '${text}'; can't understand '${term}'`);
  }
  return out;
}

/** Do the fields satisfy every requirement? A field the object lacks has the value "". */
export function fieldSelectorMatches(reqs: readonly FieldRequirement[], fields: Readonly<Record<string, string>>): boolean {
  return reqs.every((r) => ((fields[r.field] ?? '') === r.value) === (r.operator === '='));
}

/** The string form ("a=b,c!=d"), values escaped. */
export function fieldSelectorString(reqs: readonly FieldRequirement[]): string {
  return reqs.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
}

/** The fields every object has (generic.ObjectMetaFieldsSet): metadata.name and, when namespaced, metadata.namespace. */
export function objectMetaFields(meta: { name?: string; namespace?: string } | undefined, namespaced: boolean): Record<string, string> {
  const out: Record<string, string> = { 'metadata.name': meta?.name ?? '' };
  if (namespaced) out['metadata.namespace'] = meta?.namespace ?? '';
  return out;
}

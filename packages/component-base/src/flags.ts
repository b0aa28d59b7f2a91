// One command-line parser for mkube's components, with pflag's syntax and messages (as cobra
// binaries print them): `--name=value`, `--name value`, `-x value`, booleans alone mean true
// (`--leader-elect`, `--leader-elect=false`, and `--leader-elect false` is accepted too), typed
// values checked at parse time (bool as strconv.ParseBool, int as strconv.ParseInt, duration as
// time.ParseDuration), aliases for renamed flags, and a usage text built from the definitions.
import { parseGoDuration } from './duration.js';
import { FlagError } from './errors.js';

export type FlagType = 'string' | 'boolean' | 'int' | 'duration';

export interface FlagDef {
  type: FlagType;
  /** Default as it would be written on the command line ("10s", "true", "10251"). */
  default?: string;
  /** One-letter shorthand ("h" for -h). */
  short?: string;
  /** Older names still accepted (e.g. "metrics-bind-address" for "bind-address"). */
  aliases?: readonly string[];
  /** Placeholder of the value in the usage ("PATH", "IP"). */
  arg?: string;
  usage?: string;
}

export type FlagDefs = Record<string, FlagDef>;

type Parsed<D extends FlagDef> = D['type'] extends 'boolean' ? boolean : D['type'] extends 'int' | 'duration' ? number : string;

/** Parsed values: defaulted flags (and booleans) always have a value, the others may be undefined. */
export type FlagValues<S extends FlagDefs> = {
  [K in keyof S]: S[K] extends { default: string } ? Parsed<S[K]> : S[K]['type'] extends 'boolean' ? boolean : Parsed<S[K]> | undefined;
};

export interface ParsedFlags<S extends FlagDefs> {
  values: FlagValues<S>;
  /** Flags given on the command line (canonical names). */
  given: Set<keyof S & string>;
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function convert(name: string, def: FlagDef, raw: string): string | number | boolean {
  const bad = (reason: string) => new FlagError(`invalid argument ${JSON.stringify(raw)} for "--${name}" flag: ${reason}`);
  switch (def.type) {
    case 'string':
      return raw;
    case 'boolean':
      if (TRUE.has(raw)) return true;
      if (FALSE.has(raw)) return false;
      throw bad(`strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) throw bad(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) throw bad(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: value out of range`);
      return n;
    }
    case 'duration':
      try {
        return parseGoDuration(raw);
      } catch (err) {
        throw bad((err as Error).message);
      }
  }
}

/** Parses argv against defs; throws FlagError with pflag's message. Positional arguments are refused. */
export function parseFlags<S extends FlagDefs>(binary: string, argv: readonly string[], defs: S): ParsedFlags<S> {
  const byName = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    byName.set(name, name);
    for (const a of def.aliases ?? []) byName.set(a, name);
    if (def.short) byShort.set(def.short, name);
  }
  const raw = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let value: string | undefined;
    let shown: string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const given = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) value = a.slice(eq + 1);
      name = byName.get(given);
      shown = `--${given}`;
      if (!name) throw new FlagError(`unknown flag: --${given}`);
    } else if (a.startsWith('-') && a.length > 1) {
      const c = a[1]!;
      name = byShort.get(c);
      shown = `-${c}`;
      if (!name) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
      if (a.length > 2) value = a[2] === '=' ? a.slice(3) : a.slice(2);
    } else {
      positional.push(a);
      continue;
    }
    const def = defs[name]!;
    if (value === undefined) {
      const next = argv[i + 1];
      if (def.type === 'boolean') {
        if (next !== undefined && (TRUE.has(next) || FALSE.has(next))) value = argv[++i]!;
        else value = 'true';
      } else {
        if (next === undefined) throw new FlagError(`flag needs an argument: ${shown}`);
        value = argv[++i]!;
      }
    }
    raw.set(name, value);
  }
  if (positional.length > 0) throw new FlagError(`${JSON.stringify(binary)} does not take any arguments, got ${JSON.stringify(positional)}`);
  const values: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(defs)) {
    const r = raw.get(name) ?? def.default;
    values[name] = r === undefined ? (def.type === 'boolean' ? false : undefined) : convert(name, def, r);
  }
  return { values: values as FlagValues<S>, given: new Set(raw.keys()) as Set<keyof S & string> };
}

/** "Usage:\n  BINARY [flags]\n\nFlags:\n" and one line per flag with its default. */
export function formatUsage(binary: string, defs: FlagDefs, synopsis = '[flags]'): string {
  const rows = Object.entries(defs).map(([name, d]) => {
    const arg = d.type === 'boolean' ? '' : ` ${d.arg ?? (d.type === 'int' ? 'int' : d.type === 'duration' ? 'duration' : 'string')}`;
    const left = `${d.short ? `-${d.short}, ` : '    '}--${name}${arg}`;
    const def = d.default !== undefined && d.default !== '' && d.type !== 'boolean' ? ` (default ${d.default})` : d.type === 'boolean' && d.default === 'true' ? ' (default true)' : '';
    const alias = d.aliases?.length ? ` (also --${d.aliases.join(', --')})` : '';
    return [left, `${d.usage ?? ''}${def}${alias}`] as const;
  });
  const width = Math.min(44, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}${l.length >= width ? `\n  ${' '.repeat(width)}` : ''}${r}`);
  return `Usage:\n  ${binary} ${synopsis}\n\nFlags:\n${lines.join('\n')}\n`;
}

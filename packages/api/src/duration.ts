/**
 * Go time.Duration text form, as metav1.Duration uses it in JSON:
 * parse "1h2m3.5s", "300ms", "-1.5h"; print "1h2m3.5s", "100ms", "0s".
 * Values are nanoseconds held in a JS number (exact up to 2^53 ns ≈ 104 days).
 */

const UNIT_NANOS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const PART_RE = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration string into nanoseconds. */
export function parseGoDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new Error(`time: invalid duration "${text}"`);
  let total = 0;
  while (rest.length > 0) {
    const m = PART_RE.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') throw new Error(`time: invalid duration "${text}"`);
    total += Number(m[1]) * UNIT_NANOS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * Math.round(total);
}

function trimFraction(whole: number, frac: number, digits: number): string {
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Formats nanoseconds the way Go's Duration.String does. */
export function formatGoDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const neg = nanos < 0;
  const n = Math.abs(Math.round(nanos));
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trimFraction(Math.floor(n / 1e3), n % 1e3, 3)}µs`;
  else if (n < 1e9) out = `${trimFraction(Math.floor(n / 1e6), n % 1e6, 6)}ms`;
  else {
    const hours = Math.floor(n / 3600e9);
    const minutes = Math.floor((n % 3600e9) / 60e9);
    const secNanos = n % 60e9;
    const seconds = `${trimFraction(Math.floor(secNanos / 1e9), secNanos % 1e9, 9)}s`;
    if (hours > 0) out = `${hours}h${minutes}m${seconds}`;
    else if (minutes > 0) out = `${minutes}m${seconds}`;
    else out = seconds;
  }
  return neg ? `-${out}` : out;
}

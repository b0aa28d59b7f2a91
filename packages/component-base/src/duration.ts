// Go's time.ParseDuration (what every Kubernetes duration flag accepts: "15s", "1m30s", "250ms",
// "1.5h", "0"), returning milliseconds, with Go's error messages.
import { CodedError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const quote = (s: string) => JSON.stringify(s);

/** Parses a Go duration; throws a CodedError INVALID_DURATION with Go's message ("time: invalid duration \"x\""). */
export function parseGoDuration(input: string): number {
  const invalid = () => new CodedError('INVALID_DURATION', `time: invalid duration ${quote(input)}`);
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const [whole, int = '', frac] = num;
    if (int === '' && (frac === undefined || frac === '')) throw invalid();
    s = s.slice(whole.length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === '') throw new CodedError('INVALID_DURATION', `time: missing unit in duration ${quote(input)}`);
    const scale = UNIT_MS[unit];
    if (scale === undefined) throw new CodedError('INVALID_DURATION', `time: unknown unit ${quote(unit)} in duration ${quote(input)}`);
    s = s.slice(unit.length);
    total += Number(`${int || '0'}.${frac || '0'}`) * scale;
  }
  return sign * total;
}

/** A duration in Go's String() form for messages and usage ("15s", "1m30s", "250ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (Math.abs(ms) < 1000) return `${ms}ms`;
  const neg = ms < 0 ? '-' : '';
  let rest = Math.abs(ms) / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const sec = Number(rest.toFixed(9)).toString();
  return `${neg}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${sec}s`;
}

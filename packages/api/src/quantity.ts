/**
 * resource.Quantity with Kubernetes semantics: parsing ("100m", "1Gi",
 * "1e3", "0.5"), rounding to nano precision, the canonical string form the
 * API server prints, comparison and scaled integer values.
 *
 * A quantity is held exactly as mantissa × 10^exponent (bigint mantissa) plus
 * the format it was written in, which decides how it is printed:
 *  - DecimalSI ("", n, u, m, k, M, G, T, P, E suffixes)
 *  - BinarySI (Ki, Mi, Gi, Ti, Pi, Ei)
 *  - DecimalExponent ("1e3", "5E-3")
 */

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** value = mantissa × 10^exponent, exactly. */
  readonly mantissa: bigint;
  readonly exponent: number;
  readonly format: QuantityFormat;
}

export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const QUANTITY_SUFFIX_MESSAGE = "unable to parse quantity's suffix";
export const QUANTITY_NUMERIC_MESSAGE = 'unable to parse numeric part of quantity';

export class QuantityError extends Error {
  readonly code = 'QUANTITY_INVALID';
  constructor(readonly input: string, message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

const DECIMAL_SUFFIXES: Record<string, number> = {
  n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18,
};
const DECIMAL_SUFFIX_BY_EXP = new Map<number, string>(
  Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]),
);
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const BINARY_SUFFIX_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** Smallest representable unit: values are rounded up to 10^-9 ("1n"). */
const MIN_EXPONENT = -9;

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Divides with rounding away from zero (Kubernetes' inf.RoundUp). */
function divRoundAway(n: bigint, d: bigint): bigint {
  const q = n / d;
  return q * d === n ? q : n < 0n ? q - 1n : q + 1n;
}

function normalize(mantissa: bigint, exponent: number, format: QuantityFormat): Quantity {
  if (mantissa === 0n) return { mantissa: 0n, exponent: 0, format };
  if (exponent < MIN_EXPONENT) {
    mantissa = divRoundAway(mantissa, pow10(MIN_EXPONENT - exponent));
    exponent = MIN_EXPONENT;
  }
  while (mantissa !== 0n && mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent += 1;
  }
  return { mantissa, exponent, format };
}

/** Parses a quantity string, throwing QuantityError with Kubernetes' messages. */
export function parseQuantity(input: string): Quantity {
  const str = input.trim();
  if (str.length === 0) throw new QuantityError(input, QUANTITY_FORMAT_MESSAGE);
  const m = QUANTITY_RE.exec(str);
  if (!m) throw new QuantityError(input, QUANTITY_FORMAT_MESSAGE);
  let num = m[1]!;
  const suffix = m[2]!;

  let negative = false;
  if (num[0] === '+' || num[0] === '-') {
    negative = num[0] === '-';
    num = num.slice(1);
  }
  const dot = num.indexOf('.');
  if (dot !== num.lastIndexOf('.')) throw new QuantityError(input, QUANTITY_FORMAT_MESSAGE);
  const whole = dot < 0 ? num : num.slice(0, dot);
  const frac = dot < 0 ? '' : num.slice(dot + 1);
  if (whole.length + frac.length === 0) throw new QuantityError(input, QUANTITY_NUMERIC_MESSAGE);

  let mantissa = BigInt((whole || '0') + frac);
  if (negative) mantissa = -mantissa;
  let exponent = -frac.length;

  let format: QuantityFormat;
  if (suffix in DECIMAL_SUFFIXES) {
    format = 'DecimalSI';
    exponent += DECIMAL_SUFFIXES[suffix]!;
  } else if (suffix in BINARY_SUFFIXES) {
    format = 'BinarySI';
    mantissa *= 1n << BigInt(BINARY_SUFFIXES[suffix]!);
  } else {
    const e = /^[eE]([-+]?[0-9]+)$/.exec(suffix);
    if (!e) throw new QuantityError(input, QUANTITY_SUFFIX_MESSAGE);
    format = 'DecimalExponent';
    exponent += Number.parseInt(e[1]!, 10);
  }
  return normalize(mantissa, exponent, format);
}

/** Builds a quantity worth `value` × 10^`scale` (e.g. newQuantity(500, -3) is 500m). */
export function newQuantity(value: number | bigint, scale = 0, format: QuantityFormat = 'DecimalSI'): Quantity {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    throw new QuantityError(String(value), 'quantity value must be an integer');
  }
  return normalize(BigInt(value), scale, format);
}

/** The canonical string form, as Kubernetes serializes the quantity. */
export function formatQuantity(q: Quantity): string {
  if (q.mantissa === 0n) return '0';
  let format = q.format;
  if (format === 'BinarySI') {
    const abs = q.mantissa < 0n ? -q.mantissa : q.mantissa;
    const small = q.exponent <= 0 && abs < 1024n * pow10(-q.exponent);
    if (small || q.exponent < 0) {
      // Below 1024, or not an integer: printing in base 1024 would round.
      format = 'DecimalSI';
    } else {
      let n = q.mantissa * pow10(q.exponent);
      let power = 0;
      while (power < 6 && n % 1024n === 0n) {
        n /= 1024n;
        power += 1;
      }
      return `${n}${BINARY_SUFFIX_BY_POWER[power]}`;
    }
  }
  // Decimal forms: integer mantissa, exponent a multiple of three.
  let mantissa = q.mantissa;
  let exponent = q.exponent;
  const rem = ((exponent % 3) + 3) % 3;
  if (rem !== 0) {
    mantissa *= pow10(rem);
    exponent -= rem;
  }
  if (format === 'DecimalSI') {
    const suffix = DECIMAL_SUFFIX_BY_EXP.get(exponent);
    if (suffix !== undefined) return `${mantissa}${suffix}`;
  }
  return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
}

/** Parses and re-prints a quantity string in canonical form ("1000m" → "1"). */
export function canonicalizeQuantity(input: string): string {
  return formatQuantity(parseQuantity(input));
}

function toQuantity(q: Quantity | string): Quantity {
  return typeof q === 'string' ? parseQuantity(q) : q;
}

/** -1, 0 or 1 as a < b, a == b, a > b. */
export function compareQuantities(a: Quantity | string, b: Quantity | string): -1 | 0 | 1 {
  const x = toQuantity(a);
  const y = toQuantity(b);
  const e = Math.min(x.exponent, y.exponent);
  const xv = x.mantissa * pow10(x.exponent - e);
  const yv = y.mantissa * pow10(y.exponent - e);
  return xv < yv ? -1 : xv > yv ? 1 : 0;
}

/** The sum, in the format of the first operand (as Quantity.Add does). */
export function addQuantities(a: Quantity | string, b: Quantity | string): Quantity {
  const x = toQuantity(a);
  const y = toQuantity(b);
  const e = Math.min(x.exponent, y.exponent);
  return normalize(x.mantissa * pow10(x.exponent - e) + y.mantissa * pow10(y.exponent - e), e, x.format);
}

/** The difference a − b, in the format of the first operand. */
export function subtractQuantities(a: Quantity | string, b: Quantity | string): Quantity {
  const y = toQuantity(b);
  return addQuantities(a, { ...y, mantissa: -y.mantissa });
}

/** The value in units of 10^scale, rounded away from zero (ScaledValue). */
export function quantityScaledValue(q: Quantity | string, scale: number): bigint {
  const x = toQuantity(q);
  const shift = x.exponent - scale;
  return shift >= 0 ? x.mantissa * pow10(shift) : divRoundAway(x.mantissa, pow10(-shift));
}

/** Value() — the integer value, rounded up (away from zero). */
export function quantityValue(q: Quantity | string): number {
  return Number(quantityScaledValue(q, 0));
}

/** MilliValue() — the value × 1000, rounded up (away from zero). */
export function quantityMilliValue(q: Quantity | string): number {
  return Number(quantityScaledValue(q, -3));
}

export function isZeroQuantity(q: Quantity | string): boolean {
  return toQuantity(q).mantissa === 0n;
}

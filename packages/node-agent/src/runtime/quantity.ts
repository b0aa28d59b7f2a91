// Kubernetes resource quantities ("500m", "128Mi", "1.5", "2e3") as numbers.

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export class QuantityParseError extends Error {
  readonly code = 'InvalidQuantity';
  constructor(readonly input: string) {
    super(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': ${JSON.stringify(input)}`);
  }
}

/** The value of a quantity as a (possibly fractional) number. */
export function parseQuantity(input: string | number): number {
  if (typeof input === 'number') return input;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(input.trim());
  if (!m) throw new QuantityParseError(input);
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX[m[3] ?? '']!;
}

/** CPU as millicores, rounded up as Kubernetes does ("0.1" → 100, "1m" → 1). */
export function milliCpu(q: string | number): number {
  return Math.ceil(Math.round(parseQuantity(q) * 1e9) / 1e6);
}

/** Memory (or any byte quantity) as whole bytes, rounded up. */
export function bytes(q: string | number): number {
  return Math.ceil(parseQuantity(q));
}

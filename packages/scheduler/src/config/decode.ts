/**
 * Strict decoding of configuration YAML/JSON values into typed fields: an
 * unknown field or a value of the wrong type is a FieldError naming its path,
 * as upstream's strict decoder refuses them.
 */
import { FieldError, invalid } from './field_errors.js';

export class Decoder {
  constructor(readonly errs: FieldError[]) {}

  /** A plain object with only `known` keys (others reported), or undefined when absent or not an object. */
  object(v: unknown, path: string, known: readonly string[]): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.errs.push(invalid(path, v, 'must be an object'));
      return undefined;
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.errs.push(new FieldError('Forbidden', path ? `${path}.${k}` : k, undefined, 'unknown field'));
    }
    return o;
  }

  array(v: unknown, path: string): unknown[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      this.errs.push(invalid(path, v, 'must be a list'));
      return undefined;
    }
    return v;
  }

  /** An integer within int32 (or int64 when `wide`). */
  int(v: unknown, path: string, wide = false): number | undefined {
    if (v === undefined || v === null) return undefined;
    const lim = wide ? Number.MAX_SAFE_INTEGER : 2 ** 31 - 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v > lim || v < -lim - 1) {
      this.errs.push(invalid(path, v, wide ? 'must be an integer' : 'must be a 32-bit integer'));
      return undefined;
    }
    return v;
  }

  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.errs.push(invalid(path, v, 'must be a string'));
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.errs.push(invalid(path, v, 'must be a boolean'));
      return undefined;
    }
    return v;
  }

  strings(v: unknown, path: string): string[] | undefined {
    const a = this.array(v, path);
    if (!a) return undefined;
    return a.flatMap((x, i) => {
      const s = this.str(x, `${path}[${i}]`);
      return s === undefined ? [] : [s];
    });
  }
}

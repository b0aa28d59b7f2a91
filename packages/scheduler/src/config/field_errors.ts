/**
 * Field errors as apimachinery's field.Error prints them
 * ("profiles[0].schedulerName: Required value") and their aggregate
 * ("[err1, err2]"), for configuration validation.
 */

export type FieldErrorType = 'Invalid' | 'Required' | 'Duplicate' | 'NotSupported' | 'Forbidden' | 'NotFound' | 'TypeInvalid' | 'Other';

function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

export class FieldError {
  constructor(readonly type: FieldErrorType, readonly field: string, readonly value: unknown, readonly detail = '') {}

  body(): string {
    const d = this.detail ? `: ${this.detail}` : '';
    switch (this.type) {
      case 'Invalid': return `Invalid value: ${showValue(this.value)}${d}`;
      case 'TypeInvalid': return `Invalid value: ${showValue(this.value)}${d}`;
      case 'Required': return `Required value${d}`;
      case 'Duplicate': return `Duplicate value: ${showValue(this.value)}`;
      case 'NotSupported': return `Unsupported value: ${showValue(this.value)}${d}`;
      case 'Forbidden': return `Forbidden${d}`;
      case 'NotFound': return `Not found: ${showValue(this.value)}${d}`;
      case 'Other': return this.detail;
    }
  }

  toString(): string {
    return this.field ? `${this.field}: ${this.body()}` : this.body();
  }
}

export const invalid = (field: string, value: unknown, detail: string) => new FieldError('Invalid', field, value, detail);
export const required = (field: string, detail = '') => new FieldError('Required', field, undefined, detail);
export const duplicate = (field: string, value: unknown) => new FieldError('Duplicate', field, value);
export const forbidden = (field: string, detail: string) => new FieldError('Forbidden', field, undefined, detail);
/** A message of its own under a field (framework construction errors, decode failures). */
export const other = (field: string, detail: string) => new FieldError('Other', field, undefined, detail);
export const notFound = (field: string, value: unknown, detail = '') => new FieldError('NotFound', field, value, detail);
export const notSupported = (field: string, value: unknown, supported: readonly string[]) =>
  new FieldError('NotSupported', field, value, `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`);

/** A configuration that does not decode or validate; `errors` names every bad field. */
export class ConfigError extends Error {
  readonly code = 'INVALID_SCHEDULER_CONFIG';
  constructor(readonly errors: FieldError[], prefix = '') {
    super(prefix + aggregate(errors));
    this.name = 'ConfigError';
  }
}

/** utilerrors.Aggregate's message: one error alone, several in brackets. */
export function aggregate(errors: readonly FieldError[]): string {
  const msgs = [...new Set(errors.map(String))];
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`;
}

// The error-code convention of mkube: every error that leaves a module carries a `code` string a
// caller can branch on without parsing messages.
//   - system errors keep Node's errno code (ENOENT, EADDRINUSE, EACCES, ...);
//   - mkube's own codes are UPPER_SNAKE_CASE nouns of what went wrong (INVALID_FLAG, INVALID_FILE,
//     INVALID_CONFIG, NOT_LEADER, ...), declared next to the error class that sets them;
//   - the message says what failed with its context (the flag, file, object or peer), on one line;
//   - the underlying error travels as `cause` (logged with `{ err }`, so its stack survives).
// CodedError is the base class for new errors; plain `Object.assign(new Error(m), { code })` is
// equivalent for the helpers below.

export class CodedError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A command-line flag that does not parse or is missing: the binary prints it with its usage and exits 2. */
export class FlagError extends CodedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_FLAG', message, options);
  }
}

/** The `code` of an error (or of the first error in its cause chain that has one). */
export function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** True when `err` (or its cause chain) has the given code. */
export function hasCode(err: unknown, code: string): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === code) return true;
  }
  return false;
}

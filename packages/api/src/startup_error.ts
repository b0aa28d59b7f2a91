// Start-up failures of every mkube binary as one line on stderr: recognizes a listener that cannot
// bind (EADDRINUSE, EACCES, EADDRNOTAVAIL — also inside grpc-js's "No address added" error), a file
// that cannot be read (ENOENT, EACCES, EISDIR...), and errors that already say what failed; formats
// `BINARY: MESSAGE` naming the thing (the listener's role, the flag of the file) and exits non-zero.
// The stack goes to the binary's structured log at debug level, never to the terminal.

/** A listener a binary opens at start-up, named after its role (e.g. "gRPC API"). */
export interface ListenerSpec {
  what: string;
  port: number;
  host?: string;
}

/** A file a binary reads at start-up, named after its flag (e.g. "--kubeconfig"). */
export interface FileSpec {
  what: string;
  path: string;
}

export interface StartupContext {
  listeners?: ListenerSpec[];
  files?: FileSpec[];
}

/** Exit status of a start-up failure (etcd and Kubernetes components exit 1; usage errors stay 2). */
export const STARTUP_FAILURE_EXIT_CODE = 1;

/** A start-up failure whose message already names what failed (printed as is). */
export class StartupFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupFailure';
    this.code = code;
  }
}

/** The text libc gives each errno code (what Go's net package prints too). */
const ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ECONNREFUSED: 'connection refused',
  ENOTSOCK: 'socket operation on non-socket',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
};

export function errnoText(code: string): string {
  return ERRNO_TEXT[code] ?? code;
}

interface NodeErr {
  code?: unknown;
  syscall?: unknown;
  address?: unknown;
  port?: unknown;
  path?: unknown;
  message?: unknown;
  cause?: unknown;
}

const LISTEN_IN_MESSAGE = /listen (EADDRINUSE|EACCES|EADDRNOTAVAIL): [^\n]*? ([^\s,\]]+):(\d+)(?!\d)/;

/** A listen failure found in the error (or its causes): its errno code, host and port. */
export function listenFailure(err: unknown): { code: string; host: string; port: number } | undefined {
  for (let e = err as NodeErr | undefined, depth = 0; e && depth < 5; e = e.cause as NodeErr | undefined, depth++) {
    if (e.syscall === 'listen' && typeof e.code === 'string' && typeof e.port === 'number') {
      return { code: e.code, host: typeof e.address === 'string' ? e.address : '', port: e.port };
    }
    const m = typeof e.message === 'string' ? LISTEN_IN_MESSAGE.exec(e.message) : null;
    if (m) return { code: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]) };
  }
  return undefined;
}

const FILE_SYSCALLS = new Set(['open', 'read', 'stat', 'lstat', 'access', 'scandir', 'readlink']);

/** A file-system failure (the file named in `path`): errno code and path. */
export function fileFailure(err: unknown): { code: string; path: string } | undefined {
  for (let e = err as NodeErr | undefined, depth = 0; e && depth < 5; e = e.cause as NodeErr | undefined, depth++) {
    const fileSyscall = typeof e.syscall === 'string' ? FILE_SYSCALLS.has(e.syscall) : typeof e.code === 'string' && e.code in ERRNO_TEXT;
    if (typeof e.code === 'string' && typeof e.path === 'string' && fileSyscall) {
      return { code: e.code, path: e.path };
    }
  }
  return undefined;
}

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** The one line (without the binary's name) that says what failed at start-up. */
export function startupErrorLine(err: unknown, ctx: StartupContext = {}): string {
  const listen = listenFailure(err);
  if (listen) {
    const spec = ctx.listeners?.find((l) => l.port === listen.port && (!l.host || !listen.host || l.host === listen.host))
      ?? ctx.listeners?.find((l) => l.port === listen.port);
    const host = listen.host || spec?.host || '0.0.0.0';
    return `cannot listen on ${hostPort(host, listen.port)}${spec ? ` (${spec.what})` : ''}: ${errnoText(listen.code)}`;
  }
  if (err instanceof StartupFailure) return err.message;
  const file = fileFailure(err);
  if (file) {
    const spec = ctx.files?.find((f) => f.path === file.path);
    return `cannot read ${spec ? `${spec.what} ` : ''}${file.path}: ${errnoText(file.code)}`;
  }
  const e = err as NodeErr | undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
  return message.split('\n')[0]!.trim();
}

/**
 * Runs `load` (which reads and parses the file at `path`): an unreadable file stays a file error
 * (see startupErrorLine), anything else becomes `invalid WHAT PATH: REASON` (first line of the reason).
 */
export function loadingFile<T>(what: string, path: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (fileFailure(err)) throw err;
    const code = (err as NodeErr)?.code;
    if (typeof code === 'string' && code in ERRNO_TEXT) throw new StartupFailure(code, `cannot read ${what} ${path}: ${errnoText(code)}`, { cause: err });
    const message = String((err as NodeErr)?.message ?? err).split('\n')[0]!.trim();
    const reason = message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
    throw new StartupFailure('INVALID_FILE', `invalid ${what} ${path}: ${reason}`, { cause: err });
  }
}

/** What a binary logs the stack with (pino's or the node agent's logger). */
export interface DebugLog {
  debug(obj: object, msg?: string): void;
}

/**
 * Prints `BINARY: LINE` on stderr, logs the error with its stack at debug level when a logger is
 * given, and exits with STARTUP_FAILURE_EXIT_CODE. Never returns.
 */
export function exitOnStartupError(binary: string, err: unknown, ctx: StartupContext = {}, log?: DebugLog): never {
  try {
    log?.debug({ err }, 'start-up failed');
  } catch {
    // the line below is what matters
  }
  process.stderr.write(`${binary}: ${startupErrorLine(err, ctx)}\n`);
  process.exit(STARTUP_FAILURE_EXIT_CODE);
}

/** Runs a flag parser: a bad flag is `BINARY: MESSAGE` (on one line) and exit status 2, as Go's flag package does. */
export function usageErrorsExit2<T>(binary: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    process.stderr.write(`${binary}: ${String((err as NodeErr)?.message ?? err).split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}\n`);
    process.exit(2);
  }
}

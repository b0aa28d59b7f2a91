// The one logger factory of mkube's components: pino, JSON lines, `component` on every record,
// errors logged as `{ err }` through pino's error serializer (type, message, stack, cause chain),
// and the level from `--log-level` or klog's `--v` verbosity.
import { pino, type Logger, type DestinationStream } from 'pino';
import { FlagError } from './errors.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** The binary's name, on every record as `component`. */
  component: string;
  level?: LogLevel;
  /** Where records go: 1 = stdout (default), 2 = stderr, or a stream (tests). */
  destination?: 1 | 2 | DestinationStream;
}

export function createLogger(o: LoggerOptions): Logger {
  const dest = o.destination ?? 1;
  return pino(
    {
      level: o.level ?? 'info',
      base: { component: o.component, pid: process.pid },
      serializers: { err: pino.stdSerializers.err },
    },
    typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest,
  );
}

/** A logger that writes nothing (the default of library classes). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * The level from the flags: `--log-level` when given, else klog's `--v` verbosity mapped as the
 * Kubernetes logging conventions use it (0-3: info, 4-5: debug, 6 and more: trace), else info.
 */
export function logLevelFromFlags(logLevel: string | undefined, v: string | undefined): LogLevel {
  if (logLevel !== undefined && logLevel !== '') {
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
      throw new FlagError(`invalid argument "${logLevel}" for "--log-level" flag: must be one of ${LOG_LEVELS.join(', ')}`);
    }
    return logLevel as LogLevel;
  }
  if (v !== undefined && v !== '') {
    if (!/^\d+$/.test(v)) throw new FlagError(`invalid argument "${v}" for "-v, --v" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
    const n = Number(v);
    return n >= 6 ? 'trace' : n >= 4 ? 'debug' : 'info';
  }
  return 'info';
}

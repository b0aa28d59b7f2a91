/**
 * CronJob schedules: the syntax upstream's robfig/cron ParseStandard accepts
 * (five fields — minute hour day-of-month month day-of-week — with numbers,
 * names, ranges, lists, steps, `*` and `?`; the descriptors @yearly,
 * @annually, @monthly, @weekly, @daily, @midnight, @hourly), evaluated by
 * cron-parser in spec.timeZone (an IANA name; the controller's local zone
 * when unset, as upstream). `TZ=`/`CRON_TZ=` prefixes are refused: upstream
 * validation says to use the timeZone field.
 */
import { CronExpressionParser } from 'cron-parser';
import { CodedError } from '@mkube/component-base';

export class ScheduleError extends CodedError {
  constructor(message: string) {
    super('INVALID_SCHEDULE', message);
  }
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** What a field may contain in robfig/cron's standard parser: digits, names, `*`, `?`, `-`, `,`, `/`. */
const FIELD = /^[0-9A-Za-z*?,/-]+$/;
const NAMES = /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)$/i;

export interface Schedule {
  /** The first activation strictly after `afterMs` (ms since the epoch). */
  next(afterMs: number): number;
  readonly expression: string;
  readonly timeZone?: string;
}

/** Is this an IANA time zone name the runtime knows (upstream: time.LoadLocation)? */
export function isValidTimeZone(tz: string): boolean {
  if (!tz) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Checks what robfig/cron's ParseStandard would refuse and cron-parser would accept. */
export function scheduleErrors(schedule: string): string | undefined {
  const s = schedule.trim();
  if (/^(CRON_)?TZ=/.test(s)) return 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead';
  if (s.startsWith('@')) {
    if (s.startsWith('@every ')) return 'mkube does not support @every schedules';
    return DESCRIPTORS[s] ? undefined : `unrecognized descriptor: ${s}`;
  }
  const fields = s.split(/\s+/);
  if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`;
  for (const f of fields) {
    if (!FIELD.test(f)) return `failed to parse field: ${f}`;
    for (const word of f.match(/[A-Za-z]+/g) ?? []) if (!NAMES.test(word)) return `failed to parse int from ${word}`;
  }
  return undefined;
}

export function parseSchedule(schedule: string, timeZone?: string): Schedule {
  const problem = scheduleErrors(schedule);
  if (problem) throw new ScheduleError(problem);
  if (timeZone !== undefined && !isValidTimeZone(timeZone)) throw new ScheduleError(`unknown time zone ${timeZone}`);
  const trimmed = schedule.trim();
  const expression = DESCRIPTORS[trimmed] ?? trimmed.replace(/\?/g, '*');
  // Validate once now, so a bad value is a ScheduleError at parse time rather than on first use.
  try {
    CronExpressionParser.parse(expression, { currentDate: new Date(0), ...(timeZone ? { tz: timeZone } : {}), strict: false });
  } catch (err) {
    throw new ScheduleError((err as Error).message);
  }
  return {
    expression,
    ...(timeZone ? { timeZone } : {}),
    next(afterMs: number): number {
      // Whole seconds, as robfig/cron: the next activation after the start of afterMs's second.
      const from = Math.floor(afterMs / 1000) * 1000;
      const it = CronExpressionParser.parse(expression, { currentDate: new Date(from), ...(timeZone ? { tz: timeZone } : {}) });
      return it.next().getTime();
    },
  };
}

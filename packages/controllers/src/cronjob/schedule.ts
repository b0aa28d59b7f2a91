/**
 * CronJob schedules: the syntax upstream's robfig/cron ParseStandard accepts
 * (five fields — minute hour day-of-month month day-of-week — with numbers,
 * names, ranges, lists, steps, `*` and `?`; the descriptors @yearly,
 * @annually, @monthly, @weekly, @daily, @midnight, @hourly), evaluated by
 * cron-parser in spec.timeZone (an IANA name; the controller's local zone
 * when unset, as upstream). `TZ=`/`CRON_TZ=` prefixes are refused: upstream
 * validation says to use the timeZone field (the syntax check is
 * @mkube/api's cronScheduleError, shared with the API server).
 */
import { CronExpressionParser } from 'cron-parser';
import { CRON_DESCRIPTORS, cronScheduleError, isValidTimeZone } from '@mkube/api';
import { CodedError } from '@mkube/component-base';

export class ScheduleError extends CodedError {
  constructor(message: string) {
    super('INVALID_SCHEDULE', message);
  }
}

export interface Schedule {
  /** The first activation strictly after `afterMs` (ms since the epoch). */
  next(afterMs: number): number;
  readonly expression: string;
  readonly timeZone?: string;
}

export { isValidTimeZone };

export function parseSchedule(schedule: string, timeZone?: string): Schedule {
  const problem = cronScheduleError(schedule);
  if (problem) throw new ScheduleError(problem);
  if (timeZone !== undefined && !isValidTimeZone(timeZone)) throw new ScheduleError(`unknown time zone ${timeZone}`);
  const trimmed = schedule.trim();
  const expression = CRON_DESCRIPTORS[trimmed] ?? trimmed.replace(/\?/g, '*');
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

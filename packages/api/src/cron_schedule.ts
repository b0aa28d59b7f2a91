/**
 * CronJob schedule syntax as upstream accepts it (robfig/cron's
 * ParseStandard: five fields — minute hour day-of-month month day-of-week —
 * with numbers, month/day names, ranges, lists, steps, `*` and `?`, or one of
 * the descriptors), checked without evaluating it; and IANA time zone names.
 * Shared by the API server's validation and the CronJob controller (which
 * evaluates schedules with cron-parser).
 */

/** The descriptors and the five-field schedules they stand for. */
export const CRON_DESCRIPTORS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const FIELD = /^[0-9A-Za-z*?,/-]+$/;
const NAMES = /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)$/i;

/** Why the schedule is not one upstream accepts, or undefined. Ranges of the numbers are checked by the evaluator. */
export function cronScheduleError(schedule: string): string | undefined {
  const s = schedule.trim();
  if (!s) return 'empty spec string';
  if (/^(CRON_)?TZ=/.test(s)) return 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead';
  if (s.startsWith('@')) {
    if (s.startsWith('@every')) return 'mkube does not support @every schedules';
    return CRON_DESCRIPTORS[s] ? undefined : `unrecognized descriptor: ${s}`;
  }
  const fields = s.split(/\s+/);
  if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`;
  for (const f of fields) {
    if (!FIELD.test(f)) return `failed to parse int from ${f}`;
    for (const word of f.match(/[A-Za-z]+/g) ?? []) if (!NAMES.test(word)) return `failed to parse int from ${word}`;
  }
  return undefined;
}

/** Is this an IANA time zone name (upstream: time.LoadLocation), e.g. "Etc/UTC", "America/New_York"? */
export function isValidTimeZone(tz: string): boolean {
  if (!tz || tz === 'Local' || /^[+-]|^\s|\s$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

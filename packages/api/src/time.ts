/**
 * metav1.Time and metav1.MicroTime text: RFC 3339 in UTC with whole seconds
 * ("2024-01-02T03:04:05Z") or six fraction digits
 * ("2024-01-02T03:04:05.123456Z"), from epoch milliseconds; and back.
 */
import { parseRfc3339 } from './json_codec.js';

/** metav1.Time: RFC 3339, whole seconds (the fraction is truncated, as Go's Time.Format(time.RFC3339)). */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with microseconds ("2006-01-02T15:04:05.000000Z07:00"). */
export function formatMicroTime(ms: number, micros = 0): string {
  const whole = Math.floor(ms);
  const us = (whole % 1000 + 1000) % 1000 * 1000 + Math.floor(micros % 1000);
  return `${new Date(Math.floor(whole / 1000) * 1000).toISOString().slice(0, 19)}.${String(us).padStart(6, '0')}Z`;
}

/** Epoch milliseconds of an RFC 3339 time, or undefined when absent or not a time. */
export function parseTime(text: string | undefined | null): number | undefined {
  if (!text) return undefined;
  try {
    const t = parseRfc3339(text);
    return t.seconds * 1000 + Math.floor(t.nanos / 1e6);
  } catch {
    return undefined;
  }
}

// Time and timers as an injectable dependency (the one Clock of @mkube/component-base): the
// engine never calls Date.now or setTimeout directly, so tests can use small intervals or a
// manual clock (FakeClock); plus the agent's time formats.

export { systemClock, sleepOn, type Clock, type TimerHandle } from '@mkube/component-base';

/** RFC 3339 with second precision, as metav1.Time serialises ("2024-05-01T12:00:00Z"). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A CRI int64 nanosecond timestamp (decimal string) to milliseconds; 0 for unset. */
export function nsToMs(ns: string | number | undefined | null): number {
  if (ns === undefined || ns === null || ns === '' || ns === '0') return 0;
  return Number(BigInt(ns) / 1_000_000n);
}

/** Injected time: controllers never read the wall clock directly (the one Clock of @mkube/component-base). */
export { FakeClock, systemClock, type Clock } from '@mkube/component-base';

/** Kubernetes' metav1.Time: RFC 3339 with second precision. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseTime(s: string | undefined | null): number | undefined {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

// Time and timers as an injectable dependency: the engine never calls
// Date.now or setTimeout directly, so tests can use small intervals or a
// manual clock.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs fn after ms; the handle cancels it. Timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** RFC 3339 with second precision, as metav1.Time serialises ("2024-05-01T12:00:00Z"). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A CRI int64 nanosecond timestamp (decimal string) to milliseconds; 0 for unset. */
export function nsToMs(ns: string | number | undefined | null): number {
  if (ns === undefined || ns === null || ns === '' || ns === '0') return 0;
  return Number(BigInt(ns) / 1_000_000n);
}

export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((r) => clock.setTimeout(r, ms));
}

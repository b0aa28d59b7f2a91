// Per-key exponential back-off, with kubelet's semantics (client-go's
// flowcontrol.Backoff): the first failure restarts at once, later failures
// wait base, 2·base, … up to cap, measured from the failure time; an entry
// idle for longer than resetAfter starts over.
import type { Clock } from '../clock.js';

export interface BackoffConfig {
  /** First delay (Kubernetes: 10 s). */
  baseMs: number;
  /** Largest delay (Kubernetes: 5 min). */
  capMs: number;
  /** A key whose last failure is older than this starts over (Kubernetes: 10 min = 2·cap). */
  resetAfterMs: number;
}

export const KUBERNETES_CRASH_BACKOFF: BackoffConfig = { baseMs: 10_000, capMs: 300_000, resetAfterMs: 600_000 };

interface Entry {
  delayMs: number;
  lastUpdate: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    readonly config: BackoffConfig = KUBERNETES_CRASH_BACKOFF,
  ) {}

  /**
   * If `key` failed at `eventTime` (ms) and is still backing off, the time
   * (ms) when it may be retried; otherwise undefined.
   */
  backingOffUntil(key: string, eventTime: number): number | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (eventTime - e.lastUpdate > this.config.resetAfterMs) return undefined;
    const until = eventTime + e.delayMs;
    return this.clock.now() < until ? until : undefined;
  }

  /**
   * Image-pull semantics (kubelet's IsInBackOffSinceUpdate): backing off
   * until the last recorded failure plus the current delay.
   */
  backingOffSinceUpdate(key: string): number | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const until = e.lastUpdate + e.delayMs;
    return this.clock.now() < until ? until : undefined;
  }

  /** Records a retry of `key` after a failure at eventTime; grows the delay. */
  next(key: string, eventTime: number): void {
    const e = this.entries.get(key);
    if (!e || eventTime - e.lastUpdate > this.config.resetAfterMs) {
      this.entries.set(key, { delayMs: this.config.baseMs, lastUpdate: eventTime });
    } else {
      e.delayMs = Math.min(e.delayMs * 2, this.config.capMs);
      e.lastUpdate = eventTime;
    }
  }

  /** The current delay of key (0 when none). */
  delayMs(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Drops keys with this prefix (a pod's containers). */
  resetPrefix(prefix: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}

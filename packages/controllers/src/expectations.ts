/**
 * ControllerExpectations: a controller records the creates and deletes it
 * issued; the informer's add/delete events lower the counts. Until they reach
 * zero (or expire after five minutes, in case an event was lost) the
 * controller does not create or delete again, so it never over-creates while
 * its own writes travel through the watch.
 */
import type { Clock } from './util/time.js';

export const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Entry {
  adds: number;
  /** Keys (namespace/name) of pods whose deletion we wait to see. */
  dels: Set<string>;
  at: number;
}

export class Expectations {
  private readonly m = new Map<string, Entry>();
  constructor(private readonly clock: Clock, private readonly ttlMs = EXPECTATIONS_TTL_MS) {}

  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.adds <= 0 && e.dels.size === 0) return true;
    return this.clock.now() - e.at > this.ttlMs;
  }

  expect(key: string, adds: number, dels: string[]): void {
    this.m.set(key, { adds, dels: new Set(dels), at: this.clock.now() });
  }

  creationObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.adds--;
  }

  deletionObserved(key: string, podKey: string): void {
    this.m.get(key)?.dels.delete(podKey);
  }

  forget(key: string): void {
    this.m.delete(key);
  }

  pending(key: string): { adds: number; dels: number } {
    const e = this.m.get(key);
    return { adds: Math.max(e?.adds ?? 0, 0), dels: e?.dels.size ?? 0 };
  }
}

/**
 * Pods a Permit plugin answered Wait for (upstream's waitingPodsMap): each
 * waits until every waiting plugin allowed it, one rejected it, or a
 * plugin's deadline passed. No timers: the owner calls expire(now).
 */
import type { SchedulerPod } from '../types.js';
import { Code, Status } from './interface.js';

/** Go's time.Duration text for whole milliseconds ("10s", "1.5s", "250ms"). */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${ms / 1000}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${(ms - m * 60_000) / 1000}s`;
}

export class WaitingPod {
  /** plugin → deadline (clock ms) and how long it was given. */
  private readonly pending = new Map<string, { deadline: number; timeoutMs: number }>();
  private settle!: (st: Status) => void;
  readonly done: Promise<Status>;
  private settled = false;

  constructor(readonly id: string, readonly pod: SchedulerPod, readonly nodeName: string, waits: Map<string, number>, now: number) {
    for (const [plugin, timeoutMs] of waits) this.pending.set(plugin, { deadline: now + timeoutMs, timeoutMs });
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  pendingPlugins(): string[] {
    return [...this.pending.keys()];
  }

  /** The plugin lets the pod go; the last one to allow releases it. */
  allow(plugin: string): void {
    if (this.settled || !this.pending.delete(plugin) || this.pending.size > 0) return;
    this.finish(new Status(Code.Success));
  }

  reject(plugin: string, message: string): void {
    if (this.settled) return;
    this.finish(Status.unschedulable(message).withPlugin(plugin));
  }

  /** Rejects when a plugin's wait ran out (upstream's message). */
  expire(now: number): void {
    for (const [plugin, w] of this.pending) {
      if (now >= w.deadline) {
        this.reject(plugin, `rejected due to timeout after waiting ${goDuration(w.timeoutMs)} at plugin ${plugin}`);
        return;
      }
    }
  }

  private finish(st: Status): void {
    this.settled = true;
    this.settle(st);
  }
}

export class WaitingPods {
  private readonly pods = new Map<string, WaitingPod>();
  add(wp: WaitingPod): void { this.pods.set(wp.id, wp); }
  remove(id: string): void { this.pods.delete(id); }
  get(id: string): WaitingPod | undefined { return this.pods.get(id); }
  forEach(fn: (wp: WaitingPod) => void): void { for (const wp of this.pods.values()) fn(wp); }
  expire(now: number): void { for (const wp of [...this.pods.values()]) wp.expire(now); }
  get size(): number { return this.pods.size; }
}

/**
 * The scheduling queue, after kube-scheduler's PriorityQueue:
 *  - activeQ: pods ready to be tried, highest priority first, then oldest;
 *  - backoffQ: pods that failed, waiting out a per-pod backoff (1 s doubling up to 10 s);
 *  - unschedulable: pods that did not fit, parked until a cluster event that
 *    could help them (node added, pod deleted, ...) or a 5-minute flush.
 * Also the nominator: which pods preemption nominated onto which nodes.
 * No timers inside: the owner calls flush() periodically with its clock.
 */
import type { ClusterEvent } from './framework/interface.js';
import { KeyedHeap } from './heap.js';
import { podInfoOf, type PodInfo } from './node_info.js';
import type { SchedulerPod } from './types.js';
import { podId } from './types.js';

export interface QueuedPodInfo {
  id: string;
  pod: SchedulerPod;
  info: PodInfo;
  /** When the pod entered the queue (last time); orders equal priorities. */
  timestamp: number;
  /** When the pod was first added: start of e2e scheduling latency. */
  initialAttemptTimestamp: number;
  attempts: number;
  /** Plugins that rejected it in its last attempt. */
  unschedulablePlugins: Set<string>;
  backoffExpiry: number;
  /** Insertion order, breaking timestamp ties (FIFO). */
  seq: number;
}

export interface QueueOptions {
  now?: () => number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  maxInUnschedulableMs?: number;
  /** plugin name → the events that may make pods it rejected schedulable. */
  pluginEvents?: Map<string, ReadonlySet<ClusterEvent>>;
}

export class QueueClosedError extends Error {
  readonly code = 'QUEUE_CLOSED';
  constructor() {
    super('scheduling queue is closed');
  }
}

const NONE: PodInfo[] = [];

export class SchedulingQueue {
  private readonly now: () => number;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private readonly maxInUnschedulable: number;
  private readonly pluginEvents: Map<string, ReadonlySet<ClusterEvent>>;

  private readonly activeQ = new KeyedHeap<QueuedPodInfo>((q) => q.id, (a, b) =>
    a.info.priority !== b.info.priority ? a.info.priority > b.info.priority : a.timestamp !== b.timestamp ? a.timestamp < b.timestamp : a.seq < b.seq);
  private readonly backoffQ = new KeyedHeap<QueuedPodInfo>((q) => q.id, (a, b) => a.backoffExpiry < b.backoffExpiry);
  private readonly unschedulable = new Map<string, QueuedPodInfo>();
  /** Popped and being scheduled: id → latest pod object (null once deleted). */
  private readonly inFlight = new Map<string, SchedulerPod | null>();
  private readonly nominated = new Map<string, Map<string, PodInfo>>();
  private readonly nominatedNodeOf = new Map<string, string>();
  private waiters: (() => void)[] = [];
  private closed = false;

  private seq = 0;
  schedulingCycle = 0;
  private moveRequestCycle = -1;

  constructor(opts: QueueOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.initialBackoff = opts.initialBackoffMs ?? 1000;
    this.maxBackoff = opts.maxBackoffMs ?? 10_000;
    this.maxInUnschedulable = opts.maxInUnschedulableMs ?? 5 * 60_000;
    this.pluginEvents = opts.pluginEvents ?? new Map();
  }

  private newInfo(pod: SchedulerPod): QueuedPodInfo {
    const now = this.now();
    return {
      id: podId(pod), pod, info: podInfoOf(pod), timestamp: now, initialAttemptTimestamp: now,
      attempts: 0, unschedulablePlugins: new Set(), backoffExpiry: 0, seq: this.seq++,
    };
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private toActive(q: QueuedPodInfo): void {
    this.activeQ.push(q);
    this.wake();
  }

  /** Backoff for the pod's attempt count: initial × 2^(attempts−1), capped. */
  backoffDuration(attempts: number): number {
    let d = this.initialBackoff;
    for (let i = 1; i < attempts; i++) {
      d *= 2;
      if (d >= this.maxBackoff) return this.maxBackoff;
    }
    return d;
  }

  private isBackingOff(q: QueuedPodInfo): boolean {
    return q.backoffExpiry > this.now();
  }

  /** A new unscheduled pod. */
  add(pod: SchedulerPod): void {
    const id = podId(pod);
    if (this.inFlight.has(id)) {
      this.inFlight.set(id, pod);
      return;
    }
    const existing = this.activeQ.get(id) ?? this.backoffQ.get(id) ?? this.unschedulable.get(id);
    if (existing) {
      this.update(pod);
      return;
    }
    this.toActive(this.newInfo(pod));
    this.updateNominated(pod);
  }

  /** An unscheduled pod changed. A pod parked as unschedulable is retried (its spec may now fit). */
  update(pod: SchedulerPod): void {
    const id = podId(pod);
    if (this.inFlight.has(id)) {
      this.inFlight.set(id, pod);
      return;
    }
    this.updateNominated(pod);
    for (const heap of [this.activeQ, this.backoffQ]) {
      const q = heap.get(id);
      if (q) {
        heap.push({ ...q, pod, info: podInfoOf(pod) });
        return;
      }
    }
    const q = this.unschedulable.get(id);
    if (q) {
      this.unschedulable.delete(id);
      const moved = { ...q, pod, info: podInfoOf(pod) };
      if (this.isBackingOff(moved)) this.backoffQ.push(moved);
      else this.toActive(moved);
      return;
    }
    this.add(pod);
  }

  delete(pod: SchedulerPod): void {
    const id = podId(pod);
    if (this.inFlight.has(id)) this.inFlight.set(id, null);
    this.activeQ.delete(id);
    this.backoffQ.delete(id);
    this.unschedulable.delete(id);
    this.deleteNominated(id);
  }

  /** The next pod to schedule, without waiting. */
  tryPop(): QueuedPodInfo | undefined {
    const q = this.activeQ.pop();
    if (!q) return undefined;
    q.attempts++;
    this.schedulingCycle++;
    this.inFlight.set(q.id, q.pod);
    return q;
  }

  /** Waits for a pod in activeQ; undefined once `signal` aborts. */
  async pop(signal?: AbortSignal): Promise<QueuedPodInfo | undefined> {
    for (;;) {
      if (this.closed) throw new QueueClosedError();
      if (signal?.aborted) return undefined;
      const q = this.tryPop();
      if (q) return q;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  /** The pod's scheduling attempt is over (scheduled or requeued). */
  done(id: string): void {
    this.inFlight.delete(id);
  }

  /**
   * Requeues a pod that failed its attempt. Unschedulable pods are parked
   * unless a relevant event arrived while they were being scheduled; errors
   * go to backoff.
   */
  addUnschedulable(q: QueuedPodInfo, podSchedulingCycle: number, isError = false): void {
    const latest = this.inFlight.get(q.id);
    this.inFlight.delete(q.id);
    if (latest === null) return; // deleted while in flight
    const pod = latest ?? q.pod;
    const now = this.now();
    const next: QueuedPodInfo = { ...q, pod, info: podInfoOf(pod), timestamp: now, seq: this.seq++, backoffExpiry: now + this.backoffDuration(q.attempts) };
    if (isError || this.moveRequestCycle >= podSchedulingCycle || pod !== q.pod) {
      this.backoffQ.push(next);
    } else {
      this.unschedulable.set(q.id, next);
    }
  }

  private eventHelps(q: QueuedPodInfo, event: ClusterEvent): boolean {
    if (q.unschedulablePlugins.size === 0) return true;
    for (const p of q.unschedulablePlugins) {
      const evs = this.pluginEvents.get(p);
      if (!evs || evs.has(event)) return true;
    }
    return false;
  }

  /** A cluster event: retry parked pods it may help (backoff first if still backing off). */
  moveAllToActiveOrBackoff(event: ClusterEvent): number {
    let moved = 0;
    for (const [id, q] of this.unschedulable) {
      if (!this.eventHelps(q, event)) continue;
      this.unschedulable.delete(id);
      if (this.isBackingOff(q)) this.backoffQ.push(q);
      else this.toActive(q);
      moved++;
    }
    this.moveRequestCycle = this.schedulingCycle;
    return moved;
  }

  /** Moves pods whose backoff expired to activeQ, and pods parked too long back to the queues. */
  flush(): void {
    const now = this.now();
    for (;;) {
      const q = this.backoffQ.peek();
      if (!q || q.backoffExpiry > now) break;
      this.backoffQ.pop();
      this.toActive(q);
    }
    for (const [id, q] of this.unschedulable) {
      if (now - q.timestamp > this.maxInUnschedulable) {
        this.unschedulable.delete(id);
        if (this.isBackingOff(q)) this.backoffQ.push(q);
        else this.toActive(q);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  pending(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.activeQ.size, backoff: this.backoffQ.size, unschedulable: this.unschedulable.size };
  }

  where(pod: SchedulerPod): 'active' | 'backoff' | 'unschedulable' | 'inFlight' | undefined {
    const id = podId(pod);
    if (this.activeQ.has(id)) return 'active';
    if (this.backoffQ.has(id)) return 'backoff';
    if (this.unschedulable.has(id)) return 'unschedulable';
    if (this.inFlight.has(id)) return 'inFlight';
    return undefined;
  }

  // ---- nominator ----

  private updateNominated(pod: SchedulerPod): void {
    const node = pod.status?.nominatedNodeName;
    // A nomination the scheduler made stays until the pod is scheduled or deleted,
    // even before the pod's status catches up.
    if (node) this.addNominated(podInfoOf(pod), node);
  }

  addNominated(pi: PodInfo, nodeName: string): void {
    this.deleteNominated(pi.id);
    let m = this.nominated.get(nodeName);
    if (!m) this.nominated.set(nodeName, (m = new Map()));
    m.set(pi.id, pi);
    this.nominatedNodeOf.set(pi.id, nodeName);
  }

  deleteNominated(id: string): void {
    const node = this.nominatedNodeOf.get(id);
    if (!node) return;
    this.nominatedNodeOf.delete(id);
    const m = this.nominated.get(node);
    m?.delete(id);
    if (m?.size === 0) this.nominated.delete(node);
  }

  nominatedPodsForNode(nodeName: string): PodInfo[] {
    if (this.nominated.size === 0) return NONE;
    const m = this.nominated.get(nodeName);
    return m ? [...m.values()] : NONE;
  }

  nominatedNodeFor(id: string): string | undefined {
    return this.nominatedNodeOf.get(id);
  }
}

/**
 * LeaderElector: leader election on a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it. A candidate takes the lease when it is
 * free (no holder) or expired (renewTime + leaseDurationSeconds in the past),
 * the leader renews it every retryPeriod and steps down when it could not
 * renew for renewDeadline (< leaseDuration, so it stops acting before anyone
 * else may take over). Every write is an update with the resourceVersion
 * just read (optimistic concurrency is the fence: of two racing candidates
 * only one update succeeds). stop() releases the lease (holderIdentity "").
 */
import { formatMicroTime, type Lease } from '@mkube/api';
import type { KubeClient, ResourceClient } from './client.js';
import { ApiError } from './errors.js';
import { Resources } from './resources.js';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
  onNewLeader?(id: string): void;
}



export class LeaderElector {
  private readonly leases: ResourceClient<Lease>;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private running = false;
  private leading = false;
  /** When our last successful acquire/renew was written. */
  private lastRenew = 0;
  private abort: AbortController | undefined;
  private observedLeader = '';
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    client: KubeClient,
    private readonly o: LeaderElectorOptions,
  ) {
    this.leases = client.resource<Lease>(Resources.leases);
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error('LeaderElector: renewDeadlineMs must be less than leaseDurationMs');
    if (this.retryPeriodMs >= this.renewDeadlineMs) throw new Error('LeaderElector: retryPeriodMs must be less than renewDeadlineMs');
  }

  /** Starts campaigning (returns at once). After losing the lease the elector campaigns again until stop(). */
  run(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.campaign();
  }

  /** True while we hold a lease we renewed less than renewDeadline ago. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew < this.renewDeadlineMs;
  }

  /** Stops campaigning; if leading, steps down (onStoppedLeading) and releases the lease. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.stepDown();
      await this.release().catch(() => undefined);
    }
  }

  private async campaign(): Promise<void> {
    while (this.running) {
      // Acquire.
      while (this.running && !(await this.tryAcquireOrRenew())) await this.sleep(this.retryPeriodMs * (1 + Math.random() * 0.2));
      if (!this.running) return;
      this.leading = true;
      this.abort = new AbortController();
      const signal = this.abort.signal;
      try {
        this.o.onStartedLeading(signal);
      } catch {
        // the callback's failures are its own
      }
      // Renew until the deadline passes without a successful renewal.
      while (this.running) {
        await this.sleep(this.retryPeriodMs);
        if (!this.running) return;
        let renewed = false;
        while (this.running && Date.now() - this.lastRenew < this.renewDeadlineMs) {
          if (await this.tryAcquireOrRenew()) {
            renewed = true;
            break;
          }
          await this.sleep(Math.min(this.retryPeriodMs / 4, this.renewDeadlineMs - (Date.now() - this.lastRenew)));
        }
        if (!this.running) return;
        if (!renewed) break;
      }
      this.stepDown();
    }
  }

  private stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    this.abort?.abort();
    try {
      this.o.onStoppedLeading();
    } catch {
      // ignore
    }
  }

  /** One attempt; true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    let lease: Lease;
    try {
      lease = await this.leases.get(this.o.namespace, this.o.name);
    } catch (err) {
      if (!ApiError.isNotFound(err)) return false;
      try {
        await this.leases.create(this.o.namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { holderIdentity: this.o.identity, leaseDurationSeconds: this.durationSeconds(), acquireTime: formatMicroTime(now), renewTime: formatMicroTime(now), leaseTransitions: 0 },
        });
        this.lastRenew = now;
        this.observe(this.o.identity);
        return true;
      } catch {
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(holder);
    if (holder && holder !== this.o.identity) {
      const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
      const expires = renewed + (spec.leaseDurationSeconds ?? 0) * 1000;
      if (now < expires) return false;
    }
    const mine = holder === this.o.identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.durationSeconds(),
        renewTime: formatMicroTime(now),
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : formatMicroTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      await this.leases.update(next); // carries the resourceVersion we read: 409 if anyone wrote since
      this.lastRenew = now;
      this.observe(this.o.identity);
      return true;
    } catch {
      return false;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.leases.get(this.o.namespace, this.o.name);
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    const now = Date.now();
    await this.leases.update({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: formatMicroTime(now) } });
  }

  private durationSeconds(): number {
    return Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
  }

  private observe(holder: string): void {
    if (holder && holder !== this.observedLeader) {
      this.observedLeader = holder;
      try {
        this.o.onNewLeader?.(holder);
      } catch {
        // ignore
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, Math.max(0, ms));
    });
  }
}

/** Prometheus metrics of the scheduler (served by @mkube/component-base's ComponentServer). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptResult, SchedulerObserver } from './core.js';
import type { SchedulingQueue } from './queue.js';

export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly attempts: Counter<'result' | 'profile'>;
  readonly attemptDuration: Histogram<'result' | 'profile'>;
  readonly e2eLatency: Histogram<'profile'>;
  readonly podAttempts: Histogram;
  readonly pending: Gauge<'queue'>;
  readonly preemptionVictims: Counter;
  readonly bindFailures: Counter;

  constructor(queue: () => SchedulingQueue | undefined, defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
    this.attempts = new Counter({
      name: 'scheduler_schedule_attempts_total', help: 'Number of attempts to schedule pods, by the result.',
      labelNames: ['result', 'profile'], registers: [this.registry],
    });
    this.attemptDuration = new Histogram({
      name: 'scheduler_scheduling_attempt_duration_seconds', help: 'Scheduling attempt latency in seconds (scheduling algorithm + binding start).',
      labelNames: ['result', 'profile'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    this.e2eLatency = new Histogram({
      name: 'scheduler_pod_scheduling_duration_seconds', help: 'E2e latency for a pod being scheduled, from entering the queue to bound (may include multiple attempts).',
      labelNames: ['profile'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    this.podAttempts = new Histogram({
      name: 'scheduler_pod_scheduling_attempts', help: 'Number of attempts to successfully schedule a pod.',
      buckets: [1, 2, 4, 8, 16], registers: [this.registry],
    });
    this.preemptionVictims = new Counter({ name: 'scheduler_preemption_victims_total', help: 'Pods evicted by preemption.', registers: [this.registry] });
    this.bindFailures = new Counter({ name: 'scheduler_bind_failures_total', help: 'Bindings the API server rejected.', registers: [this.registry] });
    this.pending = new Gauge({
      name: 'scheduler_pending_pods', help: 'Number of pending pods, by the queue type.',
      labelNames: ['queue'], registers: [this.registry],
      collect() {
        const q = queue();
        const p = q?.pending() ?? { active: 0, backoff: 0, unschedulable: 0 };
        this.set({ queue: 'active' }, p.active);
        this.set({ queue: 'backoff' }, p.backoff);
        this.set({ queue: 'unschedulable' }, p.unschedulable);
      },
    });
  }

  observer(profile = 'default-scheduler'): SchedulerObserver {
    return {
      attempt: (result: AttemptResult, ms: number) => {
        this.attempts.inc({ result, profile });
        this.attemptDuration.observe({ result, profile }, ms / 1000);
      },
      podScheduled: (_pod, _node, e2eMs, attempts) => {
        this.e2eLatency.observe({ profile }, e2eMs / 1000);
        this.podAttempts.observe(attempts);
      },
      bindFailed: () => this.bindFailures.inc(),
    };
  }
}

/** Prometheus metrics of the controller manager: work queues and reconciles per controller. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly depth = new Gauge({ name: 'workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['name'], registers: [this.registry] });
  readonly adds = new Counter({ name: 'workqueue_adds_total', help: 'Keys added to the work queue.', labelNames: ['name'], registers: [this.registry] });
  readonly retries = new Counter({ name: 'workqueue_retries_total', help: 'Rate-limited re-adds after a failed reconcile.', labelNames: ['name'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'controller_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    labelNames: ['controller', 'result'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'leader_election_master_status', help: '1 while this instance is the leader.', labelNames: ['name'], registers: [this.registry] });

  constructor(defaults = false) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}

/**
 * The pod garbage collector's wiring (`--controllers podgc`): every
 * GC period it plans from the pod and node caches (reconcile.ts), confirms a
 * node missing for the quarantine with a live GET (404), marks non-terminal
 * pods Failed (with DisruptionTarget for a lost node) through pods/status,
 * and force-deletes them (grace period 0, uid precondition).
 */
import { ApiError } from '@mkube/client';
import type { Pod } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R } from '../types.js';
import { DEFAULT_TERMINATED_POD_GC_THRESHOLD, GC_CHECK_PERIOD_MS, NodeQuarantine, planPodGc, QUARANTINE_MS, type PodGcDecision } from './reconcile.js';

const KEY = 'podgc';

const MESSAGES: Record<PodGcDecision['reason'], string> = {
  terminated: 'Deleting terminated pod over the threshold',
  orphaned: 'Found orphaned Pod assigned to the Node, deleting',
  terminating_out_of_service: 'Garbage collecting pod that is terminating on an out-of-service node',
  unscheduled_terminating: 'Found unscheduled terminating Pod not assigned to any Node, deleting',
};

export function podGcController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'podgc' });
  const settings = ctx.config;
  const periodMs = settings.podGcPeriodMs ?? GC_CHECK_PERIOD_MS;
  const threshold = settings.terminatedPodGcThreshold ?? DEFAULT_TERMINATED_POD_GC_THRESHOLD;
  const quarantine = new NodeQuarantine(settings.podGcQuarantineMs ?? QUARANTINE_MS);
  const pods = ctx.informers.for(R.pods);
  const nodes = ctx.informers.for(R.nodes);
  const podClient = ctx.client.resource<Pod>(R.pods);

  /** markFailedAndDeletePodWithCondition. */
  async function collect(d: PodGcDecision): Promise<void> {
    const ns = d.pod.metadata?.namespace ?? 'default';
    const name = d.pod.metadata?.name ?? '';
    log.info({ pod: `${ns}/${name}`, node: d.pod.spec?.nodeName, reason: d.reason }, MESSAGES[d.reason]);
    try {
      const phase = d.pod.status?.phase;
      if (phase !== 'Succeeded' && phase !== 'Failed') {
        const status: Record<string, unknown> = { phase: 'Failed' };
        if (d.condition) status.conditions = [{ ...d.condition, lastTransitionTime: new Date(ctx.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z') }];
        await podClient.patch(ns, name, { status }, 'strategic', 'status');
      }
      await podClient.delete(ns, name, { gracePeriodSeconds: 0, ...(d.pod.metadata?.uid ? { preconditions: { uid: d.pod.metadata.uid } } : {}) });
    } catch (err) {
      if (ApiError.isNotFound(err)) return;
      throw err;
    }
  }

  const c = new QueueController({
    name: 'podgc',
    workers: 1,
    log,
    metrics: ctx.metrics,
    reconcile: async () => {
      const allPods = pods.list();
      const allNodes = nodes.list();
      const first = planPodGc({ pods: allPods, nodes: allNodes, deletedNodes: new Set(), terminatedPodThreshold: threshold });
      const deleted = new Set<string>();
      for (const node of quarantine.due(first.missingNodes, ctx.clock.now())) {
        try {
          await ctx.client.resource(R.nodes).get(undefined, node);
          quarantine.forget(node); // it exists: the cache was behind
        } catch (err) {
          if (!ApiError.isNotFound(err)) throw err;
          deleted.add(node);
        }
      }
      const plan = deleted.size > 0 ? planPodGc({ pods: allPods, nodes: allNodes, deletedNodes: deleted, terminatedPodThreshold: threshold }) : first;
      let failed: unknown;
      for (const d of plan.deletions) {
        try {
          await collect(d);
        } catch (err) {
          log.warn({ err, pod: `${d.pod.metadata?.namespace}/${d.pod.metadata?.name}`, reason: d.reason }, 'pod garbage collection failed');
          failed ??= err;
        }
      }
      if (failed) throw failed;
      return { requeueAfterMs: periodMs };
    },
  });

  return {
    name: c.name,
    start: () => {
      c.start();
      c.enqueue(KEY);
    },
    stop: () => c.stop(),
  };
}

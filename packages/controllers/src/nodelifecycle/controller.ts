/** The node lifecycle controller: watches node leases, marks silent nodes, taints them and evicts their pods. */
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R } from '../types.js';
import { reconcileNode, type NodeHealth } from './reconcile.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
const BY_NODE = 'nodeName';
/** How often every node is looked at regardless of events (--node-monitor-period). */
const MONITOR_PERIOD_MS = 5_000;

export function nodeLifecycleController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'nodelifecycle' });
  const nodes = ctx.informers.for(R.nodes);
  const leases = ctx.informers.for(R.leases);
  const pods = ctx.informers.for(R.pods);
  pods.addIndexer(BY_NODE, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
  const health = new Map<string, NodeHealth>();
  const unreachable = new Set<string>();
  let monitor: NodeJS.Timeout | undefined;

  const c = new QueueController({
    name: 'nodelifecycle',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (name) => {
      const node = nodes.get(name);
      if (!node) {
        health.delete(name);
        unreachable.delete(name);
        return;
      }
      const plan = reconcileNode({
        node,
        lease: leases.get(`${LEASE_NAMESPACE}/${name}`),
        pods: pods.byIndex(BY_NODE, name),
        health: health.get(name),
        now: ctx.clock.now(),
        config: { gracePeriodMs: ctx.config.nodeMonitorGracePeriodMs, defaultTolerationSeconds: ctx.config.defaultUnreachableTolerationSeconds },
      });
      health.set(name, plan.health);
      log.debug({ node: name, unreachable: plan.unreachable, actions: plan.actions.map((a) => `${a.verb} ${a.ref.resource}`), requeueAfterMs: plan.requeueAfterMs }, 'node checked');
      if (plan.unreachable !== unreachable.has(name)) {
        if (plan.unreachable) {
          unreachable.add(name);
          log.warn({ node: name, silentForMs: ctx.clock.now() - plan.health.probeAt }, 'node lease not renewed: marking node unreachable');
        } else {
          unreachable.delete(name);
          log.info({ node: name }, 'node lease renewed: node reachable again');
        }
      }
      for (const a of plan.actions) if (a.verb === 'delete') log.info({ node: name, pod: `${a.namespace}/${a.name}` }, 'evicting pod from unreachable node');
      await ctx.executor.runAll(plan.actions);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  nodes.addEventHandler({ add: (n) => c.enqueue(n.metadata.name), update: (_o, n) => c.enqueue(n.metadata.name), delete: (n) => c.enqueue(n.metadata.name) });
  leases.addEventHandler({
    add: (l) => l.metadata.namespace === LEASE_NAMESPACE && c.enqueue(l.metadata.name),
    update: (_o, l) => l.metadata.namespace === LEASE_NAMESPACE && c.enqueue(l.metadata.name),
  });
  return {
    name: c.name,
    start: () => {
      c.start();
      monitor = setInterval(() => nodes.keys().forEach((k) => c.enqueue(k)), MONITOR_PERIOD_MS);
      monitor.unref();
    },
    stop: async () => {
      if (monitor) clearInterval(monitor);
      await c.stop();
    },
  };
}

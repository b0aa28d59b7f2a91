/** The Deployment controller: wiring of reconcileDeployment to the deployment, ReplicaSet and pod caches. */
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { controllerOf, labelSelectorMatches, objectKey as keyFor, splitObjectKey, type ReplicaSet } from '@mkube/api';
import { R, type Named } from '../types.js';
import { reconcileDeployment } from './reconcile.js';

export function deploymentController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'deployment' });
  const deployments = ctx.informers.for(R.deployments);
  const sets = ctx.informers.for(R.replicasets);
  const pods = ctx.informers.for(R.pods);

  const c = new QueueController({
    name: 'deployment',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const d = deployments.get(key);
      if (!d) return;
      const namespace = splitObjectKey(key).namespace ?? '';
      const plan = reconcileDeployment({ d, replicaSets: inNamespace(sets, namespace), pods: inNamespace(pods, namespace), now: ctx.clock.now() });
      if (plan.actions.some((a) => a.ref === R.replicasets && a.verb !== 'update')) log.info({ deployment: key, actions: plan.actions.map((a) => `${a.verb} ${a.ref.resource}`) }, 'rollout step');
      await ctx.executor.runAll(plan.actions);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  const ownerOf = (rs: Named<ReplicaSet>): string[] => {
    const ref = controllerOf(rs);
    if (ref) return ref.kind === 'Deployment' ? [`${rs.metadata.namespace}/${ref.name}`] : [];
    return inNamespace(deployments, rs.metadata.namespace ?? '').filter((d) => labelSelectorMatches(d.spec?.selector, rs.metadata.labels)).map(keyFor);
  };
  deployments.addEventHandler({ add: (d) => c.enqueue(keyFor(d)), update: (_o, d) => c.enqueue(keyFor(d)), delete: (d) => c.enqueue(keyFor(d)) });
  sets.addEventHandler({
    add: (rs) => ownerOf(rs).forEach((k) => c.enqueue(k)),
    update: (old, rs) => new Set([...ownerOf(old), ...ownerOf(rs)]).forEach((k) => c.enqueue(k)),
    delete: (rs) => ownerOf(rs).forEach((k) => c.enqueue(k)),
  });
  // Recreate waits for the old pods to go.
  pods.addEventHandler({
    delete: (pod) => {
      const ref = controllerOf(pod);
      if (!ref || ref.kind !== 'ReplicaSet') return;
      const rs = sets.get(`${pod.metadata.namespace}/${ref.name}`);
      if (rs) ownerOf(rs).forEach((k) => c.enqueue(k));
    },
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

/**
 * The disruption controller's wiring (`--controllers disruption`): informers
 * on PodDisruptionBudgets, pods and the pod controllers whose scale counts
 * (Deployments, ReplicaSets, ReplicationControllers, StatefulSets); a change
 * to any of them enqueues the budgets of its namespace; the reconcile
 * (reconcile.ts) writes the budget's status through poddisruptionbudgets/status
 * with the resourceVersion it read (a conflict with an eviction requeues).
 */
import { resourceFor, type Deployment, type KubeObject, type PodDisruptionBudget, type ReplicaSet, type ReplicationController, type StatefulSet } from '@mkube/api';
import { Resources } from '@mkube/client';
import { EventRecorder } from '../runtime/events.js';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { R, typedRef } from '../types.js';
import { reconcileDisruption, type ScaleSource } from './reconcile.js';

export const PDBS = typedRef<PodDisruptionBudget>(resourceFor('poddisruptionbudgets', 'policy'));
const STATEFULSETS = typedRef<StatefulSet>(Resources.statefulsets);

export function disruptionController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'disruption' });
  const pdbs = ctx.informers.for(PDBS);
  const pods = ctx.informers.for(R.pods);
  const rss = ctx.informers.for(R.replicasets);
  const deps = ctx.informers.for(R.deployments);
  const rcs = ctx.informers.for(R.replicationcontrollers);
  const stss = ctx.informers.for(STATEFULSETS);
  const events = new EventRecorder(ctx.client, log, 'controllermanager', () => ctx.clock.now());

  const source = (kind: string, o: KubeObject & { spec?: { replicas?: number } }, controller?: ScaleSource['controller']): ScaleSource => ({
    kind,
    namespace: o.metadata?.namespace ?? '',
    name: o.metadata?.name ?? '',
    uid: o.metadata?.uid,
    replicas: o.spec?.replicas ?? 1,
    controller,
  });
  const scaleOf = (kind: string, ns: string, name: string): ScaleSource | undefined => {
    const key = `${ns}/${name}`;
    switch (kind) {
      case 'ReplicaSet': {
        const rs = rss.get(key) as ReplicaSet | undefined;
        if (!rs) return undefined;
        const owner = (rs.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
        return source('ReplicaSet', rs, owner ? { kind: owner.kind, name: owner.name, uid: owner.uid } : undefined);
      }
      case 'Deployment': {
        const d = deps.get(key) as Deployment | undefined;
        return d ? source('Deployment', d) : undefined;
      }
      case 'ReplicationController': {
        const rc = rcs.get(key) as ReplicationController | undefined;
        return rc ? source('ReplicationController', rc) : undefined;
      }
      case 'StatefulSet': {
        const s = stss.get(key) as StatefulSet | undefined;
        return s ? source('StatefulSet', s) : undefined;
      }
      default:
        return undefined;
    }
  };

  const c = new QueueController({
    name: 'disruption',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const pdb = pdbs.get(key);
      if (!pdb || pdb.metadata.deletionTimestamp) return;
      const ns = pdb.metadata.namespace ?? 'default';
      const plan = reconcileDisruption({ pdb, pods: inNamespace(pods, ns), scaleOf, now: ctx.clock.now() });
      if (plan.status) {
        await ctx.executor.runAll([{ verb: 'updateStatus', ref: PDBS, namespace: ns, object: { ...pdb, status: plan.status } as typeof pdb }]);
        log.debug({ pdb: key, disruptionsAllowed: plan.status.disruptionsAllowed, currentHealthy: plan.status.currentHealthy, desiredHealthy: plan.status.desiredHealthy }, 'budget status written');
        for (const e of plan.events) events.record(pdb, PDBS, e);
      }
      if (plan.recheckAtMs !== undefined) return { requeueAfterMs: Math.max(0, plan.recheckAtMs - ctx.clock.now()) + 1 };
      return undefined;
    },
  });

  const enqueueNamespace = (o: KubeObject) => {
    for (const p of inNamespace(pdbs, o.metadata?.namespace ?? '')) c.enqueue(`${p.metadata.namespace}/${p.metadata.name}`);
  };
  const keyOf = (p: PodDisruptionBudget) => `${p.metadata?.namespace}/${p.metadata?.name}`;
  pdbs.addEventHandler({ add: (p) => c.enqueue(keyOf(p)), update: (_o, p) => c.enqueue(keyOf(p)), delete: (p) => c.enqueue(keyOf(p)) });
  for (const inf of [pods, rss, deps, rcs, stss] as const) {
    (inf as typeof pods).addEventHandler({ add: enqueueNamespace, update: (_o, n) => enqueueNamespace(n), delete: enqueueNamespace });
  }
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

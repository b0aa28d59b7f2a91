/**
 * Wiring of the token cleaner (`tokencleaner`: deletes expired bootstrap
 * token Secrets, uid-preconditioned) and the bootstrap signer
 * (`bootstrapsigner`: keeps kube-public/cluster-info's jws-kubeconfig-<id>
 * signatures in line with the signing tokens), as kube-controller-manager's.
 */
import { CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE, objectKey, type ConfigMap, type Named, type Secret } from '@mkube/api';
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R } from '../types.js';
import { SECRETS } from '../certificates/resource.js';
import { isBootstrapSecret, planClusterInfoSignatures, planTokenCleanup } from './reconcile.js';

export function tokenCleanerController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'tokencleaner' });
  const secrets = ctx.informers.for(SECRETS);
  const c = new QueueController({
    name: 'tokencleaner',
    workers: 1,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const s = secrets.get(key);
      if (!s) return;
      const plan = planTokenCleanup(s, ctx.clock.now());
      if (!plan.delete) return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
      log.info({ secret: key }, 'deleting expired bootstrap token');
      await ctx.executor.runAll([{ verb: 'delete', ref: SECRETS, namespace: s.metadata?.namespace, name: s.metadata?.name ?? '', uid: s.metadata?.uid, reason: 'expired bootstrap token' }]);
    },
  });
  const enqueue = (s: Named<Secret>) => {
    if (isBootstrapSecret(s)) c.enqueue(objectKey(s));
  };
  secrets.addEventHandler({ add: enqueue, update: (_o, s) => enqueue(s) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

const CLUSTER_INFO_KEY = `${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}`;

export function bootstrapSignerController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'bootstrapsigner' });
  const secrets = ctx.informers.for(SECRETS);
  const configmaps = ctx.informers.for(R.configmaps);
  const c = new QueueController({
    name: 'bootstrapsigner',
    workers: 1,
    log,
    metrics: ctx.metrics,
    reconcile: async () => {
      const cm = configmaps.get(CLUSTER_INFO_KEY) as Named<ConfigMap> | undefined;
      if (!cm) return;
      const plan = planClusterInfoSignatures(cm, secrets.list().filter(isBootstrapSecret), ctx.clock.now());
      if (plan.data) {
        try {
          await ctx.client.resource<ConfigMap>(R.configmaps).update({ ...cm, data: plan.data });
          log.info({ signatures: Object.keys(plan.data).filter((k) => k.startsWith('jws-kubeconfig-')) }, 'signed cluster-info');
        } catch (err) {
          if (!ApiError.isNotFound(err)) throw err;
        }
      }
      return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
    },
  });
  const enqueue = () => c.enqueue(CLUSTER_INFO_KEY);
  configmaps.addEventHandler({ add: (o) => objectKey(o) === CLUSTER_INFO_KEY && enqueue(), update: (_o, n) => objectKey(n) === CLUSTER_INFO_KEY && enqueue() });
  secrets.addEventHandler({ add: (s) => isBootstrapSecret(s) && enqueue(), update: (_o, s) => isBootstrapSecret(s) && enqueue(), delete: (s) => isBootstrapSecret(s) && enqueue() });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

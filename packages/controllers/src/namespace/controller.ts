/**
 * The namespace controller: empties terminating namespaces through the API
 * and drops the "kubernetes" finalizer. The API server also empties a
 * namespace itself right after the DELETE; the two coexist (both idempotent):
 * whichever finishes first removes the namespace, and the controller is what
 * finishes namespaces left Terminating (API server restarted mid-cleanup,
 * content created by a racing writer, other finalizers).
 */
import { RESOURCES } from '@mkube/api';
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R, type KubeObject, type Named, type ResourceRef } from '../types.js';
import { reconcileNamespace } from './reconcile.js';

export function namespacedResources(): ResourceRef[] {
  return RESOURCES.filter((r) => r.namespaced && r.listKind && r.verbs.includes('list') && r.verbs.includes('delete'));
}

export function namespaceController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'namespace' });
  const namespaces = ctx.informers.for(R.namespaces);
  const resources = namespacedResources();

  const c = new QueueController({
    name: 'namespace',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (name) => {
      const ns = namespaces.get(name);
      if (!ns?.metadata.deletionTimestamp) return;
      // Live lists: a terminating namespace must be judged empty by the server, not by a cache.
      const contents: Array<{ ref: ResourceRef; items: Named[] }> = [];
      for (const ref of resources) {
        const { items } = await ctx.client.resource<KubeObject>(ref).list(name);
        if (items.length) contents.push({ ref, items });
      }
      const plan = reconcileNamespace({ ns, contents });
      if (plan.remaining) log.info({ namespace: name, remaining: plan.remaining }, 'deleting namespace content');
      try {
        await ctx.executor.runAll(plan.actions);
      } catch (err) {
        // Finalized by the API server's own cleanup in the meantime.
        if (ApiError.isNotFound((err as { cause?: unknown }).cause) && plan.remaining === 0) return;
        throw err;
      }
      if (plan.remaining) return { requeueAfterMs: 1000 };
      log.info({ namespace: name }, 'namespace finalized');
    },
  });
  namespaces.addEventHandler({ add: (n) => n.metadata.deletionTimestamp && c.enqueue(n.metadata.name), update: (_o, n) => n.metadata.deletionTimestamp && c.enqueue(n.metadata.name) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

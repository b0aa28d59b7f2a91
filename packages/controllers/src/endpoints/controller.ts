/** The Endpoints controller: keeps one Endpoints object per Service with a selector. */
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { objectKey as keyFor, setMatches, splitObjectKey, type Pod } from '@mkube/api';
import { R, type Named } from '../types.js';
import { reconcileEndpoints } from './reconcile.js';

export function endpointsController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'endpoints' });
  const services = ctx.informers.for(R.services);
  const pods = ctx.informers.for(R.pods);
  const endpoints = ctx.informers.for(R.endpoints);
  const deletedServices = new Set<string>();

  const c = new QueueController({
    name: 'endpoints',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const { namespace = '', name } = splitObjectKey(key);
      const service = services.get(key);
      // Only remove Endpoints when we saw the service go (a selector-less service's Endpoints are someone else's).
      if (!service && !deletedServices.has(key)) return;
      const actions = reconcileEndpoints({ service, pods: inNamespace(pods, namespace), endpoints: endpoints.get(key), namespace, name });
      try {
        await ctx.executor.runAll(actions);
      } catch (err) {
        // The cache has not seen an Endpoints object someone (or we) just created: try again shortly.
        if (ApiError.isAlreadyExists((err as { cause?: unknown }).cause)) return { requeueAfterMs: 200 };
        throw err;
      }
      if (!service) deletedServices.delete(key);
    },
  });

  const servicesFor = (pod: Named<Pod>): string[] =>
    inNamespace(services, pod.metadata.namespace ?? '')
      .filter((s) => s.spec?.selector && Object.keys(s.spec.selector).length > 0 && setMatches(s.spec.selector, pod.metadata.labels))
      .map(keyFor);
  services.addEventHandler({
    add: (s) => {
      deletedServices.delete(keyFor(s));
      c.enqueue(keyFor(s));
    },
    update: (_o, s) => c.enqueue(keyFor(s)),
    delete: (s) => {
      deletedServices.add(keyFor(s));
      c.enqueue(keyFor(s));
    },
  });
  pods.addEventHandler({
    add: (p) => servicesFor(p).forEach((k) => c.enqueue(k)),
    update: (o, p) => new Set([...servicesFor(o), ...servicesFor(p)]).forEach((k) => c.enqueue(k)),
    delete: (p) => servicesFor(p).forEach((k) => c.enqueue(k)),
  });
  endpoints.addEventHandler({
    delete: (e) => {
      if (services.get(keyFor(e))) c.enqueue(keyFor(e));
    },
    update: (_o, e) => {
      if (services.get(keyFor(e))) c.enqueue(keyFor(e));
    },
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

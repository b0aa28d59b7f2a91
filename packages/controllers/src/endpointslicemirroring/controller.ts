/**
 * The EndpointSlice mirroring controller (`endpointslicemirroring`): custom
 * Endpoints of selector-less Services mirrored into EndpointSlices, so slice
 * consumers (the service proxy, cluster DNS) see them. Endpoints, services and
 * our own slices enqueue the Endpoints key.
 */
import { ApiError } from '@mkube/client';
import { objectKey as keyFor, splitObjectKey, type EndpointSlice } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { R } from '../types.js';
import { sliceServiceKey } from '../endpointslice/controller.js';
import { MIRRORING_CONTROLLER_NAME } from '../endpointslice/slices.js';
import { reconcileMirroring } from './reconcile.js';

export function endpointSliceMirroringController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'endpointslicemirroring' });
  const services = ctx.informers.for(R.services);
  const endpoints = ctx.informers.for(R.endpoints);
  const slices = ctx.informers.for(R.endpointslices);

  const c = new QueueController({
    name: 'endpointslicemirroring',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const { namespace = '', name } = splitObjectKey(key);
      const mirrored = inNamespace(slices, namespace).filter((s) => sliceServiceKey(s, MIRRORING_CONTROLLER_NAME) === key);
      const actions = reconcileMirroring({ namespace, name, endpoints: endpoints.get(key), service: services.get(key), slices: mirrored });
      try {
        await ctx.executor.runAll(actions);
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        if (ApiError.isNotFound(cause) || ApiError.isConflict(cause)) return { requeueAfterMs: 100 };
        throw err;
      }
    },
  });
  const enqueue = (o: { metadata: { name: string; namespace?: string } }) => c.enqueue(keyFor(o));
  endpoints.addEventHandler({ add: enqueue, update: (_o, e) => enqueue(e), delete: enqueue });
  services.addEventHandler({ add: enqueue, update: (_o, s) => enqueue(s), delete: enqueue });
  const onSlice = (s: EndpointSlice) => {
    const k = sliceServiceKey(s, MIRRORING_CONTROLLER_NAME);
    if (k) c.enqueue(k);
  };
  slices.addEventHandler({ add: onSlice, update: (_o, s) => onSlice(s), delete: onSlice });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

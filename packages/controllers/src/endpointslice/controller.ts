/**
 * The EndpointSlice controller (`endpointslice`): keeps the slices of every
 * Service with a selector in step with its pods. Services, pods (of the
 * services selecting them), nodes (zones) and our own slices enqueue the
 * service's key; slices of a deleted service go with it through their owner
 * reference (the garbage collector), and are also deleted here when seen.
 */
import { ApiError } from '@mkube/client';
import { objectKey as keyFor, keyOf, setMatches, splitObjectKey, type EndpointSlice, type Node, type Pod } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { inNamespace } from '../runtime/informers.js';
import { R, type Named } from '../types.js';
import { reconcileEndpointSlices } from './reconcile.js';
import { CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME } from './slices.js';

/** The service key a slice belongs to, when the slice is managed by `managedBy`. */
export function sliceServiceKey(s: EndpointSlice, managedBy: string): string | undefined {
  const labels = s.metadata?.labels ?? {};
  const svc = labels[LABEL_SERVICE_NAME];
  if (!svc || labels[LABEL_MANAGED_BY] !== managedBy) return undefined;
  return keyOf(s.metadata?.namespace, svc);
}

export function endpointSliceController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'endpointslice' });
  const services = ctx.informers.for(R.services);
  const pods = ctx.informers.for(R.pods);
  const nodes = ctx.informers.for(R.nodes);
  const slices = ctx.informers.for(R.endpointslices);

  const slicesOf = (key: string): Named<EndpointSlice>[] => {
    const { namespace = '' } = splitObjectKey(key);
    return inNamespace(slices, namespace).filter((s) => sliceServiceKey(s, CONTROLLER_NAME) === key);
  };

  const c = new QueueController({
    name: 'endpointslice',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const { namespace = '' } = splitObjectKey(key);
      const service = services.get(key);
      const existing = slicesOf(key);
      const actions = service
        ? reconcileEndpointSlices({
            service,
            pods: inNamespace(pods, namespace),
            nodes: new Map(nodes.list().map((n: Named<Node>) => [n.metadata.name, n])),
            slices: existing,
          })
        : existing.map((s) => ({ verb: 'delete' as const, ref: R.endpointslices, namespace, name: s.metadata.name, uid: s.metadata.uid, reason: 'service deleted' }));
      try {
        await ctx.executor.runAll(actions);
      } catch (err) {
        // A slice we deleted or updated from a stale cache: the informer catches up, try again shortly.
        const cause = (err as { cause?: unknown }).cause;
        if (ApiError.isNotFound(cause) || ApiError.isConflict(cause)) return { requeueAfterMs: 100 };
        throw err;
      }
    },
  });

  const servicesFor = (pod: Named<Pod>): string[] =>
    inNamespace(services, pod.metadata.namespace ?? '')
      .filter((s) => s.spec?.selector && Object.keys(s.spec.selector).length > 0 && setMatches(s.spec.selector, pod.metadata.labels))
      .map(keyFor);
  services.addEventHandler({
    add: (s) => c.enqueue(keyFor(s)),
    update: (_o, s) => c.enqueue(keyFor(s)),
    delete: (s) => c.enqueue(keyFor(s)),
  });
  pods.addEventHandler({
    add: (p) => servicesFor(p).forEach((k) => c.enqueue(k)),
    update: (o, p) => new Set([...servicesFor(o), ...servicesFor(p)]).forEach((k) => c.enqueue(k)),
    delete: (p) => servicesFor(p).forEach((k) => c.enqueue(k)),
  });
  const onSlice = (s: EndpointSlice) => {
    const k = sliceServiceKey(s, CONTROLLER_NAME);
    if (k) c.enqueue(k);
  };
  slices.addEventHandler({ add: onSlice, update: (_o, s) => onSlice(s), delete: onSlice });
  nodes.addEventHandler({
    update: (o, n) => {
      if (o.metadata.labels?.['topology.kubernetes.io/zone'] === n.metadata.labels?.['topology.kubernetes.io/zone']) return;
      const keys = new Set<string>();
      for (const p of pods.list()) if (p.spec?.nodeName === n.metadata.name) servicesFor(p).forEach((k) => keys.add(k));
      keys.forEach((k) => c.enqueue(k));
    },
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

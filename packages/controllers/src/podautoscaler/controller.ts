/**
 * The horizontal pod autoscaler controller (--controllers horizontalpodautoscaling):
 * every HPA is synced on each change and every --horizontal-pod-autoscaler-sync-period
 * (upstream's 15 s): the target's scale subresource is read, its pods come
 * from the pod cache by the scale's selector, their usage from
 * metrics.k8s.io (the aggregated metrics server), reconcileHpa decides, the
 * scale is written when the count changes, then the HPA's status and events.
 * The stabilization history and scale events live here per HPA, as upstream
 * keeps them in the controller's memory.
 */
import { semanticEqual } from '../util/equal.js';
import {
  METRICS_GROUP,
  METRICS_VERSION,
  findResourceByKind,
  objectKey as keyFor,
  parseSelector,
  resourceFor,
  selectorMatches,
  type HorizontalPodAutoscaler,
  type PodMetricsList,
  type Scale,
} from '@mkube/api';
import { ApiError, resourcePath } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { BY_NAMESPACE } from '../runtime/informers.js';
import { R, typedRef, type Named } from '../types.js';
import { newHistory, storeScaleEvent, type HpaHistory } from './normalize.js';
import { afterRescale, reconcileHpa, type HpaPlan } from './reconcile.js';

export const HPAS = typedRef<HorizontalPodAutoscaler>(resourceFor('horizontalpodautoscalers', 'autoscaling'));
export const DEFAULT_HPA_SYNC_PERIOD_MS = 15_000;

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function horizontalPodAutoscalerController(ctx: ControllerContext, opts: { syncPeriodMs?: number } = {}): RunningController {
  const log = ctx.log.child({ controller: 'horizontal-pod-autoscaler' });
  const hpas = ctx.informers.for(HPAS);
  const pods = ctx.informers.for(R.pods);
  const events = new EventRecorder(ctx.client, log, 'horizontal-pod-autoscaler', () => ctx.clock.now());
  const histories = new Map<string, HpaHistory>();
  const period = opts.syncPeriodMs ?? DEFAULT_HPA_SYNC_PERIOD_MS;

  async function getScale(hpa: Named<HorizontalPodAutoscaler>): Promise<{ scale: Scale; path: string } | { error: string }> {
    const ref = hpa.spec!.scaleTargetRef;
    const found = findResourceByKind(ref.apiVersion ?? '', ref.kind);
    if (!found || found.list || !found.info.subresources.scale) return { error: `unable to determine resource for scale target reference: no matches for kind "${ref.kind}" in version "${ref.apiVersion ?? ''}"` };
    const path = resourcePath(found.info, hpa.metadata.namespace, ref.name, 'scale');
    try {
      return { scale: (await ctx.client.request('GET', path)) as Scale, path };
    } catch (err) {
      return { error: errText(err) };
    }
  }

  async function sync(key: string): Promise<void> {
    const hpa = hpas.get(key);
    if (!hpa) {
      histories.delete(key);
      return;
    }
    const ns = hpa.metadata.namespace ?? 'default';
    const now = ctx.clock.now();
    let history = histories.get(key);
    if (!history) histories.set(key, (history = newHistory()));
    const got = await getScale(hpa);
    let plan: HpaPlan;
    if ('error' in got) {
      plan = reconcileHpa({ hpa, scale: got, pods: [], podMetrics: [], nowMs: now, history });
    } else {
      const selectorText = got.scale.status?.selector ?? '';
      const selector = parseSelector(selectorText);
      const targetPods = selectorText ? pods.byIndex(BY_NAMESPACE, ns).filter((p) => selectorMatches(selector, p.metadata.labels ?? {})) : [];
      let podMetrics: PodMetricsList['items'] | { error: string };
      try {
        const list = (await ctx.client.request('GET', `/apis/${METRICS_GROUP}/${METRICS_VERSION}/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(selectorText)}`)) as PodMetricsList;
        podMetrics = list.items ?? [];
      } catch (err) {
        podMetrics = { error: `unable to fetch metrics from resource metrics API: ${errText(err)}` };
      }
      const scale = selectorText ? { replicas: got.scale.spec?.replicas ?? 0, selector: selectorText } : { error: 'the scale target has no selector' };
      plan = reconcileHpa({ hpa, scale, pods: targetPods, podMetrics, nowMs: now, history });
      if (plan.rescale) {
        const prevReplicas = got.scale.spec?.replicas ?? 0;
        try {
          await ctx.client.request('PUT', got.path, { ...got.scale, spec: { ...got.scale.spec, replicas: plan.rescale.replicas } });
          plan = afterRescale(plan, {}, now);
          storeScaleEvent(history, hpa.spec?.behavior, prevReplicas, plan.rescale!.replicas, now);
          log.info({ hpa: key, from: prevReplicas, to: plan.rescale!.replicas, reason: plan.rescale!.reason }, 'rescaled');
        } catch (err) {
          plan = afterRescale(plan, { error: errText(err) }, now);
        }
      }
    }
    for (const e of plan.events) events.record(hpa, HPAS, e);
    if (!semanticEqual(plan.status, hpa.status ?? {})) {
      try {
        await ctx.client.resource<HorizontalPodAutoscaler>(HPAS).updateStatus({ ...hpa, status: plan.status });
      } catch (err) {
        if (ApiError.isNotFound(err)) return;
        throw err;
      }
    }
  }

  const c = new QueueController({
    name: 'horizontal-pod-autoscaler',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      await sync(key);
      return hpas.get(key) ? { requeueAfterMs: period } : undefined;
    },
  });
  // A status write of our own is no reason to sync again before the period: only spec changes are.
  hpas.addEventHandler({
    add: (h) => c.enqueue(keyFor(h)),
    update: (o, h) => {
      if (o.metadata.generation !== h.metadata.generation) c.enqueue(keyFor(h));
    },
    delete: (h) => c.enqueue(keyFor(h)),
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

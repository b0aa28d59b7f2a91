/**
 * The DaemonSet controller: wiring of reconcileDaemonSet to the set, node,
 * pod and ControllerRevision caches, a work queue and create/delete
 * expectations (daemon pods have generated names, so a create decided on a
 * stale cache would double). A node added, changed (labels, taints) or
 * removed requeues every set in the cluster. Events as upstream:
 * SuccessfulCreate "Created pod: …", SuccessfulDelete "Deleted pod: …",
 * FailedCreate, FailedDaemonPod, SelectingAll.
 */
import { controllerOf, labelSelectorMatches, objectKey as keyFor, splitObjectKey, type Node, type Pod } from '@mkube/api';
import { Expectations } from '../expectations.js';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { ActionError } from '../runtime/executor.js';
import { inNamespace } from '../runtime/informers.js';
import { R, type KubeObject, type Named } from '../types.js';
import { controllerRevisions } from '../history/revision.js';
import { DAEMON_SET_KIND, daemonSets } from './placement.js';
import { reconcileDaemonSet } from './reconcile.js';

export function daemonSetController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'daemonset' });
  const sets = ctx.informers.for(daemonSets);
  const pods = ctx.informers.for(R.pods);
  const nodes = ctx.informers.for(R.nodes);
  const revisions = ctx.informers.for(controllerRevisions);
  const expectations = new Expectations(ctx.clock);
  const events = new EventRecorder(ctx.client, log, 'daemonset-controller', () => ctx.clock.now());

  const c = new QueueController({
    name: 'daemonset',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const ds = sets.get(key);
      if (!ds) {
        expectations.forget(key);
        return;
      }
      const ns = splitObjectKey(key).namespace ?? '';
      const plan = reconcileDaemonSet({
        ds,
        nodes: nodes.list(),
        pods: inNamespace(pods, ns),
        revisions: inNamespace(revisions, ns),
        now: ctx.clock.now(),
        expectationsSatisfied: expectations.satisfied(key),
      });
      await ctx.executor.runAll(plan.claims);
      await ctx.executor.runAll(plan.revisions);
      for (const e of plan.events) events.record(ds, DAEMON_SET_KIND, e);
      if (plan.creates.length || plan.deletes.length) {
        expectations.expect(key, plan.creates.length, plan.deletes.map((d) => `${d.namespace}/${d.name}`));
        log.info({ daemonset: key, create: plan.creates.map((x) => x.node), delete: plan.deletes.map((d) => d.name) }, 'syncing nodes');
      }
      let failure: unknown;
      const created = await Promise.allSettled(plan.creates.map((x) => ctx.executor.run(x.action)));
      created.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          events.record(ds, DAEMON_SET_KIND, { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${r.value?.metadata?.name ?? ''}` });
          return;
        }
        expectations.creationObserved(key);
        events.record(ds, DAEMON_SET_KIND, { type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${(r.reason as Error)?.message ?? String(r.reason)}` });
        failure ??= new ActionError(plan.creates[i]!.action, r.reason);
      });
      const deleted = await Promise.allSettled(plan.deletes.map((a) => ctx.executor.run(a)));
      deleted.forEach((r, i) => {
        const d = plan.deletes[i]!;
        if (r.status === 'fulfilled') {
          events.record(ds, DAEMON_SET_KIND, { type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${d.name}` });
          return;
        }
        expectations.deletionObserved(key, `${d.namespace}/${d.name}`);
        events.record(ds, DAEMON_SET_KIND, { type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${(r.reason as Error)?.message ?? String(r.reason)}` });
        failure ??= new ActionError(d, r.reason);
      });
      if (plan.status) await ctx.executor.runAll([plan.status]);
      if (failure) throw failure;
      await ctx.executor.runAll(plan.history);
      return { requeueAfterMs: plan.requeueAfterMs };
    },
  });

  const ownerKey = (o: Named<KubeObject>): string | undefined => {
    const ref = controllerOf(o);
    if (!ref || ref.kind !== 'DaemonSet') return undefined;
    const key = `${o.metadata.namespace}/${ref.name}`;
    const ds = sets.get(key);
    return ds && ds.metadata.uid === ref.uid ? key : undefined;
  };
  const matching = (o: Named<KubeObject>): string[] =>
    inNamespace(sets, o.metadata.namespace ?? '')
      .filter((s) => labelSelectorMatches(s.spec?.selector, o.metadata.labels))
      .map(keyFor);
  const enqueueAll = () => sets.list().forEach((s) => c.enqueue(keyFor(s)));

  sets.addEventHandler({
    add: (s) => c.enqueue(keyFor(s)),
    update: (_o, s) => c.enqueue(keyFor(s)),
    delete: (s) => {
      expectations.forget(keyFor(s));
      c.enqueue(keyFor(s));
    },
  });
  pods.addEventHandler({
    add: (p: Named<Pod>) => {
      const k = ownerKey(p);
      if (k) {
        if (!p.metadata.deletionTimestamp) expectations.creationObserved(k);
        c.enqueue(k);
      } else if (!controllerOf(p)) matching(p).forEach((s) => c.enqueue(s));
    },
    update: (old: Named<Pod>, p: Named<Pod>) => {
      const k = ownerKey(p);
      const ok = ownerKey(old);
      if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp && k) expectations.deletionObserved(k, keyFor(p));
      if (ok && ok !== k) c.enqueue(ok);
      if (k) c.enqueue(k);
      else if (!controllerOf(p)) matching(p).forEach((s) => c.enqueue(s));
    },
    delete: (p: Named<Pod>) => {
      const k = ownerKey(p);
      if (!k) return;
      expectations.deletionObserved(k, keyFor(p));
      c.enqueue(k);
    },
  });
  const nodeChanged = (a: Named<Node>, b: Named<Node>): boolean =>
    JSON.stringify([a.metadata.labels, a.spec?.taints, a.spec?.unschedulable]) !== JSON.stringify([b.metadata.labels, b.spec?.taints, b.spec?.unschedulable]);
  nodes.addEventHandler({ add: enqueueAll, update: (o, n) => (nodeChanged(o, n) ? enqueueAll() : undefined), delete: enqueueAll });
  revisions.addEventHandler({
    add: (r) => {
      const k = ownerKey(r);
      if (k) c.enqueue(k);
    },
    delete: (r) => {
      const k = ownerKey(r);
      if (k) c.enqueue(k);
    },
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

/**
 * The serviceaccount-controller (the `default` ServiceAccount in every active
 * namespace, recreated when deleted) and the root-ca-cert-publisher (the
 * `kube-root-ca.crt` ConfigMap with the cluster CA in every namespace, put
 * back when deleted or edited), each a queue of namespace names.
 */
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R, type Named } from '../types.js';
import { reconcileRootCa, reconcileServiceAccounts, ROOT_CA_CONFIGMAP } from './reconcile.js';

/** AlreadyExists: the cache had not seen an object someone just created; the next event brings it. */
const alreadyExists = (err: unknown) => ApiError.isAlreadyExists((err as { cause?: unknown }).cause);

export function serviceAccountController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'serviceaccount' });
  const namespaces = ctx.informers.for(R.namespaces);
  const accounts = ctx.informers.for(R.serviceaccounts);
  const c = new QueueController({
    name: 'serviceaccount',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (ns) => {
      const actions = reconcileServiceAccounts(namespaces.get(ns), (name) => accounts.get(`${ns}/${name}`));
      try {
        await ctx.executor.runAll(actions);
      } catch (err) {
        if (alreadyExists(err)) return { requeueAfterMs: 200 };
        throw err;
      }
    },
  });
  namespaces.addEventHandler({ add: (n) => c.enqueue(n.metadata.name), update: (_o, n) => c.enqueue(n.metadata.name) });
  accounts.addEventHandler({ delete: (sa) => sa.metadata.namespace && c.enqueue(sa.metadata.namespace) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

export function rootCaPublisher(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'root-ca-cert-publisher' });
  const namespaces = ctx.informers.for(R.namespaces);
  const configmaps = ctx.informers.for(R.configmaps);
  const caPem = ctx.config.rootCaPem;
  const c = new QueueController({
    name: 'root-ca-cert-publisher',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (ns) => {
      if (!caPem) return;
      const actions = reconcileRootCa(namespaces.get(ns), configmaps.get(`${ns}/${ROOT_CA_CONFIGMAP}`), caPem);
      try {
        await ctx.executor.runAll(actions);
      } catch (err) {
        if (alreadyExists(err)) return { requeueAfterMs: 200 };
        throw err;
      }
    },
  });
  if (!caPem) log.warn('no root CA (--root-ca-file or the kubeconfig\'s certificate-authority): kube-root-ca.crt is not published');
  namespaces.addEventHandler({ add: (n) => c.enqueue(n.metadata.name), update: (_o, n) => c.enqueue(n.metadata.name) });
  const namespaceOfMine = (cm: Named): string | undefined => (cm.metadata.name === ROOT_CA_CONFIGMAP ? cm.metadata.namespace : undefined);
  const enqueueMine = (cm: Named): void => {
    const ns = namespaceOfMine(cm);
    if (ns) c.enqueue(ns);
  };
  configmaps.addEventHandler({ update: (_o, cm) => enqueueMine(cm), delete: enqueueMine });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

/**
 * Wiring of the volume controllers: the persistentvolume-binder (binder.ts)
 * over claim, volume and StorageClass caches with one work queue whose keys
 * are "claim/<ns>/<name>" and "volume/<name>", events from
 * persistentvolume-controller as upstream; and the pvc-protection and
 * pv-protection controllers (protection.ts).
 */
import { ApiError } from '@mkube/client';
import { objectKey as keyFor, splitObjectKey, type KubeObject, type PersistentVolume, type PersistentVolumeClaim, type Pod, type StorageClass } from '@mkube/api';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { EventRecorder } from '../runtime/events.js';
import { inNamespace } from '../runtime/informers.js';
import { R, type Named } from '../types.js';
import { syncClaim, syncVolume, type BinderPlan } from './binder.js';
import { claimProtection, podUsesClaim, volumeProtection } from './protection.js';
import { PVCS, PVS, STORAGE_CLASSES } from './resources.js';

const CLAIM = 'claim/';
const VOLUME = 'volume/';

export function persistentVolumeBinder(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'persistentvolume-binder' });
  const claims = ctx.informers.for(PVCS);
  const volumes = ctx.informers.for(PVS);
  const classes = ctx.informers.for(STORAGE_CLASSES);
  const events = new EventRecorder(ctx.client, log, 'persistentvolume-controller', () => ctx.clock.now());

  const record = (plan: BinderPlan, claim: Named<KubeObject> | undefined, volume: Named<KubeObject> | undefined): void => {
    for (const e of plan.events) {
      const target = e.on === 'claim' ? claim : volume;
      if (target) events.record(target, e.on === 'claim' ? PVCS : PVS, { type: e.type, reason: e.reason, message: e.message });
    }
  };

  const c = new QueueController({
    name: 'persistentvolume-binder',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const now = ctx.clock.now();
      if (key.startsWith(CLAIM)) {
        const claim = claims.get(key.slice(CLAIM.length));
        if (!claim) return;
        const classMap = new Map<string, StorageClass>(classes.list().map((s) => [s.metadata.name, s]));
        const plan = syncClaim({ claim, volumes: volumes.list(), classes: classMap, now });
        await ctx.executor.runAll(plan.actions);
        record(plan, claim, undefined);
        return;
      }
      const volume = volumes.get(key.slice(VOLUME.length));
      if (!volume) return;
      const ref = volume.spec?.claimRef;
      let claim: Named<PersistentVolumeClaim> | undefined;
      if (ref?.name) {
        claim = claims.get(keyFor({ metadata: { namespace: ref.namespace, name: ref.name } }));
        if (!claim || claim.metadata.uid !== ref.uid) {
          // The cache may lag a just-created claim: the store has the last word before a volume is released.
          try {
            claim = await ctx.client.resource<PersistentVolumeClaim>(PVCS).get(ref.namespace, ref.name);
          } catch (err) {
            if (!ApiError.isNotFound(err)) throw err;
            claim = undefined;
          }
        }
      }
      const plan = syncVolume({ volume, claim, now });
      await ctx.executor.runAll(plan.actions);
      record(plan, claim, volume);
    },
  });

  const enqueueClaim = (pvc: Named<KubeObject>) => c.enqueue(CLAIM + keyFor(pvc));
  const enqueueVolume = (pv: Named<KubeObject>) => c.enqueue(VOLUME + pv.metadata.name);
  claims.addEventHandler({
    add: enqueueClaim,
    update: (_o, n) => enqueueClaim(n),
    // A deleted claim releases the volume it was bound to.
    delete: (pvc) => {
      for (const pv of volumes.list()) if (pv.spec?.claimRef?.name === pvc.metadata.name && pv.spec.claimRef.namespace === pvc.metadata.namespace) enqueueVolume(pv);
    },
  });
  // A volume pre-bound to a claim (by the scheduler or a provisioner) lets that claim bind.
  const volumeAndClaim = (pv: Named<PersistentVolume>) => {
    enqueueVolume(pv);
    const ref = pv.spec?.claimRef;
    if (ref?.name) c.enqueue(CLAIM + keyFor({ metadata: { namespace: ref.namespace, name: ref.name } }));
  };
  volumes.addEventHandler({
    add: volumeAndClaim,
    update: (_o, n) => volumeAndClaim(n),
    delete: (pv) => {
      const ref = pv.spec?.claimRef;
      if (ref?.name) c.enqueue(CLAIM + keyFor({ metadata: { namespace: ref.namespace, name: ref.name } }));
    },
  });
  // New or changed classes can unblock pending claims.
  const pendingClaims = () => claims.list().filter((p) => p.status?.phase !== 'Bound').forEach(enqueueClaim);
  classes.addEventHandler({ add: pendingClaims, update: pendingClaims });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

export function pvcProtectionController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'pvc-protection' });
  const claims = ctx.informers.for(PVCS);
  const pods = ctx.informers.for(R.pods);
  const c = new QueueController({
    name: 'pvc-protection',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const claim = claims.get(key);
      if (!claim) return;
      const { namespace = '' } = splitObjectKey(key);
      await ctx.executor.runAll(claimProtection(claim, inNamespace(pods, namespace)));
    },
  });
  claims.addEventHandler({ add: (p) => c.enqueue(keyFor(p)), update: (_o, p) => c.enqueue(keyFor(p)) });
  const claimsOf = (pod: Named<Pod>) =>
    (pod.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim?.claimName ? [keyFor({ metadata: { namespace: pod.metadata.namespace, name: v.persistentVolumeClaim.claimName } })] : []));
  pods.addEventHandler({
    // A pod that finished or went away may free its claims.
    update: (_o, p) => {
      if (!(p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim && !podUsesClaim(p, v.persistentVolumeClaim.claimName))) return;
      claimsOf(p).forEach((k) => c.enqueue(k));
    },
    delete: (p) => claimsOf(p).forEach((k) => c.enqueue(k)),
  });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

export function pvProtectionController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'pv-protection' });
  const volumes = ctx.informers.for(PVS);
  const c = new QueueController({
    name: 'pv-protection',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const pv = volumes.get(key);
      if (pv) await ctx.executor.runAll(volumeProtection(pv));
    },
  });
  volumes.addEventHandler({ add: (p) => c.enqueue(p.metadata.name), update: (_o, p) => c.enqueue(p.metadata.name) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

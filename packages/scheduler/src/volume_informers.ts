/**
 * The scheduler's caches of claims, volumes and StorageClasses for
 * VolumeBinding, the API writes its PreBind makes, and the cluster events
 * (claim/volume added or updated, class added) that send pods it rejected
 * back to the active queue.
 */
import { resourceFor, type PersistentVolume, type PersistentVolumeClaim, type StorageClass } from '@mkube/api';
import { Informer, type KubeClient, type KubeObject } from '@mkube/client';
import type { ClusterEvent } from './framework/interface.js';
import type { VolumeBindingDeps } from './plugins/volume_binding.js';

type Named<T> = T & KubeObject & { metadata: { name: string } };

export class VolumeInformers {
  private readonly claims: Informer<Named<PersistentVolumeClaim>>;
  private readonly volumes: Informer<Named<PersistentVolume>>;
  private readonly classes: Informer<Named<StorageClass>>;
  readonly deps: VolumeBindingDeps;

  constructor(client: KubeClient, onError: (what: string) => (err: unknown) => void, onEvent: (e: ClusterEvent) => void) {
    const pvcs = client.resource<Named<PersistentVolumeClaim>>(resourceFor('persistentvolumeclaims'));
    const pvs = client.resource<Named<PersistentVolume>>(resourceFor('persistentvolumes'));
    this.claims = new Informer(pvcs, { onError: onError('persistentvolumeclaims') });
    this.volumes = new Informer(pvs, { onError: onError('persistentvolumes') });
    this.classes = new Informer(client.resource<Named<StorageClass>>(resourceFor('storageclasses', 'storage.k8s.io')), { onError: onError('storageclasses') });
    this.claims.addEventHandler({ add: () => onEvent('PersistentVolumeClaimAddOrUpdate'), update: () => onEvent('PersistentVolumeClaimAddOrUpdate') });
    this.volumes.addEventHandler({ add: () => onEvent('PersistentVolumeAddOrUpdate'), update: () => onEvent('PersistentVolumeAddOrUpdate') });
    this.classes.addEventHandler({ add: () => onEvent('StorageClassAdd') });
    this.deps = {
      claim: (ns, name) => this.claims.get(`${ns}/${name}`),
      volumes: () => this.volumes.list(),
      storageClass: (name) => (name ? this.classes.get(name) : undefined),
      updateVolume: async (pv) => {
        await pvs.update(pv as Named<PersistentVolume>);
      },
      updateClaim: async (pvc) => pvcs.update(pvc as Named<PersistentVolumeClaim>),
    };
  }

  start(): void {
    this.claims.start();
    this.volumes.start();
    this.classes.start();
  }

  waitForSync(): Promise<unknown> {
    return Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.classes.waitForSync()]);
  }

  stop(): void {
    this.claims.stop();
    this.volumes.stop();
    this.classes.stop();
  }
}

// The local-path dynamic provisioner (provisioner name mkube.io/local-path),
// run by every node agent for its own node: a claim of a class with this
// provisioner that the scheduler's VolumeBinding marked with
// volume.kubernetes.io/selected-node = this node (and the PV controller
// handed over with volume.kubernetes.io/storage-provisioner) gets a directory
// <rootDir>/local-path/pvc-<uid>_<namespace>_<name> (parent 0700, the volume
// 0777 so any container user can write) and a `local` PersistentVolume
// pre-bound to the claim, with node affinity kubernetes.io/hostname = this
// node so the pod always comes back to its data. A Released volume of its
// own with reclaim policy Delete has its directory removed and is deleted.
// Why in the node agent: the directory must be made on the node the pod was
// scheduled to, and the agent is already there with the right privileges
// (upstream's local-path-provisioner needs a helper pod for the same step).
import { mkdir, rm, chmod, lstat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import {
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  ANN_BETA_STORAGE_PROVISIONER,
  claimStorageClass,
  formatTime,
  resourceFor,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '@mkube/api';
import { ApiError, Informer, Resources, type KubeClient, type KubeObject } from '@mkube/client';
import type { Logger } from '../logger.js';

export const LOCAL_PATH_PROVISIONER = 'mkube.io/local-path';
export const LOCAL_PATH_DIR = 'local-path';

type Obj<T> = T & KubeObject;

export interface LocalPathProvisionerOptions {
  client: KubeClient;
  nodeName: string;
  /** The agent's root dir; volumes live in <rootDir>/local-path. */
  rootDir: string;
  log: Logger;
  /** Informer resync (a failed provisioning or deletion is retried then). */
  resyncMs?: number;
}

/** The volume's host for a volume this provisioner made (its hostname node affinity), or undefined. */
function volumeNode(pv: PersistentVolume): string | undefined {
  const expr = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find((e) => e.key === 'kubernetes.io/hostname' && e.operator === 'In');
  return expr?.values?.[0];
}

export class LocalPathProvisioner {
  private readonly claims: Informer<Obj<PersistentVolumeClaim>>;
  private readonly volumes: Informer<Obj<PersistentVolume>>;
  private readonly classes: Informer<Obj<StorageClass>>;
  private readonly busy = new Set<string>();
  private readonly base: string;
  private stopped = false;

  constructor(private readonly o: LocalPathProvisionerOptions) {
    const opts = { backoffInitialMs: 200, backoffMaxMs: 5_000, resyncMs: o.resyncMs ?? 30_000 };
    this.base = resolve(o.rootDir, LOCAL_PATH_DIR);
    this.claims = new Informer(o.client.resource<Obj<PersistentVolumeClaim>>(resourceFor('persistentvolumeclaims')), opts);
    this.volumes = new Informer(o.client.resource<Obj<PersistentVolume>>(resourceFor('persistentvolumes')), opts);
    this.classes = new Informer(o.client.resource<Obj<StorageClass>>(resourceFor('storageclasses', 'storage.k8s.io')), opts);
    this.claims.addEventHandler({ add: (c) => this.onClaim(c), update: (_o, c) => this.onClaim(c) });
    this.volumes.addEventHandler({ add: (v) => this.onVolume(v), update: (_o, v) => this.onVolume(v) });
  }

  start(): void {
    this.claims.start();
    this.volumes.start();
    this.classes.start();
  }

  stop(): void {
    this.stopped = true;
    this.claims.stop();
    this.volumes.stop();
    this.classes.stop();
  }

  /** The directory of a claim's volume. */
  volumePath(pvc: PersistentVolumeClaim): string {
    return join(this.base, `pvc-${pvc.metadata?.uid}_${pvc.metadata?.namespace}_${pvc.metadata?.name}`);
  }

  private once(key: string, work: () => Promise<void>): void {
    if (this.busy.has(key) || this.stopped) return;
    this.busy.add(key);
    work()
      .catch((err: unknown) => this.o.log.warn({ err, key }, 'local-path provisioner: will retry on resync'))
      .finally(() => this.busy.delete(key));
  }

  private onClaim(pvc: Obj<PersistentVolumeClaim>): void {
    const ann = pvc.metadata.annotations ?? {};
    if (ann[ANN_SELECTED_NODE] !== this.o.nodeName) return;
    if ((ann[ANN_STORAGE_PROVISIONER] ?? ann[ANN_BETA_STORAGE_PROVISIONER]) !== LOCAL_PATH_PROVISIONER) return;
    if (pvc.spec?.volumeName || pvc.metadata.deletionTimestamp) return;
    const cls = this.classes.get(claimStorageClass(pvc));
    if (!cls || cls.provisioner !== LOCAL_PATH_PROVISIONER) return;
    if (this.volumes.get(`pvc-${pvc.metadata.uid}`)) return;
    this.once(`claim/${pvc.metadata.uid}`, () => this.provision(pvc, cls));
  }

  private async provision(pvc: Obj<PersistentVolumeClaim>, cls: StorageClass): Promise<void> {
    const ns = pvc.metadata.namespace ?? 'default';
    const name = `pvc-${pvc.metadata.uid}`;
    await this.event(pvc, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${ns}/${pvc.metadata.name}"`);
    await mkdir(this.base, { recursive: true, mode: 0o700 });
    if (((await lstat(this.base)).mode & 0o777) !== 0o700) await chmod(this.base, 0o700);
    const path = this.volumePath(pvc);
    await mkdir(path, { mode: 0o777 }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    await chmod(path, 0o777);
    const pv: Obj<PersistentVolume> = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [ANN_PROVISIONED_BY]: LOCAL_PATH_PROVISIONER } },
      spec: {
        capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '0' },
        accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
        storageClassName: cls.metadata?.name,
        volumeMode: 'Filesystem',
        local: { path },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [this.o.nodeName] }] }] } },
        claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name: pvc.metadata.name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion },
      },
    };
    try {
      await this.o.client.resource<Obj<PersistentVolume>>(resourceFor('persistentvolumes')).create(undefined, pv);
    } catch (err) {
      if (!ApiError.isAlreadyExists(err)) throw err;
      return;
    }
    this.o.log.info({ claim: `${ns}/${pvc.metadata.name}`, volume: name, path }, 'local-path volume provisioned');
    await this.event(pvc, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${name}`);
  }

  private onVolume(pv: Obj<PersistentVolume>): void {
    if (pv.metadata.annotations?.[ANN_PROVISIONED_BY] !== LOCAL_PATH_PROVISIONER) return;
    if (volumeNode(pv) !== this.o.nodeName) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    this.once(`volume/${pv.metadata.name}`, () => this.delete(pv));
  }

  private async delete(pv: Obj<PersistentVolume>): Promise<void> {
    const path = resolve(pv.spec?.local?.path ?? '');
    // Only ever remove a directory of our own base dir.
    if (path.startsWith(this.base + sep) && !path.slice(this.base.length + 1).includes(sep)) {
      await rm(path, { recursive: true, force: true });
    } else {
      this.o.log.warn({ volume: pv.metadata.name, path }, 'local-path volume outside the provisioner directory: not removing it');
    }
    try {
      await this.o.client.resource<Obj<PersistentVolume>>(resourceFor('persistentvolumes')).delete(undefined, pv.metadata.name, { preconditions: { uid: pv.metadata.uid } });
    } catch (err) {
      if (!ApiError.isNotFound(err)) throw err;
    }
    this.o.log.info({ volume: pv.metadata.name, path }, 'local-path volume deleted');
  }

  private async event(obj: Obj<PersistentVolumeClaim>, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const now = formatTime(Date.now());
    const component = `${LOCAL_PATH_PROVISIONER}_${this.o.nodeName}`;
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`, namespace: ns },
      involvedObject: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: obj.metadata.name, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component },
      reportingComponent: component,
    };
    await this.o.client
      .resource(Resources.events)
      .create(ns, ev as unknown as KubeObject)
      .catch((err: unknown) => this.o.log.debug({ err, reason }, 'event not written'));
  }
}

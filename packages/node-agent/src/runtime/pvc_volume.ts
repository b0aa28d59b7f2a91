// Volumes beyond the agent's own directories: persistentVolumeClaim volumes
// (claim → bound PersistentVolume → its hostPath or local path, which the
// runtime bind-mounts into the container), emptyDir with medium Memory (a
// tmpfs mounted on the volume's directory, sized by sizeLimit, unmounted
// before the pod's directory is removed), and the volume types this node
// cannot mount, which fail with kubelet's messages instead of degrading to
// an empty directory. Errors carry the kubelet wording the FailedMount event
// shows.
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isVolumeBoundToClaim, quantityValue, type PersistentVolume, type PersistentVolumeClaim } from '@mkube/api';
import type { Volume } from '../api_types.js';
import { VolumeSetupError } from './errors.js';

const run = promisify(execFile);

/** Where claims and volumes come from (the API client port implements it). */
export interface StorageSource {
  /** undefined when the object does not exist. */
  getPersistentVolumeClaim(namespace: string, name: string): Promise<PersistentVolumeClaim | undefined>;
  getPersistentVolume(name: string): Promise<PersistentVolume | undefined>;
}

export function isStorageSource(v: unknown): v is StorageSource {
  return typeof (v as Partial<StorageSource>)?.getPersistentVolumeClaim === 'function' && typeof (v as Partial<StorageSource>)?.getPersistentVolume === 'function';
}

/** The host side of a claim's volume. */
export interface ClaimVolume {
  /** hostPath volumes get the hostPath type checks; local volumes must exist. */
  kind: 'hostPath' | 'local';
  path: string;
  hostPathType: string;
  readOnly: boolean;
  volumeName: string;
}

/**
 * Resolves a persistentVolumeClaim volume as kubelet's volume manager does:
 * the claim must exist, not be terminating and be bound; its volume must
 * exist and point back at the claim.
 */
export async function resolveClaimVolume(source: unknown, namespace: string, v: Volume): Promise<ClaimVolume> {
  const claimName = v.persistentVolumeClaim?.claimName ?? '';
  const what = `error processing PVC ${namespace}/${claimName}`;
  if (!isStorageSource(source)) throw new VolumeSetupError(v.name, `${what}: persistent volumes are not available to this node agent`);
  const pvc = await source.getPersistentVolumeClaim(namespace, claimName);
  if (!pvc) throw new VolumeSetupError(v.name, `${what}: failed to fetch PVC from API server: persistentvolumeclaims "${claimName}" not found`);
  if (pvc.metadata?.deletionTimestamp) throw new VolumeSetupError(v.name, `${what}: can't start pod because PVC ${namespace}/${claimName} is being deleted`);
  const volumeName = pvc.spec?.volumeName ?? '';
  if (pvc.status?.phase !== 'Bound' || !volumeName) throw new VolumeSetupError(v.name, `${what}: PVC is not bound`);
  const pv = await source.getPersistentVolume(volumeName);
  if (!pv) throw new VolumeSetupError(v.name, `${what}: failed to fetch PV "${volumeName}" from API server: persistentvolumes "${volumeName}" not found`);
  if (!isVolumeBoundToClaim(pv, pvc) || !pv.spec?.claimRef?.uid) throw new VolumeSetupError(v.name, `${what}: found PV object "${volumeName}" but it has a ClaimRef that is bound to a different PVC`);
  const readOnly = v.persistentVolumeClaim?.readOnly === true;
  if (pv.spec.hostPath?.path) return { kind: 'hostPath', path: pv.spec.hostPath.path, hostPathType: pv.spec.hostPath.type ?? '', readOnly, volumeName };
  if (pv.spec.local?.path) {
    const st = await stat(pv.spec.local.path).catch(() => undefined);
    if (!st) throw new VolumeSetupError(v.name, `path "${pv.spec.local.path}" does not exist`);
    return { kind: 'local', path: pv.spec.local.path, hostPathType: '', readOnly, volumeName };
  }
  throw new VolumeSetupError(v.name, `failed to get Plugin from volumeSpec for volume "${volumeName}" err=no volume plugin matched`);
}

/**
 * Why a volume of the pod cannot be mounted on this node, or undefined:
 * CSI drivers are not registered here and NFS mounts are not supported.
 */
export function unsupportedVolume(v: Volume): string | undefined {
  if (v.csi) return `kubernetes.io/csi: mounter.SetUpAt failed to get CSI client: driver name ${v.csi.driver ?? ''} not found in the list of registered CSI drivers`;
  if (v.nfs) return `failed to get Plugin from volumeSpec for volume "${v.name}" err=no volume plugin matched`;
  return undefined;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** emptyDir medium Memory: a tmpfs on `dir` (mode 0777, size sizeLimit when given), mounted once. */
export async function setUpMemoryEmptyDir(volume: string, dir: string, sizeLimit: string | undefined): Promise<void> {
  if ((await mountsUnder(dir)).includes(dir)) return;
  const opts = ['mode=0777'];
  if (sizeLimit) {
    let bytes: number;
    try {
      bytes = quantityValue(sizeLimit);
    } catch (err) {
      throw new VolumeSetupError(volume, `invalid sizeLimit ${sizeLimit}: ${(err as Error).message}`);
    }
    if (bytes > 0) opts.push(`size=${bytes}`);
  }
  try {
    await run('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'tmpfs', dir]);
  } catch (err) {
    throw new VolumeSetupError(volume, `mount failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

/** Unmounts every mount (the tmpfs emptyDirs) under a pod's directory, so it can be removed. */
export async function unmountUnder(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) await run('umount', [mp]);
}

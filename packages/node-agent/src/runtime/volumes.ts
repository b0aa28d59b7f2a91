// Pod volumes on the node: emptyDir (a directory under the agent's root
// dir), configMap and secret (files written atomically by the agent, with
// the volume's modes), hostPath; and the CRI mounts of a container's
// volumeMounts, whose subPath/subPathExpr is resolved without following a
// symbolic link out of the volume. The pod's directories are 0750 (kubelet's
// mode), so another host user cannot read a secret's files; inside the
// container the files keep the modes the pod asked for (default 0644).
import { chmod, lstat, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ConfigSource } from '../api_port.js';
import type { Container, KeyToPath, AgentPod, Volume, VolumeMount } from '../api_types.js';
import type { DeepPartial, KeyValue, Mount } from '../cri/types.js';
import { writeAtomically, type VolumeFile } from './atomic_writer.js';
import { ContainerStartError, VolumeSetupError } from './errors.js';
import { resolveInside, UnsafePathError } from './safe_path.js';
import { ProjectedVolumes } from './projected_volume.js';
import { resolveClaimVolume, setUpMemoryEmptyDir, unmountUnder, unsupportedVolume } from './pvc_volume.js';

const PLUGIN_DIR: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  projected: 'kubernetes.io~projected',
  downwardAPI: 'kubernetes.io~downward-api',
};

/** Upstream's SecretVolumeSourceDefaultMode and ConfigMapVolumeSourceDefaultMode. */
export const DEFAULT_FILE_MODE = 0o644;
/** kubelet's mode for the pods dir, each pod's dir and its volumes dirs. */
export const POD_DIR_MODE = 0o750;
const EMPTY_DIR_MODE = 0o777;
const CONFIG_VOLUME_DIR_MODE = 0o755;

export interface PreparedVolume {
  hostPath: string;
  /** configMap and secret volumes are always mounted read-only. */
  readOnly: boolean;
}

/** Creates `path` (its parent must exist) or checks it is a real directory, not a link; sets `mode`. */
async function ensureDir(path: string, mode: number): Promise<void> {
  await mkdir(path, { mode }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
  const st = await lstat(path);
  if (!st.isDirectory()) throw Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
  if ((st.mode & 0o7777) !== mode) await chmod(path, mode);
}

/** Expands $(VAR) in a subPathExpr as kubelet does; an unset or empty variable is an error. */
export function expandSubPathExpr(expr: string, env: KeyValue[]): string {
  const vars = new Map<string, string>();
  for (const kv of env) if (kv.key) vars.set(kv.key, kv.value ?? '');
  const missing = new Set<string>();
  const out = expr.replace(/\$\$|\$\(([^)]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    const v = vars.get(name!);
    if (!v) missing.add(name!);
    return v ?? '';
  });
  if (missing.size > 0) throw new Error(`missing value for ${[...missing].sort().join(', ')}`);
  return out;
}

export class VolumeManager {
  constructor(
    /** The agent's root dir: pods live in <rootDir>/pods/<uid>. */
    readonly rootDir: string,
    private readonly config: ConfigSource,
  ) {}

  private projectedVolumes?: ProjectedVolumes;
  /** projected volumes (projected_volume.ts), with the service-account tokens they hold. */
  private get projected(): ProjectedVolumes {
    return (this.projectedVolumes ??= new ProjectedVolumes(this.config));
  }

  podDir(uid: string): string {
    return join(this.rootDir, 'pods', uid);
  }

  volumeDir(uid: string, volume: Volume): string {
    return join(this.podDir(uid), 'volumes', PLUGIN_DIR[this.kind(volume)]!, volume.name);
  }

  private kind(volume: Volume): string {
    return Object.keys(PLUGIN_DIR).find((k) => (volume as unknown as Record<string, unknown>)[k] !== undefined) ?? 'emptyDir';
  }

  /** <rootDir>/pods/<uid>/volumes/<plugin>, each level a real directory with POD_DIR_MODE. */
  private async pluginDir(uid: string, volume: Volume): Promise<string> {
    let p = join(this.rootDir, 'pods');
    await mkdir(this.rootDir, { recursive: true, mode: 0o700 });
    for (const part of [null, uid, 'volumes', PLUGIN_DIR[this.kind(volume)]!]) {
      if (part !== null) p = join(p, part);
      await ensureDir(p, POD_DIR_MODE);
    }
    return p;
  }

  /**
   * Creates or refreshes every volume of the pod; returns the host path of
   * each by name. Throws VolumeSetupError (FailedMount) for a missing source.
   */
  async setUp(pod: AgentPod): Promise<Map<string, PreparedVolume>> {
    const ns = pod.metadata.namespace ?? 'default';
    const out = new Map<string, PreparedVolume>();
    for (const v of pod.spec.volumes ?? []) {
      try {
        await this.setUpOne(pod, ns, v, out);
      } catch (err) {
        if (err instanceof VolumeSetupError) throw err;
        throw new VolumeSetupError(v.name, (err as Error).message);
      }
    }
    return out;
  }

  private async setUpOne(pod: AgentPod, ns: string, v: Volume, out: Map<string, PreparedVolume>): Promise<void> {
    if (v.hostPath) {
      await this.setUpHostPath(v);
      out.set(v.name, { hostPath: v.hostPath.path, readOnly: false });
      return;
    }
    // persistentVolumeClaim: the bound volume's host path, bind-mounted by the runtime (pvc_volume.ts).
    if (v.persistentVolumeClaim) {
      const claim = await resolveClaimVolume(this.config, ns, v);
      if (claim.kind === 'hostPath') await this.setUpHostPath({ name: v.name, hostPath: { path: claim.path, type: claim.hostPathType } });
      out.set(v.name, { hostPath: claim.path, readOnly: claim.readOnly });
      return;
    }
    const unsupported = unsupportedVolume(v);
    if (unsupported) throw new VolumeSetupError(v.name, unsupported);
    await this.pluginDir(pod.metadata.uid, v);
    const dir = this.volumeDir(pod.metadata.uid, v);
    if (v.configMap) {
      const name = v.configMap.name ?? '';
      const cm = await this.config.getConfigMap(ns, name);
      if (!cm && !v.configMap.optional) throw new VolumeSetupError(v.name, `configmap "${name}" not found`);
      const values: Record<string, Buffer> = {};
      for (const [k, val] of Object.entries(cm?.data ?? {})) values[k] = Buffer.from(val, 'utf8');
      for (const [k, val] of Object.entries(cm?.binaryData ?? {})) values[k] = Buffer.from(val, 'base64');
      await this.writeKeys(v.name, dir, values, v.configMap.items, v.configMap.defaultMode, 'configmap', v.configMap.optional);
      out.set(v.name, { hostPath: dir, readOnly: true });
    } else if (v.secret) {
      const name = v.secret.secretName ?? '';
      const s = await this.config.getSecret(ns, name);
      if (!s && !v.secret.optional) throw new VolumeSetupError(v.name, `secret "${name}" not found`);
      const values: Record<string, Buffer> = {};
      for (const [k, val] of Object.entries(s?.data ?? {})) values[k] = Buffer.from(val, 'base64');
      for (const [k, val] of Object.entries(s?.stringData ?? {})) values[k] = Buffer.from(val, 'utf8');
      await this.writeKeys(v.name, dir, values, v.secret.items, v.secret.defaultMode, 'secret', v.secret.optional);
      out.set(v.name, { hostPath: dir, readOnly: true });
    } else if (v.projected || v.downwardAPI) {
      await ensureDir(dir, CONFIG_VOLUME_DIR_MODE);
      // A downwardAPI volume is written as a projected volume with that one source (same files, modes and fieldRefs).
      const asProjected: Volume = v.downwardAPI ? { name: v.name, projected: { sources: [{ downwardAPI: v.downwardAPI }], defaultMode: v.downwardAPI.defaultMode } } : v;
      await this.projected.setUp(pod, asProjected, dir, { nodeName: pod.spec.nodeName ?? '', hostIP: String(pod.status?.hostIP ?? ''), podIP: String(pod.status?.podIP ?? '') });
      out.set(v.name, { hostPath: dir, readOnly: true });
    } else {
      // emptyDir (a volume without a source is one, as upstream's SetDefaults_Volume); medium Memory is a tmpfs.
      await ensureDir(dir, EMPTY_DIR_MODE);
      if (v.emptyDir?.medium === 'Memory') await setUpMemoryEmptyDir(v.name, dir, v.emptyDir.sizeLimit);
      out.set(v.name, { hostPath: dir, readOnly: false });
    }
  }

  private async setUpHostPath(v: Volume): Promise<void> {
    const { path, type = '' } = v.hostPath!;
    const exists = await stat(path).catch(() => undefined);
    switch (type) {
      case 'DirectoryOrCreate':
        if (!exists) await mkdir(path, { recursive: true, mode: 0o755 });
        break;
      case 'FileOrCreate':
        if (!exists) {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, '', { mode: 0o644 });
        }
        break;
      case 'Directory':
        if (!exists?.isDirectory()) throw new VolumeSetupError(v.name, `hostPath type check failed: ${path} is not a directory`);
        break;
      case 'File':
        if (!exists?.isFile()) throw new VolumeSetupError(v.name, `hostPath type check failed: ${path} is not a file`);
        break;
      default:
        break;
    }
  }

  /** The files of a configMap/secret volume with their modes: item mode, else defaultMode, else 0644. */
  static payload(
    volume: string,
    values: Record<string, Buffer>,
    items: KeyToPath[] | undefined,
    defaultMode: number | undefined,
    what: 'configmap' | 'secret',
    optional: boolean | undefined,
  ): VolumeFile[] {
    const files: VolumeFile[] = [];
    const modeOf = (m: number | undefined, field: string): number => {
      const mode = m ?? defaultMode ?? DEFAULT_FILE_MODE;
      // The API refuses these; a stale object from before that check must not become a setuid file.
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new VolumeSetupError(volume, `invalid ${field} ${mode}: must be a number between 0 and 0777 (octal), both inclusive`);
      return mode;
    };
    if (items && items.length > 0) {
      for (const it of items) {
        const data = Object.hasOwn(values, it.key) ? values[it.key] : undefined;
        if (data === undefined) {
          if (optional) continue;
          throw new VolumeSetupError(volume, what === 'secret' ? `references non-existent secret key: ${it.key}` : `configmap references non-existent config key: ${it.key}`);
        }
        files.push({ path: it.path, data, mode: modeOf(it.mode, 'mode') });
      }
    } else {
      for (const [k, data] of Object.entries(values)) files.push({ path: k, data, mode: modeOf(undefined, 'defaultMode') });
    }
    return files;
  }

  private async writeKeys(
    volume: string,
    dir: string,
    values: Record<string, Buffer>,
    items: KeyToPath[] | undefined,
    defaultMode: number | undefined,
    what: 'configmap' | 'secret',
    optional: boolean | undefined,
  ): Promise<void> {
    const files = VolumeManager.payload(volume, values, items, defaultMode, what, optional);
    await ensureDir(dir, CONFIG_VOLUME_DIR_MODE);
    try {
      await writeAtomically(dir, files);
    } catch (err) {
      if (err instanceof UnsafePathError) throw new VolumeSetupError(volume, `invalid path: ${err.message}`);
      throw err;
    }
  }

  /**
   * The host path a volumeMount binds: the volume's, or its subPath (or
   * expanded subPathExpr) resolved inside it; missing subPath directories are
   * created with the volume root's mode. Throws CreateContainerConfigError.
   */
  async mountSource(container: Container, vm: VolumeMount, vol: PreparedVolume, env: KeyValue[] = []): Promise<string> {
    let subPath = vm.subPath ?? '';
    if (vm.subPathExpr) {
      try {
        subPath = expandSubPathExpr(vm.subPathExpr, env);
      } catch (err) {
        throw new ContainerStartError('CreateContainerConfigError', (err as Error).message);
      }
    }
    if (!subPath) return vol.hostPath;
    try {
      return await resolveInside(vol.hostPath, subPath, { create: true });
    } catch (err) {
      // kubelet's message, which names the mount; the reason names the subPath only, never a host path.
      const reason = err instanceof UnsafePathError ? err.message : `subPath ${JSON.stringify(subPath)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
      throw new ContainerStartError('CreateContainerConfigError', `failed to prepare subPath for volumeMount "${vm.name}" of container "${container.name}": ${reason}`, { cause: err });
    }
  }

  /** The CRI mounts of a container; `env` is its environment, for subPathExpr. */
  async mountsFor(container: Container, volumes: Map<string, PreparedVolume>, env: KeyValue[] = []): Promise<DeepPartial<Mount>[]> {
    const mounts: DeepPartial<Mount>[] = [];
    for (const vm of container.volumeMounts ?? []) {
      const vol = volumes.get(vm.name);
      if (!vol) {
        throw new ContainerStartError('CreateContainerConfigError', `cannot find volume "${vm.name}" to mount into container "${container.name}"`);
      }
      const hostPath = await this.mountSource(container, vm, vol, env);
      mounts.push({
        container_path: vm.mountPath,
        host_path: hostPath,
        readonly: vm.readOnly === true || vol.readOnly,
        propagation:
          vm.mountPropagation === 'Bidirectional'
            ? 'PROPAGATION_BIDIRECTIONAL'
            : vm.mountPropagation === 'HostToContainer'
              ? 'PROPAGATION_HOST_TO_CONTAINER'
              : 'PROPAGATION_PRIVATE',
      });
    }
    return mounts;
  }

  /** Removes the pod's directory with all its volumes (hostPath volumes are left alone). */
  async tearDown(uid: string): Promise<void> {
    this.projectedVolumes?.forget(uid);
    await unmountUnder(this.podDir(uid));
    await rm(this.podDir(uid), { recursive: true, force: true });
  }
}

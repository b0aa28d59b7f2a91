// Pod volumes on the node: emptyDir (a directory under the agent's root
// dir), configMap and secret (files written by the agent), hostPath; and the
// CRI mounts of a container's volumeMounts.
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { ConfigSource } from '../api_port.js';
import type { Container, KeyToPath, Pod, Volume } from '../k8s_types.js';
import type { DeepPartial, Mount } from '../cri/types.js';
import { ContainerStartError, VolumeSetupError } from './errors.js';

const PLUGIN_DIR: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
};

export interface PreparedVolume {
  hostPath: string;
  /** configMap and secret volumes are always mounted read-only. */
  readOnly: boolean;
}

export class VolumeManager {
  constructor(
    /** The agent's root dir: pods live in <rootDir>/pods/<uid>. */
    readonly rootDir: string,
    private readonly config: ConfigSource,
  ) {}

  podDir(uid: string): string {
    return join(this.rootDir, 'pods', uid);
  }

  volumeDir(uid: string, volume: Volume): string {
    const kind = Object.keys(PLUGIN_DIR).find((k) => (volume as unknown as Record<string, unknown>)[k] !== undefined);
    return join(this.podDir(uid), 'volumes', PLUGIN_DIR[kind ?? 'emptyDir']!, volume.name);
  }

  /**
   * Creates or refreshes every volume of the pod; returns the host path of
   * each by name. Throws VolumeSetupError (FailedMount) for a missing source.
   */
  async setUp(pod: Pod): Promise<Map<string, PreparedVolume>> {
    const ns = pod.metadata.namespace ?? 'default';
    const out = new Map<string, PreparedVolume>();
    for (const v of pod.spec.volumes ?? []) {
      if (v.hostPath) {
        await this.setUpHostPath(v);
        out.set(v.name, { hostPath: v.hostPath.path, readOnly: false });
        continue;
      }
      const dir = this.volumeDir(pod.metadata.uid, v);
      if (v.configMap) {
        const name = v.configMap.name ?? '';
        const cm = await this.config.getConfigMap(ns, name);
        if (!cm && !v.configMap.optional) throw new VolumeSetupError(v.name, `configmap "${name}" not found`);
        const values: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries(cm?.data ?? {})) values[k] = Buffer.from(val, 'utf8');
        for (const [k, val] of Object.entries(cm?.binaryData ?? {})) values[k] = Buffer.from(val, 'base64');
        await this.writeKeys(v.name, dir, values, v.configMap.items, v.configMap.defaultMode, `ConfigMap ${ns}/${name}`, v.configMap.optional);
        out.set(v.name, { hostPath: dir, readOnly: true });
      } else if (v.secret) {
        const name = v.secret.secretName ?? '';
        const s = await this.config.getSecret(ns, name);
        if (!s && !v.secret.optional) throw new VolumeSetupError(v.name, `secret "${name}" not found`);
        const values: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries(s?.data ?? {})) values[k] = Buffer.from(val, 'base64');
        for (const [k, val] of Object.entries(s?.stringData ?? {})) values[k] = Buffer.from(val, 'utf8');
        await this.writeKeys(v.name, dir, values, v.secret.items, v.secret.defaultMode, `Secret ${ns}/${name}`, v.secret.optional);
        out.set(v.name, { hostPath: dir, readOnly: true });
      } else {
        // emptyDir, and any unsupported volume type degrades to an empty dir.
        await mkdir(dir, { recursive: true, mode: 0o777 });
        await chmod(dir, 0o777);
        out.set(v.name, { hostPath: dir, readOnly: false });
      }
    }
    return out;
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

  private async writeKeys(
    volume: string,
    dir: string,
    values: Record<string, Buffer>,
    items: KeyToPath[] | undefined,
    defaultMode: number | undefined,
    what: string,
    optional: boolean | undefined,
  ): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const files: { path: string; data: Buffer; mode: number }[] = [];
    if (items && items.length > 0) {
      for (const it of items) {
        const data = values[it.key];
        if (data === undefined) {
          if (optional) continue;
          throw new VolumeSetupError(volume, `configmap references non-existent config key: ${it.key} (${what})`);
        }
        files.push({ path: it.path, data, mode: it.mode ?? defaultMode ?? 0o644 });
      }
    } else {
      for (const [k, data] of Object.entries(values)) files.push({ path: k, data, mode: defaultMode ?? 0o644 });
    }
    for (const f of files) {
      const rel = normalize(f.path);
      if (rel.startsWith('..') || rel.startsWith('/')) throw new VolumeSetupError(volume, `invalid path ${f.path}`);
      const target = join(dir, rel);
      await mkdir(dirname(target), { recursive: true });
      const tmp = `${target}.mkube-tmp`;
      await writeFile(tmp, f.data, { mode: f.mode });
      await chmod(tmp, f.mode);
      await rename(tmp, target);
    }
  }

  /** The CRI mounts of a container; creates missing subPath directories. */
  async mountsFor(container: Container, volumes: Map<string, PreparedVolume>): Promise<DeepPartial<Mount>[]> {
    const mounts: DeepPartial<Mount>[] = [];
    for (const vm of container.volumeMounts ?? []) {
      const vol = volumes.get(vm.name);
      if (!vol) {
        throw new ContainerStartError('CreateContainerConfigError', `cannot find volume "${vm.name}" to mount into container "${container.name}"`);
      }
      let hostPath = vol.hostPath;
      if (vm.subPath) {
        const rel = normalize(vm.subPath);
        if (rel.startsWith('..') || rel.startsWith('/')) {
          throw new ContainerStartError('CreateContainerConfigError', `subPath "${vm.subPath}" must not be absolute or contain '..'`);
        }
        hostPath = join(vol.hostPath, rel);
        if (!(await stat(hostPath).catch(() => undefined))) await mkdir(hostPath, { recursive: true, mode: 0o777 });
      }
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
    await rm(this.podDir(uid), { recursive: true, force: true });
  }
}

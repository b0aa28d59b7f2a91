/**
 * The ServiceAccount admission plugin, as kube-apiserver's: on pod create a
 * pod without spec.serviceAccountName gets "default" (mirrored into the
 * deprecated spec.serviceAccount); the named ServiceAccount must exist (403
 * "error looking up service account NS/NAME: serviceaccount "NAME" not
 * found"); unless automountServiceAccountToken is false (pod first, then the
 * ServiceAccount) every container and init container that does not already
 * mount something at /var/run/secrets/kubernetes.io/serviceaccount gets the
 * projected volume kube-api-access-XXXXX (token 3607 s, kube-root-ca.crt's
 * ca.crt, the namespace), and the ServiceAccount's imagePullSecrets are
 * copied to a pod that has none. Mirror pods may not use any of this.
 */
import { findResource, type JsonObject } from '@mkube/api';
import { ApiError } from '../errors.js';
import type { Registry } from '../registry/registry.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const DEFAULT_API_TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const SERVICE_ACCOUNT_VOLUME_PREFIX = 'kube-api-access-';
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
/** Kubernetes' SimpleNameGenerator alphabet (no vowels, no confusable digits). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The projected volume the plugin adds (the API's defaults applied: defaultMode 0644). */
export function tokenVolume(name: string): Obj {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
      defaultMode: 0o644,
    },
  };
}

function randomSuffix(random: () => number): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_ALPHABET[Math.floor(random() * NAME_ALPHABET.length)]!;
  return s;
}

export interface ServiceAccountAdmissionOptions {
  /** Tries for the "default" ServiceAccount, which its controller may not have made yet (kube-apiserver: 10). */
  defaultAttempts?: number;
  random?: () => number;
}

export class ServiceAccountAdmission {
  constructor(
    private readonly registry: Registry,
    private readonly o: ServiceAccountAdmissionOptions = {},
  ) {}

  /** Mutates a pod being created; throws the 403 kube-apiserver answers. */
  async admitPodCreate(pod: Obj, namespace: string): Promise<void> {
    const meta: Obj = isObj(pod.metadata) ? pod.metadata : {};
    const spec: Obj = isObj(pod.spec) ? pod.spec : (pod.spec = {});
    const podName = String(meta.name ?? '');
    const annotations = isObj(meta.annotations) ? meta.annotations : {};
    if (Object.hasOwn(annotations, MIRROR_POD_ANNOTATION)) return this.validateMirrorPod(spec, podName);
    if (typeof spec.serviceAccountName !== 'string' || spec.serviceAccountName === '') {
      spec.serviceAccountName = typeof spec.serviceAccount === 'string' && spec.serviceAccount ? spec.serviceAccount : DEFAULT_SERVICE_ACCOUNT;
    }
    const saName = spec.serviceAccountName;
    spec.serviceAccount = saName;
    const sa = await this.getServiceAccount(namespace, saName);
    if (!sa) throw forbidden(podName, `error looking up service account ${namespace}/${saName}: serviceaccount "${saName}" not found`);
    if (shouldAutomount(sa, spec)) this.mountToken(spec);
    const pullSecrets = spec.imagePullSecrets;
    if ((!Array.isArray(pullSecrets) || pullSecrets.length === 0) && Array.isArray(sa.imagePullSecrets) && sa.imagePullSecrets.length > 0) {
      spec.imagePullSecrets = sa.imagePullSecrets.filter(isObj).map((s) => ({ name: String(s.name ?? '') }));
    }
  }

  private validateMirrorPod(spec: Obj, podName: string): void {
    if (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName) throw forbidden(podName, 'a mirror pod may not reference service accounts');
    for (const v of Array.isArray(spec.volumes) ? spec.volumes.filter(isObj) : []) {
      if (v.secret) throw forbidden(podName, 'a mirror pod may not reference secrets');
      if (isObj(v.projected) && Array.isArray(v.projected.sources) && v.projected.sources.some((s) => isObj(s) && (s.secret || s.serviceAccountToken))) {
        throw forbidden(podName, 'a mirror pod may not use ServiceAccountToken volume projections');
      }
    }
  }

  private async getServiceAccount(namespace: string, name: string): Promise<Obj | undefined> {
    const info = findResource('', 'v1', 'serviceaccounts')!;
    const cached = this.registry.cachedGet(info, namespace, name);
    if (cached) return cached;
    const attempts = name === DEFAULT_SERVICE_ACCOUNT ? (this.o.defaultAttempts ?? 10) : 1;
    const interval = 100 + Math.floor(Math.random() * 100);
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, interval));
      try {
        return await this.registry.get(info, namespace, name);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    return undefined;
  }

  private mountToken(spec: Obj): void {
    const volumes = Array.isArray(spec.volumes) ? (spec.volumes as Obj[]) : [];
    const existing = volumes.find((v) => isObj(v) && typeof v.name === 'string' && v.name.startsWith(SERVICE_ACCOUNT_VOLUME_PREFIX));
    const names = new Set(volumes.filter(isObj).map((v) => String(v.name)));
    let volumeName = existing ? String(existing.name) : '';
    while (!volumeName || (!existing && names.has(volumeName))) volumeName = SERVICE_ACCOUNT_VOLUME_PREFIX + randomSuffix(this.o.random ?? Math.random);
    let needed = false;
    for (const field of ['initContainers', 'containers'] as const) {
      const list = spec[field];
      if (!Array.isArray(list)) continue;
      for (const c of list) {
        if (!isObj(c)) continue;
        const mounts = Array.isArray(c.volumeMounts) ? (c.volumeMounts as Obj[]) : [];
        if (mounts.some((m) => isObj(m) && m.mountPath === DEFAULT_API_TOKEN_MOUNT_PATH)) continue;
        c.volumeMounts = [...mounts, { name: volumeName, readOnly: true, mountPath: DEFAULT_API_TOKEN_MOUNT_PATH }];
        needed = true;
      }
    }
    if (!existing && needed) spec.volumes = [...volumes, tokenVolume(volumeName)];
  }
}

function shouldAutomount(sa: Obj, spec: Obj): boolean {
  if (typeof spec.automountServiceAccountToken === 'boolean') return spec.automountServiceAccountToken;
  if (typeof sa.automountServiceAccountToken === 'boolean') return sa.automountServiceAccountToken;
  return true;
}

function forbidden(podName: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `pods "${podName}" is forbidden: ${why}`, { name: podName, kind: 'pods' });
}

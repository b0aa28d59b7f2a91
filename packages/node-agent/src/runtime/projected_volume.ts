// Projected volumes, as kubelet's projected plugin: the files of several
// sources in one directory, written atomically (atomic_writer.ts) with the
// volume's defaultMode (0644) or each item's mode: serviceAccountToken (a
// TokenRequest bound to the pod, for the source's audience and expiration,
// kept in memory and refreshed once 80% of its lifetime or 24 h has passed,
// as kubelet's token manager), configMap, secret and downwardAPI items.
import type { TokenRequestSpec } from '@mkube/api';
import type { ConfigSource } from '../api_port.js';
import type { KeyToPath, AgentPod, Volume } from '../api_types.js';
import { writeAtomically, type VolumeFile } from './atomic_writer.js';
import { formatMap, podFieldValue } from './env.js';
import { VolumeSetupError } from './errors.js';
import { UnsafePathError } from './safe_path.js';

export const DEFAULT_PROJECTED_MODE = 0o644;
/** kubelet refreshes a token at the latest after this long, whatever its expiry. */
const MAX_TOKEN_AGE_MS = 24 * 3600_000;


/** A TokenRequest's spec is @mkube/api's. */
export type { TokenRequestSpec };

/** Where tokens come from: POST .../serviceaccounts/NAME/token (the node's identity, bound to the pod). */
export interface ServiceAccountTokenSource {
  requestServiceAccountToken(namespace: string, serviceAccount: string, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string }>;
}

export function isTokenSource(v: unknown): v is ServiceAccountTokenSource {
  return typeof (v as Partial<ServiceAccountTokenSource>)?.requestServiceAccountToken === 'function';
}

interface ProjectionSource {
  serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
  configMap?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  secret?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: Array<{ path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: unknown; mode?: number }> };
}

interface CachedToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

export interface ProjectedContext {
  nodeName: string;
  hostIP: string;
  podIP: string;
}

export class ProjectedVolumes {
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly config: ConfigSource,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a token must be requested again (kubelet's rule: 80% of its lifetime, or a day, has passed). */
  static requiresRefresh(t: CachedToken, now: number): boolean {
    if (now >= t.issuedAt + MAX_TOKEN_AGE_MS) return true;
    return now >= t.issuedAt + 0.8 * (t.expiresAt - t.issuedAt);
  }

  /** Writes (or refreshes) the projected volume `v` of `pod` into `dir`. */
  async setUp(pod: AgentPod, v: Volume, dir: string, ctx: ProjectedContext): Promise<void> {
    const projected = v.projected as { sources?: ProjectionSource[]; defaultMode?: number } | undefined;
    const defaultMode = projected?.defaultMode ?? DEFAULT_PROJECTED_MODE;
    const modeOf = (m: number | undefined): number => {
      const mode = m ?? defaultMode;
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new VolumeSetupError(v.name, `invalid mode ${mode}: must be a number between 0 and 0777 (octal), both inclusive`);
      return mode;
    };
    const ns = pod.metadata.namespace ?? 'default';
    const files: VolumeFile[] = [];
    for (const src of projected?.sources ?? []) {
      if (src.serviceAccountToken) {
        const token = await this.token(pod, v.name, src.serviceAccountToken);
        files.push({ path: src.serviceAccountToken.path, data: Buffer.from(token, 'utf8'), mode: modeOf(undefined) });
      } else if (src.configMap) {
        const name = src.configMap.name ?? '';
        const cm = await this.config.getConfigMap(ns, name);
        if (!cm && !src.configMap.optional) throw new VolumeSetupError(v.name, `configmap "${name}" not found`);
        const values: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries(cm?.data ?? {})) values[k] = Buffer.from(val, 'utf8');
        for (const [k, val] of Object.entries(cm?.binaryData ?? {})) values[k] = Buffer.from(val, 'base64');
        files.push(...items(v.name, values, src.configMap.items, modeOf, src.configMap.optional, `configmap references non-existent config key`));
      } else if (src.secret) {
        const name = src.secret.name ?? '';
        const s = await this.config.getSecret(ns, name);
        if (!s && !src.secret.optional) throw new VolumeSetupError(v.name, `secret "${name}" not found`);
        const values: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries(s?.data ?? {})) values[k] = Buffer.from(val, 'base64');
        for (const [k, val] of Object.entries(s?.stringData ?? {})) values[k] = Buffer.from(val, 'utf8');
        files.push(...items(v.name, values, src.secret.items, modeOf, src.secret.optional, 'references non-existent secret key'));
      } else if (src.downwardAPI) {
        for (const it of src.downwardAPI.items ?? []) {
          if (!it.fieldRef) throw new VolumeSetupError(v.name, `downwardAPI item ${JSON.stringify(it.path)}: only fieldRef is supported`);
          const fp = it.fieldRef.fieldPath;
          const value = fp === 'metadata.labels' ? formatMap(pod.metadata.labels) : fp === 'metadata.annotations' ? formatMap(pod.metadata.annotations) : podFieldValue(pod, fp, ctx);
          files.push({ path: it.path, data: Buffer.from(value, 'utf8'), mode: modeOf(it.mode) });
        }
      }
    }
    try {
      await writeAtomically(dir, files);
    } catch (err) {
      if (err instanceof UnsafePathError) throw new VolumeSetupError(v.name, `invalid path: ${err.message}`);
      throw err;
    }
  }

  /** Forgets the tokens of a pod that is gone. */
  forget(uid: string): void {
    for (const k of this.tokens.keys()) if (k.startsWith(`${uid}/`)) this.tokens.delete(k);
  }

  private async token(pod: AgentPod, volume: string, src: { audience?: string; expirationSeconds?: number; path: string }): Promise<string> {
    const key = `${pod.metadata.uid}/${volume}/${src.path}/${src.audience ?? ''}/${src.expirationSeconds ?? 3600}`;
    const cached = this.tokens.get(key);
    const now = this.now();
    if (cached && !ProjectedVolumes.requiresRefresh(cached, now)) return cached.token;
    if (!isTokenSource(this.config)) throw new VolumeSetupError(volume, 'service account tokens are not available to this node agent');
    const sa = pod.spec.serviceAccountName || 'default';
    try {
      const r = await this.config.requestServiceAccountToken(pod.metadata.namespace ?? 'default', sa, {
        audiences: src.audience ? [src.audience] : [], // none: the API server's audiences
        expirationSeconds: src.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
      });
      const fresh = { token: r.token, issuedAt: now, expiresAt: Date.parse(r.expirationTimestamp) };
      this.tokens.set(key, fresh);
      return fresh.token;
    } catch (err) {
      // A token that is still valid keeps being served while the API server is unreachable, as kubelet does.
      if (cached && now < cached.expiresAt) return cached.token;
      throw new VolumeSetupError(volume, `failed to fetch token: ${(err as Error).message}`);
    }
  }
}

function items(volume: string, values: Record<string, Buffer>, list: KeyToPath[] | undefined, modeOf: (m: number | undefined) => number, optional: boolean | undefined, missingMessage: string): VolumeFile[] {
  const out: VolumeFile[] = [];
  if (list && list.length > 0) {
    for (const it of list) {
      const data = Object.hasOwn(values, it.key) ? values[it.key] : undefined;
      if (data === undefined) {
        if (optional) continue;
        throw new VolumeSetupError(volume, `${missingMessage}: ${it.key}`);
      }
      out.push({ path: it.path, data, mode: modeOf(it.mode) });
    }
  } else {
    for (const [k, data] of Object.entries(values)) out.push({ path: k, data, mode: modeOf(undefined) });
  }
  return out;
}

/**
 * Client configuration and kubeconfig loading (clusters / users / contexts,
 * inline *-data fields or file paths relative to the kubeconfig, and the
 * mkube.io/servers cluster extension naming every API server).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

export interface ClientConfig {
  /** https://host:port — the preferred API server. */
  server: string;
  /**
   * Every API server of the cluster, in order of preference (the kubeconfig's
   * mkube.io/servers cluster extension). With more than one the client fails
   * over between them; `server` is used first and need not be listed.
   */
  servers?: string[];
  /** TCP connect + TLS handshake budget per API server before failing over (default 1000 ms). */
  connectTimeoutMs?: number;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  userAgent?: string;
  /** Per-request timeout for non-watch requests (default 30 s). */
  timeoutMs?: number;
}

/** The cluster extension listing every API server: `extensions: [{name: mkube.io/servers, extension: {servers: [...]}}]`. */
export const SERVERS_EXTENSION = 'mkube.io/servers';

/** The `extensions` entry of a kubeconfig cluster naming every API server (kubectl keeps and ignores it). */
export function serversExtension(servers: string[]): { name: string; extension: { servers: string[] } } {
  return { name: SERVERS_EXTENSION, extension: { servers: [...servers] } };
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  value?: T;
}

export class KubeconfigError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly code = 'EKUBECONFIG',
  ) {
    super(`${path}: ${message}`);
    this.name = 'KubeconfigError';
  }
}

/** Reads a kubeconfig; `context` defaults to current-context. */
export function loadKubeconfig(path: string, context?: string): ClientConfig {
  const doc = parse(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new KubeconfigError('not a kubeconfig document', path);
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  if (!ctxName) throw new KubeconfigError('no context given and no current-context', path);
  const find = <T>(list: unknown, key: string, name: string): T => {
    const item = ((list as Named<T>[] | undefined) ?? []).find((x) => x?.name === name);
    if (!item || typeof item[key] !== 'object') throw new KubeconfigError(`${key} "${name}" not found`, path);
    return item[key] as T;
  };
  const ctx = find<{ cluster: string; user?: string }>(doc.contexts, 'context', ctxName);
  const cluster = find<Record<string, unknown>>(doc.clusters, 'cluster', ctx.cluster);
  const user = ctx.user ? find<Record<string, unknown>>(doc.users, 'user', ctx.user) : {};
  const base = dirname(path);
  const blob = (obj: Record<string, unknown>, field: string): Buffer | undefined => {
    const data = obj[`${field}-data`];
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
    const file = obj[field];
    if (typeof file === 'string' && file) return readFileSync(isAbsolute(file) ? file : resolve(base, file));
    return undefined;
  };
  if (typeof cluster.server !== 'string') throw new KubeconfigError(`cluster "${ctx.cluster}" has no server`, path);
  let token = typeof user.token === 'string' ? user.token : undefined;
  if (!token && typeof user.tokenFile === 'string') token = readFileSync(isAbsolute(user.tokenFile) ? user.tokenFile : resolve(base, user.tokenFile), 'utf8').trim();
  const servers = serversOf(cluster, path);
  return {
    server: cluster.server,
    ...(servers ? { servers } : {}),
    ca: blob(cluster, 'certificate-authority'),
    cert: blob(user, 'client-certificate'),
    key: blob(user, 'client-key'),
    token,
  };
}

/** The mkube.io/servers extension's list, validated as URLs; undefined when the cluster has none. */
function serversOf(cluster: Record<string, unknown>, path: string): string[] | undefined {
  const exts = cluster.extensions;
  if (exts === undefined) return undefined;
  if (!Array.isArray(exts)) throw new KubeconfigError('cluster extensions must be a list of {name, extension}', path);
  const ext = exts.find((e) => (e as Named<unknown>)?.name === SERVERS_EXTENSION) as { extension?: { servers?: unknown } } | undefined;
  if (!ext) return undefined;
  const list = ext.extension?.servers;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string')) throw new KubeconfigError(`extension ${SERVERS_EXTENSION} must carry servers: a non-empty list of URLs`, path);
  for (const s of list as string[]) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new KubeconfigError(`extension ${SERVERS_EXTENSION}: "${s}" is not a URL`, path);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new KubeconfigError(`extension ${SERVERS_EXTENSION}: "${s}" is not an http(s) URL`, path);
  }
  return list as string[];
}

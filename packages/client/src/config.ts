/**
 * Client configuration and kubeconfig loading (clusters / users / contexts,
 * inline *-data fields or file paths relative to the kubeconfig).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

export interface ClientConfig {
  /** https://host:port */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  userAgent?: string;
  /** Per-request timeout for non-watch requests (default 30 s). */
  timeoutMs?: number;
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
  return {
    server: cluster.server,
    ca: blob(cluster, 'certificate-authority'),
    cert: blob(user, 'client-certificate'),
    key: blob(user, 'client-key'),
    token,
  };
}

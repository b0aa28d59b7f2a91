/**
 * `mkube token create|list|delete`, as kubeadm's: bootstrap tokens are
 * kube-system/bootstrap-token-<id> Secrets (type bootstrap.kubernetes.io/token)
 * usable for authentication and signing, in kubeadm's default node group,
 * expiring after --ttl (24h by default; 0 = never). The list is kubeadm's
 * table: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS.
 */
import {
  BOOTSTRAP_KEYS,
  BOOTSTRAP_KUBEADM_GROUP,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  bootstrapTokenSecretName,
  generateBootstrapToken,
  isBootstrapTokenId,
  parseBootstrapToken,
  secretStrings,
} from '@mkube/api';
import type { AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';

const SECRETS = `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets`;
export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class TokenError extends Error {
  constructor(readonly code: 'TOKEN_INVALID' | 'TOKEN_API' | 'TOKEN_NOT_FOUND', message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Creates a token (a fresh one unless given); returns it. */
export async function createToken(c: AdminCreds, opts: { ttlMs?: number; token?: string; description?: string; now?: number; usages?: ('authentication' | 'signing')[]; groups?: string[] } = {}): Promise<string> {
  const token = opts.token ?? generateBootstrapToken();
  const parsed = parseBootstrapToken(token);
  if (!parsed) throw new TokenError('TOKEN_INVALID', `the bootstrap token ${JSON.stringify(token)} was not of the form "^([a-z0-9]{6})\\.([a-z0-9]{16})$"`);
  const ttl = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
  // Default: kubeadm's node token (both usages, its node group); kubeadm-certs' proxy token has neither.
  const usages = opts.usages ?? ['authentication', 'signing'];
  const groups = opts.groups ?? [BOOTSTRAP_KUBEADM_GROUP];
  const data: Record<string, string> = {
    [BOOTSTRAP_KEYS.tokenId]: parsed.id,
    [BOOTSTRAP_KEYS.tokenSecret]: parsed.secret,
    ...(usages.includes('authentication') ? { [BOOTSTRAP_KEYS.usageAuthentication]: 'true' } : {}),
    ...(usages.includes('signing') ? { [BOOTSTRAP_KEYS.usageSigning]: 'true' } : {}),
    ...(groups.length ? { [BOOTSTRAP_KEYS.extraGroups]: groups.join(',') } : {}),
    [BOOTSTRAP_KEYS.description]: opts.description ?? 'Proper bootstrap token for joining nodes (mkube token create).',
    ...(ttl > 0 ? { [BOOTSTRAP_KEYS.expiration]: rfc3339((opts.now ?? Date.now()) + ttl) } : {}),
  };
  const secret = { apiVersion: 'v1', kind: 'Secret', type: BOOTSTRAP_TOKEN_SECRET_TYPE, metadata: { name: bootstrapTokenSecretName(parsed.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE }, stringData: data };
  const r = await apiCall(c, 'POST', SECRETS, secret);
  if (r.status !== 201) throw new TokenError('TOKEN_API', `creating bootstrap token ${parsed.id}: HTTP ${r.status}: ${(r.body as { message?: string }).message ?? JSON.stringify(r.body)}`);
  return token;
}

export interface TokenRow {
  token: string;
  ttl: string;
  expires: string;
  usages: string;
  description: string;
  groups: string;
}

/** kubeadm's TTL column: "23h", "59m", "<forever>", "<invalid>". */
function ttlColumn(exp: string | undefined, now: number): string {
  if (!exp) return '<forever>';
  const left = Date.parse(exp) - now;
  if (!Number.isFinite(left) || left <= 0) return '<invalid>';
  const s = Math.round(left / 1000);
  if (s >= 86400 * 2) return `${Math.floor(s / 86400)}d`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}

export async function listTokens(c: AdminCreds, now = Date.now()): Promise<TokenRow[]> {
  const r = await apiCall(c, 'GET', `${SECRETS}?fieldSelector=type%3D${encodeURIComponent(BOOTSTRAP_TOKEN_SECRET_TYPE)}`);
  if (r.status !== 200) throw new TokenError('TOKEN_API', `listing bootstrap tokens: HTTP ${r.status}`);
  const items = ((r.body as { items?: { data?: Record<string, string> }[] }).items ?? []);
  return items.flatMap((s) => {
    const d = secretStrings(s);
    const id = d[BOOTSTRAP_KEYS.tokenId];
    const secret = d[BOOTSTRAP_KEYS.tokenSecret];
    if (!id || !secret) return [];
    const usages = [d[BOOTSTRAP_KEYS.usageAuthentication] === 'true' ? 'authentication' : '', d[BOOTSTRAP_KEYS.usageSigning] === 'true' ? 'signing' : ''].filter(Boolean).join(',');
    return [{ token: `${id}.${secret}`, ttl: ttlColumn(d[BOOTSTRAP_KEYS.expiration], now), expires: d[BOOTSTRAP_KEYS.expiration] ?? '<never>', usages, description: d[BOOTSTRAP_KEYS.description] ?? '<none>', groups: d[BOOTSTRAP_KEYS.extraGroups] ?? '' }];
  });
}

export function formatTokens(rows: TokenRow[]): string {
  const table = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS'], ...rows.map((r) => [r.token, r.ttl, r.expires, r.usages, r.description, r.groups])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** Deletes a token given by id or whole token. */
export async function deleteToken(c: AdminCreds, idOrToken: string): Promise<string> {
  const id = parseBootstrapToken(idOrToken)?.id ?? idOrToken;
  if (!isBootstrapTokenId(id)) throw new TokenError('TOKEN_INVALID', `given token didn't match pattern "^([a-z0-9]{6})$" or "^([a-z0-9]{6})\\.([a-z0-9]{16})$"`);
  const r = await apiCall(c, 'DELETE', `${SECRETS}/${bootstrapTokenSecretName(id)}`);
  if (r.status === 404) throw new TokenError('TOKEN_NOT_FOUND', `bootstrap token "${id}" not found`);
  if (r.status !== 200 && r.status !== 202) throw new TokenError('TOKEN_API', `deleting bootstrap token ${id}: HTTP ${r.status}`);
  return id;
}

/**
 * Pure decisions of the bootstrap-token controllers: the token cleaner (an
 * expired kube-system bootstrap token Secret is deleted; otherwise look again
 * when it expires) and the bootstrap signer (the cluster-info ConfigMap
 * carries, for every unexpired token marked usage-bootstrap-signing, the
 * detached JWS `jws-kubeconfig-<id>` of its kubeconfig, and no other).
 */
import {
  BOOTSTRAP_KEYS,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  CLUSTER_INFO_JWS_PREFIX,
  CLUSTER_INFO_KUBECONFIG_KEY,
  bootstrapTokenExpired,
  bootstrapTokenTimeLeft,
  detachedJws,
  isBootstrapTokenId,
  secretStrings,
  type ConfigMap,
  type Secret,
} from '@mkube/api';

export const isBootstrapSecret = (s: Secret): boolean => s.metadata?.namespace === BOOTSTRAP_TOKEN_NAMESPACE && s.type === BOOTSTRAP_TOKEN_SECRET_TYPE;

export function planTokenCleanup(secret: Secret, nowMs: number): { delete: true } | { delete: false; requeueAfterMs?: number } {
  if (!isBootstrapSecret(secret)) return { delete: false };
  const data = secretStrings(secret as { data?: Record<string, string> });
  if (bootstrapTokenExpired(data, nowMs)) return { delete: true };
  const left = bootstrapTokenTimeLeft(data, nowMs);
  return left === undefined ? { delete: false } : { delete: false, requeueAfterMs: left + 1 };
}

/** The cluster-info ConfigMap's data as it should be (undefined: unchanged), and when to look again (the next expiry). */
export function planClusterInfoSignatures(cm: ConfigMap, secrets: Secret[], nowMs: number): { data?: Record<string, string>; requeueAfterMs?: number } {
  const content = cm.data?.[CLUSTER_INFO_KUBECONFIG_KEY];
  const want: Record<string, string> = {};
  let next: number | undefined;
  if (content !== undefined) {
    for (const s of secrets) {
      if (!isBootstrapSecret(s)) continue;
      const d = secretStrings(s as { data?: Record<string, string> });
      const id = d[BOOTSTRAP_KEYS.tokenId] ?? '';
      const secret = d[BOOTSTRAP_KEYS.tokenSecret] ?? '';
      if (!isBootstrapTokenId(id) || s.metadata?.name !== `bootstrap-token-${id}` || !secret) continue;
      if (d[BOOTSTRAP_KEYS.usageSigning] !== 'true' || bootstrapTokenExpired(d, nowMs)) continue;
      want[`${CLUSTER_INFO_JWS_PREFIX}${id}`] = detachedJws(content, id, secret);
      const left = bootstrapTokenTimeLeft(d, nowMs);
      if (left !== undefined) next = Math.min(next ?? Infinity, left + 1);
    }
  }
  const cur = cm.data ?? {};
  const kept = Object.fromEntries(Object.entries(cur).filter(([k]) => !k.startsWith(CLUSTER_INFO_JWS_PREFIX)));
  const data = { ...kept, ...want };
  const same = Object.keys(data).length === Object.keys(cur).length && Object.entries(data).every(([k, v]) => cur[k] === v);
  return { ...(same ? {} : { data }), ...(next !== undefined ? { requeueAfterMs: next } : {}) };
}

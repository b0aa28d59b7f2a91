/**
 * The service-account token authenticator, after kube-apiserver's: a token
 * of our issuer that verifies (signature, exp/nbf, audiences) is accepted
 * only while its ServiceAccount exists with the same uid and, for a bound
 * token, the bound pod/secret/node does too (a pod deleted more than 60 s ago
 * invalidates its tokens). The user is system:serviceaccount:NS:NAME with
 * groups system:serviceaccounts and system:serviceaccounts:NS, and the pod,
 * node and credential id in `extra`. Lookups read the watch caches.
 */
import type { JsonObject } from '@mkube/api';
import { serviceAccountUsername, TokenInvalidError, type ServiceAccountTokens, type TokenClaims } from './service_account_token.js';
import type { AuthenticatedUser } from './authn.js';

type Obj = JsonObject;

/** Where the authenticator looks objects up (the watch caches in the API server). */
export type ObjectLookup = (resource: 'serviceaccounts' | 'pods' | 'secrets' | 'nodes', namespace: string | undefined, name: string) => Obj | undefined;

export type TokenResult = { user: AuthenticatedUser; audiences: string[] } | { error: string; mine: boolean };

/** How long a token bound to a deleted pod stays valid after the pod's deletionTimestamp (as upstream). */
const DELETED_POD_GRACE_SECONDS = 60;

export class ServiceAccountAuthenticator {
  constructor(
    readonly tokens: ServiceAccountTokens,
    private readonly lookup: ObjectLookup,
    /** --api-audiences: what the API server accepts by default. */
    readonly apiAudiences: string[],
    private readonly now: () => number = Date.now,
  ) {}

  /** Validates a bearer token for `audiences` (default: the API audiences). */
  authenticate(token: string, audiences: string[] = this.apiAudiences): TokenResult {
    let claims: TokenClaims;
    try {
      claims = this.tokens.verify(token, audiences);
    } catch (err) {
      if (err instanceof TokenInvalidError) return { error: err.message, mine: err.mine };
      throw err;
    }
    const k8s = claims['kubernetes.io'];
    const ns = k8s.namespace;
    const sa = this.lookup('serviceaccounts', ns, k8s.serviceaccount.name);
    if (!sa || meta(sa).deletionTimestamp) return { error: 'service account token has been invalidated', mine: true };
    if (meta(sa).uid !== k8s.serviceaccount.uid) return { error: `service account UID (${String(meta(sa).uid)}) does not match claim (${k8s.serviceaccount.uid})`, mine: true };
    const extra: Record<string, string[]> = {};
    if (k8s.pod) {
      const pod = this.lookup('pods', ns, k8s.pod.name);
      if (!pod) return { error: 'service account token has been invalidated', mine: true };
      if (meta(pod).uid !== k8s.pod.uid) return { error: `pod UID (${String(meta(pod).uid)}) does not match service account claim (${k8s.pod.uid})`, mine: true };
      const deleted = meta(pod).deletionTimestamp;
      if (typeof deleted === 'string' && Date.parse(deleted) / 1000 < this.now() / 1000 - DELETED_POD_GRACE_SECONDS) return { error: 'service account token has been invalidated', mine: true };
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid];
    }
    if (k8s.secret) {
      const secret = this.lookup('secrets', ns, k8s.secret.name);
      if (!secret || meta(secret).deletionTimestamp) return { error: 'service account token has been invalidated', mine: true };
      if (meta(secret).uid !== k8s.secret.uid) return { error: `secret UID (${String(meta(secret).uid)}) does not match service account secret ref claim (${k8s.secret.uid})`, mine: true };
    }
    if (k8s.node) {
      // A token bound to a pod names the pod's node for information; only a token bound to the node itself dies with it.
      if (!k8s.pod) {
        const node = this.lookup('nodes', undefined, k8s.node.name);
        if (!node || meta(node).deletionTimestamp) return { error: 'service account token has been invalidated', mine: true };
        if (meta(node).uid !== k8s.node.uid) return { error: `node UID (${String(meta(node).uid)}) does not match service account node ref claim (${k8s.node.uid})`, mine: true };
      }
      extra['authentication.kubernetes.io/node-name'] = [k8s.node.name];
      extra['authentication.kubernetes.io/node-uid'] = [k8s.node.uid];
    }
    if (typeof claims.jti === 'string' && claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    const user: AuthenticatedUser = {
      name: serviceAccountUsername(ns, k8s.serviceaccount.name),
      uid: k8s.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`],
      extra,
    };
    return { user, audiences: claims.aud.filter((a) => audiences.includes(a)) };
  }
}

function meta(o: Obj): Obj {
  const m = o.metadata;
  return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Obj) : {};
}

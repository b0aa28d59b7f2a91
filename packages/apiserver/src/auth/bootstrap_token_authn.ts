/**
 * The bootstrap token authenticator (kube-apiserver's
 * --enable-bootstrap-token-auth): a bearer token `<id>.<secret>` is accepted
 * while kube-system/bootstrap-token-<id> exists, is not being deleted, has
 * type bootstrap.kubernetes.io/token, the same id and secret (compared in
 * constant time), usage-bootstrap-authentication "true" and no expiration in
 * the past. The user is system:bootstrap:<id> in system:bootstrappers plus
 * the Secret's auth-extra-groups. Secrets are read from the watch cache.
 */
import {
  BOOTSTRAP_DEFAULT_GROUP,
  BOOTSTRAP_KEYS,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  BOOTSTRAP_USER_PREFIX,
  bootstrapExtraGroups,
  bootstrapTokenExpired,
  bootstrapTokenSecretName,
  constantTimeEqual,
  parseBootstrapToken,
  secretStrings,
  type JsonObject,
} from '@mkube/api';
import type { Logger } from 'pino';
import type { AuthenticatedUser } from './authn.js';

/** Looks a Secret up by namespace and name (the API server's watch cache). */
export type SecretLookup = (namespace: string, name: string) => JsonObject | undefined;

export class BootstrapTokenAuthenticator {
  constructor(
    private readonly secrets: SecretLookup,
    private readonly now: () => number = Date.now,
    private readonly log?: Logger,
  ) {}

  /** The user for a bootstrap token, or undefined (not a bootstrap token, or not a valid one). */
  authenticate(token: string): AuthenticatedUser | undefined {
    const parsed = parseBootstrapToken(token);
    if (!parsed) return undefined;
    const name = bootstrapTokenSecretName(parsed.id);
    const secret = this.secrets(BOOTSTRAP_TOKEN_NAMESPACE, name);
    const refuse = (why: string): undefined => {
      this.log?.debug({ secret: `${BOOTSTRAP_TOKEN_NAMESPACE}/${name}` }, `bootstrap token refused: ${why}`);
      return undefined;
    };
    if (!secret) return refuse('no secret');
    const meta = (secret.metadata ?? {}) as JsonObject;
    if (meta.deletionTimestamp) return refuse('secret is being deleted');
    if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return refuse(`secret has type ${String(secret.type)}`);
    const data = secretStrings(secret as { data?: Record<string, string> });
    if (!constantTimeEqual(data[BOOTSTRAP_KEYS.tokenSecret] ?? '', parsed.secret)) return refuse('token secret does not match');
    if (data[BOOTSTRAP_KEYS.tokenId] !== parsed.id) return refuse('token id does not match');
    if (bootstrapTokenExpired(data, this.now())) return refuse('token has expired');
    if (data[BOOTSTRAP_KEYS.usageAuthentication] !== 'true') return refuse('token not marked usage-bootstrap-authentication');
    let extra: string[];
    try {
      extra = bootstrapExtraGroups(data[BOOTSTRAP_KEYS.extraGroups]);
    } catch (err) {
      return refuse((err as Error).message);
    }
    return { name: `${BOOTSTRAP_USER_PREFIX}${parsed.id}`, groups: [BOOTSTRAP_DEFAULT_GROUP, ...extra] };
  }
}

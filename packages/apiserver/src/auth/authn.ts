/**
 * Authentication: client certificates signed by the cluster CA (user = CN,
 * groups = O), bearer tokens from a kube-apiserver style token file
 * (token,user,uid,"group1,group2") and service-account JWTs
 * (service_account_authn.ts).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ServiceAccountAuthenticator } from './service_account_authn.js';
import type { BootstrapTokenAuthenticator } from './bootstrap_token_authn.js';

export interface AuthenticatedUser {
  name: string;
  uid?: string;
  groups: string[];
  /** user.Info extra (e.g. authentication.kubernetes.io/pod-name for service accounts). */
  extra?: Record<string, string[]>;
}

/** A token's review: the user, or why it was refused (TokenReview's status). */
export type TokenReviewResult = { user: AuthenticatedUser; audiences: string[] } | { error?: string };

export function parseTokenFile(text: string): Map<string, AuthenticatedUser> {
  const out = new Map<string, AuthenticatedUser>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields: string[] = [];
    let cur = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) {
        fields.push(cur);
        cur = '';
      } else cur += ch;
    }
    fields.push(cur);
    const [token, name, uid, groups] = fields.map((f) => f.trim());
    if (!token || !name) continue;
    out.set(token, { name, uid: uid || undefined, groups: groups ? groups.split(',').map((g) => g.trim()).filter(Boolean) : [] });
  }
  return out;
}

export function loadTokenFile(path: string): Map<string, AuthenticatedUser> {
  return parseTokenFile(readFileSync(path, 'utf8'));
}

export class Authenticator {
  constructor(
    private readonly tokens: Map<string, AuthenticatedUser> = new Map(),
    /** Service-account JWTs (absent: not accepted). */
    readonly serviceAccounts?: ServiceAccountAuthenticator,
    /** Bootstrap tokens (--enable-bootstrap-token-auth; absent: not accepted). */
    readonly bootstrapTokens?: BootstrapTokenAuthenticator,
  ) {}

  /**
   * A bearer token for `audiences` (default: the API audiences), as the
   * token authenticators see it: static tokens first, then service-account
   * JWTs. system:authenticated is added.
   */
  authenticateToken(token: string, audiences?: string[]): TokenReviewResult {
    const user = this.tokens.get(token);
    if (user) return { user: { ...user, groups: [...user.groups, 'system:authenticated'] }, audiences: audiences ?? this.serviceAccounts?.apiAudiences ?? [] };
    const bootstrap = this.bootstrapTokens?.authenticate(token);
    if (bootstrap) return { user: { ...bootstrap, groups: [...bootstrap.groups, 'system:authenticated'] }, audiences: audiences ?? this.serviceAccounts?.apiAudiences ?? [] };
    if (!this.serviceAccounts) return {};
    const r = this.serviceAccounts.authenticate(token, audiences);
    if ('user' in r) return { user: { ...r.user, groups: [...r.user.groups, 'system:authenticated'] }, audiences: r.audiences };
    return r.mine ? { error: r.error } : {};
  }

  /** The user, or undefined when no valid credential was presented. */
  authenticate(req: IncomingMessage): AuthenticatedUser | undefined {
    const auth = req.headers.authorization;
    if (auth && /^bearer\s+/i.test(auth)) {
      const token = auth.replace(/^bearer\s+/i, '').trim();
      const r = this.authenticateToken(token);
      return 'user' in r ? r.user : undefined;
    }
    const sock = req.socket as TLSSocket;
    if (typeof sock.getPeerCertificate === 'function' && sock.authorized) {
      const cert = sock.getPeerCertificate();
      if (cert && cert.subject) {
        const cn = cert.subject.CN;
        const o = cert.subject.O;
        const name = Array.isArray(cn) ? cn[0] : cn;
        if (name) {
          const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
          return { name, groups: [...groups, 'system:authenticated'] };
        }
      }
    }
    return undefined;
  }
}

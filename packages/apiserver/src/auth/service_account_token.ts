/**
 * Service account tokens: RS256 JWTs with kube-apiserver's claims (iss, sub
 * system:serviceaccount:NS:NAME, aud, exp, iat, nbf, jti and the
 * "kubernetes.io" private claim naming the namespace, the service account and
 * the pod/secret/node the token is bound to), signed with the control plane's
 * service-account key and checked here for signature, time, issuer and
 * audience. Whether the named objects still exist is the authenticator's
 * business (authn.ts). Pure apart from node:crypto; the clock is injected.
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The expiration kube-apiserver's ServiceAccount admission asks for in projected volumes. */
export const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607;
/** What kube-apiserver extends those tokens to (--service-account-extend-token-expiration, default on): one year. */
export const EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 60 * 60;

export interface ObjectRef {
  name: string;
  uid: string;
}

/** The "kubernetes.io" private claim. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
  warnafter?: number;
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': KubernetesClaim;
}

export interface IssueRequest {
  namespace: string;
  serviceAccount: ObjectRef;
  audiences: string[];
  expirationSeconds: number;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
  /** Seconds after which a use of the token is only warned about (extended tokens). */
  warnAfterSeconds?: number;
}

/** Why a token is refused; `mine` false means the token is not one of ours (another authenticator may know it). */
export class TokenInvalidError extends Error {
  readonly code = 'ETOKENINVALID';
  constructor(
    message: string,
    readonly mine: boolean,
  ) {
    super(message);
    this.name = 'TokenInvalidError';
  }
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** kube-apiserver's key id: base64url(sha256(DER of the PKIX public key)). */
export function keyIdOf(publicKey: KeyObject): string {
  return b64url(createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest());
}

export interface ServiceAccountTokenOptions {
  issuer?: string;
  /** The signing key (PEM, RSA). */
  signingKeyPem: string;
  /** Keys that verify tokens (PEM: public or private keys); the signing key's public half is always one. */
  verificationKeysPem?: string[];
  now?: () => number;
}

export class ServiceAccountTokens {
  readonly issuer: string;
  private readonly privateKey: KeyObject;
  private readonly keyId: string;
  private readonly verifiers: Array<{ kid: string; key: KeyObject }>;
  private readonly now: () => number;

  constructor(o: ServiceAccountTokenOptions) {
    this.issuer = o.issuer ?? DEFAULT_ISSUER;
    this.privateKey = createPrivateKey(o.signingKeyPem);
    if (this.privateKey.asymmetricKeyType !== 'rsa') throw Object.assign(new Error('the service account signing key must be an RSA key (RS256)'), { code: 'EBADKEY' });
    const pub = createPublicKey(this.privateKey);
    this.keyId = keyIdOf(pub);
    this.verifiers = [{ kid: this.keyId, key: pub }];
    for (const pem of o.verificationKeysPem ?? []) {
      for (const block of splitPem(pem)) {
        const key = createPublicKey(block);
        const kid = keyIdOf(key);
        if (!this.verifiers.some((v) => v.kid === kid)) this.verifiers.push({ kid, key });
      }
    }
    this.now = o.now ?? Date.now;
  }

  /** Signs a token; returns it with its claims. */
  issue(r: IssueRequest): { token: string; claims: TokenClaims } {
    const iat = Math.floor(this.now() / 1000);
    const k8s: KubernetesClaim = { namespace: r.namespace, serviceaccount: { name: r.serviceAccount.name, uid: r.serviceAccount.uid } };
    if (r.node) k8s.node = { name: r.node.name, uid: r.node.uid };
    if (r.pod) k8s.pod = { name: r.pod.name, uid: r.pod.uid };
    if (r.secret) k8s.secret = { name: r.secret.name, uid: r.secret.uid };
    if (r.warnAfterSeconds !== undefined) k8s.warnafter = iat + r.warnAfterSeconds;
    const claims: TokenClaims = {
      aud: [...r.audiences],
      exp: iat + r.expirationSeconds,
      iat,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: iat,
      sub: serviceAccountUsername(r.namespace, r.serviceAccount.name),
    };
    const header = { alg: 'RS256', kid: this.keyId };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), this.privateKey);
    return { token: `${input}.${b64url(sig)}`, claims };
  }

  /**
   * Checks a token's form, issuer, signature, time window and audiences.
   * Throws TokenInvalidError: `mine` false for tokens of another issuer or
   * not JWTs at all (they are simply not ours).
   */
  verify(token: string, audiences: string[]): TokenClaims {
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenInvalidError('not a JWT', false);
    let header: Record<string, unknown>;
    let claims: TokenClaims;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      throw new TokenInvalidError('not a JWT', false);
    }
    if (!isRecord(header) || !isRecord(claims) || claims.iss !== this.issuer) throw new TokenInvalidError('issuer mismatch', false);
    if (header.alg !== 'RS256') throw new TokenInvalidError(`unexpected signing algorithm ${JSON.stringify(header.alg)}`, true);
    const input = Buffer.from(`${parts[0]}.${parts[1]}`);
    const sig = Buffer.from(parts[2]!, 'base64url');
    const candidates = typeof header.kid === 'string' && this.verifiers.some((v) => v.kid === header.kid) ? this.verifiers.filter((v) => v.kid === header.kid) : this.verifiers;
    if (!candidates.some((v) => verify('sha256', input, v.key, sig))) throw new TokenInvalidError('crypto/rsa: verification error', true);
    const k8s = claims['kubernetes.io'];
    if (!isRecord(k8s) || typeof k8s.namespace !== 'string' || !isRecord(k8s.serviceaccount) || typeof k8s.serviceaccount.name !== 'string' || typeof k8s.serviceaccount.uid !== 'string') {
      throw new TokenInvalidError('service account token claims are incomplete', true);
    }
    if (claims.sub !== serviceAccountUsername(k8s.namespace, k8s.serviceaccount.name)) throw new TokenInvalidError('sub claim does not match the service account', true);
    const now = Math.floor(this.now() / 1000);
    // go-jose's validation tolerates one minute of clock skew, as kube-apiserver does.
    const leeway = 60;
    if (typeof claims.exp !== 'number' || now > claims.exp + leeway) throw new TokenInvalidError('service account token has expired', true);
    if (typeof claims.nbf === 'number' && now < claims.nbf - leeway) throw new TokenInvalidError('service account token is not valid yet', true);
    if (typeof claims.iat === 'number' && now < claims.iat - leeway) throw new TokenInvalidError('service account token issued in the future', true);
    const tokenAuds = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!tokenAuds.some((a) => audiences.includes(a))) {
      throw new TokenInvalidError(`token audiences ${goQuote(tokenAuds)} is invalid for the target audiences ${goQuote(audiences)}`, true);
    }
    return { ...claims, aud: tokenAuds };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> & TokenClaims & KubernetesClaim {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's %q of a []string: ["a" "b"]. */
function goQuote(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
}

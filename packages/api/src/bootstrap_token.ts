/**
 * Bootstrap tokens as kubeadm and kube-apiserver define them: the token
 * format `<id>.<secret>`, the Secret that stores one
 * (kube-system/bootstrap-token-<id>, type bootstrap.kubernetes.io/token),
 * its expiry and extra groups, and the detached HS256 JWS the bootstrap
 * signer puts on the cluster-info ConfigMap (`jws-kubeconfig-<id>`).
 * Shared by the API server's authenticator, the controllers and the CLI.
 */
import { X509Certificate, createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAP_DEFAULT_GROUP = 'system:bootstrappers';
/** kubeadm's default extra group for tokens that join nodes. */
export const BOOTSTRAP_KUBEADM_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
/** The Secret's data keys. */
export const BOOTSTRAP_KEYS = {
  tokenId: 'token-id',
  tokenSecret: 'token-secret',
  expiration: 'expiration',
  description: 'description',
  usageAuthentication: 'usage-bootstrap-authentication',
  usageSigning: 'usage-bootstrap-signing',
  extraGroups: 'auth-extra-groups',
} as const;
/** The cluster-info ConfigMap (kube-public) and its signature keys. */
export const CLUSTER_INFO_NAMESPACE = 'kube-public';
export const CLUSTER_INFO_NAME = 'cluster-info';
export const CLUSTER_INFO_KUBECONFIG_KEY = 'kubeconfig';
export const CLUSTER_INFO_JWS_PREFIX = 'jws-kubeconfig-';

const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const TOKEN_ID_RE = /^[a-z0-9]{6}$/;
const GROUP_RE = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export class BootstrapTokenError extends Error {
  constructor(readonly code: 'BOOTSTRAP_TOKEN_INVALID' | 'BOOTSTRAP_GROUP_INVALID', message: string) {
    super(message);
    this.name = 'BootstrapTokenError';
  }
}

/** `<id>.<secret>` split, or undefined when the string is not a bootstrap token. */
export function parseBootstrapToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function isBootstrapTokenId(id: string): boolean {
  return TOKEN_ID_RE.test(id);
}

/** A fresh random token (6 + 16 characters of [a-z0-9], as kubeadm's GenerateBootstrapToken). */
export function generateBootstrapToken(): string {
  const pick = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  return `${pick(6)}.${pick(16)}`;
}

export function bootstrapTokenSecretName(id: string): string {
  return `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`;
}

/** The auth-extra-groups value as a list, each checked as upstream (system:bootstrappers:…). */
export function bootstrapExtraGroups(value: string | undefined): string[] {
  if (!value) return [];
  const groups = value.split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of groups) {
    if (!GROUP_RE.test(g)) throw new BootstrapTokenError('BOOTSTRAP_GROUP_INVALID', `bootstrap group ${JSON.stringify(g)} is invalid (must match ${GROUP_RE.source})`);
  }
  return groups;
}

/** The Secret's data as strings (it is base64 on the wire). */
export function secretStrings(secret: { data?: Record<string, string>; stringData?: Record<string, string> } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret?.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret?.stringData ?? {})) out[k] = v;
  return out;
}

/** Whether the `expiration` (RFC 3339) is in the past at `nowMs`; a malformed one counts as expired, as upstream. */
export function bootstrapTokenExpired(data: Record<string, string>, nowMs: number): boolean {
  const exp = data[BOOTSTRAP_KEYS.expiration];
  if (!exp) return false;
  const t = Date.parse(exp);
  return !Number.isFinite(t) || t <= nowMs;
}

/** Milliseconds until expiry (undefined when the token never expires). */
export function bootstrapTokenTimeLeft(data: Record<string, string>, nowMs: number): number | undefined {
  const exp = data[BOOTSTRAP_KEYS.expiration];
  if (!exp) return undefined;
  const t = Date.parse(exp);
  return Number.isFinite(t) ? t - nowMs : 0;
}

/** Constant-time string equality. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The detached JWS (`header..signature`, HS256 keyed with the token secret,
 * `kid` the token id) over `content`, as the bootstrap signer computes it.
 */
export function detachedJws(content: string, tokenId: string, tokenSecret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: tokenId })).toString('base64url');
  const payload = Buffer.from(content).toString('base64url');
  const sig = createHmac('sha256', tokenSecret).update(`${header}.${payload}`).digest('base64url');
  return `${header}..${sig}`;
}

/** Whether `jws` is the detached signature of `content` by this token. */
export function verifyDetachedJws(content: string, jws: string, tokenId: string, tokenSecret: string): boolean {
  return constantTimeEqual(jws, detachedJws(content, tokenId, tokenSecret));
}

/**
 * kubeadm's CA pin (--discovery-token-ca-cert-hash): `sha256:` and the hex
 * SHA-256 of the certificate's DER SubjectPublicKeyInfo.
 */
export function caCertHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

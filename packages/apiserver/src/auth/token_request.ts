/**
 * The serviceaccounts/token subresource (authentication.k8s.io/v1
 * TokenRequest) and TokenReview, as kube-apiserver answers them: a token for
 * the named ServiceAccount, optionally bound to a Pod, Secret or Node whose
 * uid must match; nothing is stored. TokenReview validates a token with the
 * API server's token authenticators.
 */
import { findResource, type JsonObject, type ResourceInfo } from '@mkube/api';
import { ApiError, errors, invalid, type FieldError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { Authenticator, AuthenticatedUser } from './authn.js';
import { nodeNameOf } from './node_authorizer.js';
import { EXPIRATION_EXTENSION_SECONDS, WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS, type ObjectRef, type ServiceAccountTokens } from './service_account_token.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const rfc3339 = (sec: number) => new Date(sec * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

const MIN_EXPIRATION_SECONDS = 10 * 60;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
const DEFAULT_EXPIRATION_SECONDS = 60 * 60;

export interface TokenRequestOptions {
  registry: Registry;
  tokens: ServiceAccountTokens;
  /** --api-audiences (default: the issuer). */
  apiAudiences: string[];
  /** --service-account-max-token-expiration in seconds (0: none). */
  maxExpirationSeconds?: number;
  /** --service-account-extend-token-expiration (default true). */
  extendExpiration?: boolean;
}

export class TokenRequests {
  constructor(private readonly o: TokenRequestOptions) {}

  /** POST .../namespaces/NS/serviceaccounts/NAME/token with a TokenRequest body; returns the TokenRequest with its status. */
  async create(namespace: string, name: string, body: unknown, user?: AuthenticatedUser): Promise<Obj> {
    if (!isObj(body)) throw errors.badRequest('the body of the request must be a JSON object');
    if (body.kind !== undefined && body.kind !== 'TokenRequest') throw errors.badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (authentication.k8s.io/v1)`);
    const spec: Obj = isObj(body.spec) ? { ...body.spec } : {};
    const errs: FieldError[] = [];
    if (spec.expirationSeconds === undefined || spec.expirationSeconds === null) spec.expirationSeconds = DEFAULT_EXPIRATION_SECONDS;
    const exp = spec.expirationSeconds;
    if (typeof exp !== 'number' || !Number.isInteger(exp)) errs.push({ type: 'FieldValueInvalid', field: 'spec.expirationSeconds', value: exp, detail: 'must be an integer' });
    else if (exp < MIN_EXPIRATION_SECONDS) errs.push({ type: 'FieldValueInvalid', field: 'spec.expirationSeconds', value: exp, detail: 'may not specify a duration less than 10 minutes' });
    else if (exp > MAX_EXPIRATION_SECONDS) errs.push({ type: 'FieldValueInvalid', field: 'spec.expirationSeconds', value: exp, detail: 'may not specify a duration larger than 2^32 seconds' });
    const auds = spec.audiences;
    if (auds !== undefined && auds !== null && (!Array.isArray(auds) || auds.some((a) => typeof a !== 'string'))) errs.push({ type: 'FieldValueInvalid', field: 'spec.audiences', value: auds, detail: 'must be a list of strings' });
    if (errs.length) {
      const e = invalid('TokenRequest', 'authentication.k8s.io', name, errs);
      throw new ApiError(422, 'Invalid', e.message.replace(/^TokenRequest /, 'TokenRequest.authentication.k8s.io '), e.details);
    }
    const sa = await this.getFresh(resource('serviceaccounts'), namespace, name);
    const node = user ? nodeNameOf(user) : undefined;
    if (node !== undefined) await this.admitNodeRequest(node, namespace, name, spec.boundObjectRef);
    let pod: ObjectRef | undefined;
    let secret: ObjectRef | undefined;
    let boundNode: ObjectRef | undefined;
    const ref = spec.boundObjectRef;
    if (isObj(ref)) {
      const kind = String(ref.kind ?? '');
      const apiVersion = String(ref.apiVersion ?? '');
      const refName = String(ref.name ?? '');
      const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
      const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
      let uid: string;
      if (group === '' && kind === 'Pod') {
        const p = await this.getFresh(resource('pods'), namespace, refName);
        const podSa = String(((p.spec ?? {}) as Obj).serviceAccountName ?? '');
        if (podSa !== name) throw errors.badRequest(`cannot bind token for serviceaccount ${JSON.stringify(name)} to pod running with serviceaccount ${JSON.stringify(podSa)}`);
        uid = uidOf(p);
        pod = { name: refName, uid };
        const nodeName = String(((p.spec ?? {}) as Obj).nodeName ?? '');
        // The pod's node goes into the claims when it is known (kube-apiserver does not fail the request without it).
        const n = nodeName ? this.o.registry.cachedGet(resource('nodes'), undefined, nodeName) : undefined;
        if (n) boundNode = { name: nodeName, uid: uidOf(n) };
      } else if (group === '' && kind === 'Secret') {
        const s = await this.getFresh(resource('secrets'), namespace, refName);
        uid = uidOf(s);
        secret = { name: refName, uid };
      } else if (group === '' && kind === 'Node') {
        const n = await this.getFresh(resource('nodes'), undefined, refName);
        uid = uidOf(n);
        boundNode = { name: refName, uid };
      } else {
        throw errors.badRequest(`cannot bind token to object of type ${group}/${version}, Kind=${kind}`);
      }
      if (ref.uid && ref.uid !== uid) {
        throw errors.conflict({ group, resource: kind }, refName, `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`);
      }
    }
    const audiences = Array.isArray(auds) && auds.length > 0 ? (auds as string[]) : this.o.apiAudiences;
    let expirationSeconds = spec.expirationSeconds as number;
    if (this.o.maxExpirationSeconds && expirationSeconds > this.o.maxExpirationSeconds) expirationSeconds = this.o.maxExpirationSeconds;
    let warnAfterSeconds: number | undefined;
    // Tokens that projected volumes ask for (3607 s, bound to a pod, for the API server) are
    // extended to a year and only warned about after 3607 s, as kube-apiserver does by default.
    if (this.o.extendExpiration !== false && pod && expirationSeconds === WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS && audiences.every((a) => this.o.apiAudiences.includes(a))) {
      warnAfterSeconds = expirationSeconds;
      expirationSeconds = Math.max(EXPIRATION_EXTENSION_SECONDS, expirationSeconds);
    }
    const { token, claims } = this.o.tokens.issue({ namespace, serviceAccount: { name, uid: uidOf(sa) }, audiences, expirationSeconds, pod, secret, node: boundNode, warnAfterSeconds });
    const outSpec: Obj = { audiences: [...audiences], expirationSeconds: spec.expirationSeconds as number };
    if (isObj(ref)) outSpec.boundObjectRef = ref;
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: outSpec,
      status: { token, expirationTimestamp: rfc3339(claims.exp) },
    };
  }

  /** NodeRestriction for TokenRequest: a node may only ask for tokens bound to a pod scheduled on it. */
  private async admitNodeRequest(node: string, namespace: string, name: string, ref: unknown): Promise<void> {
    const deny = (why: string) => errors.forbidden(`serviceaccounts "${name}" is forbidden: ${why}`, { name, kind: 'serviceaccounts' });
    if (!isObj(ref)) throw deny('node requested token not bound to a pod');
    if (ref.kind !== 'Pod') throw deny(`node requested token bound to a ${String(ref.kind ?? '')}`);
    if (!ref.uid) throw deny('node requested token with a pod binding without a uid');
    const pod = await this.o.registry.get(resource('pods'), namespace, String(ref.name ?? '')).catch((err: unknown) => {
      if (err instanceof ApiError && err.code === 404) throw deny(String(err.message));
      throw err;
    });
    if (uidOf(pod) !== ref.uid) throw deny(`the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`);
    if (String(((pod.spec ?? {}) as Obj).nodeName ?? '') !== node) throw deny('node requested token bound to a pod scheduled on a different node');
  }

  /**
   * An object from the store, and the watch cache brought up to it: a token
   * used right after it was issued is checked against the cache and must find
   * what the request found.
   */
  private async getFresh(info: ResourceInfo, namespace: string | undefined, name: string): Promise<Obj> {
    const obj = await this.o.registry.get(info, namespace, name);
    const rv = Number(((obj.metadata ?? {}) as Obj).resourceVersion);
    if (Number.isInteger(rv) && rv > 0) await this.o.registry.cache(info).ensureFresh(rv);
    return obj;
  }
}

/** POST /apis/authentication.k8s.io/v1/tokenreviews: the review with its status (nothing stored). */
export function reviewToken(authenticator: Authenticator, body: unknown): Obj {
  if (!isObj(body)) throw errors.badRequest('the body of the request must be a JSON object');
  const spec: Obj = isObj(body.spec) ? body.spec : {};
  const token = spec.token;
  if (typeof token !== 'string' || token === '') {
    throw new ApiError(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value', {
      group: 'authentication.k8s.io',
      kind: 'TokenReview',
      causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.token' }],
    });
  }
  const requested = Array.isArray(spec.audiences) ? spec.audiences.filter((a): a is string => typeof a === 'string') : [];
  const r = authenticator.authenticateToken(token, requested.length ? requested : undefined);
  let status: Obj;
  if ('user' in r) {
    const user: Obj = { username: r.user.name, groups: r.user.groups };
    if (r.user.uid) user.uid = r.user.uid;
    if (r.user.extra && Object.keys(r.user.extra).length) user.extra = r.user.extra;
    status = { authenticated: true, user, audiences: r.audiences };
  } else {
    status = { user: {} };
    if (r.error) status.error = r.error;
  }
  const metadata = isObj(body.metadata) ? { ...body.metadata, creationTimestamp: null } : { creationTimestamp: null };
  return { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata, spec: { ...spec }, status };
}

function resource(name: 'serviceaccounts' | 'pods' | 'secrets' | 'nodes'): ResourceInfo {
  return findResource('', 'v1', name)!;
}

function uidOf(o: Obj): string {
  return String(((o.metadata ?? {}) as Obj).uid ?? '');
}

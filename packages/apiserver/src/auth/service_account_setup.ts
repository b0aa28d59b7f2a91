/**
 * The API server's service-account token machinery from its options
 * (kube-apiserver's --service-account-signing-key-file, --service-account-key-file,
 * --service-account-issuer, --api-audiences, --service-account-max-token-expiration):
 * the signer/verifier, the authenticator over the watch caches and the
 * TokenRequest handler.
 */
import { readFileSync } from 'node:fs';
import { findResource } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import { ensureServiceAccountKey, type Pki } from './pki.js';
import { ServiceAccountAuthenticator } from './service_account_authn.js';
import { DEFAULT_ISSUER, ServiceAccountTokens } from './service_account_token.js';
import { TokenRequests } from './token_request.js';

export interface ServiceAccountAuthOptions {
  serviceAccountSigningKeyFile?: string;
  serviceAccountKeyFiles?: string[];
  serviceAccountIssuer?: string;
  apiAudiences?: string[];
  serviceAccountMaxTokenExpirationSeconds?: number;
}

export function serviceAccountAuth(o: ServiceAccountAuthOptions, pki: Pki, registry: Registry): { tokens: ServiceAccountTokens; authenticator: ServiceAccountAuthenticator; tokenRequests: TokenRequests } {
  const signingKeyPem = o.serviceAccountSigningKeyFile ? readFileSync(o.serviceAccountSigningKeyFile, 'utf8') : ensureServiceAccountKey(pki.dir).privateKeyPem;
  const issuer = o.serviceAccountIssuer ?? DEFAULT_ISSUER;
  const tokens = new ServiceAccountTokens({ issuer, signingKeyPem, verificationKeysPem: (o.serviceAccountKeyFiles ?? []).map((f) => readFileSync(f, 'utf8')) });
  const apiAudiences = o.apiAudiences && o.apiAudiences.length > 0 ? o.apiAudiences : [issuer];
  const authenticator = new ServiceAccountAuthenticator(tokens, (resource, ns, name) => registry.cachedGet(findResource('', 'v1', resource)!, ns, name), apiAudiences);
  const tokenRequests = new TokenRequests({ registry, tokens, apiAudiences, maxExpirationSeconds: o.serviceAccountMaxTokenExpirationSeconds });
  return { tokens, authenticator, tokenRequests };
}

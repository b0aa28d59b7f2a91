/**
 * Anonymous requests, narrowed as kube-apiserver's AuthenticationConfiguration
 * `anonymous.conditions` narrows them: only a GET of
 * kube-public/configmaps/cluster-info (kubeadm's discovery, which reads the CA
 * before it trusts it and checks it by its pin and the bootstrap signer's JWS)
 * is served as system:anonymous in system:unauthenticated; RBAC still decides
 * (kubeadm:bootstrap-signer-clusterinfo). Everything else without a
 * credential stays 401.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthenticatedUser } from './authn.js';

export const ANONYMOUS_PATHS = new Set(['/api/v1/namespaces/kube-public/configmaps/cluster-info']);

export function anonymousUser(req: IncomingMessage, path: string): AuthenticatedUser | undefined {
  if (req.method !== 'GET' || !ANONYMOUS_PATHS.has(path) || req.headers.authorization) return undefined;
  return { name: 'system:anonymous', groups: ['system:unauthenticated'] };
}

/** Typed handles for what the certificate and bootstrap-token controllers read and write. */
import type { CertificateSigningRequest, Secret } from '@mkube/api';
import { resourceFor } from '@mkube/api';
import { typedRef } from '../types.js';

export const CSRS = typedRef<CertificateSigningRequest>(resourceFor('certificatesigningrequests', 'certificates.k8s.io'));
export const SECRETS = typedRef<Secret>(resourceFor('secrets'));

export const SIGNER_KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
export const SIGNER_KUBELET_SERVING = 'kubernetes.io/kubelet-serving';
export const SIGNER_APISERVER_CLIENT = 'kubernetes.io/kube-apiserver-client';
export const NODES_GROUP = 'system:nodes';
export const NODE_USER_PREFIX = 'system:node:';
/** A worker's Ingress controller identity (mkube): CN system:mkube-ingress:<node>, O system:mkube-ingresses, asked for by that node. */
export const INGRESS_USER_PREFIX = 'system:mkube-ingress:';
export const INGRESSES_GROUP = 'system:mkube-ingresses';

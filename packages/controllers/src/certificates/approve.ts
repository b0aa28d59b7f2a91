/**
 * The csrapproving controller's decision, as upstream's sarapprove: a
 * kubernetes.io/kube-apiserver-client-kubelet request whose subject is
 * `O=system:nodes, CN=system:node:<name>` with no SANs and the kubelet client
 * usages is recognized as a node client certificate — "selfnodeclient" when
 * the requester is that node (a renewal), "nodeclient" otherwise (a bootstrap
 * token joining); the wiring asks a SubjectAccessReview whether the requester
 * may create certificatesigningrequests/<that subresource> and approves.
 *
 * mkube's addition (upstream leaves kubelet-serving approval to the admin):
 * a kubernetes.io/kubelet-serving request from system:node:<name> for
 * itself, with serving usages and SANs that are all among its Node's
 * status.addresses (hostnames as DNS names, IPs), is approved on the spot.
 *
 * And a worker's Ingress controller identity: a kubernetes.io/kube-apiserver-client
 * request for exactly `O=system:mkube-ingresses, CN=system:mkube-ingress:<name>`
 * (no SANs, client usages) is approved only when its requester is
 * system:node:<name> (in system:nodes) and Node <name> exists — a node asks for
 * its own add-on's identity, as upstream's approvers match requester and
 * subject; any other requester or shape stays pending.
 */
import type { CertificateSigningRequest, Node } from '@mkube/api';
import { isApproved, isDenied, sameSet, type ParsedRequest } from './csr_parse.js';
import { INGRESS_USER_PREFIX, INGRESSES_GROUP, NODE_USER_PREFIX, NODES_GROUP, SIGNER_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING } from './resource.js';

const KUBELET_CLIENT_USAGES = [['digital signature', 'client auth'], ['key encipherment', 'digital signature', 'client auth']];
const SERVING_USAGES = ['digital signature', 'key encipherment', 'server auth'];

export type ApprovalPlan =
  | { kind: 'none' }
  | { kind: 'sar'; subresource: 'selfnodeclient' | 'nodeclient'; message: string }
  | { kind: 'approve'; message: string };

export const SELF_MESSAGE = 'Auto approving self kubelet client certificate after SubjectAccessReview.';
export const NODE_CLIENT_MESSAGE = 'Auto approving kubelet client certificate after SubjectAccessReview.';
export const SERVING_MESSAGE = 'Auto approving kubelet serving certificate: the requesting node asks for its own name and addresses.';
export const INGRESS_MESSAGE = 'Auto approving mkube-ingress client certificate: the requesting node asks for its own Ingress controller identity.';
const CLIENT_USAGES = ['digital signature', 'key encipherment', 'client auth'];

/** The node a request is about: system:node:<name> or system:mkube-ingress:<name> in its CN ('' otherwise). */
export function requestNodeName(req: ParsedRequest): string {
  for (const prefix of [NODE_USER_PREFIX, INGRESS_USER_PREFIX]) if (req.cn.startsWith(prefix)) return req.cn.slice(prefix.length);
  return '';
}

/** A node's request for its own Ingress controller's client identity (mkube's auto-approval). */
export function isOwnIngressClientCert(csr: CertificateSigningRequest, req: ParsedRequest, node: Node | undefined): boolean {
  if (csr.spec?.signerName !== SIGNER_APISERVER_CLIENT) return false;
  if (req.organizations.length !== 1 || req.organizations[0] !== INGRESSES_GROUP) return false;
  if (!req.cn.startsWith(INGRESS_USER_PREFIX)) return false;
  const name = req.cn.slice(INGRESS_USER_PREFIX.length);
  if (!name || csr.spec?.username !== `${NODE_USER_PREFIX}${name}` || !(csr.spec?.groups ?? []).includes(NODES_GROUP)) return false;
  if (req.dns.length || req.ips.length || req.emails.length || req.uris.length) return false;
  const usages = csr.spec?.usages ?? [];
  if (!usages.includes('client auth') || usages.some((u) => !CLIENT_USAGES.includes(u))) return false;
  return node?.metadata?.name === name;
}

/** A kubelet client certificate request (upstream's isNodeClientCert). */
export function isNodeClientCert(csr: CertificateSigningRequest, req: ParsedRequest): boolean {
  if (csr.spec?.signerName !== SIGNER_KUBELET_CLIENT) return false;
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return false;
  if (req.dns.length || req.ips.length || req.emails.length || req.uris.length) return false;
  if (!KUBELET_CLIENT_USAGES.some((u) => sameSet(u, csr.spec?.usages ?? []))) return false;
  return req.cn.startsWith(NODE_USER_PREFIX);
}

/** A kubelet serving certificate request by the node itself for its own addresses (mkube's auto-approval). */
export function isOwnServingCert(csr: CertificateSigningRequest, req: ParsedRequest, node: Node | undefined): boolean {
  if (csr.spec?.signerName !== SIGNER_KUBELET_SERVING) return false;
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return false;
  if (!req.cn.startsWith(NODE_USER_PREFIX) || csr.spec?.username !== req.cn || !(csr.spec?.groups ?? []).includes(NODES_GROUP)) return false;
  const usages = csr.spec?.usages ?? [];
  if (!usages.includes('server auth') || usages.some((u) => !SERVING_USAGES.includes(u))) return false;
  if (req.emails.length || req.uris.length || req.dns.length + req.ips.length === 0) return false;
  if (!node || node.metadata?.name !== req.cn.slice(NODE_USER_PREFIX.length)) return false;
  const addrs = node.status?.addresses ?? [];
  const names = new Set(addrs.filter((a) => a.type === 'Hostname' || a.type === 'InternalDNS' || a.type === 'ExternalDNS').map((a) => a.address));
  const ips = new Set(addrs.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address));
  return req.dns.every((d) => names.has(d)) && req.ips.every((ip) => ips.has(ip));
}

export function planApproval(csr: CertificateSigningRequest, req: ParsedRequest, node: Node | undefined): ApprovalPlan {
  if (isApproved(csr) || isDenied(csr)) return { kind: 'none' };
  if (isNodeClientCert(csr, req)) {
    return csr.spec?.username === req.cn ? { kind: 'sar', subresource: 'selfnodeclient', message: SELF_MESSAGE } : { kind: 'sar', subresource: 'nodeclient', message: NODE_CLIENT_MESSAGE };
  }
  if (isOwnServingCert(csr, req, node)) return { kind: 'approve', message: SERVING_MESSAGE };
  if (isOwnIngressClientCert(csr, req, node)) return { kind: 'approve', message: INGRESS_MESSAGE };
  return { kind: 'none' };
}

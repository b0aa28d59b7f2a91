/**
 * Token discovery of the cluster, as kubeadm's: `mkube init` publishes the
 * kube-public/cluster-info ConfigMap (a kubeconfig with the API server and
 * the CA, which the bootstrap signer signs per token as jws-kubeconfig-<id>);
 * `mkube join` fetches it anonymously without trusting the server yet, then
 * trusts it only when the detached JWS for its token verifies (the server
 * knows the token) and the CA's public key matches the pinned
 * --discovery-token-ca-cert-hash (the CA is the one the user was told).
 */
import { request } from 'node:https';
import {
  CLUSTER_INFO_JWS_PREFIX,
  CLUSTER_INFO_KUBECONFIG_KEY,
  CLUSTER_INFO_NAME,
  CLUSTER_INFO_NAMESPACE,
  caCertHash,
  parseBootstrapToken,
  verifyDetachedJws,
} from '@mkube/api';
import { kubeconfig } from '@mkube/apiserver';
import { parse } from 'yaml';
import type { AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';

const CLUSTER_INFO_PATH = `/api/v1/namespaces/${CLUSTER_INFO_NAMESPACE}/configmaps/${CLUSTER_INFO_NAME}`;

export class DiscoveryError extends Error {
  constructor(readonly code: 'DISCOVERY_FETCH' | 'DISCOVERY_UNSIGNED' | 'DISCOVERY_SIGNATURE' | 'DISCOVERY_CA_HASH' | 'DISCOVERY_INVALID', message: string) {
    super(message);
    this.name = 'DiscoveryError';
  }
}

/** The cluster-info kubeconfig: the cluster only (server and CA), no user. */
export function clusterInfoKubeconfig(server: string, caPem: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    "  name: ''",
    'contexts: []',
    'current-context: ""',
    'preferences: {}',
    'users: []',
    '',
  ].join('\n');
}

/** Creates (or updates) kube-public/cluster-info. */
export async function publishClusterInfo(c: AdminCreds, server: string, caPem: string): Promise<void> {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CLUSTER_INFO_NAME, namespace: CLUSTER_INFO_NAMESPACE }, data: { [CLUSTER_INFO_KUBECONFIG_KEY]: clusterInfoKubeconfig(server, caPem) } };
  const r = await apiCall(c, 'POST', `/api/v1/namespaces/${CLUSTER_INFO_NAMESPACE}/configmaps`, cm);
  if (r.status === 201) return;
  if (r.status !== 409) throw new Error(`creating ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  const p = await apiCall(c, 'PATCH', CLUSTER_INFO_PATH, { data: cm.data });
  if (p.status !== 200) throw new Error(`updating ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: HTTP ${p.status}`);
}

/** Whether cluster-info carries the signature of this token id (the bootstrap signer caught up). */
export async function clusterInfoSigned(c: AdminCreds, tokenId: string): Promise<boolean> {
  const r = await apiCall(c, 'GET', CLUSTER_INFO_PATH);
  return r.status === 200 && typeof (r.body as { data?: Record<string, string> }).data?.[`${CLUSTER_INFO_JWS_PREFIX}${tokenId}`] === 'string';
}

/** GET of cluster-info without credentials and without verifying the server (nothing is trusted yet). */
export function fetchClusterInfo(apiServer: string, timeoutMs = 10_000): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(CLUSTER_INFO_PATH, apiServer), { rejectUnauthorized: false, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new DiscoveryError('DISCOVERY_FETCH', `failed to request the cluster-info ConfigMap from ${apiServer}: HTTP ${res.statusCode}`));
        try {
          resolve(((JSON.parse(text) as { data?: Record<string, string> }).data) ?? {});
        } catch (err) {
          reject(new DiscoveryError('DISCOVERY_FETCH', `the cluster-info ConfigMap from ${apiServer} is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new DiscoveryError('DISCOVERY_FETCH', `failed to request the cluster-info ConfigMap from ${apiServer}: ${err.message}`)));
    req.end();
  });
}

export interface Discovered {
  /** The API server cluster-info names. */
  server: string;
  caPem: string;
}

/** Checks cluster-info with the token (JWS) and the CA pin; the trusted server and CA. */
export function verifyClusterInfo(data: Record<string, string>, token: string, caHashes: string[]): Discovered {
  const t = parseBootstrapToken(token);
  if (!t) throw new DiscoveryError('DISCOVERY_INVALID', `the bootstrap token ${JSON.stringify(token)} was not of the form "^([a-z0-9]{6})\\.([a-z0-9]{16})$"`);
  const content = data[CLUSTER_INFO_KUBECONFIG_KEY];
  if (!content) throw new DiscoveryError('DISCOVERY_INVALID', `there is no ${CLUSTER_INFO_KUBECONFIG_KEY} key in the cluster-info ConfigMap`);
  const jws = data[`${CLUSTER_INFO_JWS_PREFIX}${t.id}`];
  if (!jws) throw new DiscoveryError('DISCOVERY_UNSIGNED', `token id "${t.id}" is invalid for this cluster or it has expired. Use "mkube token create" on the control-plane node to create a new valid token`);
  if (!verifyDetachedJws(content, jws, t.id, t.secret)) throw new DiscoveryError('DISCOVERY_SIGNATURE', `failed to verify JWS signature of received cluster info object, can't trust this API Server`);
  const doc = parse(content) as { clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[] };
  const cluster = doc?.clusters?.[0]?.cluster;
  if (!cluster?.server || !cluster['certificate-authority-data']) throw new DiscoveryError('DISCOVERY_INVALID', 'the cluster-info kubeconfig has no cluster with a server and certificate-authority-data');
  const caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  const actual = caCertHash(caPem);
  if (!caHashes.map((h) => h.toLowerCase()).includes(actual)) {
    throw new DiscoveryError('DISCOVERY_CA_HASH', `cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "${actual}" are pinned`);
  }
  return { server: cluster.server, caPem };
}

/** The bootstrap kubeconfig a joining node agent starts with: the token and the pinned CA. */
export function bootstrapKubeconfig(server: string, caPem: string, token: string): string {
  return kubeconfig(server, caPem, 'tls-bootstrap-token-user', { token });
}

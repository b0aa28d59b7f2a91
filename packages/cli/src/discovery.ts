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
import { SERVERS_EXTENSION } from '@mkube/client';
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

/** The YAML lines of a kubeconfig cluster's mkube.io/servers extension (4-space indented), none for one server. */
export function serversExtensionLines(servers: string[] | undefined): string[] {
  if (!servers || servers.length < 2) return [];
  return ['    extensions:', `    - name: ${SERVERS_EXTENSION}`, '      extension:', '        servers:', ...servers.map((s) => `        - ${s}`)];
}

/**
 * The cluster-info kubeconfig: the cluster only (server and CA), no user. With several control planes its
 * cluster also lists every API server (the mkube.io/servers extension), so a joining node agent can fail over.
 */
export function clusterInfoKubeconfig(server: string, caPem: string, servers?: string[]): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    ...serversExtensionLines(servers),
    "  name: ''",
    'contexts: []',
    'current-context: ""',
    'preferences: {}',
    'users: []',
    '',
  ].join('\n');
}

/** Creates (or updates) kube-public/cluster-info. */
export async function publishClusterInfo(c: AdminCreds, server: string, caPem: string, servers?: string[]): Promise<void> {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CLUSTER_INFO_NAME, namespace: CLUSTER_INFO_NAMESPACE }, data: { [CLUSTER_INFO_KUBECONFIG_KEY]: clusterInfoKubeconfig(server, caPem, servers) } };
  const r = await apiCall(c, 'POST', `/api/v1/namespaces/${CLUSTER_INFO_NAMESPACE}/configmaps`, cm);
  if (r.status === 201) return;
  if (r.status !== 409) throw new Error(`creating ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  // Replace the kubeconfig, keep the signer's jws-kubeconfig-* keys (it re-signs the new content); 409: read again.
  for (let attempt = 0; attempt < 10; attempt++) {
    const g = await apiCall(c, 'GET', CLUSTER_INFO_PATH);
    if (g.status !== 200) throw new Error(`reading ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: HTTP ${g.status}`);
    const cur = g.body as { data?: Record<string, string> };
    const p = await apiCall(c, 'PUT', CLUSTER_INFO_PATH, { ...cur, data: { ...(cur.data ?? {}), ...cm.data } });
    if (p.status === 200) return;
    if (p.status !== 409) throw new Error(`updating ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: HTTP ${p.status}`);
  }
  throw new Error(`updating ${CLUSTER_INFO_NAMESPACE}/${CLUSTER_INFO_NAME}: conflicts did not stop`);
}

/** Whether cluster-info carries the signature of this token id (the bootstrap signer caught up). */
export async function clusterInfoSigned(c: AdminCreds, tokenId: string): Promise<boolean> {
  const r = await apiCall(c, 'GET', CLUSTER_INFO_PATH);
  return r.status === 200 && typeof (r.body as { data?: Record<string, string> }).data?.[`${CLUSTER_INFO_JWS_PREFIX}${tokenId}`] === 'string';
}

/** Whether cluster-info's current content carries a valid signature for this token (re-signed after a change). */
export async function clusterInfoSignedFor(c: AdminCreds, token: string): Promise<boolean> {
  const t = parseBootstrapToken(token);
  const r = await apiCall(c, 'GET', CLUSTER_INFO_PATH);
  const data = (r.body as { data?: Record<string, string> }).data;
  const content = data?.[CLUSTER_INFO_KUBECONFIG_KEY];
  const jws = t ? data?.[`${CLUSTER_INFO_JWS_PREFIX}${t.id}`] : undefined;
  return r.status === 200 && !!t && !!content && !!jws && verifyDetachedJws(content, jws, t.id, t.secret);
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
  /** Every API server it names (its mkube.io/servers extension), when there are several. */
  servers?: string[];
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
  const doc = parse(content) as { clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string; extensions?: { name?: string; extension?: { servers?: unknown } }[] } }[] };
  const cluster = doc?.clusters?.[0]?.cluster;
  if (!cluster?.server || !cluster['certificate-authority-data']) throw new DiscoveryError('DISCOVERY_INVALID', 'the cluster-info kubeconfig has no cluster with a server and certificate-authority-data');
  const caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  const actual = caCertHash(caPem);
  if (!caHashes.map((h) => h.toLowerCase()).includes(actual)) {
    throw new DiscoveryError('DISCOVERY_CA_HASH', `cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "${actual}" are pinned`);
  }
  const listed = cluster.extensions?.find((e) => e?.name === SERVERS_EXTENSION)?.extension?.servers;
  const servers = Array.isArray(listed) && listed.every((x) => typeof x === 'string' && /^https:\/\/[^\s/]+$/.test(x)) ? (listed as string[]) : undefined;
  return { server: cluster.server, caPem, ...(servers && servers.length > 1 ? { servers } : {}) };
}

/** The bootstrap kubeconfig a joining node agent starts with: the token and the pinned CA (and every API server, when several). */
export function bootstrapKubeconfig(server: string, caPem: string, token: string, servers?: string[]): string {
  const lines = kubeconfig(server, caPem, 'tls-bootstrap-token-user', { token }).split('\n');
  const at = lines.findIndex((l) => l.startsWith('    server: '));
  lines.splice(at + 1, 0, ...serversExtensionLines(servers));
  return lines.join('\n');
}

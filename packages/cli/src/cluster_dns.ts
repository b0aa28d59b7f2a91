// Cluster DNS for `mkube up`: mkube-dns runs on every node, as a node-local process next to the node
// agent (in the node's network namespace, listening on the node IP, port 53 UDP and TCP), and the
// `kube-dns` Service in kube-system at the fixed cluster IP 10.213.200.10 (upstream's convention: the
// 10th address of the service range) has no selector: its Endpoints list every node's DNS server,
// mirrored into an EndpointSlice by the mirroring controller, and the service proxy spreads queries
// over them. Every node rather than a replicated Deployment: mkube's components are host processes
// (no container image of mkube-dns exists offline), a node's pods keep a DNS server as long as their
// node lives, and the load grows with the nodes, as NodeLocal DNSCache does upstream.
import { request } from 'node:https';
import type { AdminCreds } from './api_probe.js';

export const KUBE_DNS_IP = '10.213.200.10';
export const DNS_PORT = 53;

export function apiCall(c: AdminCreds, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, c.server), { method, ca: c.ca, cert: c.cert, key: c.key, timeout: timeoutMs, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

const LABELS = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'mkube-dns' };
const PORTS = [
  { name: 'dns', port: DNS_PORT, protocol: 'UDP' },
  { name: 'dns-tcp', port: DNS_PORT, protocol: 'TCP' },
];

/**
 * Creates (or keeps) kube-system/kube-dns at KUBE_DNS_IP and points its Endpoints at the nodes' DNS servers; with
 * `endpointsVersion` (the resourceVersion nodeIPs were computed from) an update is a compare-and-swap: HTTP 409 when
 * another writer changed them since.
 */
export async function ensureKubeDnsService(c: AdminCreds, nodeIPs: string[], endpointsVersion?: string): Promise<void> {
  const svcPath = '/api/v1/namespaces/kube-system/services';
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system', labels: LABELS }, spec: { clusterIP: KUBE_DNS_IP, ports: PORTS.map((p) => ({ ...p, targetPort: p.port })) } };
  // A cluster started again (mkube down then up, or after mkube restore) has it already: a POST would fail
  // allocating the same cluster IP (422 "provided IP is already allocated", as upstream) before the name conflict.
  const found = await apiCall(c, 'GET', `${svcPath}/kube-dns`);
  const created = found.status === 200 ? { status: 409, body: found.body } : await apiCall(c, 'POST', svcPath, svc);
  if (created.status !== 201 && created.status !== 409) throw new Error(`creating Service kube-system/kube-dns: HTTP ${created.status}: ${JSON.stringify(created.body)}`);
  if (created.status === 409) {
    const cur = await apiCall(c, 'GET', `${svcPath}/kube-dns`);
    const ip = (cur.body as { spec?: { clusterIP?: string } }).spec?.clusterIP;
    if (ip !== KUBE_DNS_IP) throw new Error(`Service kube-system/kube-dns exists with cluster IP ${String(ip)}, not ${KUBE_DNS_IP}`);
  }
  const epPath = '/api/v1/namespaces/kube-system/endpoints';
  const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kube-dns', namespace: 'kube-system', labels: LABELS }, subsets: [{ addresses: nodeIPs.map((ip) => ({ ip })), ports: PORTS }] };
  const e = await apiCall(c, 'POST', epPath, ep);
  if (e.status === 409) {
    const rv = endpointsVersion ?? ((await apiCall(c, 'GET', `${epPath}/kube-dns`)).body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    const put = await apiCall(c, 'PUT', `${epPath}/kube-dns`, { ...ep, metadata: { ...ep.metadata, resourceVersion: rv } });
    if (put.status !== 200) throw new Error(`updating Endpoints kube-system/kube-dns: HTTP ${put.status}: ${JSON.stringify(put.body)}`);
  } else if (e.status !== 201) throw new Error(`creating Endpoints kube-system/kube-dns: HTTP ${e.status}: ${JSON.stringify(e.body)}`);
}

/** The mkube-dns command line of a node: the node IP's port 53, the kube-dns IP never forwarded to. */
export function dnsArgs(kubeconfig: string, nodeIP: string, metricsPort: number | undefined): string[] {
  return [
    '--kubeconfig', kubeconfig, '--dns-bind-address', nodeIP, '--dns-port', String(DNS_PORT), '--exclude-upstream', KUBE_DNS_IP,
    ...(metricsPort === undefined ? ['--metrics-port', '-1'] : ['--bind-address', '127.0.0.1', '--metrics-port', String(metricsPort)]),
  ];
}

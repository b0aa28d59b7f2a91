// The resource metrics pipeline of `mkube up`: mkube-metrics-server runs as a host process (as
// system:metrics-server, scraping every node agent's /stats/summary), and is registered with the
// aggregation layer the way upstream's metrics-server manifests do it: the selector-less Service
// kube-system/metrics-server (port 443 "https") whose Endpoints name the process's address, and the
// APIService v1beta1.metrics.k8s.io pointing at it (insecureSkipTLSVerify, as upstream's
// components.yaml: the server's certificate is self-signed). `kubectl top` and the HPA then reach
// metrics.k8s.io through the API server.
import { join } from 'node:path';
import type { AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';

export const METRICS_APISERVICE = 'v1beta1.metrics.k8s.io';
const LABELS = { 'k8s-app': 'metrics-server' };

/** The command line of mkube-metrics-server. */
export function metricsServerArgs(o: { kubeconfig: string; ip: string; securePort: number; metricsPort: number; apiPkiDir: string; dataDir: string; resolution?: string }): string[] {
  return [
    '--kubeconfig', o.kubeconfig,
    '--secure-bind-address', o.ip, '--secure-port', String(o.securePort),
    '--bind-address', '127.0.0.1', '--metrics-port', String(o.metricsPort),
    '--requestheader-client-ca-file', join(o.apiPkiDir, 'front-proxy-ca.crt'),
    '--cert-dir', join(o.dataDir, 'metrics-server', 'certificates'),
    '--metric-resolution', o.resolution ?? '15s',
  ];
}

async function createOrReplace(c: AdminCreds, collection: string, name: string, obj: { metadata: Record<string, unknown> }): Promise<void> {
  const created = await apiCall(c, 'POST', collection, obj);
  if (created.status === 201) return;
  if (created.status !== 409) throw new Error(`creating ${collection}/${name}: HTTP ${created.status}: ${JSON.stringify(created.body)}`);
  // As client-go's retry.RetryOnConflict (5 tries): another writer may update the object between the GET and the
  // PUT (the API server's availability controller writes an existing APIService's status when a cluster starts again).
  for (let attempt = 1; ; attempt++) {
    const cur = await apiCall(c, 'GET', `${collection}/${name}`);
    const rv = (cur.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    const put = await apiCall(c, 'PUT', `${collection}/${name}`, { ...obj, metadata: { ...obj.metadata, resourceVersion: rv } });
    if (put.status === 200) return;
    if (put.status !== 409 || attempt >= 5) throw new Error(`updating ${collection}/${name}: HTTP ${put.status}: ${JSON.stringify(put.body)}`);
    await new Promise((r) => setTimeout(r, 10 * attempt));
  }
}

/** The Service, Endpoints and APIService that route metrics.k8s.io to ip:port (or each of several ips: one per control plane). */
export async function ensureMetricsApi(c: AdminCreds, ip: string | string[], port: number): Promise<void> {
  const ports = [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }];
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'metrics-server', namespace: 'kube-system', labels: LABELS }, spec: { ports } };
  const created = await apiCall(c, 'POST', '/api/v1/namespaces/kube-system/services', svc);
  if (created.status !== 201 && created.status !== 409) throw new Error(`creating Service kube-system/metrics-server: HTTP ${created.status}: ${JSON.stringify(created.body)}`);
  await createOrReplace(c, '/api/v1/namespaces/kube-system/endpoints', 'metrics-server', {
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'metrics-server', namespace: 'kube-system', labels: LABELS },
    subsets: [{ addresses: (Array.isArray(ip) ? ip : [ip]).map((a) => ({ ip: a })), ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  } as { metadata: Record<string, unknown> });
  await createOrReplace(c, '/apis/apiregistration.k8s.io/v1/apiservices', METRICS_APISERVICE, {
    apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: METRICS_APISERVICE, labels: LABELS },
    spec: { service: { name: 'metrics-server', namespace: 'kube-system', port: 443 }, group: 'metrics.k8s.io', version: 'v1beta1', insecureSkipTLSVerify: true, groupPriorityMinimum: 100, versionPriority: 100 },
  } as { metadata: Record<string, unknown> });
}

/** Whether the APIService reports Available=True (the aggregator reached the server). */
export async function metricsApiAvailable(c: AdminCreds): Promise<string | true> {
  const r = await apiCall(c, 'GET', `/apis/apiregistration.k8s.io/v1/apiservices/${METRICS_APISERVICE}`);
  const cond = ((r.body as { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }).status?.conditions ?? []).find((x) => x.type === 'Available');
  if (cond?.status === 'True') return true;
  return cond ? `${cond.reason ?? ''}: ${cond.message ?? ''}` : 'no Available condition yet';
}

#!/usr/bin/env node
/** mkube-metrics-server: serves metrics.k8s.io/v1beta1 (kubectl top, the HPA) from the node agents' Summary API, behind an APIService. */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, ComponentServer, createLogger, HealthChecks, parseComponentFlags, parseGoDuration, pingCheck, Registry, requireKubeconfig, staticCheck } from '@mkube/component-base';
import { exitOnStartupError, loadingFile, usageErrorsExit2 } from '@mkube/api';
import { KubeClient, loadKubeconfig } from '@mkube/client';
import { MetricsServer } from '../metrics_server.js';
import { selfSignedServingCert } from '../serving_cert.js';

const BINARY = 'mkube-metrics-server';
const { values, common, usage } = usageErrorsExit2(BINARY, () =>
  parseComponentFlags(BINARY, process.argv.slice(2), { bindAddress: '127.0.0.1' }, {
    'secure-port': { type: 'int', default: '4443', usage: 'The port of the HTTPS endpoint the APIService points at (0: any free port).' },
    'secure-bind-address': { type: 'string', default: '0.0.0.0', arg: 'IP', usage: 'The address of the HTTPS endpoint.' },
    'metrics-port': { type: 'int', default: '0', usage: 'Port of /metrics, /healthz, /livez and /readyz on --bind-address (0: any free port, -1: off).' },
    'tls-cert-file': { type: 'string', default: '', usage: 'Serving certificate (PEM); default: a self-signed one under --cert-dir.' },
    'tls-private-key-file': { type: 'string', default: '', usage: 'Key of --tls-cert-file.' },
    'cert-dir': { type: 'string', default: 'apiserver.local.config/certificates', usage: 'Where the self-signed serving certificate is kept.' },
    'requestheader-client-ca-file': { type: 'string', default: '', usage: 'The front-proxy CA: client certificates of the aggregation layer (required).' },
    'requestheader-allowed-names': { type: 'string', default: 'front-proxy-client', usage: 'Comma-separated common names the front-proxy client certificate may have (empty: any).' },
    'kubelet-certificate-authority': { type: 'string', default: '', usage: 'CA of the node agents\' serving certificates (default: the kubeconfig\'s CA).' },
    'metric-resolution': { type: 'string', default: '15s', usage: 'The interval at which metrics are scraped from the node agents.' },
  }),
);
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const log = createLogger({ component: BINARY, level: common.logLevel });
const context = {
  listeners: [
    { what: 'HTTPS', port: values['secure-port'], host: values['secure-bind-address'] },
    { what: 'metrics and health', port: values['metrics-port'], host: common.bindAddress },
  ],
  files: [] as Array<{ what: string; path: string }>,
};
let server: MetricsServer;
let component: ComponentServer | undefined;
let client: KubeClient;
try {
  const kubeconfigPath = requireKubeconfig(common);
  if (!values['requestheader-client-ca-file']) throw Object.assign(new Error('--requestheader-client-ca-file is required'), { code: 'INVALID_FLAG' });
  const resolutionMs = parseGoDuration(values['metric-resolution']);
  if (!(resolutionMs >= 1000)) throw Object.assign(new Error(`--metric-resolution must be at least 1s, got ${values['metric-resolution']}`), { code: 'INVALID_FLAG' });
  const kubeconfig = loadingFile('--kubeconfig', kubeconfigPath, () => loadKubeconfig(kubeconfigPath));
  const requestHeaderCA = loadingFile('--requestheader-client-ca-file', values['requestheader-client-ca-file'], () => readFileSync(values['requestheader-client-ca-file']));
  const kubeletCA = values['kubelet-certificate-authority'] ? loadingFile('--kubelet-certificate-authority', values['kubelet-certificate-authority'], () => readFileSync(values['kubelet-certificate-authority'])) : kubeconfig.ca;
  const serving = values['tls-cert-file']
    ? { cert: loadingFile('--tls-cert-file', values['tls-cert-file'], () => readFileSync(values['tls-cert-file'])), key: loadingFile('--tls-private-key-file', values['tls-private-key-file'], () => readFileSync(values['tls-private-key-file'])) }
    : selfSignedServingCert(values['cert-dir'], ['metrics-server.kube-system.svc', 'localhost', '127.0.0.1']);
  client = new KubeClient({ ...kubeconfig, userAgent: 'mkube-metrics-server/0.1' });
  server = new MetricsServer({
    client,
    log,
    serving,
    requestHeaderCA,
    allowedNames: values['requestheader-allowed-names'].split(',').map((s) => s.trim()).filter(Boolean),
    scrapeTls: { ca: kubeletCA, cert: kubeconfig.cert, key: kubeconfig.key },
    host: values['secure-bind-address'],
    port: values['secure-port'],
    resolutionMs,
  });
  await server.start();
  if (values['metrics-port'] >= 0) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const ready = staticCheck('metric-storage-ready', () => (server.ready ? undefined : 'no metrics to serve'));
    component = new ComponentServer({ registry, health: new HealthChecks({ livez: [pingCheck], healthz: [pingCheck], readyz: [pingCheck, ready] }), log });
    await component.listen(values['metrics-port'], common.bindAddress);
  }
} catch (err) {
  exitOnStartupError(BINARY, err, context, log);
}
log.info({ securePort: server.port, metricsPort: component?.port }, 'mkube-metrics-server started');

const shutdown = (signal: string) => {
  log.info({ signal }, 'shutting down');
  void Promise.all([server.stop(), component?.close()]).finally(() => {
    client.close();
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// @mkube/cli's library surface: the add-ons `mkube up` installs (cluster DNS,
// the resource metrics API), for tests that assemble a cluster themselves.
export { dnsArgs, ensureKubeDnsService, KUBE_DNS_IP } from './cluster_dns.js';
export { ensureMetricsApi, metricsApiAvailable, metricsServerArgs } from './metrics_server.js';

// @mkube/cli's library surface: the add-ons `mkube up` installs (cluster DNS,
// the resource metrics API, the cloud controller manager's pool route), for tests that assemble a cluster themselves.
export { dnsArgs, ensureKubeDnsService, KUBE_DNS_IP } from './cluster_dns.js';
export { HTTP_PORT, HTTPS_PORT, ingressArgs } from './ingress.js';
export { ensureMetricsApi, metricsApiAvailable, metricsServerArgs } from './metrics_server.js';
export { ccmArgs, LAB_LB_POOL, routePoolToLab, writeMachinesFile } from './cloud_controller.js';
export { readState, stopProcess } from './processes.js';
export { waitFor } from './api_probe.js';
export { backup, restore, BackupError, type BackupManifest } from './backup.js';
export type { ChaosReportFile, ChaosSummary, FaultOutcome } from './chaos/report.js';

/**
 * startApiServer: PKI and admin kubeconfig under dataDir, the etcd client,
 * the registry with its watch caches, periodic compaction and the HTTPS
 * listener.
 */
import { ensurePrivateDir, writePrivateFile } from '@mkube/store';
import { createServer, type Server } from 'node:https';
import { answerClientError } from './http/request_errors.js';
import { installPeerCertificateMemo } from './auth/peer_certificate_memo.js';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EtcdClient } from '@mkube/store/client';
import { pino, type Logger } from 'pino';
import { Authenticator, loadTokenFile, type AuthenticatedUser } from './auth/authn.js';
import { BootstrapTokenAuthenticator } from './auth/bootstrap_token_authn.js';
import { findResource } from '@mkube/api';
import { ensureBootstrapPolicy } from './auth/bootstrap_policy.js';
import { ensurePki, kubeconfig, type Pki } from './auth/pki.js';
import { ApiHandler } from './http/handler.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { NodeProxy } from './http/node_proxy.js';
import { Registry } from './registry/registry.js';
import { Compactor } from './storage/compactor.js';
import { startEmbeddedStore } from './embedded_store.js';
import { etcdClientTls } from './etcd_client_tls.js';
import { HealthChecks, etcdCheck, staticCheck } from './http/health_checks.js';
import { setDefaultTolerationSeconds } from './registry/defaults.js';
import { startGrpcServer, type GrpcApiServer } from './grpc/server.js';
import { PodSecurityAdmission, registryLookups } from './admission/pod_security_admission.js';
import { loadPodSecurityConfiguration } from './admission/pod_security_config.js';
import { serviceAccountAuth } from './auth/service_account_setup.js';
import { reviewToken } from './auth/token_request.js';
import { ServiceAccountAdmission } from './admission/service_account.js';
import { KubernetesServiceController, endpointReconciler, type EndpointReconcilerType } from './bootstrap/kubernetes_service.js';
import { ipToString, parseCidr } from './registry/allocators.js';
import { AuditLog } from './http/audit.js';
import { loadAuditPolicy } from './http/audit_policy.js';
import { Aggregator } from './aggregator/aggregator.js';
import { ensureFrontProxyPki } from './aggregator/front_proxy_pki.js';
import { ApiServiceValidation } from './aggregator/validation.js';
import { NodeVolumeRestriction } from './auth/node_volume_restriction.js';
import { CertificateApproval, CertificateSigning, CertificateSubjectRestriction } from './admission/certificates.js';
import { RbacAuthorizer } from './auth/rbac.js';

export interface ApiServerOptions {
  /** Where the PKI and admin.kubeconfig live (created on first start). */
  dataDir: string;
  /** etcd endpoints: "http://127.0.0.1:2379" or "127.0.0.1:2379". Empty or absent: an embedded mkube-store member under DIR/store. */
  /**
   * Serve first list pages from the watch cache (default: with the embedded
   * store, or an etcd whose progress notifications are reliable: 3.4.31+, 3.5.13+).
   */
  listFromCache?: boolean;
  /** Talk to the embedded member over its gRPC listener instead of in-process (for comparisons). */
  embeddedStoreOverGrpc?: boolean;
  /** Run the embedded member on the API server's event loop instead of a worker thread (for comparisons). */
  embeddedStoreInThread?: boolean;
  etcdServers?: string[];
  /** --etcd-cafile, --etcd-certfile, --etcd-keyfile: TLS for https:// etcd servers (a CA is required for them). */
  etcdCAFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  /** 0 picks a free port. Default 6443. */
  securePort?: number;
  /** gRPC API port (TLS, same certificate). 0 picks a free port; negative disables. Default 6444 with the default securePort, else a free port. */
  grpcPort?: number;
  bindAddress?: string;
  /** Address clients use; also a SAN of the serving certificate. Default: bindAddress. */
  advertiseAddress?: string;
  serviceClusterIpRange?: string;
  nodePortRange?: string;
  tokenAuthFile?: string;
  /** Static tokens in addition to the token file. */
  tokens?: Map<string, AuthenticatedUser>;
  /** --enable-bootstrap-token-auth: kube-system bootstrap-token-<id> Secrets authenticate as system:bootstrap:<id>. */
  enableBootstrapTokenAuth?: boolean;
  /** Key prefix in etcd (default /registry). */
  etcdPrefix?: string;
  /** Compaction interval in ms (default 5 min; 0 disables). */
  compactionIntervalMs?: number;
  /** Seconds pods tolerate the not-ready / unreachable NoExecute taints by default (300). */
  defaultNotReadyTolerationSeconds?: number;
  defaultUnreachableTolerationSeconds?: number;
  watchCacheCapacity?: number;
  bookmarkIntervalMs?: number;
  logLevel?: string;
  logger?: Logger;
  /** --admission-control-config-file: an AdmissionConfiguration (the PodSecurity plugin's defaults and exemptions). */
  admissionControlConfigFile?: string;
  /** --service-account-signing-key-file (default: DIR/pki/sa.key, made on first start). */
  serviceAccountSigningKeyFile?: string;
  /** --service-account-key-file: more keys that verify tokens (PEM). */
  serviceAccountKeyFiles?: string[];
  /** --service-account-issuer (default https://kubernetes.default.svc.cluster.local). */
  serviceAccountIssuer?: string;
  /** --api-audiences (default: the issuer). */
  apiAudiences?: string[];
  /** --service-account-max-token-expiration in seconds (default: none). */
  serviceAccountMaxTokenExpirationSeconds?: number;
  /**
   * The ServiceAccount admission plugin (default pod service account, must exist, token volume).
   * The mkube-apiserver binary turns it on as kube-apiserver does; startApiServer() only when asked,
   * since it needs the controller manager's `default` ServiceAccounts.
   */
  serviceAccountAdmission?: boolean;
  /** Keep the `kubernetes` Service and Endpoints in `default` (default true). */
  kubernetesService?: boolean;
  /** --endpoint-reconciler-type: `lease` (default: every live API server, by its masterleases key) or `none`. */
  endpointReconcilerType?: EndpointReconcilerType;
  /** The masterleases key's TTL (default 15 s, as upstream); tests shorten it. */
  endpointReconcilerTtlSeconds?: number;
  /** How often the kubernetes Service and its endpoints are reconciled (default 10 s, as upstream). */
  endpointReconcilerIntervalMs?: number;
  /** --audit-log-path: audit.k8s.io/v1 Event JSON lines to this file ("-": stdout); needs auditPolicyFile, as upstream. */
  auditLogPath?: string;
  /** --audit-policy-file: an audit.k8s.io/v1 Policy (YAML or JSON). */
  auditPolicyFile?: string;
  /** --audit-log-maxsize (MB), --audit-log-maxbackup, --audit-log-maxage (days): rotation of the audit log file. */
  auditLogMaxSize?: number;
  auditLogMaxBackup?: number;
  auditLogMaxAge?: number;
}

export interface ApiServer {
  /** https://host:port */
  url: string;
  port: number;
  pki: Pki;
  /** Path of the admin kubeconfig. */
  kubeconfigPath: string;
  registry: Registry;
  compactor: Compactor;
  etcd: EtcdClient;
  /** The Prometheus metrics served at /metrics. */
  metrics: Metrics;
  log: Logger;
  /** The gRPC API listener (undefined when disabled). */
  grpc?: GrpcApiServer;
  stop(): Promise<void>;
}

/**
 * Whether the store's watch progress notifications can be trusted for
 * consistent lists from the watch cache. etcd before 3.4.31 / 3.5.13 may send
 * a requested progress notification ahead of events it has not delivered yet
 * (Kubernetes turns ConsistentListFromCache off for those versions, and so do
 * we); the embedded mkube-store sends one only when the watcher is synced.
 */
export function progressRequestsSafeIn(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 3) return major > 3;
  if (minor === 4) return patch >= 31;
  if (minor === 5) return patch >= 13;
  return minor > 5;
}

async function progressRequestsAreSafe(etcd: EtcdClient, endpoints: string[], log: Logger): Promise<boolean> {
  const versions: string[] = [];
  for (const ep of endpoints) {
    try {
      versions.push((await etcd.status(ep)).version);
    } catch (err) {
      log.warn({ endpoint: ep, err: String(err) }, 'store status unavailable; lists are served by the store');
      return false;
    }
  }
  const safe = versions.every(progressRequestsSafeIn);
  log.info({ versions, listFromCache: safe }, safe ? 'lists served from the watch cache' : 'store version lacks reliable watch progress notifications: lists are served by the store');
  return safe;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  installPeerCertificateMemo();
  const podSecurityConfig = opts.admissionControlConfigFile ? loadPodSecurityConfiguration(opts.admissionControlConfigFile) : undefined;
  const log = opts.logger ?? pino({ name: 'mkube-apiserver', level: opts.logLevel ?? 'info' });
  const bind = opts.bindAddress ?? '127.0.0.1';
  const advertise = opts.advertiseAddress ?? (bind === '0.0.0.0' ? '127.0.0.1' : bind);
  ensurePrivateDir(opts.dataDir, log);
  // In-cluster clients reach the API server at the kubernetes Service's address: the first IP of the service range.
  const kubernetesServiceIp = ipToString(parseCidr(opts.serviceClusterIpRange ?? '10.213.200.0/24').base + 1);
  const pki = ensurePki(opts.dataDir, { ips: ['127.0.0.1', advertise, kubernetesServiceIp, ...(bind !== '0.0.0.0' ? [bind] : [])], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] });
  setDefaultTolerationSeconds(opts.defaultNotReadyTolerationSeconds ?? 300, opts.defaultUnreachableTolerationSeconds ?? 300);
  const embedded = opts.etcdServers && opts.etcdServers.length > 0 ? undefined : await startEmbeddedStore(opts.dataDir, log, { inThread: opts.embeddedStoreInThread });
  const etcdServers = embedded ? embedded.endpoints : opts.etcdServers!;
  // The embedded member is called without a socket or HTTP/2 (in its worker thread, through a
  // MessagePort); its gRPC listener stays up for etcdctl and other clients.
  const inProcess = embedded && !opts.embeddedStoreOverGrpc ? [embedded.connect()] : undefined;
  const etcd = new EtcdClient({ endpoints: etcdServers, connections: inProcess, tls: embedded ? { ca: embedded.pki.caFile, cert: embedded.pki.clientCertFile, key: embedded.pki.clientKeyFile } : etcdClientTls(etcdServers, opts) });
  const metrics = createMetrics();
  const listFromCache = opts.listFromCache ?? (embedded ? true : await progressRequestsAreSafe(etcd, etcdServers, log));
  const registry = new Registry(etcd, {
    listFromCache,
    onList: (resource, source) => metrics.listSource.inc({ resource, source }),
    prefix: opts.etcdPrefix,
    serviceClusterIpRange: opts.serviceClusterIpRange,
    nodePortRange: opts.nodePortRange,
    log,
    watchCacheCapacity: opts.watchCacheCapacity,
  });
  await registry.start();
  await ensureBootstrapPolicy(registry, log);
  registry.validating.push(new PodSecurityAdmission(registryLookups(registry), podSecurityConfig));
  registry.validating.push(new ApiServiceValidation());
  registry.validating.push(new NodeVolumeRestriction(registry));
  // certificates.k8s.io: approve/sign need the verb on the signer; no system:masters client certificates.
  const signerAuthz = new RbacAuthorizer(registry);
  registry.validating.push(new CertificateApproval(signerAuthz), new CertificateSigning(signerAuthz), new CertificateSubjectRestriction());
  const aggregator = new Aggregator({ registry, pki: ensureFrontProxyPki(pki.dir), log });
  await aggregator.start();
  const compactor = new Compactor(etcd, log, (rev) => registry.compacted(rev), opts.compactionIntervalMs ?? 5 * 60_000);
  compactor.start();
  const tokens = new Map(opts.tokens ?? []);
  if (opts.tokenAuthFile) for (const [k, v] of loadTokenFile(opts.tokenAuthFile)) tokens.set(k, v);
  const sa = serviceAccountAuth(opts, pki, registry);
  const bootstrapTokens = opts.enableBootstrapTokenAuth ? new BootstrapTokenAuthenticator((ns, name) => registry.cachedGet(findResource('', 'v1', 'secrets')!, ns, name), Date.now, log) : undefined;
  const authenticator = new Authenticator(tokens, sa.authenticator, bootstrapTokens);
  if (opts.serviceAccountAdmission) {
    const admission = new ServiceAccountAdmission(registry);
    registry.podCreateAdmission = (pod, ns) => admission.admitPodCreate(pod, ns);
  }
  let ready = false;
  let stopping = false;
  const ping = staticCheck('ping', () => undefined);
  const log_ = staticCheck('log', () => undefined);
  const etcdHealth = etcdCheck(etcd, `${registry.prefix}/health`);
  let port = opts.securePort ?? 6443;
  const handler = new ApiHandler({
    registry,
    authenticator,
    log,
    metrics,
    serverAddress: `${advertise}:${port}`,
    health: new HealthChecks({
      livez: [ping, log_, etcdHealth],
      readyz: [ping, log_, etcdHealth, staticCheck('informer-sync', () => (ready ? undefined : 'watch caches not started')), staticCheck('shutdown', () => (stopping ? 'shutting down' : undefined))],
      healthz: [ping, log_, etcdHealth],
    }),
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    nodeProxy: new NodeProxy({ registry, pki, log }),
    tokenRequests: sa.tokenRequests,
    aggregator,
  });
  handler.virtual.register('authentication.k8s.io', 'v1', 'tokenreviews', ({ body }) => reviewToken(authenticator, body));
  const audit = opts.auditLogPath && opts.auditPolicyFile
    ? new AuditLog({ path: opts.auditLogPath, policy: loadAuditPolicy(opts.auditPolicyFile), maxSizeMB: opts.auditLogMaxSize, maxBackups: opts.auditLogMaxBackup, maxAgeDays: opts.auditLogMaxAge, log })
    : undefined;
  const server: Server = createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: false }, audit ? audit.wrap(handler.handle) : handler.handle);
  server.on('clientError', answerClientError);
  server.on('upgrade', handler.handleUpgrade);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  (handler as unknown as { o: { serverAddress: string } }).o.serverAddress = `${advertise}:${port}`;
  const url = `https://${advertise}:${port}`;
  const grpcPort = opts.grpcPort ?? ((opts.securePort ?? 6443) === 6443 ? 6444 : 0);
  const grpcServer = grpcPort < 0 ? undefined : await startGrpcServer({ registry, authenticator, pki, log, port: grpcPort, bindAddress: bind, bookmarkIntervalMs: opts.bookmarkIntervalMs, metrics }).catch((err: unknown) => {
    server.close();
    throw err;
  });
  if (grpcServer) grpcServer.service.virtual = handler.virtual;
  const kubernetesService = opts.kubernetesService === false ? undefined : new KubernetesServiceController({ registry, log, advertiseAddress: advertise, securePort: port, endpoints: endpointReconciler(opts.endpointReconcilerType ?? 'lease', registry, opts.endpointReconcilerTtlSeconds), intervalMs: opts.endpointReconcilerIntervalMs });
  await kubernetesService?.start();
  const kubeconfigPath = join(opts.dataDir, 'admin.kubeconfig');
  writePrivateFile(kubeconfigPath, kubeconfig(url, pki.caCert, 'kubernetes-admin', { cert: pki.adminCert, key: pki.adminKey }));
  ready = true;
  log.info({ url, etcd: etcdServers, embeddedStore: embedded !== undefined }, 'API server listening');
  return {
    url,
    port,
    pki,
    kubeconfigPath,
    registry,
    compactor,
    metrics,
    etcd,
    log,
    grpc: grpcServer,
    async stop() {
      ready = false;
      stopping = true;
      compactor.stop();
      aggregator.stop();
      await kubernetesService?.stop();
      await grpcServer?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      audit?.close();
      registry.stop();
      etcd.close();
      await embedded?.stop();
    },
  };
}

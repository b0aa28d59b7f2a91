#!/usr/bin/env node
/** mkube-apiserver: the Kubernetes REST API over an etcd v3 store. */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { exitOnStartupError, usageErrorsExit2 } from '@mkube/api';
import { createLogger, logLevelFromFlags } from '@mkube/component-base';
import { startApiServer } from '../server.js';
import { etcdClientTls } from '../etcd_client_tls.js';
import { ENDPOINT_RECONCILER_TYPES, type EndpointReconcilerType } from '../bootstrap/kubernetes_service.js';

const { values } = usageErrorsExit2('mkube-apiserver', () => parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'secure-port': { type: 'string', default: '6443' },
    'grpc-port': { type: 'string', default: '6444' },
    'bind-address': { type: 'string', default: '127.0.0.1' },
    'advertise-address': { type: 'string' },
    'endpoint-reconciler-type': { type: 'string', default: 'lease' },
    'etcd-servers': { type: 'string' },
    'etcd-prefix': { type: 'string', default: '/registry' },
    'etcd-cafile': { type: 'string' },
    'etcd-certfile': { type: 'string' },
    'etcd-keyfile': { type: 'string' },
    'service-cluster-ip-range': { type: 'string', default: '10.213.200.0/24' },
    'service-node-port-range': { type: 'string', default: '30000-32767' },
    'token-auth-file': { type: 'string' },
    'enable-bootstrap-token-auth': { type: 'boolean', default: false },
    'compaction-interval': { type: 'string', default: '300' },
    'default-not-ready-toleration-seconds': { type: 'string', default: '300' },
    'default-unreachable-toleration-seconds': { type: 'string', default: '300' },
    'log-level': { type: 'string', default: 'info' },
    'admission-control-config-file': { type: 'string' },
    'service-account-key-file': { type: 'string', multiple: true },
    'service-account-signing-key-file': { type: 'string' },
    'service-account-issuer': { type: 'string' },
    'service-account-max-token-expiration': { type: 'string' },
    'api-audiences': { type: 'string' },
    'enable-admission-plugins': { type: 'string' },
    'disable-admission-plugins': { type: 'string' },
    'audit-log-path': { type: 'string' },
    'audit-policy-file': { type: 'string' },
    'audit-log-maxsize': { type: 'string', default: '0' },
    'audit-log-maxbackup': { type: 'string', default: '0' },
    'audit-log-maxage': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h' },
  },
}));

if (values.help || !values['data-dir']) {
  process.stderr.write(
    'usage: mkube-apiserver --data-dir DIR [--etcd-servers URL[,URL...]] [--secure-port 6443] [--grpc-port 6444 (0: free port, -1: off)] [--bind-address 127.0.0.1] [--advertise-address IP] [--endpoint-reconciler-type lease|none]\n' +
      '       (without --etcd-servers, an embedded single-member mkube-store keeps its data in DIR/store)\n' +
      '       [--etcd-cafile PEM --etcd-certfile PEM --etcd-keyfile PEM] (TLS to https:// etcd servers; the CA is required for them)\n' +
      '       [--service-cluster-ip-range 10.213.200.0/24] [--service-node-port-range 30000-32767] [--token-auth-file FILE] [--enable-bootstrap-token-auth]\n' +
      '       [--compaction-interval SECONDS] [--log-level info]\n' +
      '       [--service-account-signing-key-file PEM (default DIR/pki/sa.key)] [--service-account-key-file PEM]... [--service-account-issuer URL]\n' +
      '       [--api-audiences a,b] [--service-account-max-token-expiration 48h] [--disable-admission-plugins ServiceAccount]\n' +
      '       [--audit-log-path FILE|- --audit-policy-file POLICY.yaml] [--audit-log-maxsize MB] [--audit-log-maxbackup N] [--audit-log-maxage DAYS]\n',
  );
  process.exit(values.help ? 0 : 2);
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
/** "48h", "30m", "3600s" or plain seconds. */
function seconds(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+)(h|m|s)?$/.exec(v.trim());
  if (!m) {
    process.stderr.write(`mkube-apiserver: invalid duration ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

if (!(ENDPOINT_RECONCILER_TYPES as readonly string[]).includes(values['endpoint-reconciler-type'])) {
  process.stderr.write(`mkube-apiserver: invalid --endpoint-reconciler-type ${JSON.stringify(values['endpoint-reconciler-type'])}: one of ${ENDPOINT_RECONCILER_TYPES.join(', ')}\n`);
  process.exit(2);
}

try {
  etcdClientTls((values['etcd-servers'] ?? '').split(',').map((s) => s.trim()).filter(Boolean), { etcdCAFile: values['etcd-cafile'], etcdCertFile: values['etcd-certfile'], etcdKeyFile: values['etcd-keyfile'] });
} catch (err) {
  process.stderr.write(`mkube-apiserver: ${(err as Error).message}\n`);
  process.exit(2);
}

// A start-up failure is one line naming the listener or file (grpc-js's own error log stays quiet
// until the listeners are up); the stack goes to the log at debug level.
const log = createLogger({ component: 'mkube-apiserver', level: usageErrorsExit2('mkube-apiserver', () => logLevelFromFlags(values['log-level'], undefined)) });
const quietGrpc = process.env.GRPC_VERBOSITY === undefined;
if (quietGrpc) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
const startupContext = {
  listeners: [
    { what: 'secure port', port: Number(values['secure-port']), host: values['bind-address'] },
    { what: 'gRPC API', port: Number(values['grpc-port']), host: values['bind-address'] },
  ],
  files: [
    ['--token-auth-file', values['token-auth-file']], ['--admission-control-config-file', values['admission-control-config-file']],
    ['--service-account-signing-key-file', values['service-account-signing-key-file']], ['--audit-policy-file', values['audit-policy-file']],
    ['--etcd-cafile', values['etcd-cafile']], ['--etcd-certfile', values['etcd-certfile']], ['--etcd-keyfile', values['etcd-keyfile']],
    ...(values['service-account-key-file'] ?? []).map((f) => ['--service-account-key-file', f]),
  ].flatMap(([what, path]) => (path ? [{ what: what!, path }] : [])),
};
const server = await startApiServer({
  logger: log,
  dataDir: values['data-dir'],
  etcdServers: (values['etcd-servers'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  securePort: Number(values['secure-port']),
  grpcPort: Number(values['grpc-port']),
  bindAddress: values['bind-address'],
  advertiseAddress: values['advertise-address'],
  endpointReconcilerType: values['endpoint-reconciler-type'] as EndpointReconcilerType,
  etcdPrefix: values['etcd-prefix'],
  etcdCAFile: values['etcd-cafile'],
  etcdCertFile: values['etcd-certfile'],
  etcdKeyFile: values['etcd-keyfile'],
  serviceClusterIpRange: values['service-cluster-ip-range'],
  nodePortRange: values['service-node-port-range'],
  tokenAuthFile: values['token-auth-file'],
  enableBootstrapTokenAuth: values['enable-bootstrap-token-auth'],
  compactionIntervalMs: Number(values['compaction-interval']) * 1000,
  defaultNotReadyTolerationSeconds: Number(values['default-not-ready-toleration-seconds']),
  defaultUnreachableTolerationSeconds: Number(values['default-unreachable-toleration-seconds']),
  logLevel: values['log-level'],
  admissionControlConfigFile: values['admission-control-config-file'],
  serviceAccountKeyFiles: values['service-account-key-file'],
  serviceAccountSigningKeyFile: values['service-account-signing-key-file'],
  serviceAccountIssuer: values['service-account-issuer'],
  serviceAccountMaxTokenExpirationSeconds: seconds(values['service-account-max-token-expiration']),
  apiAudiences: list(values['api-audiences']),
  auditLogPath: values['audit-log-path'],
  auditPolicyFile: values['audit-policy-file'],
  auditLogMaxSize: Number(values['audit-log-maxsize']),
  auditLogMaxBackup: Number(values['audit-log-maxbackup']),
  auditLogMaxAge: Number(values['audit-log-maxage']),
  // ServiceAccount admission is on by default, as in kube-apiserver.
  serviceAccountAdmission: !list(values['disable-admission-plugins']).includes('ServiceAccount'),
}).catch((err: unknown) => exitOnStartupError('mkube-apiserver', err, startupContext, log));
if (quietGrpc) grpc.setLogVerbosity(grpc.logVerbosity.ERROR);

const shutdown = (signal: string) => {
  server.log.info({ signal }, 'shutting down');
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

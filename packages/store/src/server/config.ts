// mkube-store's configuration, from etcd-compatible command-line flags.
import { parseArgs } from 'node:util';
import { parseURL, parseURLs } from './urls.js';

export interface TLSFiles {
  certFile: string;
  keyFile: string;
  trustedCAFile?: string;
  clientCertAuth: boolean;
}

export interface MemberConfig {
  name: string;
  dataDir: string;
  listenClientURLs: string[];
  advertiseClientURLs: string[];
  listenPeerURLs: string[];
  initialAdvertisePeerURLs: string[];
  /** name → peer URLs */
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  listenMetricsURLs: string[];
  quotaBackendBytes: number;
  snapshotCount: number;
  /** Log entries kept after a snapshot so that slow followers can catch up without one. */
  snapshotCatchUpEntries: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  maxRequestBytes: number;
  /** Largest snapshot a follower accepts from its leader (streamed to a file in the data dir). */
  maxSnapshotBytes: number;
  clientTLS?: TLSFiles;
  peerTLS?: TLSFiles;
  logLevel: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

const FLAGS = {
  name: { type: 'string', default: 'default' },
  'data-dir': { type: 'string' },
  'listen-client-urls': { type: 'string', default: 'http://localhost:2379' },
  'advertise-client-urls': { type: 'string' },
  'listen-peer-urls': { type: 'string', default: 'http://localhost:2380' },
  'initial-advertise-peer-urls': { type: 'string' },
  'initial-cluster': { type: 'string' },
  'initial-cluster-state': { type: 'string', default: 'new' },
  'initial-cluster-token': { type: 'string', default: 'etcd-cluster' },
  'listen-metrics-urls': { type: 'string', default: '' },
  'quota-backend-bytes': { type: 'string', default: String(2 * 1024 * 1024 * 1024) },
  'snapshot-count': { type: 'string', default: '10000' },
  'snapshot-catchup-entries': { type: 'string', default: '5000' },
  'heartbeat-interval': { type: 'string', default: '50' },
  'election-timeout': { type: 'string', default: '400' },
  'max-request-bytes': { type: 'string', default: String(1.5 * 1024 * 1024) },
  'max-snapshot-bytes': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'trusted-ca-file': { type: 'string' },
  'client-cert-auth': { type: 'boolean', default: false },
  'peer-cert-file': { type: 'string' },
  'peer-key-file': { type: 'string' },
  'peer-trusted-ca-file': { type: 'string' },
  'peer-client-cert-auth': { type: 'boolean', default: false },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const;

export const USAGE = `Usage: mkube-store [flags]

A member of an mkube store cluster (Raft-replicated LevelDB speaking the etcd v3 gRPC API).

Member:
  --name NAME                          human-readable member name (default "default")
  --data-dir DIR                       where the member keeps its data (default "<name>.mkube-store")
  --listen-client-urls URLS            where clients connect (default http://localhost:2379)
  --advertise-client-urls URLS         client URLs told to the cluster (default: listen-client-urls)
  --listen-peer-urls URLS              where peers connect (default http://localhost:2380; "" for none, a lone member)
  --listen-metrics-urls URLS           HTTP /health and /metrics
  --quota-backend-bytes N              key space size limit (default 2 GiB)
  --snapshot-count N                   applied entries between snapshots (default 10000)
  --heartbeat-interval MS              Raft heartbeat (default 50)
  --election-timeout MS                Raft election timeout (default 400)
  --max-request-bytes N                largest client request (default 1.5 MiB)
  --max-snapshot-bytes N               largest snapshot received from the leader (default 2 x quota-backend-bytes)
Clustering:
  --initial-advertise-peer-urls URLS   this member's peer URLs (default: listen-peer-urls)
  --initial-cluster NAME=URL,...       the initial members (default "<name>=<initial-advertise-peer-urls>")
  --initial-cluster-state new|existing "existing" to join a running cluster (after member add)
  --initial-cluster-token TOKEN        distinguishes clusters (default "etcd-cluster")
Security:
  --cert-file --key-file --trusted-ca-file --client-cert-auth               client TLS (https:// client URLs)
  --peer-cert-file --peer-key-file --peer-trusted-ca-file --peer-client-cert-auth   peer TLS (https:// peer URLs)
                                       as etcd: a trusted CA file means clients must present a certificate it signed
  --log-level debug|info|warn|error    (default info)
`;

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`--${flag}: expected a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function parseInitialCluster(s: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--initial-cluster: ${JSON.stringify(part)} is not NAME=URL`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    parseURLs(url);
    m.set(name, [...(m.get(name) ?? []), url]);
  }
  return m;
}

function tls(certFile: string | undefined, keyFile: string | undefined, ca: string | undefined, auth: boolean, which: string): TLSFiles | undefined {
  if (!certFile && !keyFile) {
    if (auth || ca) throw new ConfigError(`${which}: --*cert-file and --*key-file are required with client certificate authentication`);
    return undefined;
  }
  if (!certFile || !keyFile) throw new ConfigError(`${which}: both a certificate and a key file are required`);
  if (auth && !ca) throw new ConfigError(`${which}: client certificate authentication needs a trusted CA file`);
  // As etcd (TLSInfo.ServerConfig): a trusted CA file alone also requires and verifies client certificates.
  return { certFile, keyFile, trustedCAFile: ca, clientCertAuth: auth || ca !== undefined };
}

/** etcd refuses an https:// URL it has no certificate for (embed.configureClientListeners / transport.newTLSListener). */
function checkHttpsHasCertificates(clientURLs: string[], peerURLs: string[], clientTLS: TLSFiles | undefined, peerTLS: TLSFiles | undefined): void {
  for (const raw of clientURLs) {
    if (parseURL(raw).scheme === 'https' && !clientTLS) {
      throw new ConfigError(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${raw} with HTTPS scheme`);
    }
  }
  for (const raw of peerURLs) {
    const u = parseURL(raw);
    if (u.scheme === 'https' && !peerTLS) throw new ConfigError(`cannot listen on TLS for ${u.address}: KeyFile and CertFile are not presented`);
  }
}

export type ParsedCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: MemberConfig };

export function parseFlags(argv: string[]): ParsedCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values['help']) return { kind: 'help' };
  if (values['version']) return { kind: 'version' };
  const str = (k: string) => values[k] as string;
  const name = str('name');
  const listenPeer = str('listen-peer-urls');
  const advertisePeer = str('initial-advertise-peer-urls') ?? listenPeer;
  const listenClient = str('listen-client-urls');
  const state = str('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw new ConfigError(`--initial-cluster-state must be "new" or "existing", got ${JSON.stringify(state)}`);
  const initialCluster = parseInitialCluster(str('initial-cluster') ?? `${name}=${advertisePeer}`);
  const mine = initialCluster.get(name);
  const advertised = parseURLs(advertisePeer).map((u) => u.raw);
  if (!mine) throw new ConfigError(`--initial-cluster has no member named ${JSON.stringify(name)} (the --name of this member)`);
  if (mine.sort().join(',') !== [...advertised].sort().join(',')) {
    throw new ConfigError(`--initial-cluster has ${name}=${mine.join(',')} but --initial-advertise-peer-urls is ${advertised.join(',')}: they must match`);
  }
  const heartbeat = positiveInt('heartbeat-interval', str('heartbeat-interval'));
  const election = positiveInt('election-timeout', str('election-timeout'));
  if (election < 5 * heartbeat) throw new ConfigError(`--election-timeout (${election} ms) must be at least 5 times --heartbeat-interval (${heartbeat} ms)`);
  const clientTLS = tls(str('cert-file'), str('key-file'), str('trusted-ca-file'), values['client-cert-auth'] as boolean, 'client TLS');
  const peerTLS = tls(str('peer-cert-file'), str('peer-key-file'), str('peer-trusted-ca-file'), values['peer-client-cert-auth'] as boolean, 'peer TLS');
  const listenClientURLs = parseURLs(listenClient).map((u) => u.raw);
  const listenPeerURLs = parseURLs(listenPeer).map((u) => u.raw);
  checkHttpsHasCertificates(listenClientURLs, listenPeerURLs, clientTLS, peerTLS);
  const quotaBackendBytes = positiveInt('quota-backend-bytes', str('quota-backend-bytes'));
  const config: MemberConfig = {
    name,
    dataDir: str('data-dir') ?? `${name}.mkube-store`,
    listenClientURLs,
    advertiseClientURLs: parseURLs(str('advertise-client-urls') ?? listenClient).map((u) => u.raw),
    listenPeerURLs,
    initialAdvertisePeerURLs: advertised,
    initialCluster,
    initialClusterState: state,
    initialClusterToken: str('initial-cluster-token'),
    listenMetricsURLs: str('listen-metrics-urls') ? parseURLs(str('listen-metrics-urls')).map((u) => u.raw) : [],
    quotaBackendBytes,
    snapshotCount: positiveInt('snapshot-count', str('snapshot-count')),
    snapshotCatchUpEntries: positiveInt('snapshot-catchup-entries', str('snapshot-catchup-entries')),
    heartbeatIntervalMs: heartbeat,
    electionTimeoutMs: election,
    maxRequestBytes: positiveInt('max-request-bytes', str('max-request-bytes')),
    maxSnapshotBytes: str('max-snapshot-bytes') !== undefined ? positiveInt('max-snapshot-bytes', str('max-snapshot-bytes')) : 2 * quotaBackendBytes,
    clientTLS,
    peerTLS,
    logLevel: str('log-level'),
  };
  return { kind: 'run', config };
}

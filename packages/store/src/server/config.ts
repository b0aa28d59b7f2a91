// mkube-store's configuration, from etcd-compatible command-line flags.
import { parseArgs } from 'node:util';
import { parseURL, parseURLs } from './urls.js';
import { parseAutoCompaction, parseDurationFlag } from './maintenance_flags.js';
import type { AutoCompactionMode } from './compactor.js';

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
  /** Size of the Raft log's WAL segments (preallocated, cut when full); default 64 MiB (src/wal). */
  walSegmentBytes?: number;
  clientTLS?: TLSFiles;
  peerTLS?: TLSFiles;
  logLevel: string;
  // Maintenance (maintenance.ts): auto compaction as etcd's v3compactor, the corruption check.
  autoCompactionMode: AutoCompactionMode;
  /** periodic: milliseconds of history kept; revision: revisions kept; 0 = off. */
  autoCompactionRetention: number;
  /** revision mode: how often the compactor looks (etcd's fixed 5 minutes; mkube-store's --auto-compaction-revision-interval). */
  autoCompactionRevisionIntervalMs: number;
  /** --experimental-corrupt-check-time in ms (0 = off). */
  corruptCheckTimeMs: number;
}

/** etcd's DefaultQuotaBytes. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;

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
  'quota-backend-bytes': { type: 'string', default: '0' },
  'snapshot-count': { type: 'string', default: '10000' },
  'snapshot-catchup-entries': { type: 'string', default: '5000' },
  'heartbeat-interval': { type: 'string', default: '50' },
  'election-timeout': { type: 'string', default: '400' },
  'max-request-bytes': { type: 'string', default: String(1.5 * 1024 * 1024) },
  'max-snapshot-bytes': { type: 'string' },
  'wal-segment-bytes': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'trusted-ca-file': { type: 'string' },
  'client-cert-auth': { type: 'boolean', default: false },
  'peer-cert-file': { type: 'string' },
  'peer-key-file': { type: 'string' },
  'peer-trusted-ca-file': { type: 'string' },
  'peer-client-cert-auth': { type: 'boolean', default: false },
  'log-level': { type: 'string', default: 'info' },
  'auto-compaction-mode': { type: 'string', default: 'periodic' },
  'auto-compaction-retention': { type: 'string', default: '0' },
  'auto-compaction-revision-interval': { type: 'string', default: '5m' },
  'experimental-corrupt-check-time': { type: 'string', default: '0s' },
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
  --quota-backend-bytes N              key space size limit; past it NOSPACE is raised (default 0 = 2 GiB)
  --auto-compaction-mode MODE          periodic|revision (default periodic)
  --auto-compaction-retention R        periodic: history to keep, a duration (1h, 30m) or plain hours;
                                       revision: revisions to keep (default 0: off)
  --auto-compaction-revision-interval D  revision mode: how often to compact (default 5m, as etcd)
  --experimental-corrupt-check-time D  the leader compares members' HashKV this often (default 0s: off)
  --snapshot-count N                   applied entries between snapshots (default 10000)
  --heartbeat-interval MS              Raft heartbeat (default 50)
  --election-timeout MS                Raft election timeout (default 400)
  --max-request-bytes N                largest client request (default 1.5 MiB)
  --max-snapshot-bytes N               largest snapshot received from the leader (default 2 x quota-backend-bytes)
  --wal-segment-bytes N                size of the Raft log's WAL segment files, preallocated (default 64 MiB, at least 64 KiB)
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

Snapshots (backup and restore): mkube-store snapshot save|status|restore ... (mkube-store snapshot --help)
`;

/** The maintenance flags' parse errors (maintenance_flags.ts) as ConfigError. */
function asConfigError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

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

function walSegmentBytes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = positiveInt('wal-segment-bytes', v);
  if (n < 64 * 1024) throw new ConfigError(`--wal-segment-bytes: ${n} is below the smallest segment size, 65536`);
  return n;
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
  // As etcd: 0 (or an unset flag) is the default quota, 2 GiB.
  const quotaBackendBytes = str('quota-backend-bytes') === '0' ? DEFAULT_QUOTA_BACKEND_BYTES : positiveInt('quota-backend-bytes', str('quota-backend-bytes'));
  const autoCompaction = asConfigError(() => parseAutoCompaction(str('auto-compaction-mode'), str('auto-compaction-retention')));
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
    walSegmentBytes: walSegmentBytes(str('wal-segment-bytes')),
    clientTLS,
    peerTLS,
    logLevel: str('log-level'),
    autoCompactionMode: autoCompaction.mode,
    autoCompactionRetention: autoCompaction.retention,
    autoCompactionRevisionIntervalMs: asConfigError(() => parseDurationFlag('auto-compaction-revision-interval', str('auto-compaction-revision-interval'), true)),
    corruptCheckTimeMs: asConfigError(() => parseDurationFlag('experimental-corrupt-check-time', str('experimental-corrupt-check-time'), false)),
  };
  return { kind: 'run', config };
}

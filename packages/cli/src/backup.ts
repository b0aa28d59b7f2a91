// `mkube backup` and `mkube restore`: one file that holds what a cluster cannot be rebuilt without —
// a snapshot of its store (Maintenance.Snapshot from one member: every object at one revision) and
// the control plane's PKI (cluster CA and key, service-account signing key, front-proxy CA, the
// store CA, component certificates) — and the restore of a whole single-node cluster from it.
//
// The file is a tar archive (the system's tar, as the PKI is made with the system's openssl) of
//   manifest.json   what was backed up: format, time, the store kind and endpoint, revision, sha256
//   snapshot.db     the store snapshot (packages/store/src/api/snapshot_file_format.ts)
//   apiserver/      the API server's data dir without the store's data (pki/, the member record)
// It holds private keys and every Secret of the cluster: it is written 0600 and must be kept as
// such (docs/OPERATIONS.md, "Backup and restore").
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensurePrivateDir, restoreEmbeddedStore } from '@mkube/apiserver';
import { snapshotStatus } from '@mkube/store';
import { saveSnapshot, type EtcdTlsOptions } from '@mkube/store/client';
import { readState, isRunning } from './processes.js';
import { RESTORE_REVISION_BUMP, restoreControlPlane } from './restore_control_plane.js';
import { readMemberRecord, storePkiFiles } from './store_member.js';

export const BACKUP_USAGE = `  mkube backup [--data-dir DIR] [--output FILE]               the store snapshot and the PKI of the running cluster in one
                                                                file (0600: it holds the CA key and every Secret)
  mkube restore FILE [--data-dir DIR]                           a single-node cluster's data dir rebuilt from a backup (DIR must
                                                                hold no cluster); then mkube up --data-dir DIR with its flags
  mkube restore FILE --control-plane --advertise-address IP     one control plane of a multi-control-plane cluster restored and
     --initial-cluster NAME=https://IP:2380,... [--node-name NAME] [--api-port 6443] [--data-dir DIR]
                                                                started (run it on every control plane with the same FILE)
`;

const FORMAT = 'mkube-backup/v1';

export class BackupError extends Error {
  constructor(
    readonly code: 'NO_CLUSTER' | 'STORE_UNREACHABLE' | 'NOT_A_BACKUP' | 'DATA_DIR_IN_USE' | 'UNSUPPORTED' | 'BACKUP_CORRUPT',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BackupError';
  }
}

/** How the cluster's store is reached: the API server's embedded member, or a control plane's mkube-store member. */
interface StoreAccess {
  kind: 'embedded' | 'member';
  endpoint: string;
  tls: EtcdTlsOptions;
  /** The API server data dir whose PKI goes into the backup. */
  apiDir: string;
}

export interface BackupManifest {
  format: typeof FORMAT;
  createdAt: string;
  store: { kind: StoreAccess['kind']; endpoint: string; revision: number; sha256: string; size: number };
  apiServer?: string;
}

function findStore(dataDir: string): StoreAccess {
  const apiDir = join(dataDir, 'apiserver');
  const member = existsSync(apiDir) ? readMemberRecord(apiDir) : undefined;
  if (member) {
    const f = storePkiFiles(apiDir);
    return { kind: 'member', endpoint: member.clientURL, tls: { ca: f.caFile, cert: f.clientCert, key: f.clientKey }, apiDir };
  }
  const portsFile = join(apiDir, 'store', 'embedded.json');
  if (existsSync(portsFile)) {
    const ports = JSON.parse(readFileSync(portsFile, 'utf8')) as { client: number };
    const etcd = join(apiDir, 'pki', 'etcd');
    return { kind: 'embedded', endpoint: `https://127.0.0.1:${ports.client}`, tls: { ca: join(etcd, 'ca.crt'), cert: join(etcd, 'client.crt'), key: join(etcd, 'client.key') }, apiDir };
  }
  // `mkube up --control-planes N`: each lab host has its own data dir; the first control plane's member serves.
  const hosts = (readState(dataDir) as { hosts?: Array<{ role: string; dataDir: string }> } | undefined)?.hosts ?? [];
  const cp = hosts.find((h) => h.role === 'control-plane');
  if (cp) return findStore(cp.dataDir);
  throw new BackupError('NO_CLUSTER', `no cluster store found in ${dataDir} (neither apiserver/store-member.json, apiserver/store/embedded.json nor lab hosts in cluster.json)`);
}

/** The backup's default name: mkube-backup-<UTC time>.tar in the current directory. */
function defaultOutput(): string {
  return resolve(`mkube-backup-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar`);
}

export async function backup(o: { dataDir: string; output?: string }): Promise<{ file: string; manifest: BackupManifest }> {
  const dataDir = resolve(o.dataDir);
  const access = findStore(dataDir);
  const out = resolve(o.output ?? defaultOutput());
  // Work next to the output (same file system: the finished archive is renamed into place).
  const work = mkdtempSync(join(dirname(out), `.${basename(out)}-`));
  chmodSync(work, 0o700);
  try {
    const snap = join(work, 'snapshot.db');
    try {
      await saveSnapshot(access.endpoint, snap, { tls: access.tls, timeoutMs: 600_000 });
    } catch (err) {
      throw new BackupError('STORE_UNREACHABLE', `cannot take a snapshot of the store at ${access.endpoint} (is the cluster running?): ${(err as Error).message}`, { cause: err });
    }
    const status = await snapshotStatus(snap);
    const manifest: BackupManifest = {
      format: FORMAT,
      createdAt: new Date().toISOString(),
      store: { kind: access.kind, endpoint: access.endpoint, revision: status.revision, sha256: status.sha256, size: status.size },
      apiServer: readState(dataDir)?.apiServer,
    };
    writeFileSync(join(work, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const part = join(work, 'backup.tar');
    // The API server's dir without its store's data (the snapshot stands for it).
    execFileSync('tar', ['-cf', part, '-C', work, 'manifest.json', 'snapshot.db', '-C', dirname(access.apiDir), '--exclude', `${basename(access.apiDir)}/store`, basename(access.apiDir)],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    chmodSync(part, 0o600);
    renameSync(part, out);
    return { file: out, manifest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function holdsCluster(dataDir: string): string | undefined {
  const state = readState(dataDir);
  if (state?.components.some((c) => isRunning(c))) return 'a cluster is running from it (mkube down first)';
  const apiDir = join(dataDir, 'apiserver');
  if (existsSync(apiDir) && readdirSync(apiDir).length > 0) return `${apiDir} exists (restore into a new or emptied data dir)`;
  return undefined;
}

/** An extracted, verified backup: its manifest and where its snapshot and API server dir are (under `work`). */
export interface OpenedBackup {
  manifest: BackupManifest;
  snapshot: string;
  apiDir: string;
}

/** Extracts a backup into `work` and checks it: a known manifest, a snapshot whose checksums hold and match the manifest. */
export async function openBackup(file: string, work: string): Promise<OpenedBackup> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BackupError('NOT_A_BACKUP', `${file}: no such backup file`);
  try {
    execFileSync('tar', ['-xf', resolve(file), '-C', work], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new BackupError('NOT_A_BACKUP', `${file} is not an mkube backup (tar: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()})`, { cause: err });
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new BackupError('NOT_A_BACKUP', `${file} is not an mkube backup (no readable manifest.json)`, { cause: err });
  }
  if (manifest.format !== FORMAT) throw new BackupError('NOT_A_BACKUP', `${file}: unknown backup format ${JSON.stringify(manifest.format)} (expected ${FORMAT})`);
  const snapshot = join(work, 'snapshot.db');
  try {
    const st = await snapshotStatus(snapshot);
    if (st.sha256 !== manifest.store.sha256) throw new Error(`its sha256 ${st.sha256} is not the manifest's ${manifest.store.sha256}`);
  } catch (err) {
    throw new BackupError('BACKUP_CORRUPT', `${file}: the store snapshot is damaged: ${(err as Error).message}`, { cause: err });
  }
  return { manifest, snapshot, apiDir: join(work, 'apiserver') };
}

/** Refuses a data dir that holds a cluster: one running from it, or an API server dir. */
export function checkRestorable(dataDir: string): void {
  const busy = existsSync(dataDir) ? holdsCluster(dataDir) : undefined;
  if (busy) throw new BackupError('DATA_DIR_IN_USE', `cannot restore into ${dataDir}: ${busy}`);
}

export async function restore(o: { file: string; dataDir: string }): Promise<{ manifest: BackupManifest; revision: number; restoredRevision: number; memberId: number; clusterId: number }> {
  const dataDir = resolve(o.dataDir);
  if (!existsSync(o.file) || !statSync(o.file).isFile()) throw new BackupError('NOT_A_BACKUP', `${o.file}: no such backup file`);
  checkRestorable(dataDir);
  ensurePrivateDir(dataDir);
  const work = mkdtempSync(join(dataDir, '.restore-'));
  try {
    const b = await openBackup(o.file, work);
    if (b.manifest.store.kind !== 'embedded') {
      throw new BackupError('UNSUPPORTED', `${o.file} is the backup of a cluster whose store runs on its control planes: restore each control plane with mkube restore FILE --control-plane --advertise-address IP --initial-cluster NAME=https://IP:2380,... (docs/BACKUP.md)`);
    }
    const apiDir = join(dataDir, 'apiserver');
    rmSync(apiDir, { recursive: true, force: true });
    renameSync(b.apiDir, apiDir);
    // Bumped and marked compacted (restore_control_plane.ts, RESTORE_REVISION_BUMP): the node agents relist on their own.
    const r = await restoreEmbeddedStore(apiDir, b.snapshot, { bumpRevision: RESTORE_REVISION_BUMP, markCompacted: true });
    return { manifest: b.manifest, revision: r.revision, restoredRevision: r.restoredRevision, memberId: r.memberId, clusterId: r.clusterId };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function runBackupCommand(command: 'backup' | 'restore', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string', default: '.mkube' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h', default: false },
      // The restore of one control plane of a cluster whose store runs on its control planes (restore_control_plane.ts).
      'control-plane': { type: 'boolean', default: false }, 'advertise-address': { type: 'string' }, 'initial-cluster': { type: 'string' },
      'node-name': { type: 'string' }, 'api-port': { type: 'string', default: '6443' },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage:\n${BACKUP_USAGE}`);
    return 0;
  }
  try {
    if (command === 'backup') {
      if (positionals.length > 0) throw new Error(`mkube backup takes no arguments (got ${positionals.join(' ')}); the file is --output FILE`);
      const { file, manifest } = await backup({ dataDir: values['data-dir']!, output: values.output });
      process.stdout.write(`Backup written to ${file} (store revision ${manifest.store.revision}, snapshot sha256 ${manifest.store.sha256}).\n` +
        'It holds the cluster CA key and every Secret: keep it private (it is 0600).\n');
      return 0;
    }
    if (positionals.length !== 1) throw new Error('mkube restore takes the backup FILE');
    if (values['control-plane']) {
      if (!values['advertise-address'] || !values['initial-cluster']) throw new Error('mkube restore --control-plane needs --advertise-address IP and --initial-cluster NAME=https://IP:2380,... (every control plane)');
      const apiPort = Number(values['api-port']);
      if (!Number.isInteger(apiPort) || apiPort < 1 || apiPort > 65535) throw new Error('--api-port must be a port number');
      const r = await restoreControlPlane({ file: positionals[0]!, dataDir: values['data-dir']!, advertiseAddress: values['advertise-address'], initialCluster: values['initial-cluster'], nodeName: values['node-name'], apiPort });
      process.stdout.write(`Control plane ${r.name} restored from ${positionals[0]} (taken ${r.manifest.createdAt}): store revision ${r.revision} bumped to ${r.restoredRevision}, ` +
        `member ${r.memberId.toString(16)} of the new store cluster ${r.clusterId.toString(16)}; its API server ${r.state.apiServer} serves.\n` +
        'Clients watching from an older resourceVersion (the workers\' node agents) get 410 Gone and relist on their own.\n');
      return 0;
    }
    const r = await restore({ file: positionals[0]!, dataDir: values['data-dir']! });
    process.stdout.write(`Restored ${positionals[0]} (taken ${r.manifest.createdAt}) into ${resolve(values['data-dir']!)}: store revision ${r.revision} bumped to ${r.restoredRevision}, ` +
      `new store member ${r.memberId.toString(16)} of cluster ${r.clusterId.toString(16)}.\n` +
      `Start it with: mkube up --data-dir ${values['data-dir']} (with the flags it was started with before: --workers, --lab-name, --lab-subnet, --api-port)\n`);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`mkube ${command}: ${e.message}${typeof e.code === 'string' ? ` [${e.code}]` : ''}\n`);
    return 1;
  }
}

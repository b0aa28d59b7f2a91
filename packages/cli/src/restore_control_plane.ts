// `mkube restore FILE --control-plane --advertise-address IP --initial-cluster NAME=https://IP:2380,...`: one control
// plane of a cluster whose store runs on its control planes (mkube init / join, mkube up --control-planes N) rebuilt
// from a backup, as etcd's disaster recovery: every member is restored from the SAME snapshot (`etcdutl snapshot
// restore`: a new cluster — new cluster and member IDs from --initial-cluster and the cluster token mkube's members
// run with — whose key space is the snapshot's, its latest revision bumped by RESTORE_REVISION_BUMP and marked
// compacted as Kubernetes' etcd restore advice asks) and the members are started together.
// Run it on every control plane at about the same time: a member serves once a quorum of the new cluster has started.
// This host gets the backup's shared PKI (cluster CA, service-account key pair, front-proxy CA, store CA — the files a
// joining control plane downloads) and issues its own certificates for its address; then, as mkube init, it starts its
// store member, its API server on every member, the leader-elected scheduler and controller manager, its entry in
// kube-system/mkube-control-plane, cluster-info naming every API server and the add-ons (cloud controller manager,
// metrics-server). Workers keep their certificates (same CA) and need nothing: every client watching from a
// resourceVersion of the old cluster gets 410 Gone (the bump's compaction) and relists.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ensurePki, ensurePrivateDir } from '@mkube/apiserver';
import { restoreSnapshot } from '@mkube/store';
import { writeAdminKubeconfig } from './admin_kubeconfig.js';
import { adminCreds } from './api_probe.js';
import { BackupError, checkRestorable, openBackup, type BackupManifest } from './backup.js';
import { listControlPlanes, recordControlPlane, startControlPlaneApiServer, startControlPlaneComponents, startStoreMember, type HostContext } from './control_plane.js';
import { publishClusterInfo } from './discovery.js';
import { KUBERNETES_SERVICE_IP } from './init.js';
import { readAddonConfig, startControlPlaneAddons } from './join_addons.js';
import { writeState, type ClusterState, type ComponentRecord } from './processes.js';
import { Progress } from './progress.js';
import { clientURL, ensureStorePki, peerURL, STORE_CLUSTER_TOKEN, writeMemberRecord } from './store_member.js';
import { SHARED_PKI_FILES } from './upload_certs.js';

/**
 * `mkube restore` (both forms) restores the store with etcdutl's --bump-revision of this and --mark-compacted, the
 * value Kubernetes' etcd restore docs suggest: far more than the writes a cluster makes between a backup and a
 * restore, so no resourceVersion a client holds from the old cluster (at most snapshot + writes since) is at or above
 * the new latest revision. Every watch or list from one is then "compacted", which the API server answers with 410
 * Gone, and every informer (node agents, scheduler, controllers, kubectl --watch) relists on its own.
 */
export const RESTORE_REVISION_BUMP = 1_000_000_000;

export interface ControlPlaneRestoreOptions {
  file: string;
  dataDir: string;
  advertiseAddress: string;
  /** NAME=https://IP:2380 of every control plane of the restored cluster (this one included). */
  initialCluster: string;
  /** This control plane's member name (default the host name), as in --initial-cluster. */
  nodeName?: string;
  apiPort?: number;
  progress?: Progress;
}

export interface ControlPlaneRestoreResult {
  state: ClusterState;
  manifest: BackupManifest;
  name: string;
  revision: number;
  /** The restored store's latest (and compacted) revision: revision + RESTORE_REVISION_BUMP. */
  restoredRevision: number;
  memberId: number;
  clusterId: number;
}

interface Peer {
  name: string;
  peerURL: string;
  address: string;
}

/** --initial-cluster parsed: every NAME=https://IP:PORT, names and URLs unique. */
export function parseInitialCluster(spec: string): Peer[] {
  const peers: Peer[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)=(https:\/\/([0-9.]+):(\d+))$/.exec(part);
    if (!m) throw new BackupError('UNSUPPORTED', `--initial-cluster: "${part}" is not NAME=https://IP:PORT`);
    if (peers.some((p) => p.name === m[1] || p.peerURL === m[3])) throw new BackupError('UNSUPPORTED', `--initial-cluster: ${m[1]} or ${m[3]} is listed twice`);
    peers.push({ name: m[1]!, peerURL: m[3]!, address: m[4]! });
  }
  if (peers.length === 0) throw new BackupError('UNSUPPORTED', '--initial-cluster lists no member');
  return peers;
}

export async function restoreControlPlane(o: ControlPlaneRestoreOptions): Promise<ControlPlaneRestoreResult> {
  const dataDir = resolve(o.dataDir);
  const name = (o.nodeName ?? hostname()).toLowerCase();
  const apiPort = o.apiPort ?? 6443;
  const peers = parseInitialCluster(o.initialCluster);
  const me = peers.find((p) => p.name === name);
  const myPeer = peerURL(o.advertiseAddress);
  if (!me || me.peerURL !== myPeer) throw new BackupError('UNSUPPORTED', `--initial-cluster must list this control plane as ${name}=${myPeer} (its --node-name and --advertise-address)`);
  checkRestorable(dataDir);
  const progress = o.progress ?? new Progress(process.stdout);
  ensurePrivateDir(dataDir);
  ensurePrivateDir(join(dataDir, 'logs'));
  const server = `https://${o.advertiseAddress}:${apiPort}`;
  const components: ComponentRecord[] = [];
  const state: ClusterState = { dataDir, apiServer: server, kubeconfig: join(dataDir, 'admin.kubeconfig'), components };
  const apiDir = join(dataDir, 'apiserver');
  const pki = join(apiDir, 'pki');
  const storeDir = join(dataDir, 'store');
  const work = mkdtempSync(join(dataDir, '.restore-'));
  let restored;
  let manifest: BackupManifest;
  try {
    // Checked before any step: its refusals keep their codes (NOT_A_BACKUP, BACKUP_CORRUPT, UNSUPPORTED).
    const b = await openBackup(o.file, work);
    manifest = b.manifest;
    if (manifest.store.kind !== 'member') {
      throw new BackupError('UNSUPPORTED', `${o.file} is the backup of a single-node cluster (its store embedded in the API server): restore it with mkube restore FILE --data-dir DIR, without --control-plane`);
    }
    await progress.step('Putting back the shared PKI and issuing this control plane\'s certificates', async () => {
      ensurePrivateDir(apiDir);
      ensurePrivateDir(pki);
      for (const rel of Object.values(SHARED_PKI_FILES)) {
        const from = join(b.apiDir, 'pki', rel);
        if (!existsSync(from)) throw new BackupError('BACKUP_CORRUPT', `${o.file} lacks the shared PKI file pki/${rel}`);
        ensurePrivateDir(dirname(join(pki, rel)));
        copyFileSync(from, join(pki, rel));
      }
      ensurePki(apiDir, { ips: ['127.0.0.1', o.advertiseAddress, KUBERNETES_SERVICE_IP], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', name] });
    }, () => `Cluster CA, service-account key, front-proxy CA and store CA from the backup; serving and client certificates for ${o.advertiseAddress}`);
    restored = await progress.step(`Restoring store member ${name} from the snapshot (new cluster of ${peers.map((p) => p.name).join(', ')})`, async () =>
      restoreSnapshot({ snapshotPath: b.snapshot, dataDir: storeDir, name, initialCluster: o.initialCluster, initialClusterToken: STORE_CLUSTER_TOKEN, initialAdvertisePeerURLs: myPeer,
        bumpRevision: RESTORE_REVISION_BUMP, markCompacted: true }),
    (r) => `Store member ${r.memberId.toString(16)} of cluster ${r.clusterId.toString(16)} at revision ${r.restoredRevision} (the snapshot's ${r.revision} + ${RESTORE_REVISION_BUMP}, compacted)`);
  } catch (err) {
    // Nothing half-made stays: the next attempt starts from an empty data dir.
    rmSync(apiDir, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  writeState(state);

  const ctx: HostContext = { dataDir, state, components, progress };
  const storePki = ensureStorePki(apiDir, name, o.advertiseAddress);
  const myClient = clientURL(o.advertiseAddress);
  writeMemberRecord(apiDir, { name, clientURL: myClient, peerURL: myPeer });
  // The store's data dir holds the restored member: the flags below matter for its records only, as on a first start.
  await startStoreMember(ctx, storePki, { name, dataDir: storeDir, advertiseAddress: o.advertiseAddress, initialCluster: o.initialCluster, initialClusterState: 'new' },
    `Starting store member ${name} (it serves once a quorum of ${peers.length} restored members has started)`);
  const others = peers.filter((p) => p !== me);
  const etcdServers = [myClient, ...others.map((p) => clientURL(p.address))];
  await startControlPlaneApiServer(ctx, { apiDir, advertiseAddress: o.advertiseAddress, apiPort, etcdServers, storePki });
  const servers = [{ name, server }, ...others.map((p) => ({ name: p.name, server: `https://${p.address}:${apiPort}` }))];
  writeAdminKubeconfig(state.kubeconfig, pki, servers);
  const creds = adminCreds(apiDir, server);
  await startControlPlaneComponents(ctx, { pki, server });
  await recordControlPlane(creds, { add: { name, apiServer: server, storeClientURL: myClient, storePeerURL: myPeer } });
  // Control planes of the backup that are not in the restored cluster are dropped from the record.
  for (const gone of (await listControlPlanes(creds)).filter((p) => !peers.some((q) => q.name === p.name))) {
    await recordControlPlane(creds, { remove: gone.name });
  }
  await progress.step('Publishing every API server in cluster-info', async () => publishClusterInfo(creds, server, readFileSync(join(pki, 'ca.crt'), 'utf8'), servers.map((s) => s.server)),
    () => `cluster-info lists ${servers.length} API servers`);
  const addons = await readAddonConfig(creds);
  await startControlPlaneAddons(ctx, { pki, servers, advertiseAddress: o.advertiseAddress, creds, metricsAddresses: peers.map((p) => p.address), lbAddressPool: addons.lbAddressPool });
  writeState(state);
  return { state, manifest: manifest!, name, revision: restored!.revision, restoredRevision: restored!.restoredRevision, memberId: restored!.memberId, clusterId: restored!.clusterId };
}

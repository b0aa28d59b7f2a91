// `mkube join --control-plane --certificate-key KEY --advertise-address IP`: this machine becomes another control
// plane, as kubeadm's control-plane join: discovery as a worker's (the CA pinned by hash, cluster-info signed by the
// token), then the shared PKI downloaded from kube-system/kubeadm-certs with the bootstrap token and decrypted with
// the certificate key; this control plane's own certificates are issued here from those CAs (API server serving,
// admin, store serving/peer/client); its store member is added as a learner (MemberAdd isLearner), started with
// --initial-cluster-state existing, promoted once it has caught up (the leader refuses before); then its API server
// on every store member, its leader-elected scheduler and controller manager, and its entry in
// kube-system/mkube-control-plane.
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePki, ensurePrivateDir } from '@mkube/apiserver';
import type { EtcdClient } from '@mkube/store/client';
import { adminCreds, waitFor } from './api_probe.js';
import { writeAdminKubeconfig } from './admin_kubeconfig.js';
import { listControlPlanes, recordControlPlane, startControlPlaneApiServer, startControlPlaneComponents, startStoreMember, type HostContext } from './control_plane.js';
import { clusterInfoSignedFor, fetchClusterInfo, publishClusterInfo, verifyClusterInfo } from './discovery.js';
import { KUBERNETES_SERVICE_IP } from './init.js';
import { readAddonConfig, startControlPlaneAddons } from './join_addons.js';
import { readState, writeState, type ClusterState, type ComponentRecord, isRunning } from './processes.js';
import { Progress } from './progress.js';
import { clientURL, ensureStorePki, peerURL, storeClient, writeMemberRecord, type StorePki } from './store_member.js';
import { downloadCerts, KUBEADM_CERTS_SECRET } from './upload_certs.js';

export interface ControlPlaneJoinOptions {
  apiServer: string;
  token: string;
  caCertHashes: string[];
  certificateKey: string;
  advertiseAddress: string;
  dataDir: string;
  apiPort?: number;
  nodeName?: string;
  clusterSigningDuration?: string;
  progress?: Progress;
}

export class ControlPlaneJoinError extends Error {
  constructor(readonly code: 'CP_JOIN_RUNNING' | 'CP_JOIN_FLAGS' | 'CP_JOIN_STORE', message: string) {
    super(message);
    this.name = 'ControlPlaneJoinError';
  }
}

/** Adds this member as a learner (or finds it added by an earlier, interrupted join): its id and the --initial-cluster. */
async function addLearner(store: EtcdClient, name: string, myPeerURL: string): Promise<{ id: string; initialCluster: string }> {
  let { members } = await store.memberList();
  let me = members.find((m) => m.peerURLs.includes(myPeerURL));
  if (me && !me.isLearner && me.name) throw new ControlPlaneJoinError('CP_JOIN_STORE', `the store already has a started voting member ${me.name} on ${myPeerURL}: remove it first (mkube remove-member ${me.name})`);
  if (!me) {
    const r = await store.memberAdd([myPeerURL], { isLearner: true });
    members = r.members;
    me = r.member;
  }
  const initialCluster = members.map((m) => `${m.id === me!.id ? name : m.name}=${m.peerURLs[0]}`).join(',');
  return { id: me.id, initialCluster };
}

export async function joinControlPlane(o: ControlPlaneJoinOptions): Promise<{ state: ClusterState; name: string; members: number }> {
  if (!o.certificateKey) throw new ControlPlaneJoinError('CP_JOIN_FLAGS', '--certificate-key is required with --control-plane (the key printed by mkube init --upload-certs)');
  if (!o.advertiseAddress) throw new ControlPlaneJoinError('CP_JOIN_FLAGS', '--advertise-address is required with --control-plane (the address its API server and store member advertise)');
  const dataDir = resolve(o.dataDir);
  const previous = readState(dataDir);
  if (previous && previous.components.some((c) => isRunning(c))) throw new ControlPlaneJoinError('CP_JOIN_RUNNING', `a control plane is already running from ${dataDir} (mkube down --data-dir ${o.dataDir} first)`);
  const progress = o.progress ?? new Progress(process.stdout);
  const name = (o.nodeName ?? hostname()).toLowerCase();
  const apiPort = o.apiPort ?? 6443;
  const server = `https://${o.advertiseAddress}:${apiPort}`;
  ensurePrivateDir(dataDir);
  ensurePrivateDir(join(dataDir, 'logs'));
  const components: ComponentRecord[] = [];
  const state: ClusterState = { dataDir, apiServer: server, kubeconfig: join(dataDir, 'admin.kubeconfig'), components };
  writeState(state);
  const ctx: HostContext = { dataDir, state, components, progress };
  const apiDir = join(dataDir, 'apiserver');
  const pki = join(apiDir, 'pki');

  const discovered = await progress.step(`Fetching cluster-info from ${o.apiServer}`, async () => verifyClusterInfo(await fetchClusterInfo(o.apiServer), o.token, o.caCertHashes),
    (d) => `Cluster CA verified (pinned hash) and cluster-info signed by the token; API server ${d.server}`);
  await progress.step(`Downloading the control-plane certificates from kube-system/${KUBEADM_CERTS_SECRET}`, async () => {
    ensurePrivateDir(apiDir);
    ensurePrivateDir(pki);
    return downloadCerts(discovered.server, discovered.caPem, o.token, o.certificateKey, pki);
  }, (files) => `Shared PKI decrypted (${files.join(', ')})`);
  const storePki: StorePki = await progress.step('Issuing this control plane\'s certificates from the cluster and store CAs', async () => {
    ensurePki(apiDir, { ips: ['127.0.0.1', o.advertiseAddress, KUBERNETES_SERVICE_IP], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', name] });
    return ensureStorePki(apiDir, name, o.advertiseAddress);
  }, () => `API server serving (SANs ${o.advertiseAddress}, ${KUBERNETES_SERVICE_IP}), admin, store serving/peer/client certificates in ${pki}`);

  const creds = adminCreds(apiDir, discovered.server);
  const planes = await listControlPlanes(creds);
  if (planes.length === 0) throw new ControlPlaneJoinError('CP_JOIN_STORE', `the cluster lists no control plane (kube-system/mkube-control-plane): it was not made by mkube init`);
  if (planes.some((p) => p.name === name)) throw new ControlPlaneJoinError('CP_JOIN_STORE', `a control plane named ${name} is already part of the cluster: choose another --node-name, or remove it first (mkube remove-member ${name})`);
  const myClient = clientURL(o.advertiseAddress);
  const myPeer = peerURL(o.advertiseAddress);
  const store = storeClient(storePki, planes.map((p) => p.storeClientURL));
  let memberId: string;
  let memberCount = 0;
  try {
    const added = await progress.step(`Adding store member ${name} as a learner`, async () => addLearner(store, name, myPeer), (a) => `Learner ${BigInt(a.id).toString(16)} added (${a.initialCluster.split(',').length} members)`);
    memberId = added.id;
    writeMemberRecord(apiDir, { name, clientURL: myClient, peerURL: myPeer });
    try {
      await startStoreMember(ctx, storePki, { name, dataDir: join(dataDir, 'store'), advertiseAddress: o.advertiseAddress, initialCluster: added.initialCluster, initialClusterState: 'existing' },
        `Starting store member ${name} (--initial-cluster-state existing)`);
    } catch (err) {
      // A learner that never started does not count for quorum, but leave no member behind.
      await store.memberRemove(memberId).catch(() => undefined);
      throw err;
    }
    memberCount = await progress.step(`Promoting store member ${name} once it has caught up`, async (h) => {
      return waitFor(`store member ${name} to be promoted`, 120_000, async () => {
        try {
          const r = await store.memberPromote(memberId);
          return r.members.length;
        } catch (err) {
          const msg = (err as Error).message;
          if (/can only promote a learner member$/.test(msg)) return (await store.memberList()).members.length; // promoted already
          h.waiting(msg.split('\n')[0]!);
          throw err;
        }
      });
    }, (n) => `Store member ${name} is a voter (${n} voting members)`);
  } finally {
    store.close();
  }

  const etcdServers = [myClient, ...planes.map((p) => p.storeClientURL).filter((u) => u !== myClient)];
  await startControlPlaneApiServer(ctx, { apiDir, advertiseAddress: o.advertiseAddress, apiPort, etcdServers, storePki });
  const local = adminCreds(apiDir, server);
  await startControlPlaneComponents(ctx, { pki, server, clusterSigningDuration: o.clusterSigningDuration });
  await recordControlPlane(local, { add: { name, apiServer: server, storeClientURL: myClient, storePeerURL: myPeer } });
  const all = await listControlPlanes(local);
  // cluster-info names every API server from now on (joining node agents get them all); the bootstrap signer re-signs it.
  await progress.step('Publishing every API server in cluster-info', async (h) => {
    await publishClusterInfo(local, discovered.server, discovered.caPem, all.map((p) => p.apiServer));
    await waitFor('the bootstrap signer to re-sign cluster-info', 60_000, async () => {
      h.waiting('kube-public/cluster-info signature for the join token');
      return (await clusterInfoSignedFor(local, o.token)) ? true : undefined;
    });
  }, () => `cluster-info lists ${all.length} API servers`);
  const servers = [{ name, server }, ...all.filter((p) => p.name !== name).map((p) => ({ name: p.name, server: p.apiServer }))];
  writeAdminKubeconfig(state.kubeconfig, pki, servers);
  // The add-ons (join_addons.ts): the pool mkube init recorded; the metrics API then lists every control plane's server.
  const addons = await readAddonConfig(local);
  await startControlPlaneAddons(ctx, { pki, servers, advertiseAddress: o.advertiseAddress, creds: local, metricsAddresses: all.map((p) => new URL(p.apiServer).hostname), lbAddressPool: addons.lbAddressPool });
  writeState(state);
  return { state, name, members: memberCount };
}
